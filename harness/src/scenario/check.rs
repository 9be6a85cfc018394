//! The `check` step: reads what an invariant needs from the cluster (rows, the catalog, a
//! `gpstart` of the old coordinator) and hands it to the pure functions of [`crate::checker`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::model::{CheckStep, Invariant};
use super::step::{StepContext, StepResult};
use crate::checker::{self, CatalogRow, Verdict};
use crate::client::{self, ClientError};
use crate::cluster::Cluster;
use crate::gp;
use crate::history::{Kind, Process};
use crate::snapshot;

pub(super) async fn check_step(
    ctx: &StepContext<'_>,
    s: &CheckStep,
    coordinator: &str,
) -> StepResult {
    let cluster = ctx.cluster;
    let mut details = serde_json::Value::Null;
    let verdict = match s.invariant {
        Invariant::AcknowledgedWritesPresent => {
            // The history first, then the rows: a write acknowledged before this point was
            // committed before the read starts, even while a workload keeps writing.
            let events = ctx.history.events();
            let client = client::connect(cluster, coordinator, crate::workload::DATABASE).await?;
            let mut present = BTreeMap::new();
            for table in checker::written_tables(&events) {
                let read =
                    client::query_text(&client, coordinator, &format!("SELECT id FROM {table}"))
                        .await;
                // A table the coordinator never got has lost every row written to it.
                let rows = match read {
                    Err(ClientError::Sql { source, .. })
                        if source.code()
                            == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) =>
                    {
                        Vec::new()
                    }
                    other => other?,
                };
                let ids: BTreeSet<i64> = rows
                    .iter()
                    .filter_map(|r| r.first().cloned().flatten()?.parse().ok())
                    .collect();
                present.insert(table, ids);
            }
            let counts = checker::write_counts(&events, &present);
            let text: String = counts.iter().map(|c| format!("{c}\n")).collect();
            ctx.bundle
                .write(format!("{}/writes.txt", ctx.folder), &text);
            details = serde_json::to_value(&counts)?;
            match s.expect_lost {
                Some(n) => checker::exactly_lost(&events, &present, n),
                None => checker::no_lost_writes(&events, &present),
            }
        }
        Invariant::OldCoordinatorRefuses => {
            let host = s
                .host
                .as_deref()
                .ok_or("old_coordinator_refuses without a host")?;
            let run = gp::gpstart(cluster, host, gp::SHORT).await?;
            let output = format!("{}{}", run.output.stdout, run.output.stderr);
            ctx.bundle
                .write(format!("{}/gpstart.txt", ctx.folder), &output);
            let writable = accepts_writes(cluster, host).await;
            details = json!({"host": host, "exit_code": run.output.exit_code, "accepts_writes": writable});
            checker::old_coordinator_refuses(host, run.output.exit_code, &output, writable)
        }
        Invariant::OneCoordinator => {
            let rows = read_catalog(cluster, coordinator).await?;
            let text = catalog_text(&rows);
            ctx.bundle.write(
                format!("{}/gp_segment_configuration.txt", ctx.folder),
                &text,
            );
            let mut verdict = checker::one_coordinator(&rows, coordinator);
            if let Some(name) = &s.snapshot {
                let coordinator_rows: Vec<CatalogRow> =
                    rows.into_iter().filter(|r| r.content == -1).collect();
                let base = format!("{}__{name}", ctx.scenario.name);
                if let Err(problem) = snapshot::check(
                    &ctx.options.snapshots_dir,
                    &base,
                    &catalog_text(&coordinator_rows),
                ) {
                    verdict = verdict.worst(Verdict::Invalid {
                        reasons: vec![problem],
                    });
                }
            }
            verdict
        }
    };
    ctx.history.record(
        Process::Runner,
        if verdict.is_valid() {
            Kind::Ok
        } else {
            Kind::Fail
        },
        "check",
        json!({"invariant": format!("{:?}", s.invariant), "verdict": verdict, "details": details}),
    );
    Ok(match verdict {
        Verdict::Valid => vec![],
        Verdict::Invalid { reasons } => reasons,
        Verdict::Unknown { reason } => vec![format!("could not decide: {reason}")],
    })
}

/// Whether `host`'s coordinator port accepts writes: it answers, and not in recovery. No
/// answer within [`crate::workload::PROBE_TIMEOUT`] is no.
async fn accepts_writes(cluster: &Cluster, host: &str) -> bool {
    let probe = async {
        let client = client::connect(cluster, host, crate::workload::DATABASE)
            .await
            .ok()?;
        let rows = client::query_text(&client, host, "SELECT pg_is_in_recovery()")
            .await
            .ok()?;
        Some(rows.first()?.first()?.as_deref() == Some("f"))
    };
    tokio::time::timeout(crate::workload::PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Reads `gp_segment_configuration` from the coordinator (database `template1`, as gpstate
/// does).
async fn read_catalog(
    cluster: &Cluster,
    coordinator: &str,
) -> Result<Vec<CatalogRow>, ClientError> {
    let client = client::connect(cluster, coordinator, "template1").await?;
    let rows = client::query_text(
        &client,
        coordinator,
        "SELECT dbid, content, role, preferred_role, mode, status, port, hostname, datadir \
         FROM gp_segment_configuration ORDER BY content, dbid",
    )
    .await?;
    let text = |r: &[Option<String>], i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    Ok(rows
        .iter()
        .map(|r| CatalogRow {
            dbid: text(r, 0).parse().unwrap_or(-1),
            content: text(r, 1).parse().unwrap_or(i32::MIN),
            role: text(r, 2),
            preferred_role: text(r, 3),
            mode: text(r, 4),
            status: text(r, 5),
            port: text(r, 6).parse().unwrap_or(-1),
            hostname: text(r, 7),
            datadir: text(r, 8),
        })
        .collect())
}

/// Catalog rows as an aligned table.
fn catalog_text(rows: &[CatalogRow]) -> String {
    let mut text = format!(
        "{:>4} {:>7} {:>4} {:>14} {:>4} {:>6} {:>5}  {:<8} {}\n",
        "dbid",
        "content",
        "role",
        "preferred_role",
        "mode",
        "status",
        "port",
        "hostname",
        "datadir"
    );
    for r in rows {
        text.push_str(&format!(
            "{:>4} {:>7} {:>4} {:>14} {:>4} {:>6} {:>5}  {:<8} {}\n",
            r.dbid,
            r.content,
            r.role,
            r.preferred_role,
            r.mode,
            r.status,
            r.port,
            r.hostname,
            r.datadir
        ));
    }
    text
}
