//! `cbh` at the edge: bad input and broken setup give one clear error, exit code 2, and start
//! nothing.

use std::path::Path;
use std::process::Output;

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

#[test]
fn a_bad_scenario_file_names_file_line_and_field_and_exits_2() {
    let dir = tempdir();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw7\"\n",
    )
    .unwrap();
    // An unreachable engine proves nothing was started: validation comes first.
    let out = cbh(
        &["run", path.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "bad.toml:4:8: step 1 (`host`): unknown host `cdw7`, expected one of `cdw`, `scdw`, \
             `sdw1`, `sdw2`; did you mean `cdw`?"
        ),
        "{err}"
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

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cbh-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
