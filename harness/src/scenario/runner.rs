//! The runner: brings up the cluster, runs a scenario's steps in order, checks every
//! expectation and snapshot, and leaves the artifact bundle.
//!
//! The runner reports progress only through [`RunEvent`]s; it prints nothing itself. It always
//! tears the cluster down (on success, on a failed step, on a panic in a step, on SIGINT or
//! SIGTERM) unless asked to keep it. [`up`] shares its bring-up and keeps the cluster without
//! running any step (`cbh up`); a kept cluster is marked so that collection spares it.

use std::path::PathBuf;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::json;

use super::model::Scenario;
use super::step::{clients_that_gave_up, run_step, stop_workload, State, StepContext, Workloads};
use crate::cluster::{self, template, Cluster, ClusterSpec};
use crate::docker::{DockerError, Engine};
use crate::history::{History, Kind, Process};
use crate::image::{self, ImageError};
use crate::report::Bundle;
use crate::snapshot;
use crate::workload::WorkloadReport;

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Node image; default: the emulated image, built when needed.
    pub image: Option<String>,
    /// Root folder of artifact bundles. Default [`crate::report::default_root`].
    pub artifacts_root: PathBuf,
    /// Snapshot folder. Default [`crate::snapshot::default_dir`].
    pub snapshots_dir: PathBuf,
    /// Leave the cluster running at the end, marked kept (see [`crate::cluster::keep_run`]).
    /// Default false.
    pub keep_cluster: bool,
    /// Keep the bundle of a passing run too. Default false (a failing run's is always kept).
    pub keep_artifacts: bool,
    /// How long a node may take to become ready. Default [`cluster::DEFAULT_READY_TIMEOUT`].
    pub ready_timeout: Duration,
    /// Publish the coordinator candidates on 127.0.0.1. Default: nothing published.
    pub publish: cluster::Publish,
    /// Start from (and save) cluster templates. Default true; `CBH_TEMPLATES=off` turns them
    /// off for the default.
    pub templates: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            image: None,
            artifacts_root: crate::report::default_root(),
            snapshots_dir: snapshot::default_dir(),
            keep_cluster: false,
            keep_artifacts: false,
            ready_timeout: cluster::DEFAULT_READY_TIMEOUT,
            publish: cluster::Publish::Nothing,
            templates: std::env::var("CBH_TEMPLATES").map_or(true, |v| v != "off"),
        }
    }
}

/// Progress of a run, for whoever displays it.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The node image is ready.
    ImageReady {
        /// Its tag.
        image: &'a str,
        /// Time to find or build it.
        duration: Duration,
    },
    /// The cluster is up, initialized, with its standby.
    ClusterUp {
        /// The run id (in container and network names).
        run_id: &'a str,
        /// Time of bring-up.
        duration: Duration,
    },
    /// A step starts.
    StepStarted {
        /// 0-based index.
        index: usize,
        /// Number of steps.
        total: usize,
        /// Its title.
        title: &'a str,
    },
    /// A step ended.
    StepFinished {
        /// 0-based index.
        index: usize,
        /// Its title.
        title: &'a str,
        /// How long it took.
        duration: Duration,
        /// What came of it.
        outcome: &'a StepOutcome,
    },
    /// The run was interrupted by a signal; the cluster is being removed.
    Interrupted,
    /// The failover of the run's first fault, measured from the history after the steps.
    Failover(&'a crate::failover::FailoverTimes),
    /// A concurrent workload stopped (by its `workload_stop` step, or by the runner after the
    /// steps): what its clients did.
    WorkloadStopped(&'a WorkloadReport),
    /// The cluster was left running on request, marked kept.
    ClusterKept {
        /// The run id: `cbh exec`, `psql`, `logs` and `down` take it.
        run_id: &'a str,
        /// Host name → container name and address.
        nodes: Vec<(String, String, Option<String>)>,
    },
}

/// The outcome of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Every expectation held.
    Passed,
    /// Expectations or snapshots did not hold; the scenario goes on.
    AssertionsFailed(Vec<String>),
    /// The step could not be done; the scenario stops.
    Error(String),
}

