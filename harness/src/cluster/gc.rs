//! Garbage collection of Docker objects by label: the one cleanup path that survives a killed
//! run, since nextest has no teardown hook; and the mark of a run kept on request, which the
//! collection spares.
//!
//! A kept cluster outlives its owner by design (`cbh up`, `cbh run --keep`), so its owner label
//! names a dead process like any killed run's. Docker labels cannot be changed after creation,
//! and a cluster is only known to be kept once it is up, so the mark is a separate object made
//! at that moment: an empty volume `cbh-<run id>-kept` labelled `cbharness=<run id>` and
//! `cbharness.kept=true`. A run killed during its bring-up has no mark and is reaped as before.

use std::collections::{BTreeSet, HashMap};

use crate::docker::{
    owner_alive, owner_id, DockerError, Engine, LABEL, LABEL_KEPT, LABEL_OWNER, LABEL_SCRATCH,
};

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
    /// Scratch images removed (a killed bench's cold builds).
    pub images: usize,
    /// Kept runs left alone (only without `all`).
    pub kept: usize,
}

impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "removed {} containers, {} networks, {} volumes",
            self.containers, self.networks, self.volumes
        )?;
        if self.images > 0 {
            write!(f, ", {} scratch images", self.images)?;
        }
        match self.kept {
            0 => Ok(()),
            1 => write!(f, "; left 1 kept cluster (`cbh down RUN_ID` removes it)"),
            n => write!(
                f,
                "; left {n} kept clusters (`cbh down RUN_ID` removes one)"
            ),
        }
    }
}

/// Removes every object of run `run_id`, its kept mark included.
pub async fn remove_run(engine: &Engine, run_id: &str) -> Result<GcReport, DockerError> {
    collect(engine, &format!("{LABEL}={run_id}"), |_| true).await
}

/// Removes leftovers: objects whose owning process is gone, except those of kept runs (or every
/// labelled object with `all`). Objects of runs still alive on this machine are left alone.
pub async fn gc(engine: &Engine, all: bool) -> Result<GcReport, DockerError> {
    let kept = if all {
        BTreeSet::new()
    } else {
        kept_runs(engine).await?
    };
    let mut report = collect(engine, LABEL, |labels| doomed(labels, all, &kept)).await?;
    report.kept = kept.len();
    Ok(report)
}

/// Marks run `run_id` kept: its objects outlive their owner and `gc` without `all` spares them.
pub async fn keep_run(engine: &Engine, run_id: &str, scenario: &str) -> Result<(), DockerError> {
    let labels = HashMap::from([
        (LABEL.to_string(), run_id.to_string()),
        (LABEL_KEPT.to_string(), "true".to_string()),
        (
            crate::docker::LABEL_SCENARIO.to_string(),
            scenario.to_string(),
        ),
        (LABEL_OWNER.to_string(), owner_id()),
    ]);
    engine
        .create_volume(&format!("cbh-{run_id}-kept"), labels)
        .await
}

/// Run ids marked kept.
pub async fn kept_runs(engine: &Engine) -> Result<BTreeSet<String>, DockerError> {
    Ok(engine
        .volumes_with_label(&format!("{LABEL_KEPT}=true"))
        .await?
        .into_iter()
        .filter_map(|(_, labels)| labels.get(LABEL).cloned())
        .collect())
}

/// Whether `gc` removes an object with these labels.
fn doomed(labels: &HashMap<String, String>, all: bool, kept: &BTreeSet<String>) -> bool {
    if all {
        return true;
    }
    let of_kept_run = labels.get(LABEL).is_some_and(|run| kept.contains(run));
    let owner_lives = labels.get(LABEL_OWNER).is_some_and(|o| owner_alive(o));
    !of_kept_run && !owner_lives
}

async fn collect(
    engine: &Engine,
    filter: &str,
    doomed: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<GcReport, DockerError> {
    let mut report = GcReport::default();
    // Containers first: a network with endpoints cannot be removed.
    for (id, labels) in engine.containers_with_label(filter).await? {
        if doomed(&labels) {
            engine.remove_container(&id).await?;
            report.containers += 1;
        }
    }
    for (id, labels) in engine.networks_with_label(filter).await? {
        if doomed(&labels) {
            engine.remove_network(&id).await?;
            report.networks += 1;
        }
    }
    for (name, labels) in engine.volumes_with_label(filter).await? {
        if doomed(&labels) {
            engine.remove_volume(&name).await?;
            report.volumes += 1;
        }
    }
    // Only images marked scratch: cluster templates carry the run labels of the containers
    // they were committed from, and outlive that run by design.
    for (id, labels) in engine.images_with_label(filter).await? {
        if labels.get(LABEL_SCRATCH).is_some_and(|v| v == "true") && doomed(&labels) {
            engine.remove_image(&id).await?;
            report.images += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(run: &str, owner: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL.to_string(), run.to_string()),
            (LABEL_OWNER.to_string(), owner.to_string()),
        ])
    }

    #[test]
    fn a_dead_owners_objects_go_unless_their_run_is_kept() {
        let kept = BTreeSet::from(["kept1".to_string()]);
        // This process with another start time: an owner that is gone (its pid reused).
        let dead = format!("{}@1", std::process::id());
        assert!(doomed(&labels("killed", &dead), false, &kept));
        assert!(!doomed(&labels("kept1", &dead), false, &kept));
        assert!(!doomed(&labels("live", &owner_id()), false, &kept));
        let unowned = HashMap::from([(LABEL.to_string(), "x".to_string())]);
        assert!(doomed(&unowned, false, &kept));
    }

    #[test]
    fn all_takes_kept_and_live_runs_too() {
        let kept = BTreeSet::from(["kept1".to_string()]);
        let dead = format!("{}@1", std::process::id());
        assert!(doomed(&labels("kept1", &dead), true, &kept));
        assert!(doomed(&labels("live", &owner_id()), true, &kept));
    }

    #[test]
    fn the_report_says_what_was_spared_and_how_to_remove_it() {
        let report = GcReport {
            containers: 3,
            networks: 1,
            volumes: 0,
            images: 0,
            kept: 1,
        };
        assert_eq!(
            report.to_string(),
            "removed 3 containers, 1 networks, 0 volumes; left 1 kept cluster (`cbh down RUN_ID` \
             removes it)"
        );
        assert_eq!(
            GcReport::default().to_string(),
            "removed 0 containers, 0 networks, 0 volumes"
        );
        let images = GcReport {
            images: 2,
            ..GcReport::default()
        };
        assert_eq!(
            images.to_string(),
            "removed 0 containers, 0 networks, 0 volumes, 2 scratch images"
        );
    }
}
