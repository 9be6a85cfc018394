//! The `gpstate` step: runs `gpstate -f` or `-b`, checks the expectations against the parsed
//! output, records the replication rows in the history and compares the snapshots.

use serde_json::json;

use super::model::{GpstateMode, GpstateStep};
use super::step::{StepContext, StepResult};
use crate::gp;
use crate::history::{Kind, Process};
use crate::normalize;
use crate::snapshot;

pub(super) async fn gpstate_step(ctx: &StepContext<'_>, s: &GpstateStep, host: &str) -> StepResult {
    let e = &s.expect;
    let mut problems = Vec::new();
    let mut expect = |field: &str, want: &Option<String>, got: Option<&str>| {
        if let Some(want) = want {
            if got != Some(want.as_str()) {
                problems.push(format!(
                    "gpstate on {host}: expected {field} `{want}`, got {got:?}"
                ));
            }
        }
    };
    let (run, parsed) = match s.mode {
        GpstateMode::Full => {
            let (run, report) = gp::gpstate_full(ctx.cluster, host).await?;
            let configured = match &report.standby {
                gp::gpstate::StandbyDetails::Configured {
                    address, status, ..
                } => Some((address.as_str(), status.as_str())),
                gp::gpstate::StandbyDetails::NotConfigured => None,
            };
            if let Some(want) = e.standby_configured {
                if want != configured.is_some() {
                    expect(
                        "standby_configured",
                        &Some(want.to_string()),
                        Some(&configured.is_some().to_string()),
                    );
                }
            }
            expect(
                "standby_address",
                &e.standby_address,
                configured.map(|c| c.0),
            );
            expect("standby_status", &e.standby_status, configured.map(|c| c.1));
            let only_row = match report.replication.as_slice() {
                [row] => Some(row),
                _ => None,
            };
            for row in &report.replication {
                ctx.history.record(
                    Process::Runner,
                    Kind::Ok,
                    "replication",
                    json!({"host": host, "wal_sender_state": row.wal_sender_state, "sync_state": row.sync_state}),
                );
            }
            if (e.wal_sender_state.is_some() || e.sync_state.is_some()) && only_row.is_none() {
                problems.push(format!(
                    "gpstate on {host}: expected exactly one pg_stat_replication row, got {}",
                    report.replication.len()
                ));
            } else {
                expect(
                    "wal_sender_state",
                    &e.wal_sender_state,
                    only_row.map(|r| r.wal_sender_state.as_str()),
                );
                expect(
                    "sync_state",
                    &e.sync_state,
                    only_row.and_then(|r| r.sync_state.as_deref()),
                );
            }
            (run, serde_json::to_value(&report)?)
        }
        GpstateMode::Brief => {
            let (run, summary) = gp::gpstate_brief(ctx.cluster, host).await?;
            let standby = match &summary.coordinator_standby {
                gp::gpstate::CoordinatorStandby::NotConfigured => {
                    "No coordinator standby configured".to_string()
                }
                gp::gpstate::CoordinatorStandby::Host(h) => h.clone(),
            };
            expect(
                "coordinator_instance",
                &e.coordinator_instance,
                Some(&summary.coordinator_instance),
            );
            expect(
                "coordinator_standby",
                &e.coordinator_standby,
                Some(&standby),
            );
            expect(
                "standby_state",
                &e.standby_state,
                summary.standby_state.as_deref(),
            );
            (run, serde_json::to_value(&summary)?)
        }
    };
    let normalized = normalize::normalize_gp_output(&run.output.stdout);
    let parsed_text = normalize::normalize_parsed(&parsed);
    ctx.bundle.write(
        format!("{}/gpstate.raw.txt", ctx.folder),
        &run.output.stdout,
    );
    ctx.bundle.write(
        format!("{}/gpstate.normalized.txt", ctx.folder),
        &normalized,
    );
    ctx.bundle
        .write(format!("{}/gpstate.parsed.json", ctx.folder), &parsed_text);
    if let Some(name) = &s.snapshot {
        let base = format!("{}__{name}", ctx.scenario.name);
        let dir = &ctx.options.snapshots_dir;
        problems.extend(snapshot::check(dir, &base, &normalized).err());
        problems.extend(snapshot::check(dir, &format!("{base}_parsed"), &parsed_text).err());
    }
    Ok(problems)
}
