//! Scenario files are checked without Docker, so a typo fails in milliseconds rather than after
//! a cluster bring-up.
//!
//! Every file in `scenarios/` and `tests/scenarios/` loads. Every file of the bad-scenario corpus
//! `tests/bad-scenarios/` is rejected, and its message, `path:line:column: place: what is wrong`,
//! is the snapshot `snapshots/bad-scenarios__<file stem>.snap`; a new bad file gets its snapshot
//! with `INSTA_UPDATE=always`, to be read before it is committed.

use std::path::{Path, PathBuf};

use cbharness::scenario::Scenario;
use cbharness::snapshot;
use rstest::rstest;

#[rstest]
fn scenario_file_is_valid(#[files("../scenarios/*.toml")] path: PathBuf) {
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !scenario.description.is_empty(),
        "{} has no description",
        path.display()
    );
}

#[rstest]
fn test_only_scenario_file_is_valid(#[files("tests/scenarios/*.toml")] path: PathBuf) {
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
}

#[rstest]
fn bad_scenario_file_is_rejected_with_the_message_of_its_snapshot(
    #[files("tests/bad-scenarios/*.toml")] path: PathBuf,
) {
    // Messages name the file as a user at the workspace root would.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace");
    let shown = path.strip_prefix(root).unwrap_or(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    let error = match Scenario::parse(shown, &text) {
        Ok(_) => panic!("{} was accepted", shown.display()),
        Err(e) => e.to_string(),
    };
    let stem = path.file_stem().unwrap().to_string_lossy();
    snapshot::check(
        &snapshot::default_dir(),
        &format!("bad-scenarios__{stem}"),
        &error,
    )
    .unwrap_or_else(|problem| panic!("{problem}"));
}
