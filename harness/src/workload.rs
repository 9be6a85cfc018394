//! The client workload: writes whose acknowledgements are recorded in the history, so the
//! checker can prove none was lost.
//!
//! Each row is its own transaction, written by [`write_one`]: its outcome is `ok` when the
//! commit was acknowledged, `fail` when the server certainly rejected it, and `info` (unknown)
//! when the connection broke or the deadline passed before an answer: such a row may or may
//! not exist, and the checker does not count it as lost. Two callers share it: the `write`
//! step ([`write_rows`], one client, a fixed number of rows) and the concurrent [`Workload`]
//! (`workload_start`/`workload_stop`: N client tasks writing until stopped, each reconnecting
//! to whichever coordinator candidate accepts writes after an error).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::{Client, Statement};

use crate::client::{self, ClientError};
use crate::cluster::{Cluster, Endpoints};
use crate::history::{History, Kind, Process};

/// What a write run achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteSummary {
    /// Rows acknowledged.
    pub ok: u32,
    /// Rows certainly not written.
    pub failed: u32,
    /// Rows with unknown outcome.
    pub unknown: u32,
}

impl WriteSummary {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Unknown => self.unknown += 1,
        }
    }

    fn add(&mut self, other: &WriteSummary) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.unknown += other.unknown;
    }
}

impl std::fmt::Display for WriteSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ok, {} failed, {} unknown",
            self.ok, self.failed, self.unknown
        )
    }
}

/// The outcome of one write, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged (`ok`).
    Ok,
    /// Certainly rejected by the server (`fail`).
    Fail,
    /// No answer, or an answer that does not say whether the commit happened (`info`).
    Unknown,
}

/// The current WAL timeline, from the current WAL file's name (its first 8 hex digits), as
/// CloudNativePG's failover tests stamp their rows: it changes the moment a standby is
/// promoted, unlike the checkpoint's timeline.
const TIMELINE: &str =
    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::integer";

/// Database the workload writes to (present in PostgreSQL and Cloudberry alike).
pub const DATABASE: &str = "postgres";

/// Deadline of one write of the concurrent workload: short, so that a client stuck on a frozen
/// or cut-off coordinator gives up (outcome unknown) and looks for the new one soon.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two writes of one client, so a long run does not flood the history.
pub const OPERATION_PAUSE: Duration = Duration::from_millis(50);
/// Deadline of one probe of a coordinator candidate (connect, ask, prepare).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a client looks for a host that accepts writes before it gives up: as long as a
/// standby activation may take ([`crate::gp::LONG`]).
pub const RECONNECT_DEADLINE: Duration = crate::gp::LONG;
/// How long [`Workload::start`] waits for every client's first acknowledged write.
pub const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long [`Workload::stop`] waits for the clients to finish their current operation.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);
/// Ids of client `n` of the concurrent workload start at `n * CLIENT_ID_BASE`.
pub const CLIENT_ID_BASE: i64 = 1_000_000;

/// True when an error with this SQLSTATE certainly means the transaction did not commit.
/// Connection exceptions (`08`), operator intervention (`57`: shutdowns, cancels), system
/// errors (`58`) and internal errors (`XX`) can arrive after a commit, so they say nothing.
pub fn certainly_rejected(sqlstate: &str) -> bool {
    !matches!(sqlstate.get(..2), Some("08" | "57" | "58" | "XX") | None)
}

/// Creates `table` when missing: `id`, `written_at` and the WAL `timeline` the row was
/// written on.
pub async fn create_table(client: &Client, host: &str, table: &str) -> Result<(), ClientError> {
    client::query_text(
        client,
        host,
        &format!("CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now(), timeline integer NOT NULL DEFAULT {TIMELINE})"),
    )
    .await?;
    Ok(())
}

/// Prepares the insert of one row into `table`, returning its timeline.
pub async fn prepare_insert(
    client: &Client,
    host: &str,
    table: &str,
) -> Result<Statement, ClientError> {
    client
        .prepare(&format!(
            "INSERT INTO {table} (id) VALUES ($1) RETURNING timeline"
        ))
        .await
        .map_err(|source| ClientError::Sql {
            what: format!("prepare the insert into {table}"),
            host: host.to_string(),
            source,
        })
}

/// Where a write goes: the connection, its prepared insert and names for the history.
pub struct Target<'a> {
    /// The connection.
    pub client: &'a Client,
    /// From [`prepare_insert`] on that connection.
    pub insert: &'a Statement,
    /// The host it is connected to.
    pub host: &'a str,
    /// The table.
    pub table: &'a str,
}

