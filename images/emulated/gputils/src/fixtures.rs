//! Test-only: the emulator's `gpstate` output for every state it can report, checked line by
//! line against the harness parser's fixtures (`harness/tests/fixtures/gpstate/`), so that the
//! parser is known to read everything the emulation prints.
//!
//! Each case builds a catalog and the probe results a cluster in that state would give, renders
//! them with the same functions `gpstate` logs with, and compares the level and message of every
//! line after the preamble with the fixture (timestamps, pids, host names in the prefix and the
//! preamble's version strings are not compared; progress-dot lines are skipped).
//!
//! `GPUTILS_BLESS_FIXTURES=1 cargo test -p gputils fixtures` writes the fixtures that do not
//! exist yet (never overwrites one), with the emulation's preamble.

use std::path::PathBuf;

use crate::catalog::{parse_rows, Array, Seg};
use crate::gpstate::{
    replication_block, replication_heading, standby_block, summary_table, HostResults,
};
use crate::log::{format_line, Civil, Level, Lines};
use crate::status::InstanceStatus;

const COORD_DIR: &str = "/data0/database/coordinator/gpseg-1";

/// A cluster as in the reference: cdw, standby scdw, 4 primaries and (optionally) 4 group
/// mirrors on sdw1 and sdw2.
fn array(standby: bool, mirrors: bool) -> Array {
    let mut rows: Vec<[String; 10]> = Vec::new();
    let mut row = |dbid: i16, content: i16, role: &str, pref: &str, host: &str, port: u16, dir| {
        rows.push([
            dbid.to_string(),
            content.to_string(),
            role.into(),
            pref.into(),
            if mirrors || content < 0 { "s" } else { "n" }.into(),
            "u".into(),
            host.into(),
            host.into(),
            port.to_string(),
            dir,
        ]);
    };
    row(1, -1, "p", "p", "cdw", 5432, COORD_DIR.to_string());
    for c in 0..4i16 {
        let host = if c < 2 { "sdw1" } else { "sdw2" };
        let dir = format!("/data0/database/primary/gpseg{c}");
        row(2 + c, c, "p", "p", host, 40000 + c as u16 % 2, dir);
    }
    if mirrors {
        for c in 0..4i16 {
            let host = if c < 2 { "sdw2" } else { "sdw1" };
            let dir = format!("/data0/database/mirror/gpseg{c}");
            row(6 + c, c, "m", "m", host, 50000 + c as u16 % 2, dir);
        }
    }
    if standby {
        row(10, -1, "m", "m", "scdw", 5432, COORD_DIR.to_string());
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    Array {
        segs: parse_rows(&rows).unwrap(),
    }
}

fn running(seg: &Seg) -> InstanceStatus {
    InstanceStatus {
        datadir: seg.datadir.clone(),
        port: seg.port,
        pid_file: true,
        pid: 4000 + i32::from(seg.dbid),
        lock_file: true,
        port_active: true,
    }
}

/// Every host healthy, with `change` applied to the status of each instance.
fn probes(a: &Array, change: impl Fn(&Seg, &mut InstanceStatus)) -> HostResults {
    let others = a
        .segs
        .iter()
        .filter(|s| !(s.content == -1 && s.role == 'p'));
    Array::by_host(others)
        .into_iter()
        .map(|(host, segs)| {
            let st = segs
                .iter()
                .map(|s| {
                    let mut st = running(s);
                    change(s, &mut st);
                    st
                })
                .collect();
            (host, Ok(st))
        })
        .collect()
}

fn unreachable(mut r: HostResults, host: &str) -> HostResults {
    for (h, v) in r.iter_mut() {
        if h == host {
            *v = Err(format!("Error getting status from host {host}"));
        }
    }
    r
}

fn standby_seg() -> Seg {
    array(true, false).standby().unwrap().clone()
}

fn standby_status(pid_file: bool, pid: i32, lock: bool, active: bool) -> InstanceStatus {
    InstanceStatus {
        datadir: COORD_DIR.into(),
        port: 5432,
        pid_file,
        pid,
        lock_file: lock,
        port_active: active,
    }
}

fn sender(state: &str, sent: &str, flush: &str, replay: &str) -> Vec<String> {
    [state, "sync", sent, flush, replay]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn streaming() -> Vec<Vec<String>> {
    vec![sender(
        "streaming",
        "0/14000000",
        "0/14000000",
        "0/14000000",
    )]
}

/// The body of `gpstate -f`: what follows `Obtaining Segment details from coordinator...`.
fn full(standby: Option<std::result::Result<InstanceStatus, &str>>, rows: &[Vec<String>]) -> Lines {
    let sb = standby_seg();
    let mut lines = match &standby {
        None => standby_block(None),
        Some(p) => standby_block(Some((&sb, p.as_ref().map_err(|e| *e)))),
    };
    lines.extend(replication_heading());
    lines.extend(replication_block(rows));
    lines
}

/// The body of `gpstate -b`: what follows `Gathering data from segments...`.
fn brief(a: &Array, r: &HostResults) -> Lines {
    let mut lines = vec![(
        Level::Info,
        "Cloudberry instance status summary".to_string(),
    )];
    lines.extend(summary_table(a, r).render());
    lines
}

struct Case {
    file: &'static str,
    body: Lines,
    /// Progress dots printed while the hosts were probed (one per second).
    dots: usize,
}

fn cases() -> Vec<Case> {
    let stale = |lock, active| Some(Ok(standby_status(true, 4321, lock, active)));
    let both = array(true, true);
    let mut c = vec![
        Case {
            file: "full_healthy.txt",
            body: full(stale(true, true), &streaming()),
            dots: 0,
        },
        Case {
            file: "full_no_standby.txt",
            body: full(None, &[]),
            dots: 0,
        },
        Case {
            file: "full_pid_zero.txt",
            body: full(Some(Ok(standby_status(false, 0, false, false))), &[]),
            dots: 0,
        },
        Case {
            file: "full_unreachable.txt",
            body: full(
                Some(Err("Error getting status from host scdw")),
                &streaming(),
            ),
            dots: 0,
        },
        Case {
            file: "full_stale_lock_no_process.txt",
            body: full(stale(true, false), &[]),
            dots: 0,
        },
        Case {
            file: "full_stale_no_socket.txt",
            body: full(stale(false, false), &[]),
            dots: 0,
        },
        Case {
            file: "full_stale_no_lock_file.txt",
            body: full(stale(false, true), &streaming()),
            dots: 0,
        },
        Case {
            file: "full_catchup.txt",
            body: full(
                stale(true, true),
                &[sender("catchup", "0/16000060", "0/15FFFFA8", "0/15000000")],
            ),
            dots: 0,
        },
        Case {
            file: "full_more_than_one_row.txt",
            body: full(
                stale(true, true),
                &[streaming()[0].clone(), streaming()[0].clone()],
            ),
            dots: 0,
        },
        Case {
            file: "full_no_status_output.txt",
            body: full(Some(Err("No status output provided from host scdw")), &[]),
            dots: 0,
        },
        Case {
            file: "full_startup_nulls.txt",
            body: full(
                stale(true, true),
                &[vec![
                    "startup".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]],
            ),
            dots: 0,
        },
    ];
    let healthy = probes(&both, |_, _| {});
    c.push(Case {
        file: "brief_healthy.txt",
        body: brief(&both, &healthy),
        dots: 0,
    });
    let no_mirrors = array(true, false);
    c.push(Case {
        file: "brief_no_mirrors.txt",
        body: brief(&no_mirrors, &probes(&no_mirrors, |_, _| {})),
        dots: 0,
    });
    let no_standby = array(false, true);
    c.push(Case {
        file: "brief_no_standby.txt",
        body: brief(&no_standby, &probes(&no_standby, |_, _| {})),
        dots: 0,
    });
    let sb_down = probes(&both, |s, st| {
        if s.content == -1 {
            *st = standby_status(false, 0, false, false);
        }
    });
    c.push(Case {
        file: "brief_standby_down.txt",
        body: brief(&both, &sb_down),
        dots: 0,
    });
    c.push(Case {
        file: "brief_unreachable.txt",
        body: brief(&both, &unreachable(healthy.clone(), "scdw")),
        dots: 0,
    });
    // Content 0 failed over: its primary is down in the catalog (role m, status d) with no
    // postmaster.pid left, its mirror acts as primary.
    let mut failed = both.clone();
    for s in failed.segs.iter_mut().filter(|s| s.content == 0) {
        if s.preferred_role == 'p' {
            s.role = 'm';
            s.status = 'd';
        } else {
            s.role = 'p';
        }
    }
    let failed_probes = probes(&failed, |s, st| {
        if s.content == 0 && s.preferred_role == 'p' {
            st.pid_file = false;
            st.pid = 0;
        }
    });
    c.push(Case {
        file: "brief_segment_failure.txt",
        body: brief(&failed, &failed_probes),
        dots: 0,
    });
    // New variants.
    let bare = array(false, false);
    c.push(Case {
        file: "brief_no_standby_no_mirrors.txt",
        body: brief(&bare, &probes(&bare, |_, _| {})),
        dots: 0,
    });
    c.push(Case {
        file: "brief_standby_down_no_mirrors.txt",
        body: brief(
            &no_mirrors,
            &probes(&no_mirrors, |s, st| {
                if s.content == -1 {
                    *st = standby_status(true, 4321, true, false);
                }
            }),
        ),
        dots: 0,
    });
    c.push(Case {
        file: "brief_segment_host_unreachable.txt",
        body: brief(&both, &unreachable(healthy.clone(), "sdw2")),
        dots: 5,
    });
    // After `kill -9` of primary gpseg1 (postmaster.pid, its pid and the lock file stay, nothing
    // listens) and a reboot of mirror gpseg3's host without restart (no lock file, no socket).
    c.push(Case {
        file: "brief_stale_segment_files.txt",
        body: brief(
            &both,
            &probes(&both, |s, st| match (s.content, s.preferred_role) {
                (1, 'p') => st.port_active = false,
                (3, 'm') => {
                    st.lock_file = false;
                    st.port_active = false;
                }
                _ => {}
            }),
        ),
        dots: 0,
    });
    c
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../harness/tests/fixtures/gpstate")
}

/// Level and message of each log line of `text` after the line whose message is `marker`.
fn body_of(text: &str, marker: &str) -> Vec<(String, String)> {
    let parsed: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let (head, msg) = l.split_once("]:-")?;
            let level = head.rsplit_once("-[")?.1;
            Some((level.to_string(), msg.to_string()))
        })
        .collect();
    let at = parsed
        .iter()
        .position(|(_, m)| m == marker)
        .unwrap_or_else(|| panic!("no {marker:?} line"));
    parsed[at + 1..].to_vec()
}

