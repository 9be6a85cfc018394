//! `cbh` at the edge: bad input and broken setup give one clear error, exit code 2, and start
//! nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use cbharness::scenario::Scenario;
use rstest::rstest;

fn cbh(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cbh"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("cbh runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file of the bad-scenario corpus: `cbh run` prints exactly the scenario error, the one
/// `Scenario::parse` gives (and `snapshots/bad-scenarios__*.snap` records), and exits 2. The
/// engine it is given does not exist, so a command that got as far as Docker would have said
/// so instead: nothing was started.
#[rstest]
fn cbh_run_of_a_bad_scenario_file_prints_its_error_exits_2_and_starts_nothing(
    #[files("tests/bad-scenarios/*.toml")] path: PathBuf,
) {
    // Relative to the workspace root, where `cbh` runs: the path as a user would type it.
    let relative = path
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap())
        .unwrap();
    let expected = Scenario::parse(relative, &std::fs::read_to_string(&path).unwrap())
        .expect_err("a bad scenario");
    let out = cbh(
        &["run", relative.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out), format!("error: {expected}\n"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn a_misspelt_action_is_reported_at_its_position_with_the_nearest_action() {
    let out = cbh(
        &["run", "harness/tests/bad-scenarios/unknown-action.toml"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: harness/tests/bad-scenarios/unknown-action.toml:5:10: step 1 (`action`): unknown \
         action `activate_stanby`, expected one of `sql`, `write`, `workload_start`, `workload_stop`, `fault`, `heal`, \
         `activate_standby`, `move_datadir`, `remove_stale_files`, `init_standby`, `stop_coordinator_only`, \
         `gpstate`, `check`; did you mean `activate_standby`?\n"
    );
}

#[test]
fn an_unreachable_docker_engine_says_what_to_do_and_exits_2() {
    let out = cbh(
        &["run", "scenarios/restore-coordinator-mirroring.toml"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("failed to reach the Docker engine"), "{err}");
    assert!(err.contains("DOCKER_HOST"), "{err}");
}

#[test]
fn a_missing_image_names_it_and_how_to_build_one_and_exits_2() {
    let out = cbh(
        &[
            "run",
            "scenarios/restore-coordinator-mirroring.toml",
            "--image",
            "cbharness/no-such-image:0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("failed to find image `cbharness/no-such-image:0`"),
        "{err}"
    );
    assert!(err.contains("image build"), "{err}");
}

/// An installed `cbh` has no checkout to build the emulated image from: it says where it
/// looked and how to fix it, before touching Docker.
#[test]
fn image_build_without_the_build_context_names_it_and_exits_2() {
    let out = cbh(
        &["image", "build"],
        &[
            ("CBH_EMULATED_CONTEXT", "/nonexistent/images/emulated"),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("/nonexistent/images/emulated"), "{err}");
    assert!(
        err.contains("cargo run -p cbharness -- image build"),
        "{err}"
    );
    assert!(err.contains("CBH_EMULATED_CONTEXT"), "{err}");
    assert!(!err.contains("Docker engine"), "{err}");
}

/// The commands that work on a cluster by run id check their arguments before Docker, and say
/// so when Docker is not there.
#[rstest]
#[case::down_without_a_run_id(&["down"], "RUN_ID")]
#[case::exec_without_a_command(&["exec", "abcd1234", "cdw"], "COMMAND")]
#[case::up_with_a_scenario_and_a_topology(
    &["up", "scenarios/restore-original-hosts.toml", "--topology", "defaults"],
    "cannot be used with"
)]
#[case::ls_without_docker(&["ls"], "failed to reach the Docker engine")]
#[case::psql_without_docker(&["psql", "abcd1234", "-c", "SELECT 1"], "failed to reach the Docker engine")]
fn cluster_commands_refuse_bad_input_with_exit_2(#[case] args: &[&str], #[case] message: &str) {
    let out = cbh(args, &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(message), "{}", stderr(&out));
}

#[test]
fn up_of_a_bad_scenario_file_exits_2_before_docker() {
    let out = cbh(
        &["up", "harness/tests/bad-scenarios/unknown-action.toml"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown action"), "{}", stderr(&out));
}