/// Writes row `id` as client `process`, within `deadline`, recording its invoke and outcome.
pub async fn write_one(
    target: &Target<'_>,
    history: &History,
    process: u32,
    id: i64,
    deadline: Duration,
) -> Outcome {
    let (table, host) = (target.table, target.host);
    history.record(
        Process::Client(process),
        Kind::Invoke,
        "write",
        json!({"table": table, "id": id, "host": host}),
    );
    let result =
        tokio::time::timeout(deadline, target.client.query_one(target.insert, &[&id])).await;
    let (kind, outcome, value) = match result {
        Ok(Ok(row)) => {
            let timeline: Option<i32> = row.try_get(0).ok();
            (
                Kind::Ok,
                Outcome::Ok,
                json!({"table": table, "id": id, "host": host, "timeline": timeline}),
            )
        }
        Ok(Err(e))
            if e.as_db_error()
                .is_some_and(|db| certainly_rejected(db.code().code())) =>
        {
            (
                Kind::Fail,
                Outcome::Fail,
                json!({"table": table, "id": id, "host": host, "error": e.to_string()}),
            )
        }
        Ok(Err(e)) => (
            Kind::Info,
            Outcome::Unknown,
            json!({"table": table, "id": id, "host": host, "error": e.to_string()}),
        ),
        Err(_) => (
            Kind::Info,
            Outcome::Unknown,
            json!({"table": table, "id": id, "host": host, "error": format!("no answer within {deadline:?}")}),
        ),
    };
    history.record(Process::Client(process), kind, "write", value);
    outcome
}

/// Creates `table` when missing and writes rows `ids` to it on `host`, one transaction each,
/// as client 0, each within `deadline`, recording invoke and outcome of every row. Returns what
/// came of them and how long the slowest took.
pub async fn write_rows(
    cluster: &Cluster,
    history: &History,
    host: &str,
    table: &str,
    ids: std::ops::Range<i64>,
    deadline: Duration,
) -> Result<(WriteSummary, CommitWaits), ClientError> {
    let client = client::connect(cluster, host, DATABASE).await?;
    create_table(&client, host, table).await?;
    let insert = prepare_insert(&client, host, table).await?;
    let target = Target {
        client: &client,
        insert: &insert,
        host,
        table,
    };
    let mut summary = WriteSummary::default();
    let mut waits = CommitWaits {
        fastest: Duration::MAX,
        slowest: Duration::ZERO,
    };
    for id in ids {
        let started = std::time::Instant::now();
        summary.count(write_one(&target, history, 0, id, deadline).await);
        let waited = started.elapsed();
        waits.fastest = waits.fastest.min(waited);
        waits.slowest = waits.slowest.max(waited);
    }
    Ok((summary, waits))
}

/// How long the rows of a [`write_rows`] waited for their commits, each from its insert to
/// its acknowledgement (or failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitWaits {
    /// The quickest row.
    pub fastest: Duration,
    /// The slowest row.
    pub slowest: Duration,
}

/// What one client of a [`Workload`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClientReport {
    /// The client's number (its history process, and its ids' block).
    pub client: u32,
    /// Its writes.
    pub summary: WriteSummary,
    /// Why it stopped before being asked to, if it did.
    pub gave_up: Option<String>,
}

/// What a stopped [`Workload`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct WorkloadReport {
    /// The table written to.
    pub table: String,
    /// Every client's writes together.
    pub summary: WriteSummary,
    /// Each client.
    pub clients: Vec<ClientReport>,
}

/// A running concurrent workload: client tasks writing to one table until [`Workload::stop`].
pub struct Workload {
    table: String,
    stop: watch::Sender<bool>,
    tasks: Vec<(u32, JoinHandle<ClientReport>)>,
}

/// A connection that accepts writes: host, client, prepared insert.
struct Connection {
    host: String,
    client: Client,
    insert: Statement,
}

