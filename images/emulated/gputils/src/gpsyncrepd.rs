//! `gpsyncrepd`: the emulation of Cloudberry's coordinator synchronous-replication rule.
//!
//! Cloudberry's coordinator waits for its standby only while a standby WAL sender is streaming;
//! with none it does not wait at all (`SyncRepWaitForLSN`, coordinator branch). Plain PostgreSQL
//! with `synchronous_standby_names` set blocks every commit instead. This daemon runs on every
//! node and every 100 ms looks at each local coordinator postmaster (children titled
//! `postgres: gpseg-1: ...`) that is not a standby (no startup process, no `standby.signal`):
//!
//! * no WAL sender streaming (title `START_REPLICATION` or `streaming <lsn>`) and `synchronous_standby_names` set → reset it (releases waiters);
//! * a WAL sender `streaming`, a standby in the catalog and the setting empty → set it to `'*'`.
//!
//! It reads only `/proc`, `postmaster.pid` (it acts only on a `ready` postmaster) and
//! `postgresql.auto.conf`; SQL (a short `psql`) runs only to act or to
//! look at the catalog, so it never holds a connection (a smart shutdown waits for sessions).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{self, flag, valued, Opt};
use crate::procfs::{self, Proc};
use crate::{log, pg};

const SPEC: &[Opt] = &[
    valued("interval", &["--interval-ms"]),
    flag("once", &["--once"]),
];

/// The coordinator's cluster name, as it appears in its children's process titles.
const COORDINATOR_TITLE: &str = "postgres: gpseg-1: ";

/// What to do with `synchronous_standby_names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Set `'*'`.
    Enable,
    /// Reset to empty.
    Disable,
}

/// The rule. `standby_configured` is asked only when it matters (it costs a query).
pub fn decide(
    streaming: bool,
    sync_set: bool,
    standby_configured: impl FnOnce() -> bool,
) -> Action {
    match (streaming, sync_set) {
        (false, true) => Action::Disable,
        (true, false) if standby_configured() => Action::Enable,
        _ => Action::Nothing,
    }
}

/// Whether a process title is a WAL sender serving `START_REPLICATION`. PostgreSQL titles it
/// `... walsender gpadmin 172.18.0.3(51234) START_REPLICATION` when the command starts and
/// `... streaming 0/3000148` once it has sent WAL; a standby that is already caught up keeps the
/// first title until new WAL is written, so both count (Cloudberry also waits for a standby that
/// is catching up).
pub fn is_streaming_walsender(title: &str) -> bool {
    let mut words = title.split_whitespace().skip_while(|w| *w != "walsender");
    words.next().is_some() && words.any(|w| w == "streaming" || w == "START_REPLICATION")
}

/// One coordinator postmaster seen in a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub datadir: String,
    pub streaming: bool,
}

/// Find the local coordinator postmasters that are not standbys.
pub fn scan(procs: &[Proc]) -> Vec<Seen> {
    let mut out = Vec::new();
    for pm in procs {
        let Some(dir) = procfs::postmaster_datadir(pm) else {
            continue;
        };
        let kids: Vec<String> = procfs::children(procs, pm.pid).map(Proc::cmdline).collect();
        if !kids.iter().any(|t| t.starts_with(COORDINATOR_TITLE)) {
            continue;
        }
        let in_recovery = kids.iter().any(|t| {
            t.starts_with(COORDINATOR_TITLE) && t[COORDINATOR_TITLE.len()..].starts_with("startup")
        });
        if in_recovery || Path::new(dir).join("standby.signal").exists() {
            continue;
        }
        out.push(Seen {
            datadir: dir.to_string(),
            streaming: kids.iter().any(|t| is_streaming_walsender(t)),
        });
    }
    out
}

/// The daemon's memory between scans.
#[derive(Default)]
struct Daemon {
    /// Per data directory: when the catalog was last asked whether a standby is configured.
    catalog: HashMap<String, (Instant, bool)>,
    /// The last failure logged per data directory (not repeated every 100 ms).
    last_error: HashMap<String, String>,
}

impl Daemon {
    fn standby_configured(&mut self, datadir: &str, port: u16) -> bool {
        if let Some((t, v)) = self.catalog.get(datadir) {
            if t.elapsed() < Duration::from_secs(2) {
                return *v;
            }
        }
        let v = pg::query(
            port,
            "SELECT 1 FROM gp_segment_configuration WHERE content = -1 AND role = 'm'",
        )
        .is_ok_and(|r| !r.is_empty());
        self.catalog
            .insert(datadir.to_string(), (Instant::now(), v));
        v
    }

