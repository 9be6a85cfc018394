//! Tests of the HTML report over synthetic histories.
//!
//! Set `CBH_REPORT_PREVIEW=<folder>` to also write the synthetic reports there
//! (`report-60s.html`, `report-600s.html`) for a look in a browser.

use serde_json::{json, Value};

use super::timeline::{bin_width, nice_step};
use super::*;
use crate::history::Process;

/// A synthetic history, built in time order.
struct Run {
    events: Vec<Event>,
    next_id: i64,
}

impl Run {
    fn new() -> Run {
        Run {
            events: Vec::new(),
            next_id: 1,
        }
    }

    fn at(&mut self, t: f64, process: Process, kind: Kind, op: &str, value: Value) {
        self.events.push(Event {
            index: self.events.len(),
            time_ms: t * 1000.0,
            process,
            kind,
            op: op.into(),
            value,
        });
    }

    /// A step from `start` to `end`; `body` records what happens inside it.
    fn step(
        &mut self,
        n: u64,
        title: &str,
        start: f64,
        end: f64,
        kind: Kind,
        body: impl FnOnce(&mut Run),
    ) {
        self.at(
            start,
            Process::Runner,
            Kind::Invoke,
            "step",
            json!({"index": n, "title": title}),
        );
        body(self);
        let outcome = if kind == Kind::Ok {
            "Passed"
        } else {
            "AssertionsFailed([\"x\"])"
        };
        let value =
            json!({"index": n, "title": title, "duration_s": end - start, "outcome": outcome});
        self.at(end, Process::Runner, kind, "step", value);
    }

    /// One write completing `latency` after `t` with `kind`.
    fn write(&mut self, t: f64, host: &str, table: &str, kind: Kind) {
        let id = self.next_id;
        self.next_id += 1;
        // scdw writes only after it was promoted: the second timeline.
        let timeline = if host == "scdw" { 2 } else { 1 };
        let mut value = json!({"table": table, "id": id, "host": host, "timeline": timeline});
        self.at(t, Process::Client(0), Kind::Invoke, "write", value.clone());
        match kind {
            Kind::Fail => {
                value["error"] = json!("cannot execute INSERT in a read-only transaction")
            }
            Kind::Info => value["error"] = json!("no answer"),
            _ => {}
        }
        self.at(t + 0.05, Process::Client(0), kind, "write", value);
    }

    /// Writes every `every` seconds in `from..to`; `kind_of(i)` picks each outcome.
    fn writes(
        &mut self,
        from: f64,
        to: f64,
        every: f64,
        host: &str,
        table: &str,
        kind_of: impl Fn(usize) -> Kind,
    ) {
        let mut i = 0;
        while from + i as f64 * every + 0.05 < to {
            self.write(from + i as f64 * every, host, table, kind_of(i));
            i += 1;
        }
    }

    fn nemesis(&mut self, t: f64, op: &str, kind: Kind, host: &str) {
        self.at(
            t,
            Process::Nemesis,
            kind,
            op,
            json!({"fault": "crash", "host": host}),
        );
    }

    fn check(&mut self, t: f64, invariant: &str, verdict: Value) {
        let kind = if verdict["verdict"] == "valid" {
            Kind::Ok
        } else {
            Kind::Fail
        };
        self.at(
            t,
            Process::Runner,
            kind,
            "check",
            json!({"invariant": invariant, "verdict": verdict}),
        );
    }
}

const BAD_TITLE: &str = "check one_coordinator <script>alert(1)</script>";

