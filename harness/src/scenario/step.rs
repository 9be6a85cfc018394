//! One step of a scenario: what it does to the cluster and what it asserts. The runner
//! (`runner.rs`) walks the steps in order, records each in the history and the bundle, and
//! calls [`run_step`]; `gpstate` and `check` steps live in their own files.

use std::sync::PoisonError;
use std::time::Duration;

use serde_json::json;

use super::model::{Scenario, Step};
use super::runner::RunOptions;
use crate::client;
use crate::cluster::{Cluster, ClusterError};
use crate::gp;
use crate::history::{History, Kind, Process};
use crate::report::Bundle;
use crate::workload::{Workload, WorkloadReport};

/// What the steps know while they run.
pub(super) struct State {
    pub(super) coordinator: String,
    pub(super) next_id: i64,
    /// The number of the next workload client (each writes its own block of ids).
    pub(super) next_client: u32,
}

/// The concurrent workload of a run: the one running (at most one), kept outside the steps'
/// future so that the runner stops it whatever becomes of the steps, and the reports of those
/// stopped, for [`RunEvent::WorkloadStopped`]. A lock poisoned by a panicking step is still
/// used: the workload must be stopped whatever happened.
#[derive(Default)]
pub(super) struct Workloads {
    pub(super) running: std::sync::Mutex<Option<Workload>>,
    pub(super) stopped: std::sync::Mutex<Vec<WorkloadReport>>,
}

impl Workloads {
    pub(super) fn take(&self) -> Option<Workload> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The hosts that can be the coordinator during the run: the topology's coordinator and
/// standby, and every host an `init_standby` step makes a standby.
fn coordinator_candidates(scenario: &Scenario) -> Vec<String> {
    let topology = &scenario.topology;
    let mut hosts: Vec<String> = std::iter::once(topology.coordinator.clone())
        .chain(topology.standby.clone())
        .collect();
    for step in &scenario.steps {
        if let Step::InitStandby(s) = step {
            if !hosts.contains(&s.standby) {
                hosts.push(s.standby.clone());
            }
        }
    }
    hosts
}

/// Stops `workload` and records what it did in the history.
pub(super) async fn stop_workload(workload: Workload, history: &History) -> WorkloadReport {
    let report = workload.stop().await;
    history.record(
        Process::Runner,
        Kind::Info,
        "workload",
        serde_json::to_value(&report).unwrap_or_default(),
    );
    report
}

/// Clients of a stopped workload that gave up (found no host taking writes, or did not stop).
pub(super) fn clients_that_gave_up(report: &WorkloadReport) -> Vec<String> {
    report
        .clients
        .iter()
        .filter_map(|c| {
            let why = c.gave_up.as_ref()?;
            Some(format!("workload client {} stopped early: {why}", c.client))
        })
        .collect()
}

#[derive(Clone, Copy)]
pub(super) struct StepContext<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) options: &'a RunOptions,
    pub(super) cluster: &'a Cluster,
    pub(super) history: &'a History,
    pub(super) bundle: &'a Bundle,
    pub(super) folder: &'a str,
    pub(super) workloads: &'a Workloads,
}

pub(super) type StepResult = Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>>;

