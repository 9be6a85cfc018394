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
    let action = async {
        match kind {
            FaultKind::Crash => cluster.kill(host).await,
        }
    };
    recorded(history, "fault", kind, host, action).await
}

/// Heals `kind` on `host`.
pub async fn heal(
    cluster: &Cluster,
    history: &History,
    kind: FaultKind,
    host: &str,
) -> Result<(), ClusterError> {
    let action = async {
        match kind {
            // The host boots with its disk as the crash left it; no database process starts.
            FaultKind::Crash => cluster.start(host).await,
        }
    };
    recorded(history, "heal", kind, host, action).await
}

/// Runs `action` between an invoke and its completion in the history. A fault's effect on the
/// database is not known when the action returns, so success is recorded as `info`.
async fn recorded(
    history: &History,
    op: &str,
    kind: FaultKind,
    host: &str,
    action: impl std::future::Future<Output = Result<(), ClusterError>>,
) -> Result<(), ClusterError> {
    let value = json!({"fault": kind, "host": host});
    history.record(Process::Nemesis, Kind::Invoke, op, value.clone());
    let result = action.await;
    let kind = if result.is_ok() {
        Kind::Info
    } else {
        Kind::Fail
    };
    history.record(Process::Nemesis, kind, op, value);
    result
}
