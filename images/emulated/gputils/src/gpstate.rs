//! `gpstate` (default and `-b`: status summary) and `gpstate -f` (standby details and
//! `pg_stat_replication`), with the formats of Cloudberry's `clsSystemState.py`. Exit code 0
//! whatever the cluster's state; 2 when the coordinator cannot be queried or the options are bad.
//!
//! The effects (one status probe per host over ssh, the catalog and `pg_stat_replication`
//! queries) are kept apart from the output: `standby_block`, `replication_heading`,
//! `replication_block` and `summary_table` turn what was observed into log lines, and
//! `fixtures.rs` checks them against the harness parser's fixtures for every state.

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::coordinator::{failed_line, CoordEnv};
use crate::error::Result;
use crate::log::{Level, Lines};
use crate::status::{self, InstanceStatus};
use crate::table::Table;
use crate::{log, node, pg, progress};

const SPEC: &[Opt] = &[
    flag("b", &["-b"]),
    flag("f", &["-f"]),
    flag("s", &["-s"]),
    flag("m", &["-m"]),
    flag("e", &["-e"]),
    flag("Q", &["-Q"]),
    flag("p", &["-p"]),
    flag("i", &["-i"]),
    flag("c", &["-c"]),
    flag("x", &["-x"]),
    valued(
        "d",
        &[
            "-d",
            "--coordinator_data_directory",
            "--master_data_directory",
        ],
    ),
    valued("l", &["-l", "--logfile"]),
    valued("B", &["-B"]),
    valued("timeout", &["--timeout"]),
    valued("retries", &["--retries"]),
    flag("a", &["-a"]),
    flag("q", &["-q", "--quiet"]),
    flag("v", &["-v", "--verbose"]),
];

/// The dash line around the `pg_stat_replication` block (61 dashes).
const DASHES_61: &str = "-------------------------------------------------------------";
/// The underline of `Standby coordinator details` (22 dashes).
const DASHES_22: &str = "----------------------";

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init("gpstate", log::Options::default());
    let opts = match cli::parse_or_usage("gpstate", SPEC, &args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    log::set_options(cli::log_options(&opts, "v"));
    log::info(format!("Starting gpstate with args: {}", args.join(" ")));
    let outputs = ["b", "f", "s", "m", "e", "Q", "p", "i", "c", "x"];
    if outputs.iter().filter(|k| opts.has(k)).count() > 1 {
        log::error("gpstate: error: Too many output options specified");
        return 2;
    }
    if let Some(k) = outputs
        .iter()
        .find(|k| !matches!(**k, "b" | "f") && opts.has(k))
    {
        log::error(format!(
            "gpstate: error: option -{k} is not supported by the Cloudberry emulation"
        ));
        return 2;
    }
    match run(&opts) {
        Ok(()) => 0,
        Err(e) => {
            log::critical(failed_line("gpstate", &e));
            2
        }
    }
}

fn run(opts: &cli::Parsed) -> Result<()> {
    let env = CoordEnv::resolve(opts.value("d"))?;
    log::info(format!("local Cloudberry Version: '{}'", pg::gp_version()));
    let version = pg::server_version(env.port)?;
    log::info(format!("coordinator Cloudberry Version: '{version}'"));
    log::info("Obtaining Segment details from coordinator...");
    let array = Array::load(env.port)?;
    if opts.has("f") {
        show_standby(&array, env.port)
    } else {
        show_status_statistics(&array, opts.has("q"));
        Ok(())
    }
}

/// `gpstate -f`: the standby block (after one status probe over ssh), then the
/// `pg_stat_replication` block.
fn show_standby(array: &Array, port: u16) -> Result<()> {
    let lines = match array.standby() {
        None => standby_block(None),
        Some(sb) => {
            let fetched = status::fetch(&sb.address, &[sb.dir_port()]);
            standby_block(Some((
                sb,
                fetched.as_ref().map(|v| &v[0]).map_err(String::as_str),
            )))
        }
    };
    log::emit(&lines);
    log::emit(&replication_heading());
    let rows = pg::query(
        port,
        "SELECT state, sync_state, sent_lsn, flush_lsn, replay_lsn FROM pg_stat_replication",
    )?;
    log::emit(&replication_block(&rows));
    Ok(())
}

/// What a status probe of one instance gave: its status, or the warning of a host that could not
/// be asked (`Error getting status from host <host>`).
pub type Probe<'a> = std::result::Result<&'a InstanceStatus, &'a str>;

