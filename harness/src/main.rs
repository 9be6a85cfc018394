//! `cbh`: the command line of cbharness. See `cbh --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "cli/progress.rs"]
mod progress;

use cbharness::scenario::{self, RunEvent, RunOptions, Scenario, StepOutcome};
use cbharness::{bench, cluster, docker, image};

/// Chaos and integration tests of Apache Cloudberry coordinator failover in Docker.
#[derive(Parser)]
#[command(name = "cbh", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How a cluster is brought up: the flags `run` and `up` share.
#[derive(clap::Args)]
struct ClusterArgs {
    /// Seconds a node may take to become ready before the bring-up fails.
    #[arg(long, default_value_t = cluster::DEFAULT_READY_TIMEOUT.as_secs())]
    ready_timeout: u64,
    /// Publish the coordinator and standby hosts' port on 127.0.0.1 (for Docker Desktop, whose
    /// host cannot route to container addresses); the nodes' network then has egress.
    #[arg(long, env = "CBH_PUBLISH_LOCALHOST")]
    publish_localhost: bool,
    /// With --publish-localhost: publish the coordinator on this port and the standby on the
    /// next (default: free ports chosen by Docker).
    #[arg(long, requires = "publish_localhost")]
    publish_port: Option<u16>,
}

impl ClusterArgs {
    /// `options` with these flags applied.
    fn apply(&self, options: RunOptions) -> RunOptions {
        RunOptions {
            ready_timeout: std::time::Duration::from_secs(self.ready_timeout),
            publish: if self.publish_localhost {
                cluster::Publish::Localhost(self.publish_port)
            } else {
                cluster::Publish::Nothing
            },
            ..options
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file end to end: bring up a cluster, run its steps, check, tear down.
    Run {
        /// The scenario (TOML), e.g. scenarios/restore-original-hosts.toml.
        scenario: PathBuf,
        /// Node image to use instead of the emulated one (also `CBH_IMAGE`).
        #[arg(long, env = "CBH_IMAGE")]
        image: Option<String>,
        /// Leave the cluster running at the end, marked kept (`cbh gc` leaves it alone), and
        /// print how to reach it and the commands that work on it (`cbh down` removes it).
        #[arg(long)]
        keep: bool,
        /// Keep the artifact bundle of a passing run too.
        #[arg(long)]
        keep_artifacts: bool,
        /// Root folder of artifact bundles.
        #[arg(long)]
        artifacts: Option<PathBuf>,
        /// Snapshot folder.
        #[arg(long)]
        snapshots: Option<PathBuf>,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Bring the cluster up from scratch, without using or saving a cluster template
        /// (also `CBH_TEMPLATES=off`).
        #[arg(long)]
        no_template: bool,
        /// Seed of the scenario's random choices (`[choose]`); printed by every run, so a run
        /// can be repeated (also `CBH_SEED`; default: the clock).
        #[arg(long, env = "CBH_SEED")]
        seed: Option<u64>,
    },
    /// Bring up a cluster with its standby, run no steps, and leave it running, marked kept
    /// (`cbh gc` leaves it alone; `cbh down RUN_ID` removes it). Prints its run id, where each
    /// host is, and the commands that work on it.
    Up {
        /// A scenario whose topology to bring up (its steps are not run).
        #[arg(conflicts_with = "topology")]
        scenario: Option<PathBuf>,
        /// `defaults`: the default topology (cdw, scdw, sdw1, sdw2), as without a scenario.
        #[arg(long, value_enum)]
        topology: Option<TopologyChoice>,
        /// Node image to use instead of the emulated one (also `CBH_IMAGE`).
        #[arg(long, env = "CBH_IMAGE")]
        image: Option<String>,
        /// Keep the artifact bundle of the bring-up (its commands) too.
        #[arg(long)]
        keep_artifacts: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// List the clusters that exist: run id, scenario, kept or not, owner process alive or gone,
    /// age, and each host with its container's state.
    Ls,
    /// Remove a cluster: its containers, network and kept mark.
    Down {
        /// The run id (`cbh ls` lists them).
        #[arg(required_unless_present = "all")]
        run_id: Option<String>,
        /// Remove every cluster, kept or not, including those of runs in progress.
        #[arg(long, conflicts_with = "run_id")]
        all: bool,
    },
    /// Run a command on a host as gpadmin with the Cloudberry environment; its output is
    /// streamed and cbh exits with its exit code.
    Exec {
        /// The run id.
        run_id: String,
        /// The host (cdw, scdw, sdw1, ...).
        host: String,
        /// Seconds after which the command is killed inside the node.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// The command, after `--`, e.g. `-- gpstate -b`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run SQL with psql as gpadmin (`-c`), or print the `docker exec` line of an interactive
    /// psql (cbh does not attach terminals). Exits with psql's exit code.
    Psql {
        /// The run id.
        run_id: String,
        /// The host (default: the coordinator host if its coordinator answers, else the standby
        /// host).
        host: Option<String>,
        /// The SQL to run.
        #[arg(short = 'c', long = "command")]
        sql: Option<String>,
    },
    /// Print a host's logs: its container log, then the end of its PostgreSQL logs and
    /// gpAdminLogs (readable on a stopped host too).
    Logs {
        /// The run id.
        run_id: String,
        /// The host (cdw, scdw, sdw1, ...).
        host: String,
        /// Lines from the end of each log (0: everything).
        #[arg(long, default_value_t = 20)]
        lines: usize,
    },
    /// Remove Docker objects left by killed runs, sparing kept clusters (all cbharness objects
    /// with --all).
    Gc {
        /// Also remove objects of runs that are still alive, and every cluster template image.
        #[arg(long)]
        all: bool,
    },
    /// Measure: seed scenarios end to end, bring-up, failover, the baseline and floor scripts
    /// (bench/), memory, the cold and warm image build.
    Bench {
        /// Runs per measurement (0: only the image figures).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Scenario files to time (default: the two seed scenarios).
        #[arg(long = "scenario")]
        scenarios: Vec<PathBuf>,
        /// Skip the comparison scripts (bench/baseline.sh, bench/floor.sh).
        #[arg(long)]
        no_baseline: bool,
        /// Node image to use instead of the emulated one (also `CBH_IMAGE`); skips the cold
        /// image build.
        #[arg(long, env = "CBH_IMAGE")]
        image: Option<String>,
        /// Cold builds of the emulated image to time (about a minute each; 0 skips them).
        #[arg(long, default_value_t = 1)]
        cold_runs: usize,
        /// Also time making the Debian base image with debootstrap (needs root and the
        /// Debian mirror).
        #[arg(long)]
        cold_base: bool,
    },
    /// Node images.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
}

/// `cbh up --topology`: the one named topology.
#[derive(Clone, Copy, clap::ValueEnum)]
enum TopologyChoice {
    /// cdw, scdw, sdw1, sdw2 with one primary and one mirror per segment host.
    Defaults,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Build (or find, when unchanged) the emulated node image and print its tag.
    Build,
    /// Check that an image satisfies the node contract (images/README.md): exit 0 when it
    /// does, 1 when an item is missing, 2 when the image does not exist.
    Check {
        /// The node image, e.g. cbharness/emulated:HASH or cbharness/cloudberry:2.1.0.
        image: String,
        /// Seconds to wait for the entrypoint to create /run/cbh-node-ready.
        #[arg(long, default_value_t = image::DEFAULT_READY_TIMEOUT.as_secs())]
        ready_timeout: u64,
    },
}

/// Errors at the edge, each with its exit code.
enum CliError {
    /// A scenario assertion failed: exit 1.
    Failed,
    /// Bad input or setup: exit 2.
    Setup(Box<dyn std::error::Error>),
    /// A command run in a node (`cbh exec`, `cbh psql`) exited with this code.
    Exit(u8),
}

fn print_chain(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        eprintln!("  caused by: {c}");
        cause = c.source();
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,cbharness=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Failed) => ExitCode::from(1),
        Err(CliError::Exit(code)) => ExitCode::from(code),
        Err(CliError::Setup(e)) => {
            print_chain(&*e);
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command) -> Result<(), CliError> {
    let setup = |e: Box<dyn std::error::Error>| CliError::Setup(e);
    match command {
        Command::Run {
            scenario,
            image,
            keep,
            keep_artifacts,
            artifacts,
            snapshots,
            cluster: flags,
            no_template,
            seed,
        } => {
            let seed = seed.unwrap_or_else(scenario::choice::default_seed);
            let scenario =
                Scenario::load_seeded(&scenario, seed).map_err(|e| setup(Box::new(e)))?;
            let mut options = flags.apply(RunOptions {
                image,
                keep_cluster: keep,
                keep_artifacts,
                ..RunOptions::default()
            });
            if no_template {
                options.templates = false;
            }
            if let Some(dir) = artifacts {
                options.artifacts_root = dir;
            }
            if let Some(dir) = snapshots {
                options.snapshots_dir = dir;
            }
            run(&scenario, &options).await
        }
        Command::Bench {
            runs,
            mut scenarios,
            no_baseline,
            image,
            cold_runs,
            cold_base,
        } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            if scenarios.is_empty() {
                scenarios = [
                    "restore-coordinator-mirroring.toml",
                    "restore-original-hosts.toml",
                ]
                .iter()
                .map(|f| root.join("scenarios").join(f))
                .collect();
            }
            let options = bench::BenchOptions {
                runs,
                scenarios,
                scripts: if no_baseline {
                    Vec::new()
                } else {
                    bench::Script::defaults(&root)
                },
                image,
                cold_runs,
                cold_base,
            };
            println!(
                "cbh bench: {runs} runs each, {} cores",
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(0)
            );
            let figures = bench::bench(&options, &mut |line| println!("  {line}"))
                .await
                .map_err(|e| setup(Box::new(e)))?;
            print!("{}", bench::table(&figures));
            Ok(())
        }
        Command::Up {
            scenario,
            topology: _,
            image,
            keep_artifacts,
            cluster: flags,
        } => {
            let scenario = match scenario {
                Some(path) => Scenario::load(&path).map_err(|e| setup(Box::new(e)))?,
                None => Scenario::bare("defaults", cluster::Topology::default()),
            };
            let options = flags.apply(RunOptions {
                image,
                keep_artifacts,
                ..RunOptions::default()
            });
            let progress = progress::Progress::start("getting the node image");
            let mut on_event = |event: RunEvent<'_>| with_progress(&progress, event);
            let outcome = scenario::up(&scenario, &options, &mut on_event).await;
            progress.finish();
            let outcome = outcome.map_err(|e| setup(Box::new(e)))?;
            if let Some(bundle) = &outcome.bundle {
                println!("artifacts {}", bundle.display());
            }
            Ok(())
        }
        Command::Ls => {
            let engine = connect().await?;
            let clusters = cluster::FoundCluster::list(&engine)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            print!("{}", cluster::listing(&clusters, now));
            Ok(())
        }
        Command::Down { run_id, all } => {
            let engine = connect().await?;
            let run_ids = match run_id {
                Some(run_id) => vec![find(&engine, &run_id).await?.run_id],
                None => cluster::FoundCluster::list(&engine)
                    .await
                    .map_err(|e| setup(Box::new(e)))?
                    .into_iter()
                    .map(|c| c.run_id)
                    .collect(),
            };
            if all && run_ids.is_empty() {
                println!("no clusters");
            }
            for run_id in run_ids {
                let report = cluster::remove_run(&engine, &run_id)
                    .await
                    .map_err(|e| setup(Box::new(e)))?;
                println!("cluster {run_id}: {report}");
            }
            Ok(())
        }
        Command::Exec {
            run_id,
            host,
            timeout,
            command,
        } => {
            let engine = connect().await?;
            let found = find(&engine, &run_id).await?;
            let timeout = std::time::Duration::from_secs(timeout);
            let code = found
                .gp_exec(&engine, &host, &command, timeout, &mut stream_out)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            exit_with(code)
        }
        Command::Psql { run_id, host, sql } => {
            let engine = connect().await?;
            let found = find(&engine, &run_id).await?;
            let named = host.is_some();
            let host = found
                .sql_host(&engine, host.as_deref())
                .await
                .map_err(|e| setup(Box::new(e)))?;
            if !named && host != found.topology.coordinator {
                eprintln!(
                    "the coordinator on {} does not answer; using {host}",
                    found.topology.coordinator
                );
            }
            let Some(sql) = sql else {
                eprintln!("cbh does not attach terminals; for an interactive psql on {host}, run:");
                println!(
                    "{}",
                    found
                        .interactive_psql(&host)
                        .map_err(|e| setup(Box::new(e)))?
                );
                return Ok(());
            };
            let argv = found.psql_argv(Some(&sql));
            let code = found
                .gp_exec(&engine, &host, &argv, gp_timeout(), &mut stream_out)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            exit_with(code)
        }
        Command::Logs {
            run_id,
            host,
            lines,
        } => {
            let engine = connect().await?;
            let found = find(&engine, &run_id).await?;
            let text = cluster::host_logs(&engine, &found, &host, lines)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            print!("{text}");
            Ok(())
        }
        Command::Gc { all } => {
            let engine = docker::Engine::connect()
                .await
                .map_err(|e| setup(Box::new(e)))?;
            let report = cluster::gc(&engine, all)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            println!("{report}");
            if all {
                let templates = cluster::template::remove_all(&engine)
                    .await
                    .map_err(|e| setup(Box::new(e)))?;
                println!("removed {templates} cluster template images");
            }
            Ok(())
        }
        Command::Image {
            command: ImageCommand::Build,
        } => {
            // Before Docker: without a checkout there is nothing to build.
            image::check_emulated_context(&image::emulated_context())
                .map_err(|e| setup(Box::new(e)))?;
            let engine = docker::Engine::connect()
                .await
                .map_err(|e| setup(Box::new(e)))?;
            let started = std::time::Instant::now();
            let tag = image::ensure_emulated(&engine, &image::emulated_context())
                .await
                .map_err(|e| setup(Box::new(e)))?;
            println!("{tag} ({:.1}s)", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Image {
            command:
                ImageCommand::Check {
                    image,
                    ready_timeout,
                },
        } => {
            let engine = docker::Engine::connect()
                .await
                .map_err(|e| setup(Box::new(e)))?;
            let report = image::ContractCheck::new(image)
                .with_ready_timeout(std::time::Duration::from_secs(ready_timeout))
                .run(&engine)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            println!("{report}");
            if report.passed() {
                Ok(())
            } else {
                Err(CliError::Failed)
            }
        }
    }
}

async fn connect() -> Result<docker::Engine, CliError> {
    docker::Engine::connect()
        .await
        .map_err(|e| CliError::Setup(Box::new(e)))
}

async fn find(engine: &docker::Engine, run_id: &str) -> Result<cluster::FoundCluster, CliError> {
    cluster::FoundCluster::find(engine, run_id)
        .await
        .map_err(|e| CliError::Setup(Box::new(e)))
}

/// Deadline of `cbh psql -c`.
fn gp_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(600)
}

/// Writes a node command's output to ours as it comes.
fn stream_out(stream: docker::OutputStream, bytes: &[u8]) {
    use std::io::Write;
    let _ = match stream {
        docker::OutputStream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        docker::OutputStream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(bytes).and_then(|()| err.flush())
        }
    };
}

/// A node command's exit code as ours (`-1`, not reported, and codes beyond 255 as 1).
fn exit_with(code: i64) -> Result<(), CliError> {
    match code {
        0 => Ok(()),
        code => Err(CliError::Exit(u8::try_from(code).unwrap_or(1))),
    }
}

/// Prints `event` and tells the spinner what is waited for next.
fn with_progress(progress: &progress::Progress, event: RunEvent<'_>) {
    let next = match &event {
        RunEvent::ImageReady { .. } => Some("bringing up the cluster".to_string()),
        RunEvent::StepStarted {
            index,
            total,
            title,
        } => Some(format!("[{}/{total}] {title}", index + 1)),
        RunEvent::ClusterUp { .. } | RunEvent::StepFinished { .. } => Some("finishing".to_string()),
        _ => None,
    };
    progress.print(|| print_event(event));
    if let Some(next) = next {
        progress.set(next);
    }
}

fn print_event(event: RunEvent<'_>) {
    match event {
        RunEvent::ImageReady { image, duration } => {
            println!("image    {image} ({:.1}s)", duration.as_secs_f64())
        }
        RunEvent::ClusterUp { run_id, duration } => {
            println!(
                "cluster  {run_id} up with its standby ({:.1}s)",
                duration.as_secs_f64()
            )
        }
        RunEvent::StepStarted { .. } => {}
        RunEvent::StepFinished {
            index,
            title,
            duration,
            outcome,
        } => {
            let verdict = match outcome {
                StepOutcome::Passed => "ok".to_string(),
                StepOutcome::AssertionsFailed(p) => format!("FAILED\n      {}", p.join("\n      ")),
                StepOutcome::Error(e) => format!("ERROR\n      {}", e.replace('\n', "\n      ")),
            };
            println!(
                "[{:>2}] {title:<58} {:>6.2}s {verdict}",
                index + 1,
                duration.as_secs_f64()
            );
        }
        RunEvent::Interrupted => eprintln!("interrupted: removing the cluster"),
        RunEvent::Failover(times) => println!("failover {times}"),
        RunEvent::WorkloadStopped(report) => println!(
            "workload on {}: {} clients, {}",
            report.table,
            report.clients.len(),
            report.summary
        ),
        RunEvent::ClusterKept { run_id, nodes } => {
            print!("{}", cluster::kept_guide(run_id, &nodes))
        }
    }
}

async fn run(scenario: &Scenario, options: &RunOptions) -> Result<(), CliError> {
    println!("scenario {} ({})", scenario.name, scenario.path.display());
    if !scenario.description.is_empty() {
        println!("  {}", scenario.description.trim());
    }
    println!("seed     {}", scenario.choices);
    let progress = progress::Progress::start("getting the node image");
    let mut on_event = |event: RunEvent<'_>| with_progress(&progress, event);
    let result = scenario::run(scenario, options, &mut on_event).await;
    progress.finish();
    match result {
        Ok(outcome) => {
            println!(
                "timings  image {:.1}s, bring-up {:.1}s, steps {:.1}s",
                outcome.image_time.as_secs_f64(),
                outcome.bringup_time.as_secs_f64(),
                outcome.steps_time.as_secs_f64()
            );
            if let Some(bundle) = &outcome.bundle {
                println!("artifacts {}", bundle.display());
            }
            if let Some(problem) = &outcome.bundle_problem {
                eprintln!("warning: {problem}");
            }
            if outcome.passed {
                println!("PASS {}", scenario.name);
                Ok(())
            } else {
                println!("FAIL {}", scenario.name);
                for (step, message) in &outcome.failures {
                    match step {
                        0 => println!("  {message}"),
                        _ => println!("  step {step}: {message}"),
                    }
                }
                Err(CliError::Failed)
            }
        }
        Err(e) => Err(CliError::Setup(Box::new(e))),
    }
}
