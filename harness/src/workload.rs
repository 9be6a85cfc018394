//! The client workload: writes whose acknowledgements are recorded in the history, so the
//! checker can prove none was lost.
//!
//! Each row is its own transaction. Its outcome is `ok` when the commit was acknowledged,
//! `fail` when the server certainly rejected it, and `info` (unknown) when the connection broke
//! before an answer: such a row may or may not exist, and the checker does not count it as lost.

use serde_json::json;

use crate::client::{self, ClientError};
use crate::cluster::Cluster;
use crate::history::{History, Kind, Process};

/// What a write run achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Rows acknowledged.
    pub ok: u32,
    /// Rows certainly not written.
    pub failed: u32,
    /// Rows with unknown outcome.
    pub unknown: u32,
}

/// The current WAL timeline, from the current WAL file's name (its first 8 hex digits), as
/// CloudNativePG's failover tests stamp their rows: it changes the moment a standby is
/// promoted, unlike the checkpoint's timeline.
const TIMELINE: &str =
    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::integer";

/// Database the workload writes to (present in PostgreSQL and Cloudberry alike).
pub const DATABASE: &str = "postgres";

/// Creates `table` when missing and writes rows `ids` to it on `host`, one transaction each,
/// recording invoke and outcome of every row.
pub async fn write_rows(
    cluster: &Cluster,
    history: &History,
    host: &str,
    table: &str,
    ids: std::ops::Range<i64>,
) -> Result<WriteSummary, ClientError> {
    let client = client::connect(cluster, host, DATABASE).await?;
    client::query_text(
        &client,
        host,
        &format!("CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now(), timeline integer NOT NULL DEFAULT {TIMELINE})"),
    )
    .await?;
    let insert = client
        .prepare(&format!(
            "INSERT INTO {table} (id) VALUES ($1) RETURNING timeline"
        ))
        .await
        .map_err(|source| ClientError::Sql {
            what: format!("prepare the insert into {table}"),
            host: host.to_string(),
            source,
        })?;
    let mut summary = WriteSummary::default();
    for id in ids {
        let value = json!({"table": table, "id": id, "host": host});
        history.record(Process::Client(0), Kind::Invoke, "write", value.clone());
        let result =
            tokio::time::timeout(client::STATEMENT_TIMEOUT, client.query_one(&insert, &[&id]))
                .await;
        match result {
            Ok(Ok(row)) => {
                summary.ok += 1;
                let timeline: Option<i32> = row.try_get(0).ok();
                history.record(
                    Process::Client(0),
                    Kind::Ok,
                    "write",
                    json!({"table": table, "id": id, "host": host, "timeline": timeline}),
                );
            }
            // A server error (constraint, read-only) means the row was not written.
            Ok(Err(e)) if e.as_db_error().is_some() => {
                summary.failed += 1;
                history.record(
                    Process::Client(0),
                    Kind::Fail,
                    "write",
                    json!({"table": table, "id": id, "host": host, "error": e.to_string()}),
                );
            }
            _ => {
                summary.unknown += 1;
                history.record(
                    Process::Client(0),
                    Kind::Info,
                    "write",
                    json!({"table": table, "id": id, "host": host, "error": "no answer"}),
                );
            }
        }
    }
    Ok(summary)
}
