//! `cbh bench`: how fast the harness is, measured, against a bare script doing the same.
//!
//! Figures are medians over several runs of each seed scenario end to end (with their image,
//! bring-up and steps times and the failover time read from the history), two scripts doing the
//! same without the harness and the ratio to each: `bench/baseline.sh` (a cluster made with
//! `gpinitsystem`, then the procedure's own commands by `docker exec`, as a person would script
//! it) and `bench/floor.sh` (the same steps with raw PostgreSQL, no gp utilities: what the
//! procedure costs at the least),
//! the cold image build (the utilities compiled in an empty target directory, the image built
//! without the engine's cache; optionally the debootstrap of the base), the warm image check,
//! and the peak memory of a cluster (sum of its containers, sampled every
//! second). Speed is measured here, never asserted by a timed test.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cluster::template;
use crate::docker::{owner_id, Engine, LABEL, LABEL_OWNER, LABEL_SCRATCH};
use crate::history::{Event, Kind};
use crate::image;
use crate::scenario::{run, RunOptions, RunOutcome, Scenario};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Runs per measurement. Default 3; 0 measures the images alone.
    pub runs: usize,
    /// Scenario files to time end to end.
    pub scenarios: Vec<PathBuf>,
    /// Scripts doing the same procedure without the harness, each run once in every round of
    /// the runs of the scenario it is compared with; empty skips them.
    pub scripts: Vec<Script>,
    /// Node image; default the emulated image.
    pub image: Option<String>,
    /// Cold builds of the emulated image (compile and image build without any cache, into a
    /// scratch tag removed afterwards); about a minute each. Default 1; 0 skips them, as does a
    /// named `image`.
    pub cold_runs: usize,
    /// Also time making the Debian base with debootstrap (into a scratch tag). Default off: it
    /// needs root, debootstrap and the Debian mirror.
    pub cold_base: bool,
}

/// A script that does the seed procedure without the harness, for comparison.
#[derive(Debug, Clone)]
pub struct Script {
    /// Its name, also the first word of the line with its time.
    pub name: &'static str,
    /// What it does differently, for the table.
    pub what: &'static str,
    /// The script, run as `bash SCRIPT IMAGE`.
    pub path: PathBuf,
    /// The scenario (its name) that does the same procedure, which the script runs alongside
    /// and is compared with.
    pub compared_with: &'static str,
    /// It needs the emulated image's layout (PostgreSQL 17 from Debian), so a bench on a named
    /// image skips it.
    pub emulated_only: bool,
}

impl Script {
    /// `bench/baseline.sh` and `bench/floor.sh` under the repository root `root`.
    pub fn defaults(root: &Path) -> Vec<Script> {
        vec![
            Script {
                name: "baseline",
                what: "gpinitsystem, then the procedure's commands by docker exec",
                path: root.join("bench/baseline.sh"),
                compared_with: "restore-original-hosts",
                emulated_only: false,
            },
            Script {
                name: "floor",
                what: "the same steps with raw PostgreSQL, no gp utilities",
                path: root.join("bench/floor.sh"),
                compared_with: "restore-original-hosts",
                emulated_only: true,
            },
        ]
    }
}

/// One measured quantity.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// Every sample, in seconds (or MiB for memory).
    pub samples: Vec<f64>,
    /// Unit shown after the numbers.
    pub unit: &'static str,
}

impl Figure {
    fn new(name: impl Into<String>, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            samples: Vec::new(),
            unit,
        }
    }

    /// The median sample.
    pub fn median(&self) -> Option<f64> {
        let mut s = self.samples.clone();
        s.sort_by(f64::total_cmp);
        match s.len() {
            0 => None,
            n if n % 2 == 1 => Some(s[n / 2]),
            n => Some((s[n / 2 - 1] + s[n / 2]) / 2.0),
        }
    }
}

