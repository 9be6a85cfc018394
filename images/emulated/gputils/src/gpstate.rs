//! `gpstate` (default and `-b`: status summary) and `gpstate -f` (standby details and
//! `pg_stat_replication`), with the formats of Cloudberry's `clsSystemState.py`. Exit code 0
//! whatever the cluster's state; 2 when the coordinator cannot be queried or the options are bad.

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::coordinator::{failed_line, CoordEnv};
use crate::error::Result;
use crate::status::{self, InstanceStatus};
use crate::table::Table;
use crate::{log, node, pg};

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
        show_status_statistics(&array);
        Ok(())
    }
}

/// `gpstate -f`.
fn show_standby(array: &Array, port: u16) -> Result<()> {
    match array.standby() {
        None => log::info("Standby coordinator instance not configured"),
        Some(sb) => {
            let fetched = status::fetch(&sb.address, &[sb.dir_port()]);
            log::info("Standby coordinator details");
            log::info("----------------------");
            standby_table(sb, fetched.as_ref().map(|v| &v[0]).map_err(String::as_str)).output();
        }
    }
    log::info(DASHES_61);
    log::info("-pg_stat_replication");
    log::info(DASHES_61);
    let rows = pg::query(
        port,
        "SELECT state, sync_state, sent_lsn, flush_lsn, replay_lsn FROM pg_stat_replication",
    )?;
    match rows.len() {
        1 => {
            let v = |i: usize| {
                rows[0]
                    .get(i)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "None".into())
            };
            log::info(format!("-WAL Sender State: {}", v(0)));
            log::info(format!("-Sync state: {}", v(1)));
            log::info(format!("-Sent Location: {}", v(2)));
            log::info(format!("-Flush Location: {}", v(3)));
            log::info(format!("-Replay Location: {}", v(4)));
        }
        0 => log::info("No entries found."),
        _ => log::warn("pg_stat_replication shows more than 1 row."),
    }
    log::info(DASHES_61);
    Ok(())
}

/// The standby details table of `gpstate -f` for a fetched status (or the fetch warning).
pub fn standby_table(sb: &Seg, st: std::result::Result<&InstanceStatus, &str>) -> Table {
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
type HostResults = Vec<(String, std::result::Result<Vec<InstanceStatus>, String>)>;

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

fn lookup<'a>(
    results: &'a HostResults,
    seg: &Seg,
) -> std::result::Result<&'a InstanceStatus, &'a str> {
    match results.iter().find(|(h, _)| *h == seg.hostname) {
        None => Err("no status"),
        Some((_, Err(w))) => Err(w.as_str()),
        Some((_, Ok(v))) => v
            .iter()
            .find(|s| s.datadir == seg.datadir)
            .ok_or("no status"),
    }
}

/// `gpstate -b`.
fn show_status_statistics(array: &Array) {
    log::info("Gathering data from segments...");
    let results = fetch_all(array);
    log::info("Cloudberry instance status summary");
    summary_table(array, &results).output();
}