impl Workload {
    /// Creates `table` on `host` (the current coordinator) when missing, then starts one task
    /// per client number in `clients`, and returns once every client has had a write
    /// acknowledged (within [`START_DEADLINE`]), so that a fault injected next meets writes in
    /// flight. After a connection error or a rejection a client looks for a host that accepts
    /// writes among `candidates` (the coordinator candidates).
    pub async fn start(
        cluster: &Cluster,
        history: &History,
        host: &str,
        table: &str,
        clients: std::ops::Range<u32>,
        candidates: Vec<String>,
    ) -> Result<Workload, ClientError> {
        let client = client::connect(cluster, host, DATABASE).await?;
        create_table(&client, host, table).await?;
        drop(client);
        let (stop, stopped) = watch::channel(false);
        let (wrote, mut writers) = watch::channel(0usize);
        let wrote = Arc::new(wrote);
        let endpoints = cluster.endpoints();
        let latest = Arc::new(AtomicI32::new(0));
        let tasks = clients
            .map(|n| {
                let task = ClientTask {
                    n,
                    endpoints: endpoints.clone(),
                    history: history.clone(),
                    table: table.to_string(),
                    candidates: candidates.clone(),
                    stop: stopped.clone(),
                    latest: latest.clone(),
                    wrote: wrote.clone(),
                };
                (n, tokio::spawn(task.run()))
            })
            .collect::<Vec<_>>();
        let count = tasks.len();
        let workload = Workload {
            table: table.to_string(),
            stop,
            tasks,
        };
        let all_wrote = writers.wait_for(|n| *n >= count);
        if tokio::time::timeout(START_DEADLINE, all_wrote)
            .await
            .is_err()
        {
            workload.abort();
            return Err(ClientError::Timeout {
                what: format!("see each of the {count} workload clients write a row to {table}"),
                host: host.to_string(),
                timeout: START_DEADLINE,
            });
        }
        Ok(workload)
    }

