//! Every scenario file in `scenarios/` loads and validates without Docker, so a typo fails in
//! milliseconds rather than after a cluster bring-up.

use std::path::PathBuf;

use cbharness::scenario::Scenario;
use rstest::rstest;

#[rstest]
fn scenario_file_is_valid(#[files("../scenarios/*.toml")] path: PathBuf) {
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !scenario.steps.is_empty(),
        "{} has no steps",
        path.display()
    );
    assert!(
        !scenario.description.is_empty(),
        "{} has no description",
        path.display()
    );
}
