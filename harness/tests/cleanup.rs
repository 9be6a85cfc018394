//! Nothing is left running: after a pass, a failed assertion, a panic mid-scenario, SIGINT,
//! SIGTERM (to `cbh run`, and to a test process running a scenario in-process, as nextest sends
//! on slow-timeout), and SIGKILL followed by garbage collection, no container, network or
//! volume of the run remains. Each test fails if one does. A latency fault's relay, which lives
//! in the process running the scenario, stops with the run that failed or panicked with it on.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cbharness::cluster;
use cbharness::docker::{Engine, LABEL};
use cbharness::scenario::{run, RunEvent, RunOptions, Scenario};
use tokio::io::{AsyncBufReadExt, BufReader};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn options() -> RunOptions {
    RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        ..RunOptions::default()
    }
}

/// Containers, networks and volumes labelled with `run_id`.
async fn objects_of(run_id: &str) -> (usize, usize, usize) {
    let engine = Engine::connect().await.expect("docker");
    let label = format!("{LABEL}={run_id}");
    (
        engine.containers_with_label(&label).await.unwrap().len(),
        engine.networks_with_label(&label).await.unwrap().len(),
        engine.volumes_with_label(&label).await.unwrap().len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_run_leaves_nothing_and_no_bundle() {
    let outcome = run(&scenario("small-passing.toml"), &options(), &mut |_| {})
        .await
        .expect("the run starts");
    assert!(outcome.passed, "{:?}", outcome.failures);
    assert_eq!(
        outcome.bundle, None,
        "a passing run's bundle is removed by default"
    );
    assert_eq!(objects_of(&outcome.run_id).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_assertion_leaves_nothing_but_a_readable_bundle() {
    let outcome = run(&scenario("small-failing.toml"), &options(), &mut |_| {})
        .await
        .expect("the run starts");
    assert!(!outcome.passed);
    assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
    assert!(
        outcome.failures[0].1.contains("expected `2`"),
        "{:?}",
        outcome.failures
    );
    assert_eq!(objects_of(&outcome.run_id).await, (0, 0, 0));
    let bundle = outcome.bundle.expect("a failing run keeps its bundle");
    let summary = std::fs::read_to_string(bundle.join("summary.txt")).unwrap();
    assert!(
        summary.contains("verdict:  FAIL") && summary.contains("expected `2`"),
        "{summary}"
    );
    assert!(bundle.join("timeline.json").is_file());
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(
        report.contains("FAIL") && report.contains("expected `2`"),
        "report.html shows the failure"
    );
    assert!(bundle.join("steps/02-gpstate-f/gpstate.raw.txt").is_file());
    assert!(bundle.join("steps/02-gpstate-f/01-command.txt").is_file());
    assert!(bundle.join("bringup/commands.json").is_file());
    // The logs of every host: container log, gpAdminLogs, PostgreSQL logs.
    for host in ["cdw", "scdw", "sdw1"] {
        assert!(
            bundle
                .join("hosts")
                .join(host)
                .join("container.log")
                .is_file(),
            "{host}"
        );
    }
    assert!(bundle.join("hosts/cdw/home/gpadmin/gpAdminLogs").is_dir());
    assert!(bundle
        .join("hosts/cdw/data0/database/coordinator/gpseg-1/log")
        .is_dir());
    std::fs::remove_dir_all(bundle).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_mid_scenario_still_tears_the_cluster_down() {
    let mut run_id = None;
    let outcome = run(
        &scenario("small-passing.toml"),
        &options(),
        &mut |event| match event {
            RunEvent::ClusterUp { run_id: id, .. } => run_id = Some(id.to_string()),
            RunEvent::StepFinished { index: 0, .. } => panic!("planted panic after step 1"),
            _ => {}
        },
    )
    .await
    .expect("the run starts");
    assert!(!outcome.passed);
    assert!(
        outcome.failures[0].1.contains("planted panic"),
        "{:?}",
        outcome.failures
    );
    assert_eq!(run_id.as_deref(), Some(outcome.run_id.as_str()));
    assert_eq!(objects_of(&outcome.run_id).await, (0, 0, 0));
    if let Some(bundle) = outcome.bundle {
        std::fs::remove_dir_all(bundle).unwrap();
    }
}

/// The port of the relay a latency fault reports in the history, when it used one.
fn relay_port(events: &[cbharness::history::Event]) -> Option<u16> {
    events.iter().find_map(|e| {
        let relay = e.value.get("relay")?.as_str()?;
        relay.rsplit_once(':')?.1.parse().ok()
    })
}

/// The TCP ports sockets of this network namespace listen on (`/proc/net/tcp`: local address
/// `ADDR:PORT` in hex, state `0A` for LISTEN). The relay's address goes away with the cluster's
/// network, so only a listening socket tells whether the relay itself still runs.
fn listening_ports() -> std::collections::BTreeSet<u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|table| {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let port = fields.get(1)?.rsplit_once(':')?.1;
                    (fields.get(3) == Some(&"0A")).then(|| u16::from_str_radix(port, 16).ok())?
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs `latency-left-on.toml` (a latency fault never healed, then a failed assertion), with a
/// panic right after the fault when asked: the relay listened while the fault was on, and
/// neither it nor any object of the run is left.
async fn latency_left_on(panic_after_fault: bool) {
    let mut during_fault = None;
    let outcome = run(
        &scenario("latency-left-on.toml"),
        &options(),
        &mut |event| {
            if let RunEvent::StepFinished { index: 0, .. } = event {
                during_fault = Some(listening_ports());
                if panic_after_fault {
                    panic!("planted panic with the latency on");
                }
            }
        },
    )
    .await
    .expect("the run starts");
    assert!(!outcome.passed);
    let port = relay_port(&outcome.events).expect("the latency fault ran through a relay");
    assert!(
        during_fault.is_some_and(|ports| ports.contains(&port)),
        "the relay did not listen on port {port} while the fault was on"
    );
    assert!(
        !listening_ports().contains(&port),
        "the relay still listens on port {port} after the run"
    );
    assert_eq!(objects_of(&outcome.run_id).await, (0, 0, 0));
    if let Some(bundle) = outcome.bundle {
        std::fs::remove_dir_all(bundle).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_with_latency_on_stops_its_relay() {
    latency_left_on(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_with_latency_on_stops_the_relay() {
    latency_left_on(true).await;
}

/// Starts `cbh run` on the slow scenario and returns it with its run id once the cluster is up.
async fn cbh_with_cluster_up(artifacts: &Path) -> (tokio::process::Child, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/small-slow.toml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cbh"))
        .arg("run")
        .arg(&path)
        .arg("--artifacts")
        .arg(artifacts)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cbh starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // "cluster  <run id> up with its standby (..s)"
            if let Some(rest) = line.strip_prefix("cluster  ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("cbh ended before the cluster was up");
    };
    let run_id = tokio::time::timeout(Duration::from_secs(300), wait)
        .await
        .expect("the cluster comes up within 5 minutes");
    // Keep reading stdout so cbh never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, run_id)
}

fn artifacts_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cbh-cleanup-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn signal_removes_everything(signal: i32, name: &str) {
    let artifacts = artifacts_dir(name);
    let (mut child, run_id) = cbh_with_cluster_up(&artifacts).await;
    assert_ne!(
        objects_of(&run_id).await.0,
        0,
        "the cluster exists before the signal"
    );
    let pid = child.id().expect("cbh runs") as i32;
    assert_eq!(send_signal(pid, signal), 0);
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("cbh exits within 2 minutes of the signal")
        .unwrap();
    assert_eq!(status.code(), Some(2), "an interrupted run is not a pass");
    assert_eq!(objects_of(&run_id).await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(artifacts);
}

/// `kill(2)` without a libc dependency: through the `kill` utility.
fn send_signal(pid: i32, signal: i32) -> i32 {
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.code().unwrap_or(-1))
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_to_cbh_run_removes_the_cluster() {
    signal_removes_everything(2, "sigint").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_cbh_run_removes_the_cluster() {
    signal_removes_everything(15, "sigterm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_gc_removes_the_dead_runs_objects() {
    let artifacts = artifacts_dir("sigkill");
    let (mut child, run_id) = cbh_with_cluster_up(&artifacts).await;
    child.kill().await.unwrap();
    child.wait().await.unwrap();
    let (containers, networks, _) = objects_of(&run_id).await;
    assert!(
        containers > 0 && networks > 0,
        "SIGKILL leaves the cluster behind"
    );
    let engine = Engine::connect().await.unwrap();
    let report = cluster::gc(&engine, false).await.unwrap();
    assert!(report.containers >= containers, "{report}");
    assert_eq!(objects_of(&run_id).await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(artifacts);
}

/// Not a test of its own: the body of the process the signal tests below start and signal.
/// It runs the slow scenario in-process, as `tests/scenarios.rs` runs every scenario, and
/// prints the run id once the cluster is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the in-process signal tests, in a child process"]
async fn child_runs_the_slow_scenario_in_process() {
    let mut options = options();
    if let Ok(dir) = std::env::var("CBH_TEST_ARTIFACTS") {
        options.artifacts_root = dir.into();
    }
    let mut on_event = |event: RunEvent<'_>| {
        if let RunEvent::ClusterUp { run_id, .. } = event {
            println!("cluster-up {run_id}");
        }
    };
    let result = run(&scenario("small-slow.toml"), &options, &mut on_event).await;
    assert!(
        matches!(result, Err(cbharness::scenario::RunError::Interrupted)),
        "the run ends by the signal: {result:?}"
    );
}

/// Starts this test binary running [`child_runs_the_slow_scenario_in_process`], signals it once
/// its cluster is up, and checks that the test process removed the cluster before exiting.
async fn signal_to_a_test_process_removes_everything(signal: i32, name: &str) {
    let artifacts = artifacts_dir(name);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runs_the_slow_scenario_in_process",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CBH_TEST_ARTIFACTS", &artifacts)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the test binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // libtest prints the test's name on the same line first.
            if let Some((_, run_id)) = line.split_once("cluster-up ") {
                return run_id.trim().to_string();
            }
        }
        panic!("the child test ended before its cluster was up");
    };
    let run_id = tokio::time::timeout(Duration::from_secs(300), wait)
        .await
        .expect("the cluster comes up within 5 minutes");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    assert_ne!(objects_of(&run_id).await.0, 0, "the cluster exists");
    let pid = child.id().expect("the child runs") as i32;
    assert_eq!(send_signal(pid, signal), 0);
    // nextest waits 10 s after SIGTERM before it sends SIGKILL: the cleanup must fit in that.
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the test process exits within nextest's 10 s grace period")
        .unwrap();
    assert!(
        status.success(),
        "the child saw its run end by the signal: {status:?}"
    );
    assert_eq!(objects_of(&run_id).await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(artifacts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_to_a_test_process_running_a_scenario_removes_the_cluster() {
    signal_to_a_test_process_removes_everything(15, "test-sigterm").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_to_a_test_process_running_a_scenario_removes_the_cluster() {
    signal_to_a_test_process_removes_everything(2, "test-sigint").await;
}
