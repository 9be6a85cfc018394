//! [`ContractCheck`]: verifies an image against the node contract in one throwaway container.
//!
//! The container is created from the image as the cluster creates its nodes (same entrypoint,
//! no command of the harness's own), labelled like every harness object, without a network
//! (sshd is probed on the loopback). The check waits for `/run/cbh-node-ready` with a deadline,
//! then runs the probes of [`super::contract`] through [`Engine::exec`], independent ones
//! concurrently, and removes the container whatever happened. When the image's entrypoint exits,
//! the remaining probes run in a second container kept alive with `sleep infinity`, so the report
//! still says what else is missing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::build::exists;
use super::contract::{
    failed, interpret, not_checked, passed, probe, probe_env, Check, ContractReport, Probe,
    ProbeKind, PROBES, READY_FILE,
};
use super::error::ImageError;
use crate::docker::{
    owner_id, DockerError, Engine, ExecRequest, LABEL, LABEL_OWNER, LABEL_SCENARIO,
};

/// How long [`ContractCheck`] waits for `/run/cbh-node-ready` unless told otherwise: the same
/// deadline a cluster gives its nodes.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of one probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks for the readiness file.
const READY_POLL: Duration = Duration::from_millis(100);
/// The `cbharness.scenario` label of the check's container.
const PURPOSE: &str = "image-check";

/// Checks an image against the node contract with the default readiness deadline.
pub async fn check(engine: &Engine, image: &str) -> Result<ContractReport, ImageError> {
    ContractCheck::new(image).run(engine).await
}

/// A check of one image against the node contract (`images/README.md`).
///
/// ```no_run
/// # async fn f(engine: &cbharness::docker::Engine) -> Result<(), cbharness::image::ImageError> {
/// use std::time::Duration;
/// let report = cbharness::image::ContractCheck::new("cbharness/emulated:dev")
///     .with_ready_timeout(Duration::from_secs(20))
///     .run(engine)
///     .await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ContractCheck {
    image: String,
    ready_timeout: Duration,
}

/// What the wait for the readiness file ended with.
enum Readiness {
    Ready(Duration),
    NotReady,
    /// The container stopped (or never started); the text says how.
    Exited(String),
    /// The wait could not even look (`timeout` or `test` missing): the engine's words.
    CannotProbe(String),
}