fn marker(file: &str) -> &'static str {
    if file.starts_with("full_") {
        "Obtaining Segment details from coordinator..."
    } else {
        "Gathering data from segments..."
    }
}

/// A whole fixture: the emulation's preamble, then `body`.
fn render(file: &str, body: &Lines, dots: usize) -> String {
    let brief = !file.starts_with("full_");
    let mut lines: Lines = [
        format!(
            "Starting gpstate with args: {}",
            if brief { "-b" } else { "-f" }
        ),
        "local Cloudberry Version: 'postgres (Apache Cloudberry emulation on PostgreSQL) 17.6'"
            .to_string(),
        "coordinator Cloudberry Version: 'PostgreSQL 17.6 (Debian 17.6-0+deb13u1) on \
         x86_64-pc-linux-gnu, compiled by gcc (Debian 14.2.0-19) 14.2.0, 64-bit \
         (Apache Cloudberry emulation)'"
            .to_string(),
        "Obtaining Segment details from coordinator...".to_string(),
    ]
    .into_iter()
    .map(|m| (Level::Info, m))
    .collect();
    if brief {
        lines.push((Level::Info, "Gathering data from segments...".to_string()));
    }
    let t = Civil::from_unix(1_686_120_606);
    let line = |(lvl, m): &(Level, String)| {
        format!(
            "{}\n",
            format_line(&t, 4205, "gpstate", "cdw", "gpadmin", *lvl, m)
        )
    };
    let mut text: String = lines.iter().map(line).collect();
    if dots > 0 {
        text.push_str(&".".repeat(dots));
        text.push('\n');
    }
    text.extend(body.iter().map(line));
    text
}

