//! The nemesis: faults injected into hosts, each recorded in the history with its start and
//! end, each knowing how to heal.

use serde_json::json;

use crate::cluster::{Cluster, ClusterError};
use crate::history::{History, Kind, Process};
use crate::scenario::FaultKind;

/// Injects `kind` on `host`.
pub async fn inject(
    cluster: &Cluster,
    history: &History,
    kind: FaultKind,
    host: &str,
) -> Result<(), ClusterError> {
    let value = json!({"fault": kind, "host": host});
    history.record(Process::Nemesis, Kind::Invoke, "fault", value.clone());
    let result = match kind {
        FaultKind::Crash => cluster.kill(host).await,
    };
    let kind = if result.is_ok() {
        Kind::Info
    } else {
        Kind::Fail
    };
    history.record(Process::Nemesis, kind, "fault", value);
    result
}

/// Heals `kind` on `host`.
pub async fn heal(
    cluster: &Cluster,
    history: &History,
    kind: FaultKind,
    host: &str,
) -> Result<(), ClusterError> {
    let value = json!({"fault": kind, "host": host});
    history.record(Process::Nemesis, Kind::Invoke, "heal", value.clone());
    let result = match kind {
        // The host boots with its disk as the crash left it; no database process starts.
        FaultKind::Crash => cluster.start(host).await,
    };
    let kind = if result.is_ok() {
        Kind::Info
    } else {
        Kind::Fail
    };
    history.record(Process::Nemesis, kind, "heal", value);
    result
}
