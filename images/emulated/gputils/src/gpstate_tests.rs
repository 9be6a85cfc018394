//! Tests of `gpstate`: its output and decisions, without a cluster.

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
    assert!(l[3].contains("= Status could not be determined: Error getting status from host scdw"));
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
    assert!(l[3]
        .starts_with("[WARNING]:-Standby PID              = Error getting status from host scdw"));
    assert!(
        l[4].starts_with("[WARNING]:-Standby status           = Status could not be determined")
    );
}

fn lines(l: &Lines) -> Vec<String> {
    l.iter()
        .map(|(lvl, m)| format!("[{}]:-{m}", lvl.name()))
        .collect()
}

#[test]
fn no_standby_block_is_one_line() {
    assert_eq!(
        lines(&standby_block(None)),
        ["[INFO]:-Standby coordinator instance not configured"]
    );
}

#[test]
fn standby_block_has_heading_and_22_dash_underline() {
    let a = array(true, false);
    let sb = a.standby().unwrap();
    let st = up("/c/gpseg-1", 5432, 77);
    let l = lines(&standby_block(Some((sb, Ok(&st)))));
    assert_eq!(l[0], "[INFO]:-Standby coordinator details");
    assert_eq!(l[1], format!("[INFO]:-{}", "-".repeat(22)));
    assert_eq!(l[2], "[INFO]:-   Standby address          = scdw");
    assert_eq!(l.len(), 7);
}

#[test]
fn replication_block_variants() {
    let row = |v: [&str; 5]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let dashes = format!("[INFO]:-{}", "-".repeat(61));
    assert_eq!(
        lines(&replication_heading()),
        [
            dashes.as_str(),
            "[INFO]:--pg_stat_replication",
            dashes.as_str()
        ]
    );
    let one = replication_block(&[row(["catchup", "async", "0/1", "0/2", ""])]);
    assert_eq!(
        lines(&one),
        [
            "[INFO]:--WAL Sender State: catchup",
            "[INFO]:--Sync state: async",
            "[INFO]:--Sent Location: 0/1",
            "[INFO]:--Flush Location: 0/2",
            "[INFO]:--Replay Location: None",
            dashes.as_str(),
        ]
    );
    assert_eq!(
        lines(&replication_block(&[])),
        ["[INFO]:-No entries found.", dashes.as_str()]
    );
    let two = [row(["streaming"; 5]), row(["startup"; 5])];
    assert_eq!(
        lines(&replication_block(&two)),
        [
            "[WARNING]:-pg_stat_replication shows more than 1 row.",
            dashes.as_str()
        ]
    );
}

fn probe(pid_file: bool, pid: i32, lock: bool, active: bool) -> InstanceStatus {
    InstanceStatus {
        pid_file,
        pid,
        lock_file: lock,
        port_active: active,
        ..up("/d", 40000, 1)
    }
}

#[test]
fn standby_state_is_passive_only_with_pid_file_live_pid_and_no_error() {
    let passive = (false, "= Standby host passive".to_string());
    let down = (true, "= Standby host DOWN".to_string());
    assert_eq!(standby_state(Ok(&probe(true, 9, true, true))), passive);
    assert_eq!(standby_state(Ok(&probe(true, 9, true, false))), down);
    assert_eq!(standby_state(Ok(&probe(true, 9, false, true))), down);
    assert_eq!(standby_state(Ok(&probe(false, 0, false, false))), down);
    assert_eq!(
        standby_state(Err("Error getting status from host scdw")),
        (
            true,
            "= Status could not be determined: Error getting status from host scdw".to_string()
        )
    );
}

#[test]
fn missing_counts_follow_cloudberry() {
    let m = |p: &[Probe<'_>]| Missing::tally(p.iter().copied());
    let healthy = probe(true, 9, true, true);
    assert_eq!(m(&[Ok(&healthy)]), Missing::default());
    // Unreachable host: everything missing.
    let all = Missing {
        pid_files: 1,
        pids: 1,
        lock_files: 1,
        processes: 1,
    };
    assert_eq!(m(&[Err("Error getting status from host sdw1")]), all);
    // Never started / cleanly stopped: no pid file, no pid, no lock, no process.
    assert_eq!(m(&[Ok(&probe(false, 0, false, false))]), all);
    // kill -9: pid file, pid and lock stay; only the process is missing.
    let killed = Missing {
        processes: 1,
        ..Missing::default()
    };
    assert_eq!(m(&[Ok(&probe(true, 9, true, false))]), killed);
    // Host rebooted with the instance down: pid file and pid stay, lock gone.
    let rebooted = Missing {
        lock_files: 1,
        processes: 1,
        ..Missing::default()
    };
    assert_eq!(m(&[Ok(&probe(true, 9, false, false))]), rebooted);
    // Lock file removed under a running postmaster: the lock and the process count.
    assert_eq!(m(&[Ok(&probe(true, 9, false, true))]), rebooted);
    // Counts add up over instances.
    let sum = m(&[Ok(&healthy), Ok(&probe(true, 9, true, false)), Err("x")]);
    assert_eq!(
        sum,
        Missing {
            pid_files: 1,
            pids: 1,
            lock_files: 1,
            processes: 2,
        }
    );
}