    fn tick(&mut self) {
        for seen in scan(&procfs::list_postgres()) {
            let dir = &seen.datadir;
            // Leave a postmaster alone while it starts or shuts down: it takes no connections.
            if pg::status_from_pid_file(dir).as_deref() != Some("ready") {
                continue;
            }
            let current = pg::conf_get(
                &format!("{dir}/postgresql.auto.conf"),
                "synchronous_standby_names",
            )
            .unwrap_or_default();
            let Some(port) = pg::port_from_pid_file(dir).or_else(|| pg::conf_port(dir)) else {
                continue;
            };
            let action = decide(seen.streaming, !current.is_empty(), || {
                self.standby_configured(dir, port)
            });
            let (sqls, what) = match action {
                Action::Nothing => continue,
                Action::Enable => (
                    [
                        "ALTER SYSTEM SET synchronous_standby_names = '*'",
                        "SELECT pg_reload_conf()",
                    ],
                    "standby WAL sender streaming: synchronous_standby_names set to '*'",
                ),
                Action::Disable => (
                    [
                        "ALTER SYSTEM RESET synchronous_standby_names",
                        "SELECT pg_reload_conf()",
                    ],
                    "no standby WAL sender streaming: synchronous_standby_names reset",
                ),
            };
            match pg::query_multi(port, pg::DB, &sqls, Duration::from_secs(10)) {
                Ok(_) => {
                    self.last_error.remove(dir);
                    log::info(format!("{dir}: {what}"));
                }
                Err(e) => {
                    if self.last_error.get(dir) != Some(&e.0) {
                        log::warn(format!(
                            "{dir}: could not change synchronous_standby_names: {e}"
                        ));
                        self.last_error.insert(dir.clone(), e.0);
                    }
                }
            }
        }
    }
}

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init(
        "gpsyncrepd",
        log::Options {
            no_file: true,
            ..log::Options::default()
        },
    );
    let opts = match cli::parse(SPEC, &args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gpsyncrepd: error: {e}");
            return 2;
        }
    };
    let interval = Duration::from_millis(
        opts.value("interval")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
    );
    let mut d = Daemon::default();
    if opts.has("once") {
        d.tick();
        return 0;
    }
    log::info("Starting gpsyncrepd (Apache Cloudberry emulation: coordinator synchronous replication follows the standby's WAL sender)");
    loop {
        d.tick();
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        assert_eq!(decide(false, true, || panic!("not asked")), Action::Disable);
        assert_eq!(
            decide(false, false, || panic!("not asked")),
            Action::Nothing
        );
        assert_eq!(decide(true, true, || panic!("not asked")), Action::Nothing);
        assert_eq!(decide(true, false, || true), Action::Enable);
        assert_eq!(decide(true, false, || false), Action::Nothing);
    }

    #[test]
    fn walsender_titles() {
        assert!(is_streaming_walsender(
            "postgres: gpseg-1: walsender gpadmin 172.18.0.3(51234) streaming 0/3000148"
        ));
        assert!(!is_streaming_walsender(
            "postgres: gpseg-1: walsender gpadmin 172.18.0.3(51234) sending backup \"x\""
        ));
        assert!(is_streaming_walsender(
            "postgres: gpseg-1: walsender gpadmin 172.18.0.3(51234) START_REPLICATION"
        ));
        assert!(!is_streaming_walsender(
            "postgres: gpseg-1: walsender gpadmin 172.18.0.3(51234) idle"
        ));
        assert!(!is_streaming_walsender("postgres: gpseg-1: checkpointer"));
    }

    fn p(pid: i32, ppid: i32, args: &[&str]) -> Proc {
        Proc {
            pid,
            ppid,
            state: 'S',
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scan_finds_coordinators_only() {
        let procs = vec![
            p(
                10,
                1,
                &[
                    "/usr/lib/postgresql/17/bin/postgres",
                    "-D",
                    "/nonexistent/coordinator/gpseg-1",
                ],
            ),
            p(11, 10, &["postgres: gpseg-1: checkpointer "]),
            p(
                12,
                10,
                &["postgres: gpseg-1: walsender gpadmin 172.18.0.3(4242) streaming 0/3000148"],
            ),
            p(
                20,
                1,
                &[
                    "/usr/lib/postgresql/17/bin/postgres",
                    "-D",
                    "/nonexistent/primary/gpseg0",
                ],
            ),
            p(
                21,
                20,
                &["postgres: gpseg0: walsender gpadmin 172.18.0.4(4243) streaming 0/3000148"],
            ),
            p(
                30,
                1,
                &[
                    "/usr/lib/postgresql/17/bin/postgres",
                    "-D",
                    "/nonexistent/standby/gpseg-1",
                ],
            ),
            p(
                31,
                30,
                &["postgres: gpseg-1: startup recovering 000000010000000000000003"],
            ),
        ];
        let seen = scan(&procs);
        assert_eq!(
            seen,
            vec![Seen {
                datadir: "/nonexistent/coordinator/gpseg-1".into(),
                streaming: true
            }]
        );
    }
}
