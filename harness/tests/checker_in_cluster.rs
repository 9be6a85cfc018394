//! The checker on a real cluster, shown able to fail: a test-only scenario deletes acknowledged
//! rows behind the harness's back, and the run must fail with the checker naming exactly the
//! lost ids, while a workload writes concurrently with the check and afterwards. And a workload
//! that no step stops is stopped by the runner, after each client's current write.
//!
//! Like the scenario tests it brings up a cluster; `.config/nextest.toml` puts it in the
//! `clusters` group.

use std::path::Path;

use cbharness::history::{Event, Kind, Process};
use cbharness::scenario::{run, RunOptions, Scenario};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes of `table` in the history that completed as `kind`.
fn writes(events: &[Event], table: &str, kind: Kind) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.op == "write" && e.kind == kind && e.value["table"] == table)
        .filter_map(|e| e.value["id"].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_acknowledged_row_fails_the_run_naming_its_id() {
    let options = RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        ..RunOptions::default()
    };
    let outcome = run(&scenario("planted-loss.toml"), &options, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("the scenario could not run: {e:?}"));
    let events = &outcome.events;

    // On a healthy cluster every write of the workload is acknowledged, by two clients with
    // ids of their own blocks, and client 1's first write is the one deleted.
    let acked = writes(events, "workload", Kind::Ok);
    assert!(writes(events, "workload", Kind::Fail).is_empty());
    assert!(writes(events, "workload", Kind::Info).is_empty());
    assert!(acked.contains(&1_000_001), "{acked:?}");
    assert!(acked.contains(&2_000_001), "{acked:?}");
    for process in [1, 2] {
        assert!(
            events
                .iter()
                .any(|e| e.op == "write" && e.process == Process::Client(process)),
            "no write by client {process}"
        );
    }

    assert!(!outcome.passed, "the planted losses were not found");
    let t = "1 of 5 acknowledged rows of t are missing: ids 3".to_string();
    let workload = format!(
        "1 of {} acknowledged rows of workload are missing: ids 1000001",
        acked.len()
    );
    // Step 4 checks while the workload writes: only t's planted loss. Step 7 after the stop:
    // both.
    assert_eq!(
        outcome.failures,
        vec![(4, t.clone()), (7, t), (7, workload)],
        "artifacts: {:?}",
        outcome.bundle
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_left_running_is_stopped_by_the_runner_after_its_current_writes() {
    let options = RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        ..RunOptions::default()
    };
    let outcome = run(
        &scenario("workload-left-running.toml"),
        &options,
        &mut |_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("the scenario could not run: {e:?}"));
    let events = &outcome.events;
    assert!(!outcome.passed);
    assert_eq!(
        outcome
            .failures
            .iter()
            .map(|(step, _)| *step)
            .collect::<Vec<_>>(),
        vec![3],
        "only the erroring step fails: {:?}",
        outcome.failures
    );
    // The runner stopped the workload after the last step ran...
    let last_step = events
        .iter()
        .rposition(|e| e.op == "step")
        .expect("steps in the history");
    let stop = events
        .iter()
        .position(|e| e.op == "workload" && e.process == Process::Runner)
        .expect("the runner stopped the workload");
    assert!(
        stop > last_step,
        "stopped at {stop}, last step at {last_step}"
    );
    // ... having let every client finish its write: each invoke has its completion before.
    for process in [1, 2] {
        let mine: Vec<&Event> = events[..stop]
            .iter()
            .filter(|e| e.op == "write" && e.process == Process::Client(process))
            .collect();
        assert!(!mine.is_empty(), "client {process} never wrote");
        assert_eq!(
            mine.len() % 2,
            0,
            "client {process} left a write unfinished"
        );
        assert!(
            events[stop..]
                .iter()
                .all(|e| e.process != Process::Client(process)),
            "client {process} wrote after the stop"
        );
    }
    assert_eq!(
        events[stop].value["summary"]["ok"].as_u64(),
        Some(writes(events, "workload", Kind::Ok).len() as u64)
    );
}