/// The first block of `gpstate -f`: `Standby coordinator instance not configured` without a
/// standby, else the details heading, its 22-dash underline and the details table.
pub fn standby_block(standby: Option<(&Seg, Probe<'_>)>) -> Lines {
    match standby {
        None => vec![(
            Level::Info,
            "Standby coordinator instance not configured".to_string(),
        )],
        Some((sb, probe)) => {
            let mut lines = vec![
                (Level::Info, "Standby coordinator details".to_string()),
                (Level::Info, DASHES_22.to_string()),
            ];
            lines.extend(standby_table(sb, probe).render());
            lines
        }
    }
}

/// The heading of the `pg_stat_replication` block, printed before the query runs.
pub fn replication_heading() -> Lines {
    [DASHES_61, "-pg_stat_replication", DASHES_61]
        .iter()
        .map(|l| (Level::Info, l.to_string()))
        .collect()
}

/// The body of the `pg_stat_replication` block and its closing dash line, from the rows of
/// `SELECT state, sync_state, sent_lsn, flush_lsn, replay_lsn`: one row is printed field by field
/// (the state raw: `streaming`, `catchup`, `startup`, ...; SQL NULL as Python's `None`), none is
/// `No entries found.`, more than one is only a warning.
pub fn replication_block(rows: &[Vec<String>]) -> Lines {
    let mut lines: Lines = Vec::new();
    match rows {
        [row] => {
            let v = |i: usize| {
                row.get(i)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "None".into())
            };
            let labels = [
                "WAL Sender State",
                "Sync state",
                "Sent Location",
                "Flush Location",
                "Replay Location",
            ];
            for (i, label) in labels.iter().enumerate() {
                lines.push((Level::Info, format!("-{label}: {}", v(i))));
            }
        }
        [] => lines.push((Level::Info, "No entries found.".to_string())),
        _ => lines.push((
            Level::Warning,
            "pg_stat_replication shows more than 1 row.".to_string(),
        )),
    }
    lines.push((Level::Info, DASHES_61.to_string()));
    lines
}

/// The standby details table of `gpstate -f` for a fetched status (or the fetch warning).
pub fn standby_table(sb: &Seg, st: Probe<'_>) -> Table {
    let mut t = Table::new();
    t.info(["Standby address", &format!("= {}", sb.address)]);
    t.info(["Standby data directory", &format!("= {}", sb.datadir)]);
    t.info(["Standby port", &format!("= {}", sb.port)]);
    match st {
        Err(w) => {
            t.warn(["Standby PID", &format!("= {w}")]);
            t.warn(["Standby status", "= Status could not be determined"]);
        }
        Ok(s) if s.pid == 0 => {
            t.warn(["Standby PID", "= 0"]);
            t.warn(["Standby status", "= Standby process not running"]);
        }
        Ok(s) => match s.pid_error() {
            Some(e) => {
                t.warn(["Standby PID".to_string(), format!("= {}", s.pid), e]);
                t.warn(["Standby status", "= Status could not be determined"]);
            }
            None => {
                t.info(["Standby PID", &format!("= {}", s.pid)]);
                t.info(["Standby status", "= Standby host passive"]);
            }
        },
    }
    t
}

/// Per-host probe results: host name to the statuses of its instances, or the fetch warning.
pub type HostResults = Vec<(String, std::result::Result<Vec<InstanceStatus>, String>)>;

/// Probe every host holding segments or the standby, one ssh per host, in parallel.
fn fetch_all(array: &Array) -> HostResults {
    let rows = array
        .segs
        .iter()
        .filter(|s| !(s.content == -1 && s.role == 'p'));
    node::per_host(rows, |segs| {
        let inst: Vec<String> = segs.iter().map(|x| x.dir_port()).collect();
        status::fetch(&segs[0].address, &inst)
    })
    .into_iter()
    .map(|(segs, r)| (segs[0].hostname.clone(), r))
    .collect()
}

/// The probe of `seg` among the per-host results (`no status` if its host was not probed).
fn lookup<'a>(results: &'a HostResults, seg: &Seg) -> Probe<'a> {
    match results.iter().find(|(h, _)| *h == seg.hostname) {
        None => Err("no status"),
        Some((_, Err(w))) => Err(w.as_str()),
        Some((_, Ok(v))) => v
            .iter()
            .find(|s| s.datadir == seg.datadir)
            .ok_or("no status"),
    }
}

/// `gpstate -b`: probe the hosts (a line of dots while that takes more than a second, unless
/// `-q`), then the summary table.
fn show_status_statistics(array: &Array, quiet: bool) {
    log::info("Gathering data from segments...");
    let results = if quiet {
        fetch_all(array)
    } else {
        progress::with_dots(PROGRESS_INTERVAL, &mut std::io::stdout(), || {
            fetch_all(array)
        })
    };
    log::info("Cloudberry instance status summary");
    summary_table(array, &results).output();
}

/// How often `gpstate` prints a progress dot while it waits for the hosts.
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The `Standby coordinator state` row's value, and whether it is a warning: passive only when
/// the standby has a `postmaster.pid` with a live pid and no pid error.
pub fn standby_state(probe: Probe<'_>) -> (bool, String) {
    match probe {
        Err(w) => (true, format!("= Status could not be determined: {w}")),
        Ok(s) if s.pid_file && s.pid > 0 && s.pid_error().is_none() => {
            (false, "= Standby host passive".to_string())
        }
        Ok(_) => (true, "= Standby host DOWN".to_string()),
    }
}