/// A failover run: writes on cdw, crash of cdw at 9.1 s (in-flight writes on cdw still
/// acknowledged after it, then unknown ones), activation of scdw (a read-only failure on scdw),
/// writes on scdw from 21.8 s, a valid and an invalid check, heal of cdw. Write steps last
/// `scale` times longer (1: about 60 s, 14: about 600 s).
fn failover_run(scale: f64) -> Vec<Event> {
    let mut r = Run::new();
    let s = |t: f64| t * scale;
    r.step(
        1,
        "gpstate -f on cdw (snapshot healthy)",
        0.2,
        1.5,
        Kind::Ok,
        |_| {},
    );
    let (a, b) = (1.5, 1.5 + s(7.5));
    r.step(
        2,
        "write 50 rows to before_failure on cdw",
        a,
        b,
        Kind::Ok,
        |r| {
            r.writes(a + 0.1, b, 0.15, "cdw", "before_failure", |i| {
                if i == 30 {
                    Kind::Fail
                } else {
                    Kind::Ok
                }
            })
        },
    );
    let c = b + 0.8;
    r.step(3, "crash cdw", b, c, Kind::Ok, |r| {
        r.nemesis(b + 0.1, "fault", Kind::Invoke, "cdw");
        r.write(b + 0.25, "cdw", "before_failure", Kind::Ok);
        r.write(b + 0.45, "cdw", "before_failure", Kind::Info);
        r.nemesis(b + 0.7, "fault", Kind::Info, "cdw");
    });
    let d = c + s(4.2);
    r.step(
        4,
        "write 20 rows to during_failure on cdw",
        c,
        d,
        Kind::Ok,
        |r| r.writes(c + 0.1, d, 1.0, "cdw", "during_failure", |_| Kind::Info),
    );
    let e = d + 7.0;
    r.step(
        5,
        "gpactivatestandby -d $COORDINATOR_DATA_DIRECTORY on scdw",
        d,
        e,
        Kind::Ok,
        |r| r.write(e - 0.5, "scdw", "after_failover", Kind::Fail),
    );
    let f = e + s(12.0);
    r.step(
        6,
        "write 100 rows to after_failover on scdw",
        e,
        f,
        Kind::Ok,
        |r| {
            r.writes(e + 0.75, f, 0.12, "scdw", "after_failover", |i| {
                if i % 37 == 36 {
                    Kind::Info
                } else {
                    Kind::Ok
                }
            })
        },
    );
    r.step(
        7,
        "check acknowledged_writes_present",
        f,
        f + 1.0,
        Kind::Ok,
        |r| {
            r.check(
                f + 0.8,
                "AcknowledgedWritesPresent",
                json!({"verdict": "valid"}),
            )
        },
    );
    let reason = "the catalog has 2 coordinators (content -1, role p): cdw (dbid 1), scdw (dbid 6)";
    let g = f + 2.5;
    r.step(8, BAD_TITLE, f + 1.0, g, Kind::Fail, |r| {
        r.check(
            g - 0.2,
            "OneCoordinator",
            json!({"verdict": "invalid", "reasons": [reason]}),
        )
    });
    let h = g + 4.5;
    r.step(9, "heal cdw", g, h, Kind::Ok, |r| {
        r.nemesis(g + 0.1, "heal", Kind::Invoke, "cdw");
        r.nemesis(h - 0.5, "heal", Kind::Info, "cdw");
    });
    let i = h + s(18.0);
    r.step(
        10,
        "write 200 rows to after_heal on scdw",
        h,
        i,
        Kind::Ok,
        |r| {
            r.writes(h + 0.1, i, 0.09, "scdw", "after_heal", |i| {
                if i % 50 == 49 {
                    Kind::Info
                } else {
                    Kind::Ok
                }
            })
        },
    );
    r.step(
        11,
        "gpstate -b on scdw (snapshot after-activation)",
        i,
        i + 1.6,
        Kind::Ok,
        |_| {},
    );
    r.events
}

fn input(events: Vec<Event>, passed: bool) -> ReportInput {
    let failures = if passed {
        vec![]
    } else {
        vec![(
            8,
            "the catalog has 2 coordinators (content -1, role p): cdw (dbid 1), scdw (dbid 6)"
                .into(),
        )]
    };
    ReportInput {
        scenario: "restore-coordinator-mirroring".into(),
        description: "Crash cdw, activate scdw, re-initialize a standby on cdw; nothing acknowledged is lost.".into(),
        run_id: "3fa9c2d1".into(),
        image: "cbharness/emulated:5d41402abc4b".into(),
        passed,
        failures,
        events,
    }
}

#[test]
fn the_failover_time_runs_from_the_crash_to_the_first_ack_on_the_new_timeline() {
    let failovers = failover_times(&failover_run(1.0));
    assert_eq!(failovers.len(), 1);
    let f = &failovers[0];
    assert_eq!((f.fault.as_str(), f.host.as_str()), ("crash", "cdw"));
    assert!((f.fault_s - 9.1).abs() < 1e-9, "{f:?}");
    // Not the write on cdw acknowledged after the crash, not the failed one on scdw.
    let r = f.recovery.as_ref().expect("a recovery");
    assert_eq!(r.host, "scdw");
    assert!((r.at_s - 21.8).abs() < 1e-9, "{f:?}");
    assert!((f.seconds().unwrap() - 12.7).abs() < 1e-9, "{f:?}");
}

/// A run stopped by a signal inside step 2: a failed injection on sdw1, a crash of cdw never
/// healed and never followed by an acknowledged write elsewhere.
fn interrupted_run() -> Vec<Event> {
    let mut r = Run::new();
    r.step(1, "crash sdw1", 0.5, 1.6, Kind::Fail, |r| {
        r.nemesis(1.0, "fault", Kind::Invoke, "sdw1");
        r.nemesis(1.5, "fault", Kind::Fail, "sdw1");
    });
    r.at(
        2.0,
        Process::Runner,
        Kind::Invoke,
        "step",
        json!({"index": 2, "title": "crash cdw"}),
    );
    r.nemesis(2.0, "fault", Kind::Invoke, "cdw");
    r.nemesis(2.5, "fault", Kind::Info, "cdw");
    r.write(3.0, "cdw", "t", Kind::Ok);
    r.write(4.0, "scdw", "t", Kind::Info);
    r.events
}