#[test]
fn every_gpstate_variant_matches_the_parser_fixtures() {
    let bless = std::env::var_os("GPUTILS_BLESS_FIXTURES").is_some();
    let dir = fixture_dir();
    let mut failures = Vec::new();
    for case in cases() {
        let path = dir.join(case.file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) if bless => {
                std::fs::write(&path, render(case.file, &case.body, case.dots)).unwrap();
                continue;
            }
            Err(e) => {
                failures.push(format!(
                    "{}: {e} (bless with GPUTILS_BLESS_FIXTURES=1)",
                    case.file
                ));
                continue;
            }
        };
        let want: Vec<(String, String)> = case
            .body
            .iter()
            .map(|(l, m)| (l.name().to_string(), m.clone()))
            .collect();
        let got = body_of(&text, marker(case.file));
        if got != want {
            failures.push(format!(
                "{}: fixture differs from the emulator's output; the emulator prints:\n{}",
                case.file,
                render(case.file, &case.body, case.dots)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_dots_line_is_skipped_by_the_comparison() {
    let text = "x gpstate:h:u-[INFO]:-Gathering data from segments...\n....\n\
                x gpstate:h:u-[WARNING]:-w   <<<<<<<<\n";
    assert_eq!(
        body_of(text, "Gathering data from segments..."),
        vec![("WARNING".to_string(), "w   <<<<<<<<".to_string())]
    );
}
