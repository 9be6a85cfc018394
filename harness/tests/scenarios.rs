//! One test per scenario file in `scenarios/`: each brings up a real cluster in Docker, runs
//! the scenario's steps and fails with every failed expectation, snapshot and invariant, and
//! the path of the artifact bundle.
//!
//! These tests share the machine's Docker engine; `.config/nextest.toml` puts them in a test
//! group that bounds how many clusters run at once.

use std::path::PathBuf;

use cbharness::scenario::{run, RunEvent, RunOptions, Scenario, StepOutcome};
use rstest::rstest;

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario(#[files("../scenarios/*.toml")] path: PathBuf) {
    // The seed comes from CBH_SEED, else the clock; every failure names it.
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "seed {} (repeat with CBH_SEED={})",
        scenario.choices, scenario.choices.seed
    );
    let options = RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        ..RunOptions::default()
    };
    let mut log = |event: RunEvent<'_>| {
        if let RunEvent::StepFinished {
            index,
            title,
            duration,
            outcome,
        } = event
        {
            let verdict = match outcome {
                StepOutcome::Passed => "ok".to_string(),
                other => format!("{other:?}"),
            };
            eprintln!(
                "[{:>2}] {title} ({:.2}s) {verdict}",
                index + 1,
                duration.as_secs_f64()
            );
        }
    };
    let outcome = run(&scenario, &options, &mut log)
        .await
        .unwrap_or_else(|e| panic!("scenario {} could not run: {e:?}", scenario.name));
    let failures: Vec<String> = outcome
        .failures
        .iter()
        .map(|(step, message)| format!("step {step}: {message}"))
        .collect();
    assert!(
        outcome.passed,
        "scenario {} failed (seed {}; repeat with CBH_SEED={}):\n{}\nartifacts: {}",
        scenario.name,
        scenario.choices,
        scenario.choices.seed,
        failures.join("\n"),
        outcome
            .bundle
            .map(|b| b.display().to_string())
            .unwrap_or_default()
    );
}