#[test]
fn failed_injections_are_no_failover_and_an_unanswered_fault_has_no_recovery() {
    let r = Run {
        events: interrupted_run(),
        next_id: 0,
    };
    let failovers = failover_times(&r.events);
    assert_eq!(failovers.len(), 1);
    assert_eq!(failovers[0].host, "cdw");
    assert_eq!(failovers[0].recovery, None);
    let html = render(&input(r.events, false));
    assert!(html.contains("injection failed"));
    assert!(html.contains("never healed"));
    assert!(html.contains("no write was acknowledged by another host"));
    assert!(html.contains("<span class=\"unknown\">unfinished</span>"));
}

#[test]
fn the_verdict_and_the_failures_lead_the_page() {
    let html = render(&input(failover_run(1.0), false));
    assert!(html.contains("<div class=\"verdict\">FAIL</div>"));
    assert!(html.contains("<b>step 8</b><pre>the catalog has 2 coordinators"));
    assert!(html.contains("3fa9c2d1") && html.contains("cbharness/emulated:5d41402abc4b"));
    let html = render(&input(failover_run(1.0), true));
    assert!(html.contains("<div class=\"verdict\">PASS</div>"));
    assert!(!html.contains("Failures"));
}

#[test]
fn every_step_is_in_the_timeline_and_the_table() {
    let html = render(&input(failover_run(1.0), false));
    assert_eq!(html.matches("<rect class=\"step\"").count(), 11);
    for title in [
        "gpstate -f on cdw (snapshot healthy)",
        "crash cdw",
        "heal cdw",
    ] {
        assert!(html.contains(&format!("<td>{title}</td>")), "{title}");
    }
    assert!(
        html.contains("<title>step 5: gpactivatestandby -d $COORDINATOR_DATA_DIRECTORY on scdw")
    );
    assert!(html.contains("<span class=\"fail\">failed</span><pre>the catalog has 2 coordinators"));
}

#[test]
fn the_fault_window_is_a_band_and_a_labelled_bar_and_the_failover_is_annotated() {
    let html = render(&input(failover_run(1.0), false));
    assert_eq!(html.matches("class=\"fault-band\"").count(), 1);
    assert!(html.contains(">crash cdw</text>"));
    assert!(html.contains("crash of cdw from 9.1 s, healed at 39.5 s"));
    assert!(html.contains(">failover 12.7 s → scdw</text>"));
    assert!(
        html.contains("Time from crash of cdw to first acknowledged write on scdw: <b>12.7 s</b>")
    );
}

#[test]
fn checks_and_write_outcomes_are_marked() {
    let html = render(&input(failover_run(1.0), false));
    assert!(html.contains("class=\"check valid\"") && html.contains("class=\"check invalid\""));
    assert!(html.contains("one coordinator invalid"));
    for class in ["writes ok", "writes fail", "writes unknown"] {
        assert!(html.contains(class), "{class}");
    }
}

#[test]
fn text_from_the_history_is_escaped() {
    let html = render(&input(failover_run(1.0), false));
    assert!(!html.contains("<script>"));
    assert!(html.contains("check one_coordinator &lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn an_empty_history_renders() {
    let html = render(&input(vec![], false));
    assert!(html.contains("FAIL") && html.contains("The history has no events"));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn rendering_is_deterministic_and_self_contained() {
    let a = render(&input(failover_run(1.0), false));
    for external in ["http", "<script", "<link", "@import", "url("] {
        assert!(!a.contains(external), "{external}");
    }
    assert_eq!(a, render(&input(failover_run(1.0), false)));
}

#[test]
fn the_axis_has_round_ticks_for_short_and_long_runs() {
    assert_eq!(nice_step(60.0), 10.0);
    assert_eq!(nice_step(600.0), 100.0);
    assert_eq!(nice_step(1.0), 0.1);
    assert_eq!(nice_step(37.0), 5.0);
    assert_eq!(bin_width(60.0), 1.0);
    assert_eq!(bin_width(600.0), 5.0);
}

#[test]
fn long_runs_render_and_previews_are_written_when_asked() {
    let long = render(&input(failover_run(14.0), false));
    assert!(long.contains("Time from crash of cdw to first acknowledged write on scdw"));
    assert!(long.len() < 1_000_000, "{} bytes", long.len());
    if let Some(dir) = std::env::var_os("CBH_REPORT_PREVIEW") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("report-60s.html"),
            render(&input(failover_run(1.0), false)),
        )
        .unwrap();
        std::fs::write(dir.join("report-600s.html"), long).unwrap();
        std::fs::write(
            dir.join("report-interrupted.html"),
            render(&input(interrupted_run(), false)),
        )
        .unwrap();
        std::fs::write(dir.join("report-empty.html"), render(&input(vec![], true))).unwrap();
    }
}