pub(super) async fn run_step(ctx: &StepContext<'_>, step: &Step, state: &mut State) -> StepResult {
    let cluster = ctx.cluster;
    let topology = cluster.topology();
    let current = state.coordinator.clone();
    let host_or_current = |h: &Option<String>| h.clone().unwrap_or_else(|| current.clone());
    match step {
        Step::Sql(s) => {
            let host = host_or_current(&s.host);
            let client = client::connect(cluster, &host, crate::workload::DATABASE).await?;
            let rows = client::query_text(&client, &host, &s.sql).await?;
            ctx.bundle.write(
                format!("{}/result.json", ctx.folder),
                serde_json::to_string_pretty(&rows)?,
            );
            let mut problems = Vec::new();
            if let Some(expected) = &s.expect {
                let got = rows.first().and_then(|r| r.first()).cloned().flatten();
                if got.as_deref() != Some(expected.as_str()) {
                    problems.push(format!("sql on {host}: expected `{expected}`, got {got:?}"));
                }
            }
            Ok(problems)
        }
        Step::Write(s) => {
            let ids = state.next_id..state.next_id + i64::from(s.rows);
            state.next_id = ids.end;
            let deadline = s.timeout.unwrap_or(client::STATEMENT_TIMEOUT);
            let (summary, waits) = crate::workload::write_rows(
                cluster,
                ctx.history,
                &current,
                &s.table,
                ids,
                deadline,
            )
            .await?;
            ctx.history.record(
                Process::Runner,
                Kind::Info,
                "commit_wait",
                json!({
                    "table": s.table,
                    "fastest_s": waits.fastest.as_secs_f64(),
                    "slowest_s": waits.slowest.as_secs_f64(),
                }),
            );
            let mut problems = Vec::new();
            if summary.ok != s.rows {
                problems.push(format!(
                    "write to {}: {} of {} rows acknowledged ({} failed, {} unknown)",
                    s.table, summary.ok, s.rows, summary.failed, summary.unknown
                ));
            }
            if let Some(stall) = s.expect_stall {
                if waits.slowest < stall {
                    problems.push(format!(
                        "write to {}: the slowest commit waited {:.1}s, expected a stall of at \
                         least {:.1}s",
                        s.table,
                        waits.slowest.as_secs_f64(),
                        stall.as_secs_f64()
                    ));
                }
            }
            if let Some(wait) = s.expect_commit_wait {
                if waits.fastest < wait {
                    problems.push(format!(
                        "write to {}: the fastest commit waited {}ms, expected every commit to \
                         wait at least {}ms",
                        s.table,
                        waits.fastest.as_millis(),
                        wait.as_millis()
                    ));
                }
            }
            Ok(problems)
        }
        Step::WorkloadStart(s) => {
            let clients = state.next_client..state.next_client + s.clients;
            state.next_client = clients.end;
            let candidates = coordinator_candidates(ctx.scenario);
            let workload = Workload::start(
                cluster,
                ctx.history,
                &current,
                &s.table,
                clients,
                candidates,
            )
            .await?;
            let previous = ctx
                .workloads
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(workload);
            // Validation allows one workload at a time; a second would be a runner bug.
            assert!(previous.is_none(), "a workload was already running");
            Ok(vec![])
        }
        Step::WorkloadStop(_) => {
            let workload = ctx.workloads.take().ok_or("no workload is running")?;
            let report = stop_workload(workload, ctx.history).await;
            ctx.bundle.write(
                format!("{}/workload.json", ctx.folder),
                serde_json::to_string_pretty(&report)?,
            );
            let mut problems = clients_that_gave_up(&report);
            // A workload that wrote nothing showed nothing.
            if report.summary.ok == 0 {
                problems.push(format!(
                    "the workload on {} had no write acknowledged ({})",
                    report.table, report.summary
                ));
            }
            ctx.workloads
                .stopped
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(report);
            Ok(problems)
        }
        Step::Fault(s) => {
            crate::nemesis::inject(cluster, ctx.history, s).await?;
            Ok(vec![])
        }
        Step::Heal(s) => {
            crate::nemesis::heal(cluster, ctx.history, s).await?;
            Ok(vec![])
        }
        Step::ActivateStandby(s) => {
            let datadir = s.datadir.replace(
                "$COORDINATOR_DATA_DIRECTORY",
                &topology.coordinator_datadir(),
            );
            let deadline = s.timeout.unwrap_or(gp::LONG);
            let run = gp::gpactivatestandby(cluster, &s.host, &datadir, s.force, deadline).await?;
            if let Some(expected) = &s.expect_refusal {
                return Ok(run.refused(expected));
            }
            run.ok()?;
            state.coordinator = s.host.clone();
            Ok(vec![])
        }
        Step::MoveDatadir(s) => {
            let from = s
                .from
                .clone()
                .unwrap_or_else(|| topology.coordinator_datadir());
            let to = s
                .to
                .clone()
                .unwrap_or_else(|| format!("{}/backup_gpseg-1", topology.coordinator_directory));
            // -T: never move into an existing directory by accident.
            let argv = ["mv", "-T", &from, &to].map(String::from);
            let out = cluster
                .gp_exec(&s.host, &argv, Duration::from_secs(60))
                .await?;
            ClusterError::unless_success(&out, &format!("run `mv -T {from} {to}`"), &s.host, true)?;
            Ok(vec![])
        }
        Step::RemoveStaleFiles(s) => {
            let port = topology.coordinator_port;
            let script = format!(
                "rm -fv /tmp/.s.PGSQL.{port} /tmp/.s.PGSQL.{port}.lock \
                 \"$COORDINATOR_DATA_DIRECTORY/postmaster.pid\""
            );
            let argv = ["bash".to_string(), "-c".into(), script];
            let out = cluster
                .gp_exec(&s.host, &argv, Duration::from_secs(60))
                .await?;
            ClusterError::unless_success(&out, "remove the stale files", &s.host, true)?;
            Ok(vec![])
        }
        Step::InitStandby(s) => {
            let host = host_or_current(&s.host);
            let deadline = s.timeout.unwrap_or(gp::LONG);
            let run = gp::gpinitstandby(cluster, &host, &s.standby, deadline).await?;
            if let Some(expected) = &s.expect_refusal {
                return Ok(run.refused(expected));
            }
            run.ok()?;
            Ok(vec![])
        }
        Step::StopCoordinatorOnly(s) => {
            let host = host_or_current(&s.host);
            let deadline = s.timeout.unwrap_or(gp::SHORT);
            gp::gpstop_coordinator_only(cluster, &host, s.mode.as_deref(), deadline)
                .await?
                .ok()?;
            Ok(vec![])
        }
        Step::Gpstate(s) => super::gpstate::gpstate_step(ctx, s, &host_or_current(&s.host)).await,
        Step::Check(s) => super::check::check_step(ctx, s, &current).await,
    }
}
