//! Scenario files are checked without Docker, so a typo fails in milliseconds rather than after
//! a cluster bring-up.
//!
//! Every file in `scenarios/` and `tests/scenarios/` loads, and so does every example of the
//! schema in `scenarios/README.md`, which shows every action; its example errors are those of the
//! corpus. Every file of the bad-scenario corpus `tests/bad-scenarios/` is rejected, and its
//! message, `path:line:column: place: what is wrong`, is the snapshot
//! `snapshots/bad-scenarios__<file stem>.snap`; a new bad file gets its snapshot with
//! `INSTA_UPDATE=always`, to be read before it is committed.

use std::path::{Path, PathBuf};

use cbharness::scenario::{Scenario, Step};
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

/// The workspace root: scenario paths in messages are relative to it.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
}

/// The blocks of `scenarios/README.md` fenced as `language`, with the line each starts on.
fn documented(language: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(root().join("scenarios/README.md")).unwrap();
    let fence = format!("```{language}");
    let mut examples = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line) {
            (None, line) if line == fence => current = Some((i + 2, String::new())),
            (Some(_), "```") => examples.extend(current.take()),
            (Some((_, block)), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    examples
}

#[test]
fn every_example_of_the_schema_documentation_is_a_valid_scenario() {
    let examples = documented("toml");
    assert!(!examples.is_empty());
    for (line, example) in examples {
        Scenario::parse(Path::new("example.toml"), &example)
            .unwrap_or_else(|e| panic!("scenarios/README.md, example from line {line}: {e}"));
    }
}

#[test]
fn the_schema_documentation_has_an_example_of_every_action() {
    let examples = documented("toml");
    let shown: Vec<&str> = examples
        .iter()
        .flat_map(|(_, example)| Scenario::parse(Path::new("example.toml"), example).ok())
        .flat_map(|scenario| scenario.steps.into_iter().map(|s| s.action()))
        .collect();
    for action in Step::ACTIONS {
        assert!(shown.contains(&action), "no example of `{action}`");
    }
}

#[test]
fn the_error_examples_of_the_schema_documentation_are_those_of_the_corpus() {
    let errors = documented("text");
    assert!(!errors.is_empty());
    for line in errors.iter().flat_map(|(_, block)| block.lines()) {
        let path = Path::new(line.split(':').next().unwrap());
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let error = Scenario::parse(path, &text).expect_err("a bad scenario");
        assert_eq!(error.to_string(), line);
    }
}

#[rstest]
fn bad_scenario_file_is_rejected_with_the_message_of_its_snapshot(
    #[files("tests/bad-scenarios/*.toml")] path: PathBuf,
) {
    // Messages name the file as a user at the workspace root would.
    let shown = path.strip_prefix(root()).unwrap_or(&path);
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