    /// The table it writes to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Asks every client to stop after its current operation and waits for them (at most
    /// [`STOP_DEADLINE`]; a client still busy then is aborted and reported as such).
    pub async fn stop(mut self) -> WorkloadReport {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + STOP_DEADLINE;
        let mut report = WorkloadReport {
            table: self.table.clone(),
            ..WorkloadReport::default()
        };
        for (n, mut task) in std::mem::take(&mut self.tasks) {
            let client = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => ClientReport {
                    client: n,
                    gave_up: Some(format!("the client task failed: {e}")),
                    ..ClientReport::default()
                },
                Err(_) => {
                    task.abort();
                    ClientReport {
                        client: n,
                        gave_up: Some(format!("did not stop within {STOP_DEADLINE:?}")),
                        ..ClientReport::default()
                    }
                }
            };
            report.summary.add(&client.summary);
            report.clients.push(client);
        }
        report
    }

    /// Stops every client at once, mid-operation (an interrupted run).
    pub fn abort(mut self) {
        for (_, task) in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Workload {
    /// A last resort: a workload dropped without [`Workload::stop`] leaves no task running.
    fn drop(&mut self) {
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

/// One client of a [`Workload`].
struct ClientTask {
    n: u32,
    endpoints: Endpoints,
    history: History,
    table: String,
    candidates: Vec<String>,
    stop: watch::Receiver<bool>,
    /// The latest timeline any client of the workload found accepting writes.
    latest: Arc<AtomicI32>,
    /// How many clients have had a write acknowledged.
    wrote: Arc<watch::Sender<usize>>,
}

impl ClientTask {
    fn stopped(&self) -> bool {
        // A dropped sender (the workload gone) is a stop too.
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// Waits `pause`, or less when asked to stop.
    async fn pause(&mut self, pause: Duration) {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }

    async fn run(mut self) -> ClientReport {
        let mut report = ClientReport {
            client: self.n,
            ..ClientReport::default()
        };
        let mut connection: Option<Connection> = None;
        let mut sequence: i64 = 0;
        while !self.stopped() {
            let Some(c) = &connection else {
                match self.reconnect().await {
                    Ok(found) => connection = found,
                    Err(why) => {
                        report.gave_up = Some(why);
                        break;
                    }
                }
                continue;
            };
            sequence += 1;
            let id = i64::from(self.n) * CLIENT_ID_BASE + sequence;
            let target = Target {
                client: &c.client,
                insert: &c.insert,
                host: &c.host,
                table: &self.table,
            };
            let outcome = write_one(&target, &self.history, self.n, id, OPERATION_TIMEOUT).await;
            report.summary.count(outcome);
            if outcome == Outcome::Ok && report.summary.ok == 1 {
                self.wrote.send_modify(|n| *n += 1);
            }
            // A rejection (a read-only coordinator) or a broken connection: look again for the
            // host that accepts writes.
            if outcome != Outcome::Ok {
                connection = None;
            }
            self.pause(OPERATION_PAUSE).await;
        }
        report
    }

    /// Polls the candidates until one accepts writes, with a short backoff between rounds;
    /// `Ok(None)` when asked to stop, `Err` after [`RECONNECT_DEADLINE`].
    ///
    /// An old coordinator that comes back (thawed, reconnected) still takes writes on its old
    /// timeline, and writes there are lost once it is stopped. So a candidate is taken only
    /// when it is on the latest timeline of the round and not behind the latest one any client
    /// of this workload has seen ([`pick`]), and only when a second round right after names the
    /// same host: a round spans seconds when a candidate hangs, and its other answers ("in
    /// recovery") may be stale by the time the hanging one answers.
    async fn reconnect(&mut self) -> Result<Option<Connection>, String> {
        let deadline = Instant::now() + RECONNECT_DEADLINE;
        let mut backoff = Duration::from_millis(100);
        let mut previous: Option<String> = None;
        loop {
            if self.stopped() {
                return Ok(None);
            }
            let probes = self.candidates.iter().map(|host| {
                let (endpoints, table) = (&self.endpoints, &self.table);
                async move {
                    tokio::time::timeout(PROBE_TIMEOUT, probe(endpoints, host, table))
                        .await
                        .ok()
                        .flatten()
                }
            });
            let answers: Vec<(i32, Connection)> = futures_util::future::join_all(probes)
                .await
                .into_iter()
                .flatten()
                .collect();
            let latest = self.latest.load(Ordering::SeqCst);
            match pick(answers, latest) {
                Some((timeline, connection)) => {
                    self.latest.fetch_max(timeline, Ordering::SeqCst);
                    if previous.as_deref() == Some(connection.host.as_str()) {
                        return Ok(Some(connection));
                    }
                    previous = Some(connection.host);
                    // Confirm at once with fresh answers.
                    continue;
                }
                None => previous = None,
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no coordinator candidate ({}) accepted writes within {RECONNECT_DEADLINE:?}",
                    self.candidates.join(", ")
                ));
            }
            self.pause(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}

/// Of the candidates that accept writes (their timelines), the one on the latest timeline,
/// unless it is behind `latest`, the latest timeline seen before: such a host is an old
/// coordinator that came back.
pub fn pick<T>(answers: Vec<(i32, T)>, latest: i32) -> Option<(i32, T)> {
    answers
        .into_iter()
        .max_by_key(|(timeline, _)| *timeline)
        .filter(|(timeline, _)| *timeline >= latest)
}

/// Connects to `host` and, when it is not in recovery, returns its current timeline and a
/// connection ready to write; `None` when it is unreachable or a standby.
async fn probe(endpoints: &Endpoints, host: &str, table: &str) -> Option<(i32, Connection)> {
    let client = client::connect_to(endpoints, host, DATABASE).await.ok()?;
    let recovery = client::query_text(&client, host, "SELECT pg_is_in_recovery()")
        .await
        .ok()?;
    if first(&recovery)? != "f" {
        return None;
    }
    let timeline: i32 = first(
        &client::query_text(&client, host, &format!("SELECT {TIMELINE}"))
            .await
            .ok()?,
    )?
    .parse()
    .ok()?;
    let insert = prepare_insert(&client, host, table).await.ok()?;
    Some((
        timeline,
        Connection {
            host: host.to_string(),
            client,
            insert,
        },
    ))
}

fn first(rows: &[Vec<Option<String>>]) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_cannot_follow_a_commit_are_certain_rejections() {
        // read_only_sql_transaction, unique_violation, undefined_table, serialization_failure
        for code in ["25006", "23505", "42P01", "40001"] {
            assert!(certainly_rejected(code), "{code}");
        }
        // connection_failure, admin_shutdown, crash_shutdown, query_canceled, io_error,
        // internal_error: the commit may have happened before the error.
        for code in ["08006", "57P01", "57P02", "57014", "58030", "XX000", ""] {
            assert!(!certainly_rejected(code), "{code}");
        }
    }

    #[test]
    fn the_candidate_on_the_latest_timeline_is_picked_and_never_one_behind() {
        assert_eq!(pick(vec![(1, "cdw"), (2, "scdw")], 1), Some((2, "scdw")));
        // An old coordinator back on timeline 1 after the workload saw timeline 2.
        assert_eq!(pick(vec![(1, "cdw")], 2), None);
        assert_eq!(pick(Vec::<(i32, &str)>::new(), 0), None);
    }

    #[test]
    fn a_summary_counts_each_outcome() {
        let mut s = WriteSummary::default();
        for o in [Outcome::Ok, Outcome::Ok, Outcome::Fail, Outcome::Unknown] {
            s.count(o);
        }
        assert_eq!(
            s,
            WriteSummary {
                ok: 2,
                failed: 1,
                unknown: 1
            }
        );
        assert_eq!(s.to_string(), "2 ok, 1 failed, 1 unknown");
    }
}
