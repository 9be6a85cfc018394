//! `cbh`: the command line of cbharness. See `cbh --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cbharness::scenario::{self, RunEvent, RunOptions, Scenario, StepOutcome};
use cbharness::{bench, cluster, docker, image};

/// Chaos and integration tests of Apache Cloudberry coordinator failover in Docker.
#[derive(Parser)]
#[command(name = "cbh", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Leave the cluster running at the end and print how to reach it.
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
        /// Seconds a node may take to become ready before the run fails.
        #[arg(long, default_value_t = cluster::DEFAULT_READY_TIMEOUT.as_secs())]
        ready_timeout: u64,
        /// Publish the coordinator and standby hosts' port on 127.0.0.1 (for Docker Desktop,
        /// whose host cannot route to container addresses); the nodes' network then has egress.
        #[arg(long, env = "CBH_PUBLISH_LOCALHOST")]
        publish_localhost: bool,
        /// With --publish-localhost: publish the coordinator on this port and the standby on
        /// the next (default: free ports chosen by Docker).
        #[arg(long, requires = "publish_localhost")]
        publish_port: Option<u16>,
    },
    /// Remove Docker objects left by killed runs (all cbharness objects with --all).
    Gc {
        /// Also remove objects of runs that are still alive.
        #[arg(long)]
        all: bool,
    },
    /// Measure: seed scenarios end to end, bring-up, failover, the baseline script, memory.
    Bench {
        /// Runs per measurement.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Scenario files to time (default: the two seed scenarios).
        #[arg(long = "scenario")]
        scenarios: Vec<PathBuf>,
        /// Skip the baseline script (bench/baseline.sh).
        #[arg(long)]
        no_baseline: bool,
        /// Node image to use instead of the emulated one (also `CBH_IMAGE`).
        #[arg(long, env = "CBH_IMAGE")]
        image: Option<String>,
    },
    /// Node images.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
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
            ready_timeout,
            publish_localhost,
            publish_port,
        } => {
            let scenario = Scenario::load(&scenario).map_err(|e| setup(Box::new(e)))?;
            let mut options = RunOptions {
                image,
                keep_cluster: keep,
                keep_artifacts,
                ready_timeout: std::time::Duration::from_secs(ready_timeout),
                publish: if publish_localhost {
                    cluster::Publish::Localhost(publish_port)
                } else {
                    cluster::Publish::Nothing
                },
                ..RunOptions::default()
            };
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
                baseline: (!no_baseline).then(|| root.join("bench/baseline.sh")),
                image,
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
        Command::Gc { all } => {
            let engine = docker::Engine::connect()
                .await
                .map_err(|e| setup(Box::new(e)))?;
            let report = cluster::gc(&engine, all)
                .await
                .map_err(|e| setup(Box::new(e)))?;
            println!("{report}");
            Ok(())
        }
        Command::Image {
            command: ImageCommand::Build,
        } => {
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

async fn run(scenario: &Scenario, options: &RunOptions) -> Result<(), CliError> {
    println!("scenario {} ({})", scenario.name, scenario.path.display());
    if !scenario.description.is_empty() {
        println!("  {}", scenario.description.trim());
    }
    let mut on_event = |event: RunEvent<'_>| match event {
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
            println!("cluster {run_id} kept running (remove it with `cbh gc --all`):");
            for (host, container, address) in nodes {
                println!(
                    "  {host:<6} docker exec -it -u gpadmin {container} bash -l   postgres at {}",
                    address.unwrap_or_else(|| "-".into())
                );
            }
        }
    };
    match scenario::run(scenario, options, &mut on_event).await {
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