/// What the hosts say is missing for the instances of one segment section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Missing {
    /// Instances without `postmaster.pid`.
    pub pid_files: usize,
    /// Instances whose `postmaster.pid` gave no pid.
    pub pids: usize,
    /// Instances without `/tmp/.s.PGSQL.<port>.lock`.
    pub lock_files: usize,
    /// Instances without a postmaster: no pid, or a pid error (lock file and socket disagree).
    pub processes: usize,
}

impl Missing {
    /// Count as `clsSystemState.py` does: an instance whose host could not be asked counts as
    /// missing everything; otherwise each fact counts on its own, and a pid of 0 counts as both a
    /// missing pid and a missing process.
    pub fn tally<'a>(probes: impl IntoIterator<Item = Probe<'a>>) -> Missing {
        let mut m = Missing::default();
        for p in probes {
            match p {
                Err(_) => {
                    m.pid_files += 1;
                    m.pids += 1;
                    m.lock_files += 1;
                    m.processes += 1;
                }
                Ok(st) => {
                    m.lock_files += usize::from(!st.lock_file);
                    m.pid_files += usize::from(!st.pid_file);
                    if st.pid == 0 {
                        m.pids += 1;
                        m.processes += 1;
                    } else if st.pid_error().is_some() {
                        m.processes += 1;
                    }
                }
            }
        }
        m
    }
}

/// The `gpstate -b` table from the catalog and the probes: one [`Table`], so every label and
/// value column is as wide as its widest entry; non-zero failure, missing and acting-as-primary
/// rows are warnings.
pub fn summary_table(array: &Array, results: &HostResults) -> Table {
    let mut t = Table::new();
    t.separator();
    t.info(["Coordinator instance", "= Active"]);
    match array.standby() {
        None => {
            t.info(["Coordinator standby", "= No coordinator standby configured"]);
        }
        Some(sb) => {
            t.info(["Coordinator standby", &format!("= {}", sb.hostname)]);
            let (warn, value) = standby_state(lookup(results, sb));
            t.info_or_warn(warn, ["Standby coordinator state", value.as_str()]);
        }
    }
    let segs = array.segments();
    t.info([
        "Total segment instance count from metadata",
        &format!("= {}", segs.len()),
    ]);
    t.separator();
    for kind in ["Primary", "Mirror"] {
        t.info([format!("{kind} Segment Status")]);
        t.separator();
        let of_kind: Vec<&Seg> = segs
            .iter()
            .copied()
            .filter(|s| {
                if kind == "Primary" {
                    s.is_primary(false)
                } else {
                    s.is_mirror(false)
                }
            })
            .collect();
        if kind == "Mirror" && of_kind.is_empty() {
            t.info(["Mirrors not configured on this array"]);
            t.separator();
            continue;
        }
        let missing = Missing::tally(of_kind.iter().map(|s| lookup(results, s)));
        section_rows(&mut t, kind, &of_kind, missing);
        t.separator();
    }
    t
}

/// The rows of one segment section (`kind` is `Primary` or `Mirror`).
fn section_rows(t: &mut Table, kind: &str, of_kind: &[&Seg], missing: Missing) {
    let n = of_kind.len();
    let lower = kind.to_lowercase();
    let valid = of_kind.iter().filter(|s| s.is_up()).count();
    let failures = of_kind.iter().filter(|s| s.status == 'd').count();
    t.info([format!("Total {lower} segments"), format!("= {n}")]);
    t.info([
        format!("Total {lower} segment valid (at coordinator)"),
        format!("= {valid}"),
    ]);
    t.info_or_warn(
        failures > 0,
        [
            format!("Total {lower} segment failures (at coordinator)"),
            format!("= {failures}"),
        ],
    );
    let pairs = [
        ("Total number of postmaster.pid files", missing.pid_files),
        ("Total number of postmaster.pid PIDs", missing.pids),
        ("Total number of /tmp lock files", missing.lock_files),
        ("Total number postmaster processes", missing.processes),
    ];
    for (label, m) in pairs {
        t.info_or_warn(m > 0, [format!("{label} missing"), format!("= {m}")]);
        t.info([format!("{label} found"), format!("= {}", n - m)]);
    }
    if kind == "Mirror" {
        let acting = of_kind.iter().filter(|s| s.is_primary(true)).count();
        t.info_or_warn(
            acting > 0,
            [
                "Total number mirror segments acting as primary segments".to_string(),
                format!("= {acting}"),
            ],
        );
        t.info([
            "Total number mirror segments acting as mirror segments".to_string(),
            format!("= {}", n - acting),
        ]);
    }
}

#[cfg(test)]
#[path = "gpstate_tests.rs"]
mod tests;
