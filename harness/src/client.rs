//! SQL connections from the harness to a node, through `tokio-postgres` (never through a
//! `psql` in a container): the harness is a client like any application.

use std::time::Duration;

use crate::cluster::{Cluster, ClusterError, Endpoints, GPADMIN};

/// Errors of client connections and statements.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host has no address (stopped).
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Connecting or running a statement failed.
    #[error("failed to {what} on {host}")]
    Sql {
        /// What was being done.
        what: String,
        /// The host.
        host: String,
        /// The cause.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement did not finish in time.
    #[error("failed to {what} on {host} within {timeout:?}")]
    Timeout {
        /// What was being done.
        what: String,
        /// The host.
        host: String,
        /// The deadline.
        timeout: Duration,
    },
}

/// Deadline for connecting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for one statement.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects as gpadmin to `db` on `host`'s coordinator port.
pub async fn connect(
    cluster: &Cluster,
    host: &str,
    db: &str,
) -> Result<tokio_postgres::Client, ClientError> {
    connect_to(&cluster.endpoints(), host, db).await
}

/// [`connect`] through [`Endpoints`], for tasks that do not borrow the cluster.
pub async fn connect_to(
    endpoints: &Endpoints,
    host: &str,
    db: &str,
) -> Result<tokio_postgres::Client, ClientError> {
    let (address, port) = endpoints.endpoint(host).await?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&address)
        .port(port)
        .user(GPADMIN)
        .dbname(db)
        .application_name("cbharness")
        .connect_timeout(CONNECT_TIMEOUT);
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|source| ClientError::Sql {
            what: format!("connect to database {db}"),
            host: host.to_string(),
            source,
        })?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes away; either is
        // reported through the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `sql` as [`query_text`] does and returns the first column of its first row (`None`
/// for no row or a NULL).
pub async fn query_value(
    client: &tokio_postgres::Client,
    host: &str,
    sql: &str,
) -> Result<Option<String>, ClientError> {
    let rows = query_text(client, host, sql).await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .flatten())
}

/// Runs `sql` (one or more statements) with the simple protocol and returns every row of the
/// last statement as text.
pub async fn query_text(
    client: &tokio_postgres::Client,
    host: &str,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, ClientError> {
    let what = format!("run `{}`", sql.lines().next().unwrap_or(""));
    let messages = tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query(sql))
        .await
        .map_err(|_| ClientError::Timeout {
            what: what.clone(),
            host: host.to_string(),
            timeout: STATEMENT_TIMEOUT,
        })?
        .map_err(|source| ClientError::Sql {
            what,
            host: host.to_string(),
            source,
        })?;
    let mut rows = Vec::new();
    for message in messages {
        match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            // A new statement's rows replace the previous one's.
            tokio_postgres::SimpleQueryMessage::RowDescription(_) => rows.clear(),
            _ => {}
        }
    }
    Ok(rows)
}
