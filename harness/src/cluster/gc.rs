//! Garbage collection of Docker objects by label: the one cleanup path that survives a killed
//! run, since nextest has no teardown hook.

use crate::docker::{owner_alive, DockerError, Engine, LABEL, LABEL_OWNER};

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Containers removed.
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
}

impl std::fmt::Display for GcReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "removed {} containers, {} networks, {} volumes",
            self.containers, self.networks, self.volumes
        )
    }
}

/// Removes every object of run `run_id`.
pub async fn remove_run(engine: &Engine, run_id: &str) -> Result<GcReport, DockerError> {
    collect(engine, &format!("{LABEL}={run_id}"), |_| true).await
}

/// Removes leftovers: objects whose owning process is gone (or every labelled object with
/// `all`). Objects of runs still alive on this machine are left alone.
pub async fn gc(engine: &Engine, all: bool) -> Result<GcReport, DockerError> {
    collect(engine, LABEL, |labels| {
        all || !labels.get(LABEL_OWNER).is_some_and(|o| owner_alive(o))
    })
    .await
}

async fn collect(
    engine: &Engine,
    filter: &str,
    doomed: impl Fn(&std::collections::HashMap<String, String>) -> bool,
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
    Ok(report)
}
