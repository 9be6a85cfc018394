//! Clear failures of the setup itself: a node that never becomes ready, a port that is taken,
//! and the Docker engine going away mid-run. Each gives one readable error that says what failed
//! and what to do; each leaves no object behind, or, when the engine itself is gone, leaves them
//! to `cbh gc`, which the test then runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cbharness::cluster::Publish;
use cbharness::docker::{owner_id, LABEL, LABEL_OWNER};
use cbharness::image;
use cbharness::scenario::{run, RunError, RunOptions, Scenario};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

mod support;
use support::{build_image, engine, objects_with, remove_image};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn artifacts_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cbh-failures-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(test: &str) -> RunOptions {
    RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        artifacts_root: artifacts_dir(test),
        ..RunOptions::default()
    }
}

/// Every message of an error's chain, one per line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push('\n');
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Objects this test process created.
async fn mine() -> (usize, usize, usize) {
    objects_with(&format!("{LABEL_OWNER}={}", owner_id())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_never_becomes_ready_fails_with_its_log_and_leaves_nothing() {
    let engine = engine().await;
    let node = image::resolve(&engine, options("").image.as_deref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The node image with an entrypoint that hangs before the node is ready.
    let stuck = format!("cbharness/stuck-node:{}", std::process::id());
    build_image(
        &engine,
        &stuck,
        &format!(
            "FROM {node}\nENTRYPOINT [\"sh\", \"-c\", \"echo 'stuck: waiting for a disk that never comes'; exec sleep infinity\"]\nCMD []\n"
        ),
    )
    .await;
    let options = RunOptions {
        image: Some(stuck.clone()),
        ready_timeout: Duration::from_secs(3),
        ..options("not-ready")
    };
    let result = run(&scenario("small-passing.toml"), &options, &mut |_| {}).await;
    remove_image(&engine, &stuck).await;
    let err = result.expect_err("a cluster of stuck nodes cannot come up");
    let text = chain(&err);
    assert!(matches!(err, RunError::Bringup { .. }), "{text}");
    assert!(
        text.contains("node cdw did not become ready within 3s"),
        "{text}"
    );
    assert!(
        text.contains("stuck: waiting for a disk that never comes"),
        "the error shows the end of the node's log:\n{text}"
    );
    assert!(text.contains("cbh image check"), "{text}");
    assert_eq!(mine().await, (0, 0, 0));
    let RunError::Bringup { bundle, .. } = err else {
        unreachable!()
    };
    let summary = std::fs::read_to_string(bundle.join("summary.txt")).unwrap();
    assert!(summary.contains("did not become ready"), "{summary}");
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_publish_port_fails_with_what_to_do_and_leaves_nothing() {
    // Another program holds the port the coordinator should be published on.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let options = RunOptions {
        publish: Publish::Localhost(Some(port)),
        ..options("port-clash")
    };
    let result = run(&scenario("small-passing.toml"), &options, &mut |_| {}).await;
    let err = result.expect_err("the coordinator's port is taken");
    let text = chain(&err);
    assert!(
        text.contains("already in use on this machine"),
        "the error names the clash:\n{text}"
    );
    assert!(text.contains("--publish-port"), "{text}");
    assert_eq!(mine().await, (0, 0, 0));
    drop(holder);
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_on_localhost_reaches_the_coordinator_through_127_0_0_1() {
    let options = RunOptions {
        publish: Publish::Localhost(None),
        ..options("publish")
    };
    let outcome = run(&scenario("small-passing.toml"), &options, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(outcome.passed, "{:?}", outcome.failures);
    assert_eq!(mine().await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}

/// A Unix-socket proxy in front of the Docker engine that can be cut: to `cbh`, the engine
/// goes away.
struct EngineProxy {
    path: PathBuf,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl EngineProxy {
    fn start(path: PathBuf) -> EngineProxy {
        let upstream = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".into());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the proxy socket");
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let registry = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                registry.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        EngineProxy { path, tasks }
    }

    /// Drops every connection and the socket: the engine is gone.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_engine_mid_run_says_so_and_gc_removes_what_was_left() {
    let dir = artifacts_dir("engine-lost");
    let proxy = EngineProxy::start(dir.join("docker.sock"));
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/small-quiet-then-docker.toml");
    let mut cbh = tokio::process::Command::new(env!("CARGO_BIN_EXE_cbh"))
        .arg("run")
        .arg(&path)
        .arg("--artifacts")
        .arg(&dir)
        .env("DOCKER_HOST", format!("unix://{}", proxy.path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("cbh starts");
    let mut lines = BufReader::new(cbh.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let up = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(rest) = line.strip_prefix("cluster  ") {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("cbh ended before the cluster was up:\n{}", seen.join("\n"));
    };
    let run_id = tokio::time::timeout(Duration::from_secs(300), up)
        .await
        .expect("the cluster comes up within 5 minutes");
    // The engine goes away as the first step starts; the step may be reaching the node's
    // address or already waiting ten seconds in the database.
    proxy.cut();
    let output = tokio::time::timeout(Duration::from_secs(120), async {
        let mut rest = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .expect("cbh reports within 2 minutes of losing the engine");
    let status = cbh.wait().await.unwrap();
    let output = output.join("\n");
    assert_eq!(status.code(), Some(1), "the run failed:\n{output}");
    assert!(
        output.contains(": lost the Docker engine while trying to"),
        "the failing step says the engine went away:\n{output}"
    );
    assert!(
        output.contains("teardown: lost the Docker engine while trying to remove"),
        "the run says its cluster could not be removed:\n{output}"
    );
    assert!(output.contains("`cbh gc` removes"), "{output}");
    let label = format!("{LABEL}={run_id}");
    let (containers, networks, _) = objects_with(&label).await;
    assert!(
        containers > 0 && networks > 0,
        "without an engine nothing could be removed"
    );
    // The engine is back (the real socket); the run's owner is dead, so gc takes its objects.
    let gc = std::process::Command::new(env!("CARGO_BIN_EXE_cbh"))
        .arg("gc")
        .output()
        .expect("cbh gc runs");
    assert!(gc.status.success(), "{gc:?}");
    assert_eq!(objects_with(&label).await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(dir);
}