impl ContractCheck {
    /// A check of `image`, waiting [`DEFAULT_READY_TIMEOUT`] for readiness.
    pub fn new(image: impl Into<String>) -> Self {
        ContractCheck {
            image: image.into(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for the entrypoint to create `/run/cbh-node-ready`.
    /// Default [`DEFAULT_READY_TIMEOUT`].
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Runs the check: one container at a time, removed before this returns (also when a
    /// probe or a Docker call fails). Fails with [`ImageError::Missing`] when the image is not
    /// in the local engine, and with [`ImageError::Docker`] when the container cannot be
    /// created; everything the image itself lacks is a failed [`Check`] in the report.
    pub async fn run(&self, engine: &Engine) -> Result<ContractReport, ImageError> {
        let started = Instant::now();
        if !exists(engine, &self.image).await? {
            return Err(ImageError::Missing(self.image.clone()));
        }
        let mut created = Vec::new();
        let result = self.run_in(engine, &mut created).await;
        let mut removal = Ok(());
        for name in &created {
            if let Err(e) = engine.remove_container(name).await {
                removal = Err(e);
            }
        }
        let checks = result?;
        removal?;
        Ok(ContractReport {
            image: self.image.clone(),
            checks,
            duration: started.elapsed(),
        })
    }

    async fn run_in(
        &self,
        engine: &Engine,
        created: &mut Vec<String>,
    ) -> Result<Vec<Check>, ImageError> {
        let id = run_id();
        let mut results: Vec<Option<Check>> = vec![None; PROBES.len()];
        let at = |name: &str| {
            PROBES
                .iter()
                .position(|p| p.name == name)
                .expect("a probe of the contract")
        };

        let mut container = format!("cbh-{id}");
        created.push(container.clone());
        // An image without an entrypoint or command cannot even be created as a node: that is
        // the image's failure, reported like an entrypoint that exits.
        let readiness = match create(engine, &container, &id, &self.image, None).await {
            Err(e) => {
                Readiness::Exited(format!("no container could be made from it: {}", cause(&e)))
            }
            Ok(()) => match start(engine, &container).await {
                Ok(()) => self.wait_ready(engine, &container).await,
                Err(e) => Readiness::Exited(format!("the container did not start: {}", cause(&e))),
            },
        };
        let ready = probe("ready");
        results[at("ready")] = Some(match readiness {
            Readiness::Ready(after) => passed(
                ready,
                format!("{READY_FILE} after {:.1}s", after.as_secs_f64()),
            ),
            Readiness::NotReady => failed(
                ready,
                format!(
                    "the container runs, but no {READY_FILE} after {}s",
                    self.ready_timeout.as_secs()
                ),
                None,
            ),
            Readiness::CannotProbe(detail) => {
                not_checked(ready, format!("needs timeout and test ({detail})"))
            }
            Readiness::Exited(how) => {
                // Keep probing the image's contents in a container that stays up by itself,
                // after the first one is gone (one container at a time).
                engine.remove_container(&container).await?;
                let kept = format!("cbh-{id}-kept");
                created.push(kept.clone());
                create(
                    engine,
                    &kept,
                    &id,
                    &self.image,
                    Some(&["sleep", "infinity"]),
                )
                .await?;
                let check = failed(
                    ready,
                    format!(
                        "{how}; the other checks ran in a container started with `sleep \
                         infinity` instead"
                    ),
                    Some("an entrypoint that keeps running".into()),
                );
                if let Err(e) = start(engine, &kept).await.map_err(|e| cause(&e)) {
                    for (i, p) in PROBES.iter().enumerate() {
                        if p.name != "ready" {
                            results[i] = Some(not_checked(
                                p,
                                format!("the image cannot keep a container running ({e})"),
                            ));
                        }
                    }
                }
                container = kept;
                check
            }
        });

        // Waves: every probe whose needs are decided runs now, all of them at once.
        loop {
            let mut batch = Vec::new();
            let mut decided = false;
            for (i, p) in PROBES.iter().enumerate() {
                if results[i].is_some() {
                    continue;
                }
                let needs: Option<Vec<&Check>> =
                    p.needs.iter().map(|n| results[at(n)].as_ref()).collect();
                let Some(needs) = needs else { continue };
                let unmet: Vec<&str> = needs
                    .iter()
                    .filter(|c| !c.passed())
                    .map(|c| c.name.as_str())
                    .collect();
                if unmet.is_empty() {
                    batch.push(i);
                } else {
                    results[i] = Some(not_checked(p, format!("needs {}", unmet.join(", "))));
                    decided = true;
                }
            }
            if batch.is_empty() && !decided {
                break;
            }
            let runs = batch
                .iter()
                .map(|&i| run_probe(engine, &container, &PROBES[i]));
            let checks = futures_util::future::join_all(runs).await;
            for (i, check) in batch.into_iter().zip(checks) {
                results[i] = Some(check);
            }
        }
        Ok(results
            .into_iter()
            .zip(PROBES)
            .map(|(c, p)| c.unwrap_or_else(|| not_checked(p, "its needs were never decided")))
            .collect())
    }

    /// Polls for the readiness file until the deadline, watching that the container still runs.
    async fn wait_ready(&self, engine: &Engine, container: &str) -> Readiness {
        let started = Instant::now();
        let deadline = started + self.ready_timeout;
        let look = ExecRequest {
            argv: vec!["test".into(), "-e".into(), READY_FILE.into()],
            user: "root".into(),
            env: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        loop {
            if let Some(how) = exited(engine, container, started).await {
                return Readiness::Exited(how);
            }
            match engine.exec(container, &look).await {
                Ok(out) if out.success() => return Readiness::Ready(started.elapsed()),
                // 126/127: the command could not be started at all (the engine's or
                // timeout's own exit codes for a missing program).
                // The container may also have stopped between the look at its state and the
                // exec: only a running container tells that the probe itself cannot run.
                Ok(out) if out.exit_code == 126 || out.exit_code == 127 => {
                    if let Some(how) = exited(engine, container, started).await {
                        return Readiness::Exited(how);
                    }
                    let text = format!("{}\n{}", out.stdout, out.stderr);
                    if !text.contains("stopped container") && !text.contains("not running") {
                        let detail = text
                            .lines()
                            .map(str::trim)
                            .find(|l| !l.is_empty())
                            .unwrap_or("exit code 126")
                            .to_string();
                        return Readiness::CannotProbe(detail);
                    }
                }
                // Not there yet, or the container stopped under the exec: the next look tells.
                Ok(_) | Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Readiness::NotReady;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

/// A unique id for this check's objects: `check-<pid>-<time>`.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "check-{}-{:x}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff
    )
}

/// Creates the check's container: labelled, no network, the image's own entrypoint unless
/// `entrypoint` replaces it.
async fn create(
    engine: &Engine,
    name: &str,
    id: &str,
    image: &str,
    entrypoint: Option<&[&str]>,
) -> Result<(), DockerError> {
    let labels = HashMap::from([
        (LABEL.to_string(), id.to_string()),
        (LABEL_SCENARIO.to_string(), PURPOSE.to_string()),
        (LABEL_OWNER.to_string(), owner_id()),
    ]);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        hostname: Some("cbh-check".into()),
        labels: Some(labels),
        entrypoint: entrypoint.map(|e| e.iter().map(|s| s.to_string()).collect()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    engine.create_container(name, body).await
}

async fn start(engine: &Engine, name: &str) -> Result<(), DockerError> {
    engine
        .api()
        .start_container(name, None)
        .await
        .map_err(DockerError::api(format!("start container {name}")))
}

/// `Some(how)` when the container no longer runs: its exit code and the last line it printed.
async fn exited(engine: &Engine, container: &str, since: Instant) -> Option<String> {
    let info = engine.api().inspect_container(container, None).await.ok()?;
    let state = info.state?;
    if state.running == Some(true) {
        return None;
    }
    let code = state.exit_code.unwrap_or(-1);
    let mut how = format!(
        "the entrypoint exited with code {code} after {:.1}s",
        since.elapsed().as_secs_f64()
    );
    if let Some(error) = state.error.filter(|e| !e.is_empty()) {
        how.push_str(&format!(" ({error})"));
    }
    if let Some(line) = last_log_line(engine, container).await {
        how.push_str(&format!("; its last output: {line}"));
    }
    Some(how)
}

async fn last_log_line(engine: &Engine, container: &str) -> Option<String> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .tail("20")
        .build();
    let mut stream = engine.api().logs(container, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().take(160).collect())
}

/// The engine's own words for a failed call (the message of its innermost cause).
fn cause(e: &DockerError) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Runs one probe; a probe that cannot run at all is a failed check that says why.
async fn run_probe(engine: &Engine, container: &str, p: &Probe) -> Check {
    let argv = match p.kind {
        ProbeKind::Argv(argv) => argv.iter().map(|s| s.to_string()).collect(),
        ProbeKind::Script(script) => vec!["bash".into(), "-c".into(), script.into()],
        ProbeKind::Ready => unreachable!("readiness is decided before the probes run"),
    };
    let req = ExecRequest {
        argv,
        user: p.user.user().into(),
        env: probe_env(),
        timeout: PROBE_TIMEOUT,
    };
    match engine.exec(container, &req).await {
        Ok(out) => interpret(p, &out),
        Err(e) => failed(
            p,
            "",
            Some(format!("{} (the probe could not run: {e})", p.missing)),
        ),
    }
}