/// Errors of a bench run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setup failed (Docker, image, scenario file).
    #[error("failed to set up the bench: {0}")]
    Setup(String),
    /// A measured run failed: its figure would be meaningless.
    #[error("failed to complete a measured run of {what}: {message}")]
    RunFailed {
        /// The scenario or script.
        what: String,
        /// Why.
        message: String,
    },
}

/// Seconds from the first crash fault to the end of the activation that followed it.
pub fn failover_seconds(events: &[Event]) -> Option<f64> {
    let fault = events
        .iter()
        .find(|e| e.op == "fault" && e.kind == Kind::Invoke)?;
    let activated = events.iter().find(|e| {
        e.index > fault.index
            && e.op == "step"
            && e.kind == Kind::Ok
            && e.value["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("gpactivatestandby"))
    })?;
    Some((activated.time_ms - fault.time_ms) / 1000.0)
}

/// Runs the bench, calling `progress` with a line per finished run, and returns the figures.
pub async fn bench(
    options: &BenchOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<Figure>, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let engine = Engine::connect().await.map_err(|e| setup(&e))?;
    let image = image::resolve(&engine, options.image.as_deref())
        .await
        .map_err(|e| setup(&e))?;
    let mut figures = Vec::new();

    let mut warm = Figure::new("warm image check", "s");
    for _ in 0..options.runs.max(1) * 3 {
        let started = Instant::now();
        image::resolve(&engine, options.image.as_deref())
            .await
            .map_err(|e| setup(&e))?;
        warm.samples.push(started.elapsed().as_secs_f64());
    }
    figures.push(warm);
    if options.image.is_none() {
        figures.extend(cold_builds(&engine, options, progress).await?);
    }

    let mut bringup = Figure::new("bring-up to standby sync (from the template)", "s");
    let mut scratch = Figure::new("bring-up to standby sync (from scratch)", "s");
    let mut memory = Figure::new("peak memory of a cluster", "MiB");
    // `--runs 0`: the image figures alone.
    let scenarios = if options.runs == 0 {
        &[][..]
    } else {
        &options.scenarios[..]
    };
    // A script runs in the rounds of the scenario it is compared with, taking turns with the
    // harness run at going first, so that whatever drifts during a bench (the disk's backlog,
    // the load) weighs on both alike; the ratio is the median of each round's ratio.
    let scripts: Vec<&Script> = options
        .scripts
        .iter()
        .filter(|script| {
            let skip = script.emulated_only && options.image.is_some();
            if skip {
                progress(&format!(
                    "{}: skipped, it needs the emulated image's PostgreSQL layout",
                    script.name
                ));
            }
            !skip
        })
        .collect();
    let mut script_figures: Vec<Figure> = scripts
        .iter()
        .map(|s| Figure::new(format!("{} script ({})", s.name, s.what), "s"))
        .collect();
    let mut ratio_figures: Vec<Figure> = scripts
        .iter()
        .map(|s| {
            let name = format!("ratio {} end to end / {}", s.compared_with, s.name);
            Figure::new(name, "x")
        })
        .collect();
    for (n, path) in scenarios.iter().enumerate() {
        let scenario = Scenario::load(path).map_err(|e| setup(&e))?;
        let quiet = |templates| RunOptions {
            image: Some(image.clone()),
            templates,
            ..RunOptions::default()
        };
        if n == 0 {
            for i in 0..options.runs {
                let outcome = passing_run(&scenario, &quiet(false)).await?;
                progress(&format!(
                    "bring-up from scratch {}/{}: {:.1}s",
                    i + 1,
                    options.runs,
                    outcome.bringup_time.as_secs_f64()
                ));
                scratch.samples.push(outcome.bringup_time.as_secs_f64());
            }
        }
        // The measured runs start from the template; the run that makes it is not measured.
        let key = template::key(&engine, &image, &scenario.topology)
            .await
            .map_err(|e| setup(&e))?;
        if template::find(&engine, &key, &scenario.topology)
            .await
            .map_err(|e| setup(&e))?
            .is_none()
        {
            progress(&format!("{}: making the cluster template", scenario.name));
            passing_run(&scenario, &quiet(true)).await?;
        }
        let mut e2e = Figure::new(format!("{} end to end", scenario.name), "s");
        let mut failover = Figure::new(
            format!("{} failover (crash to activated)", scenario.name),
            "s",
        );
        let mine: Vec<usize> = (0..scripts.len())
            .filter(|&k| scripts[k].compared_with == scenario.name)
            .collect();
        for i in 0..options.runs {
            let turns = mine.len() + 1;
            for turn in (0..turns).map(|t| (t + i) % turns) {
                if turn > 0 {
                    let k = mine[turn - 1];
                    let seconds = run_script(scripts[k], &image).await?;
                    progress(&format!(
                        "{} run {}/{}: {seconds:.1}s",
                        scripts[k].name,
                        i + 1,
                        options.runs
                    ));
                    script_figures[k].samples.push(seconds);
                    continue;
                }
                let sampler = MemorySampler::start(engine.clone());
                let started = Instant::now();
                let outcome = passing_run(&scenario, &quiet(true)).await?;
                let total = started.elapsed().as_secs_f64();
                let peak = sampler.stop().await;
                memory.samples.push(peak);
                e2e.samples.push(total);
                bringup.samples.push(outcome.bringup_time.as_secs_f64());
                failover.samples.extend(failover_seconds(&outcome.events));
                progress(&format!(
                    "{} run {}/{}: {total:.1}s (bring-up {:.1}s, steps {:.1}s)",
                    scenario.name,
                    i + 1,
                    options.runs,
                    outcome.bringup_time.as_secs_f64(),
                    outcome.steps_time.as_secs_f64()
                ));
            }
            for &k in &mine {
                let (Some(h), Some(b)) = (e2e.samples.last(), script_figures[k].samples.last())
                else {
                    continue;
                };
                ratio_figures[k].samples.push(h / b);
            }
        }
        figures.push(e2e);
        if !failover.samples.is_empty() {
            figures.push(failover);
        }
    }
    for figure in [bringup, scratch] {
        if !figure.samples.is_empty() {
            figures.push(figure);
        }
    }

    for (script, figure) in scripts.iter().zip(&script_figures) {
        if figure.samples.is_empty() && options.runs > 0 {
            progress(&format!(
                "{}: not run, it is compared with {}, which this bench did not run",
                script.name, script.compared_with
            ));
        }
    }
    figures.extend(script_figures.into_iter().filter(|f| !f.samples.is_empty()));
    figures.extend(ratio_figures.into_iter().filter(|f| !f.samples.is_empty()));
    if !memory.samples.is_empty() {
        figures.push(memory);
    }
    Ok(figures)
}

/// The cold image build figures: total, compile and image build, and the debootstrap of the
/// base when asked. Each build goes to a scratch tag, labelled so that `cbh gc` reaps it if
/// this process dies, and removed at once.
async fn cold_builds(
    engine: &Engine,
    options: &BenchOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<Figure>, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let bench_id = format!("bench-{}", std::process::id());
    let labels = HashMap::from([
        (LABEL.to_string(), bench_id.clone()),
        (LABEL_OWNER.to_string(), owner_id()),
        (LABEL_SCRATCH.to_string(), "true".to_string()),
    ]);
    let mut figures = Vec::new();
    if options.cold_base {
        let mut base = Figure::new("cold base image (debootstrap and import)", "s");
        let tag = format!("cbharness/scratch:{bench_id}-base");
        let made = image::debootstrap_base(engine, &tag, &labels).await;
        let removed = engine.remove_image(&tag).await;
        let seconds = made.map_err(|e| setup(&e))?.as_secs_f64();
        removed.map_err(|e| setup(&e))?;
        progress(&format!("cold base image: {seconds:.1}s"));
        base.samples.push(seconds);
        figures.push(base);
    }
    let mut total = Figure::new("cold image build (compile + image build)", "s");
    let mut compile = Figure::new("cold image build: compile the utilities", "s");
    let mut build = Figure::new("cold image build: image build without cache", "s");
    let context = image::emulated_context();
    for i in 0..options.cold_runs {
        let tag = format!("cbharness/scratch:{bench_id}-{i}");
        let mut image_labels = labels.clone();
        image_labels.insert("cbharness.image".into(), "emulated".into());
        let built = image::cold_build(engine, &context, &tag, image_labels).await;
        let removed = engine.remove_image(&tag).await;
        let built = built.map_err(|e| BenchError::RunFailed {
            what: "cold image build".into(),
            message: e.to_string(),
        })?;
        removed.map_err(|e| setup(&e))?;
        let (c, b) = (built.compile.as_secs_f64(), built.image.as_secs_f64());
        progress(&format!(
            "cold image build {}/{}: {:.1}s (compile {c:.1}s, image build {b:.1}s)",
            i + 1,
            options.cold_runs,
            c + b
        ));
        total.samples.push(c + b);
        compile.samples.push(c);
        build.samples.push(b);
    }
    if !total.samples.is_empty() {
        figures.extend([total, compile, build]);
    }
    Ok(figures)
}

/// A run of `scenario` that must pass: a failed check or a run error is the bench's error.
async fn passing_run(scenario: &Scenario, options: &RunOptions) -> Result<RunOutcome, BenchError> {
    let failed = |message: String| BenchError::RunFailed {
        what: scenario.name.clone(),
        message,
    };
    let outcome = run(scenario, options, &mut |_| {})
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !outcome.passed {
        return Err(failed(format!(
            "{:?} (bundle {:?})",
            outcome.failures, outcome.bundle
        )));
    }
    Ok(outcome)
}

/// How long a comparison script may take (a healthy run takes seconds).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(600);

/// Runs a comparison script with the image; it prints `<name> <seconds>`, its own time from
/// its first docker command to its last container removed (as a harness run is timed here,
/// teardown included).
async fn run_script(script: &Script, image: &str) -> Result<f64, BenchError> {
    let failed = |message: String| BenchError::RunFailed {
        what: script.name.into(),
        message,
    };
    let child = tokio::process::Command::new("bash")
        .arg(&script.path)
        .arg(image)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run {}: {e}", script.path.display())))?;
    let pid = child.id();
    let output = match tokio::time::timeout(SCRIPT_DEADLINE, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| failed(format!("{}: {e}", script.path.display())))?,
        Err(_) => {
            // SIGTERM, not SIGKILL: the script's exit trap removes what it made.
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            return Err(failed(format!(
                "{} did not finish within {SCRIPT_DEADLINE:?}; it was sent SIGTERM \
                 (`cbh gc` removes whatever it left)",
                script.path.display()
            )));
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(failed(format!(
            "{} exited {}: {}",
            script.path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    seconds_line(&stdout, script.name)
        .ok_or_else(|| failed(format!("no `{} <seconds>` line in: {stdout}", script.name)))
}

/// The seconds of the `<name> <seconds>` line of a script's output.
fn seconds_line(stdout: &str, name: &str) -> Option<f64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Samples the memory of this process's containers every second; the peak sum is the answer.
struct MemorySampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<f64>,
}

impl MemorySampler {
    fn start(engine: Engine) -> MemorySampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peak = 0.0f64;
            let label = format!("{LABEL_OWNER}={}", owner_id());
            loop {
                peak = peak.max(cluster_memory_mib(&engine, &label).await);
                tokio::select! {
                    _ = &mut stopped => return peak,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
        MemorySampler { stop, task }
    }

    async fn stop(self) -> f64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0.0)
    }
}

/// Sum of the memory in use by the containers carrying `label`, without the reclaimable page
/// cache (as `docker stats` shows it), in MiB.
async fn cluster_memory_mib(engine: &Engine, label: &str) -> f64 {
    use futures_util::StreamExt;
    let Ok(containers) = engine.containers_with_label(label).await else {
        return 0.0;
    };
    let mut total = 0u64;
    for (id, _) in containers {
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = engine.api().stats(&id, Some(options));
        if let Some(Ok(stats)) = stream.next().await {
            if let Some(m) = stats.memory_stats {
                let cache = m
                    .stats
                    .as_ref()
                    .and_then(|s| {
                        s.get("total_inactive_file")
                            .or_else(|| s.get("inactive_file"))
                    })
                    .copied()
                    .unwrap_or(0);
                total += m.usage.unwrap_or(0).saturating_sub(cache);
            }
        }
    }
    total as f64 / (1024.0 * 1024.0)
}

/// The figures as an aligned table.
pub fn table(figures: &[Figure]) -> String {
    let width = figures.iter().map(|f| f.name.len()).max().unwrap_or(10);
    let mut text = format!(
        "{:<width$}  {:>9} {:>9} {:>9}  runs\n",
        "what", "median", "min", "max"
    );
    for f in figures {
        let min = f.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = f.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let show = |v: f64| {
            if v.is_finite() {
                format!("{v:.2}{}", f.unit)
            } else {
                "-".into()
            }
        };
        text.push_str(&format!(
            "{:<width$}  {:>9} {:>9} {:>9}  {}\n",
            f.name,
            f.median().map(show).unwrap_or_else(|| "-".into()),
            show(min),
            show(max),
            f.samples.len()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Process};
    use serde_json::json;

    #[test]
    fn the_median_of_odd_and_even_samples() {
        let f = |s: &[f64]| {
            Figure {
                name: "x".into(),
                samples: s.to_vec(),
                unit: "s",
            }
            .median()
        };
        assert_eq!(f(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(f(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(f(&[]), None);
    }

    #[test]
    fn a_script_time_is_read_from_the_line_named_after_it() {
        let out = "noise\nfloor 9.40\nbaseline 13.77\n";
        assert_eq!(seconds_line(out, "baseline"), Some(13.77));
        assert_eq!(seconds_line(out, "floor"), Some(9.4));
        // Another script's line, a longer word, or no number is not the time.
        assert_eq!(seconds_line("floor 9.40\n", "baseline"), None);
        assert_eq!(seconds_line("baselines 3\n", "baseline"), None);
        assert_eq!(seconds_line("baseline done\n", "baseline"), None);
    }

    #[test]
    fn the_default_scripts_are_in_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for script in Script::defaults(&root) {
            let text = std::fs::read_to_string(&script.path).expect("script exists");
            // Each prints the line its time is read from: bench/nodes.sh's `finish` prints
            // `$name <seconds>`.
            assert!(
                text.contains(&format!("\nname={}\n", script.name)) && text.contains("nodes.sh"),
                "{} sets name={} and uses bench/nodes.sh",
                script.path.display(),
                script.name
            );
        }
        let nodes = std::fs::read_to_string(root.join("bench/nodes.sh")).expect("nodes.sh");
        assert!(nodes.contains(r#"printf "%s %.2f\n", n, e - s"#));
    }

    #[test]
    fn failover_runs_from_the_crash_to_the_end_of_the_activation() {
        let h = History::new();
        h.record(
            Process::Runner,
            Kind::Ok,
            "step",
            json!({"title": "gpactivatestandby early"}),
        );
        h.record(
            Process::Nemesis,
            Kind::Invoke,
            "fault",
            json!({"fault": "crash"}),
        );
        h.record(
            Process::Runner,
            Kind::Ok,
            "step",
            json!({"title": "fault crash cdw"}),
        );
        h.record(
            Process::Runner,
            Kind::Ok,
            "step",
            json!({"title": "gpactivatestandby -d x on scdw"}),
        );
        let events = h.events();
        let expected = (events[3].time_ms - events[1].time_ms) / 1000.0;
        assert_eq!(failover_seconds(&events), Some(expected));
        assert_eq!(failover_seconds(&events[..3]), None);
    }
}