/// The `gpstate -b` table from the catalog and the probes.
fn summary_table(array: &Array, results: &HostResults) -> Table {
    let mut t = Table::new();
    t.separator();
    t.info(["Coordinator instance", "= Active"]);
    match array.standby() {
        None => {
            t.info(["Coordinator standby", "= No coordinator standby configured"]);
        }
        Some(sb) => {
            t.info(["Coordinator standby", &format!("= {}", sb.hostname)]);
            match lookup(results, sb) {
                Err(w) => {
                    t.warn([
                        "Standby coordinator state",
                        &format!("= Status could not be determined: {w}"),
                    ]);
                }
                Ok(s) if s.pid_file && s.pid > 0 && s.pid_error().is_none() => {
                    t.info(["Standby coordinator state", "= Standby host passive"]);
                }
                Ok(_) => {
                    t.warn(["Standby coordinator state", "= Standby host DOWN"]);
                }
            }
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
        let (mut pidfile_missing, mut proc_missing, mut lock_missing, mut pid_missing) =
            (0, 0, 0, 0);
        for s in &of_kind {
            match lookup(results, s) {
                Err(_) => {
                    pidfile_missing += 1;
                    lock_missing += 1;
                    proc_missing += 1;
                    pid_missing += 1;
                }
                Ok(st) => {
                    lock_missing += usize::from(!st.lock_file);
                    pidfile_missing += usize::from(!st.pid_file);
                    if st.pid == 0 {
                        pid_missing += 1;
                        proc_missing += 1;
                    } else if st.pid_error().is_some() {
                        proc_missing += 1;
                    }
                }
            }
        }
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
        t.info_or_warn(
            pidfile_missing > 0,
            [
                "Total number of postmaster.pid files missing".to_string(),
                format!("= {pidfile_missing}"),
            ],
        );
        t.info([
            "Total number of postmaster.pid files found".to_string(),
            format!("= {}", n - pidfile_missing),
        ]);
        t.info_or_warn(
            pid_missing > 0,
            [
                "Total number of postmaster.pid PIDs missing".to_string(),
                format!("= {pid_missing}"),
            ],
        );
        t.info([
            "Total number of postmaster.pid PIDs found".to_string(),
            format!("= {}", n - pid_missing),
        ]);
        t.info_or_warn(
            lock_missing > 0,
            [
                "Total number of /tmp lock files missing".to_string(),
                format!("= {lock_missing}"),
            ],
        );
        t.info([
            "Total number of /tmp lock files found".to_string(),
            format!("= {}", n - lock_missing),
        ]);
        t.info_or_warn(
            proc_missing > 0,
            [
                "Total number postmaster processes missing".to_string(),
                format!("= {proc_missing}"),
            ],
        );
        t.info([
            "Total number postmaster processes found".to_string(),
            format!("= {}", n - proc_missing),
        ]);
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
        t.separator();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_rows;

    fn array(with_standby: bool, with_mirrors: bool) -> Array {
        let mut rows = vec![vec![
            "1",
            "-1",
            "p",
            "p",
            "n",
            "u",
            "cdw",
            "cdw",
            "5432",
            "/c/gpseg-1",
        ]];
        if with_standby {
            rows.push(vec![
                "6",
                "-1",
                "m",
                "m",
                "s",
                "u",
                "scdw",
                "scdw",
                "5432",
                "/c/gpseg-1",
            ]);
        }
        rows.push(vec![
            "2",
            "0",
            "p",
            "p",
            "s",
            "u",
            "sdw1",
            "sdw1",
            "40000",
            "/p/gpseg0",
        ]);
        rows.push(vec![
            "3",
            "1",
            "p",
            "p",
            "s",
            "u",
            "sdw2",
            "sdw2",
            "40000",
            "/p/gpseg1",
        ]);
        if with_mirrors {
            rows.push(vec![
                "4",
                "0",
                "m",
                "m",
                "s",
                "u",
                "sdw2",
                "sdw2",
                "50000",
                "/m/gpseg0",
            ]);
            rows.push(vec![
                "5",
                "1",
                "m",
                "m",
                "s",
                "u",
                "sdw1",
                "sdw1",
                "50000",
                "/m/gpseg1",
            ]);
        }
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(String::from).collect())
            .collect();
        Array {
            segs: parse_rows(&rows).unwrap(),
        }
    }

    fn up(dir: &str, port: u16, pid: i32) -> InstanceStatus {
        InstanceStatus {
            datadir: dir.into(),
            port,
            pid_file: true,
            pid,
            lock_file: true,
            port_active: true,
        }
    }

    fn healthy(a: &Array) -> HostResults {
        let mut r: HostResults = Vec::new();
        for (h, segs) in Array::by_host(
            a.segs
                .iter()
                .filter(|s| !(s.content == -1 && s.role == 'p')),
        ) {
            r.push((
                h,
                Ok(segs
                    .iter()
                    .map(|s| up(&s.datadir, s.port, 100 + s.dbid as i32))
                    .collect()),
            ));
        }
        r
    }

    fn text(t: &Table) -> Vec<String> {
        t.render()
            .into_iter()
            .map(|(l, s)| format!("[{}]:-{}", l.name(), s))
            .collect()
    }

    #[test]
    fn healthy_summary_matches_reference() {
        let a = array(true, true);
        let l = text(&summary_table(&a, &healthy(&a)));
        assert_eq!(l[0], format!("[INFO]:-{}", "-".repeat(52)));
        assert_eq!(
            l[1],
            "[INFO]:-   Coordinator instance                                      = Active"
        );
        assert_eq!(
            l[2],
            "[INFO]:-   Coordinator standby                                       = scdw"
        );
        assert_eq!(l[3], "[INFO]:-   Standby coordinator state                                 = Standby host passive");
        assert_eq!(
            l[4],
            "[INFO]:-   Total segment instance count from metadata                = 4"
        );
        assert_eq!(l[6], "[INFO]:-   Primary Segment Status");
        assert_eq!(
            l[8],
            "[INFO]:-   Total primary segments                                    = 2"
        );
        assert!(l.contains(
            &"[INFO]:-   Total number mirror segments acting as mirror segments    = 2".to_string()
        ));
        assert!(l.iter().all(|x| x.starts_with("[INFO]")));
    }

    #[test]
    fn no_standby_no_mirrors() {
        let a = array(false, false);
        let l = text(&summary_table(&a, &healthy(&a)));
        assert_eq!(l[2], "[INFO]:-   Coordinator standby                               = No coordinator standby configured");
        assert!(!l.iter().any(|x| x.contains("Standby coordinator state")));
        assert!(l.contains(&"[INFO]:-   Mirrors not configured on this array".to_string()));
    }

    #[test]
    fn standby_down_and_unreachable() {
        let a = array(true, true);
        let mut r = healthy(&a);
        for (h, v) in r.iter_mut() {
            if h == "scdw" {
                *v = Ok(vec![InstanceStatus {
                    pid_file: false,
                    pid: 0,
                    lock_file: false,
                    port_active: false,
                    ..up("/c/gpseg-1", 5432, 0)
                }]);
            }
        }
        let l = text(&summary_table(&a, &r));
        assert_eq!(l[3], "[WARNING]:-Standby coordinator state                                 = Standby host DOWN   <<<<<<<<");
        for (h, v) in r.iter_mut() {
            if h == "scdw" {
                *v = Err("Error getting status from host scdw".into());
            }
        }
        let l = text(&summary_table(&a, &r));
        assert!(l[3].starts_with("[WARNING]:-Standby coordinator state"));
        assert!(
            l[3].contains("= Status could not be determined: Error getting status from host scdw")
        );
    }

    #[test]
    fn dead_mirror_host_counts_as_missing() {
        let a = array(true, true);
        let mut r = healthy(&a);
        for (h, v) in r.iter_mut() {
            if h == "sdw2" {
                *v = Err("Error getting status from host sdw2".into());
            }
        }
        let l = text(&summary_table(&a, &r));
        assert!(l.iter().any(|x| x
            .starts_with("[WARNING]:-Total number of postmaster.pid files missing")
            && x.contains("= 1")));
    }

    #[test]
    fn standby_details_variants() {
        let dir = "/data0/database/coordinator/gpseg-1";
        let sb = Seg {
            datadir: dir.into(),
            ..array(true, false).standby().unwrap().clone()
        };
        let l = text(&standby_table(&sb, Ok(&up(dir, 5432, 4321))));
        assert_eq!(l[0], "[INFO]:-   Standby address          = scdw");
        assert_eq!(
            l[1],
            "[INFO]:-   Standby data directory   = /data0/database/coordinator/gpseg-1"
        );
        assert_eq!(l[3], "[INFO]:-   Standby PID              = 4321");
        assert_eq!(
            l[4],
            "[INFO]:-   Standby status           = Standby host passive"
        );
        let dead = InstanceStatus {
            port_active: false,
            ..up(dir, 5432, 4321)
        };
        let l = text(&standby_table(&sb, Ok(&dead)));
        assert_eq!(
            l[3],
            "[WARNING]:-Standby PID              = 4321                                  Have lock file /tmp/.s.PGSQL.5432.lock but no process running on port 5432   <<<<<<<<"
        );
        assert_eq!(
            l[4],
            "[WARNING]:-Standby status           = Status could not be determined        <<<<<<<<"
        );
        // The reference's rows for a standby without postmaster.pid, verbatim.
        let none = InstanceStatus {
            pid_file: false,
            pid: 0,
            lock_file: false,
            port_active: false,
            ..dead
        };
        let l = text(&standby_table(&sb, Ok(&none)));
        assert_eq!(
            l[3],
            "[WARNING]:-Standby PID              = 0                                     <<<<<<<<"
        );
        assert_eq!(
            l[4],
            "[WARNING]:-Standby status           = Standby process not running           <<<<<<<<"
        );
        let l = text(&standby_table(
            &sb,
            Err("Error getting status from host scdw"),
        ));
        assert!(l[3].starts_with(
            "[WARNING]:-Standby PID              = Error getting status from host scdw"
        ));
        assert!(l[4]
            .starts_with("[WARNING]:-Standby status           = Status could not be determined"));
    }
}