/// The outcome of a run that got as far as running steps.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run id.
    pub run_id: String,
    /// True when every step passed.
    pub passed: bool,
    /// `(step number, message)` of every failure.
    pub failures: Vec<(usize, String)>,
    /// The artifact bundle, when kept.
    pub bundle: Option<PathBuf>,
    /// Time to get the image.
    pub image_time: Duration,
    /// Time of bring-up.
    pub bringup_time: Duration,
    /// Time of the steps.
    pub steps_time: Duration,
    /// The history of the run.
    pub events: Vec<crate::history::Event>,
    /// Set when the bundle could not be written whole (a full disk, say).
    pub bundle_problem: Option<String>,
    /// The failover of the run's first fault, when it had one.
    pub failover: Option<crate::failover::FailoverTimes>,
}

/// Errors that stop a run before its steps: bad setup, not a failed assertion.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The Docker engine is not usable.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// No node image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The cluster did not come up.
    #[error("failed to bring up the cluster (artifacts: {bundle})")]
    Bringup {
        /// The bundle with the bring-up commands and logs.
        bundle: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bundle folder could not be made.
    #[error("failed to create the artifact folder under {0}")]
    Bundle(PathBuf, #[source] std::io::Error),
    /// Interrupted by a signal before the steps finished.
    #[error("interrupted by a signal; the cluster was removed")]
    Interrupted,
}

/// A new run id: short, unique enough for side-by-side runs on one engine.
fn new_run_id() -> String {
    use sha2::Digest;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let digest = sha2::Sha256::digest(format!("{nanos}-{}", std::process::id()));
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A cluster brought up for a scenario, with what it took.
struct Started {
    image: String,
    image_time: Duration,
    run_id: String,
    bundle: Bundle,
    cluster: Cluster,
    bringup_time: Duration,
}

/// The start shared by [`run`] and [`up`]: reaps leftovers, finds the image, brings up the
/// scenario's cluster with its standby, and reports `ImageReady` and `ClusterUp`. On a failed
/// bring-up or a signal the cluster is removed.
async fn start(
    scenario: &Scenario,
    options: &RunOptions,
    signals: &mut Signals,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<Started, RunError> {
    let engine = Engine::connect().await?;
    // Leftovers of killed runs are reaped first, so they never pile up; live and kept runs
    // are left alone.
    match cluster::gc(&engine, false).await {
        Ok(report) if report.containers + report.networks + report.volumes > 0 => {
            tracing::info!(%report, "removed leftovers of earlier killed runs")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not reap leftovers"),
    }
    let started = Instant::now();
    let image = image::resolve(&engine, options.image.as_deref()).await?;
    let image_time = started.elapsed();
    on_event(RunEvent::ImageReady {
        image: &image,
        duration: image_time,
    });

    let run_id = new_run_id();
    let bundle = Bundle::create(&options.artifacts_root, &run_id)
        .map_err(|e| RunError::Bundle(options.artifacts_root.clone(), e))?;
    bundle.write("scenario.toml", &scenario.source);
    let spec = ClusterSpec {
        ready_timeout: options.ready_timeout,
        publish: options.publish,
        net_admin: crate::nemesis::net_admin_hosts(&scenario.steps),
        stable_addresses: crate::nemesis::needs_stable_addresses(&scenario.steps),
        ..ClusterSpec::new(
            scenario.topology.clone(),
            image.clone(),
            run_id.clone(),
            scenario.name.clone(),
        )
    };

    let bringup_started = Instant::now();
    let cluster = match signals
        .race(bring_up(&engine, spec, options.templates))
        .await
    {
        Some(Ok(cluster)) => cluster,
        Some(Err((cluster, e))) => {
            bundle.write("summary.txt", format!("FAILED during bring-up\n\n{e}\n"));
            if let Some(mut cluster) = cluster {
                bundle.write_commands("bringup", &cluster.commands());
                cluster.collect_logs(&bundle.dir().join("hosts")).await;
                let _ = cluster.teardown().await;
            }
            return Err(RunError::Bringup {
                bundle: bundle.dir().to_path_buf(),
                source: e,
            });
        }
        None => {
            on_event(RunEvent::Interrupted);
            let _ = cluster::remove_run(&engine, &run_id).await;
            return Err(RunError::Interrupted);
        }
    };
    let bringup_time = bringup_started.elapsed();
    bundle.write_commands("bringup", &cluster.commands());
    on_event(RunEvent::ClusterUp {
        run_id: &run_id,
        duration: bringup_time,
    });
    Ok(Started {
        image,
        image_time,
        run_id,
        bundle,
        cluster,
        bringup_time,
    })
}

/// Leaves `cluster` running after this process (see [`Cluster::keep`]) and reports
/// `ClusterKept` with where each host is.
async fn keep(
    cluster: Cluster,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<(), DockerError> {
    let mut nodes = Vec::new();
    for host in cluster.topology().hosts() {
        let container = cluster.container(&host).unwrap_or_default().to_string();
        let endpoint = cluster
            .endpoint(&host)
            .await
            .ok()
            .map(|(address, port)| format!("{address}:{port}"));
        nodes.push((host.clone(), container, endpoint));
    }
    let run_id = cluster.run_id().to_string();
    cluster.keep().await?;
    on_event(RunEvent::ClusterKept {
        run_id: &run_id,
        nodes,
    });
    Ok(())
}

/// What [`up`] brought up.
#[derive(Debug, Clone)]
pub struct UpOutcome {
    /// The run id: `cbh exec`, `psql`, `logs` and `down` take it.
    pub run_id: String,
    /// Time to get the image.
    pub image_time: Duration,
    /// Time of bring-up.
    pub bringup_time: Duration,
    /// The artifact bundle with the bring-up commands, when asked to keep it.
    pub bundle: Option<PathBuf>,
}

/// Brings up `scenario`'s cluster with its standby exactly as [`run`] does, runs none of its
/// steps, and leaves it running (`cbh up`): marked kept, so that `cbh gc` without `--all` and
/// later runs leave it alone; `cbh down RUN_ID` removes it. Reports `ImageReady`, `ClusterUp`
/// and `ClusterKept`.
pub async fn up(
    scenario: &Scenario,
    options: &RunOptions,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<UpOutcome, RunError> {
    let mut signals = Signals::listen();
    let Started {
        image_time,
        run_id,
        bundle,
        cluster,
        bringup_time,
        ..
    } = start(scenario, options, &mut signals, on_event).await?;
    keep(cluster, on_event).await?;
    if !options.keep_artifacts {
        let _ = std::fs::remove_dir_all(bundle.dir());
    }
    Ok(UpOutcome {
        run_id,
        image_time,
        bringup_time,
        bundle: options.keep_artifacts.then(|| bundle.dir().to_path_buf()),
    })
}

/// Runs `scenario` and reports progress to `on_event`.
pub async fn run(
    scenario: &Scenario,
    options: &RunOptions,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) -> Result<RunOutcome, RunError> {
    let mut signals = Signals::listen();
    let Started {
        image,
        image_time,
        run_id,
        bundle,
        mut cluster,
        bringup_time,
    } = start(scenario, options, &mut signals, on_event).await?;

    let history = History::new();
    let steps_started = Instant::now();
    let mut failures = Vec::new();
    let workloads = Workloads::default();
    let interrupted;
    {
        let run = StepContext {
            scenario,
            options,
            cluster: &cluster,
            history: &history,
            bundle: &bundle,
            folder: "",
            workloads: &workloads,
        };
        let steps = run_steps(run, &mut failures, on_event);
        // A panic in a step must not skip the teardown below.
        match signals
            .race(std::panic::AssertUnwindSafe(steps).catch_unwind())
            .await
        {
            Some(Ok(())) => interrupted = false,
            Some(Err(panic)) => {
                interrupted = false;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a step panicked".into());
                failures.push((0, format!("panic: {message}")));
            }
            None => interrupted = true,
        }
    }
    // A workload the steps left running (no `workload_stop`, a failed step, a panic, a
    // signal) is stopped before anything is judged or torn down; on a signal at once.
    if let Some(workload) = workloads.take() {
        if interrupted {
            workload.abort();
        } else {
            let report = stop_workload(workload, &history).await;
            failures.extend(clients_that_gave_up(&report).into_iter().map(|p| (0, p)));
            on_event(RunEvent::WorkloadStopped(&report));
        }
    }
    let steps_time = steps_started.elapsed();
    let failover = crate::failover::measure(&history.events());
    if let Some(times) = &failover {
        history.record(
            Process::Runner,
            Kind::Info,
            "failover",
            serde_json::to_value(times).unwrap_or_default(),
        );
        on_event(RunEvent::Failover(times));
    }
    let events = history.events();
    bundle.write_history(&events);
    let mut passed = failures.is_empty() && !interrupted;
    let mut summary = format!(
        "scenario: {}\nseed:     {}\nrun id:   {run_id}\nimage:    {image}\nverdict:  {}\n",
        scenario.name,
        scenario.choices,
        if passed { "PASS" } else { "FAIL" }
    );
    for (step, message) in &failures {
        summary.push_str(&format!("\nstep {step}: {message}\n"));
    }
    bundle.write("summary.txt", summary);
    if interrupted {
        failures.push((0, "interrupted by a signal".into()));
    }
    let report = crate::report::ReportInput {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        run_id: run_id.clone(),
        image: image.clone(),
        passed,
        failures: failures.clone(),
        events: events.clone(),
    };
    bundle.write("report.html", crate::report::render_html(&report));
    if !passed {
        cluster.collect_logs(&bundle.dir().join("hosts")).await;
    }
    if interrupted {
        on_event(RunEvent::Interrupted);
    }
    if options.keep_cluster && !interrupted {
        if let Err(e) = keep(cluster, on_event).await {
            let message = format!("keep: {}", error_chain(&e));
            bundle.write("keep-error.txt", &message);
            failures.push((0, message));
            passed = false;
        }
    } else if let Err(e) = cluster.teardown().await {
        // A run that leaves objects behind has not passed, whatever its steps did.
        let message = format!("teardown: {}", error_chain(&e));
        bundle.write("teardown-error.txt", &message);
        failures.push((0, message));
        passed = false;
    }
    if interrupted {
        return Err(RunError::Interrupted);
    }
    let keep_bundle = !passed || options.keep_artifacts;
    if !keep_bundle {
        let _ = std::fs::remove_dir_all(bundle.dir());
    }
    Ok(RunOutcome {
        run_id,
        passed,
        failures,
        bundle: keep_bundle.then(|| bundle.dir().to_path_buf()),
        image_time,
        bringup_time,
        steps_time,
        events,
        bundle_problem: keep_bundle.then(|| bundle.write_problem()).flatten(),
        failover,
    })
}

type BringupError = (Option<Cluster>, Box<dyn std::error::Error + Send + Sync>);

/// Brings a cluster up: from the template of its topology and image when there is one; else
/// from scratch, saving the template for the next bring-up (one process at a time per template:
/// the others wait for it and then use it).
async fn bring_up(
    engine: &Engine,
    mut spec: ClusterSpec,
    templates: bool,
) -> Result<Cluster, BringupError> {
    let early = |e: Box<dyn std::error::Error + Send + Sync>| (None, e);
    if !templates {
        spec.data_volume = true;
        return fresh(engine, spec).await;
    }
    let key = template::key(engine, &spec.image, &spec.topology)
        .await
        .map_err(|e| early(Box::new(e)))?;
    let mut found = template::find(engine, &key, &spec.topology)
        .await
        .map_err(|e| early(Box::new(e)))?;
    let mut _making = None;
    if found.is_none() {
        _making = Some(
            image::lock(&format!("template-{key}"))
                .await
                .map_err(|e| early(Box::new(e)))?,
        );
        found = template::find(engine, &key, &spec.topology)
            .await
            .map_err(|e| early(Box::new(e)))?;
    }
    let Some(template) = found else {
        let cluster = fresh(engine, spec).await?;
        if let Err(e) = cluster.save_template(&key).await {
            return Err((Some(cluster), Box::new(e)));
        }
        return Ok(cluster);
    };
    drop(_making);
    spec.host_images = template.images.clone();
    spec.data_volume = true;
    let cluster = Cluster::create(engine, spec)
        .await
        .map_err(|e| early(Box::new(e)))?;
    if let Err(e) = cluster.adopt_template(&template).await {
        return Err((Some(cluster), Box::new(e)));
    }
    Ok(cluster)
}

/// Brings a cluster up from scratch: `gpinitsystem`, then `gpinitstandby`.
async fn fresh(engine: &Engine, spec: ClusterSpec) -> Result<Cluster, BringupError> {
    let cluster = Cluster::create(engine, spec)
        .await
        .map_err(|e| (None, Box::new(e) as _))?;
    if let Err(e) = cluster.install_ssh_keys().await {
        return Err((Some(cluster), Box::new(e)));
    }
    if let Err(e) = cluster.initialize().await {
        return Err((Some(cluster), Box::new(e)));
    }
    Ok(cluster)
}

/// SIGINT and SIGTERM, listened to from the start of a run: once registered, tokio keeps them
/// from killing the process, so there is no window in which a signal skips the teardown.
struct Signals {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn listen() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Runs `fut` unless SIGINT or SIGTERM arrives first (then `None`).
    async fn race<T>(&mut self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            value = fut => Some(value),
            _ = next(&mut self.int) => None,
            _ = next(&mut self.term) => None,
        }
    }
}

/// Runs the steps of `run.scenario` in order (`run.folder` is unused: each step gets its own).
async fn run_steps(
    run: StepContext<'_>,
    failures: &mut Vec<(usize, String)>,
    on_event: &mut (dyn FnMut(RunEvent<'_>) + Send),
) {
    let StepContext {
        scenario,
        cluster,
        history,
        bundle,
        workloads,
        ..
    } = run;
    let mut state = State {
        coordinator: scenario.topology.coordinator.clone(),
        next_id: 1,
        next_client: 1,
    };
    let total = scenario.steps.len();
    for (index, step) in scenario.steps.iter().enumerate() {
        let title = step.title();
        let folder = Bundle::step_folder(index, &title);
        on_event(RunEvent::StepStarted {
            index,
            total,
            title: &title,
        });
        history.record(
            Process::Runner,
            Kind::Invoke,
            "step",
            json!({"index": index + 1, "title": title}),
        );
        let cursor = cluster.command_count();
        let started = Instant::now();
        let ctx = StepContext {
            folder: &folder,
            ..run
        };
        let outcome = match run_step(&ctx, step, &mut state).await {
            Ok(problems) if problems.is_empty() => StepOutcome::Passed,
            Ok(problems) => StepOutcome::AssertionsFailed(problems),
            Err(e) => StepOutcome::Error(error_chain(&*e)),
        };
        let duration = started.elapsed();
        for report in std::mem::take(
            &mut *workloads
                .stopped
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            on_event(RunEvent::WorkloadStopped(&report));
        }
        bundle.write_commands(&folder, &cluster.commands_since(cursor));
        let kind = if outcome == StepOutcome::Passed {
            Kind::Ok
        } else {
            Kind::Fail
        };
        history.record(
            Process::Runner,
            kind,
            "step",
            json!({"index": index + 1, "title": title, "duration_s": duration.as_secs_f64(), "outcome": format!("{outcome:?}")}),
        );
        on_event(RunEvent::StepFinished {
            index,
            title: &title,
            duration,
            outcome: &outcome,
        });
        match outcome {
            StepOutcome::Passed => {}
            StepOutcome::AssertionsFailed(problems) => {
                failures.extend(problems.into_iter().map(|p| (index + 1, p)));
            }
            StepOutcome::Error(message) => {
                failures.push((index + 1, message));
                // Later steps build on this one; running them would only add noise.
                break;
            }
        }
    }
}

/// An error with its causes, one per line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    text
}
