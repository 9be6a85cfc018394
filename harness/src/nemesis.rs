//! The nemesis: faults injected into hosts, each recorded in the history with its start and
//! end, each knowing how to heal.
//!
//! Host faults act on the container through the Docker API (kill, stop, pause, network
//! disconnect); network faults act inside the node with iptables and tc, which needs NET_ADMIN
//! on that node only (see [`net_admin_hosts`]); instance faults act on the coordinator
//! instance as gpadmin. Added latency (`latency.rs`) uses `netem` where the node's kernel has
//! it, else a delaying relay of the harness on the replication path; the history records which.

mod latency;

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::ClientError;
use crate::cluster::{Cluster, ClusterError};
use crate::history::{History, Kind, Process};
use crate::scenario::{FaultKind, FaultStep, Step};

/// Errors of injecting or healing a fault.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// A command in a node or a Docker call failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A query the fault needs failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Neither `netem` nor the harness's relay can delay traffic on this machine.
    #[error("failed to add latency on {host}: latency is not available on this host: {why}")]
    LatencyUnavailable {
        /// The faulted host.
        host: String,
        /// Why neither mechanism works.
        why: String,
    },
    /// The standby did not stream again (through the relay, or directly after the heal).
    #[error(
        "failed to see {host} stream from {peer} {how} within {timeout:?} (the relay accepted \
         {accepted} connections)"
    )]
    NotStreaming {
        /// The standby.
        host: String,
        /// The coordinator.
        peer: String,
        /// `through the relay at ...` or `directly`.
        how: String,
        /// How long it was given.
        timeout: Duration,
        /// Connections the relay accepted meanwhile.
        accepted: usize,
    },
}

/// Deadline of a fault's command inside a node.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an orderly host stop waits before SIGKILL, as `docker stop` does.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The iptables chain that holds the nemesis' rules, hooked into INPUT and OUTPUT.
const CHAIN: &str = "cbh-nemesis";

/// Hosts that a scenario's network faults touch: only these get NET_ADMIN.
pub fn net_admin_hosts(steps: &[Step]) -> Vec<String> {
    let mut hosts: Vec<String> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Fault(f) if f.fault.needs_net_admin() => Some(f.host.clone()),
            _ => None,
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// True when a scenario cuts a host off the network: the cluster then needs a network whose
/// subnet is explicit, so the host can come back with its own address.
pub fn needs_stable_addresses(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| matches!(s, Step::Fault(f) if f.fault == FaultKind::Disconnect))
}

/// Injects the fault of `step`.
pub async fn inject(
    cluster: &Cluster,
    history: &History,
    step: &FaultStep,
) -> Result<(), NemesisError> {
    let host = step.host.as_str();
    let action = async {
        let done = match step.fault {
            FaultKind::Crash => cluster.kill(host).await,
            FaultKind::Stop => cluster.stop(host, STOP_GRACE).await,
            FaultKind::Freeze => cluster.pause(host).await,
            FaultKind::Disconnect => cluster.disconnect(host).await,
            FaultKind::Partition => {
                let peer = step.peer.as_deref().unwrap_or_default();
                let address = cluster.address(peer).await?;
                let rules = format!(
                    "iptables -A {CHAIN} -s {address} -j DROP\n\
                     iptables -A {CHAIN} -d {address} -j DROP"
                );
                root(cluster, host, &hook_chain(&rules), "partition").await
            }
            FaultKind::PacketLoss => {
                let p = step.probability.unwrap_or(1.0);
                let rule = format!(
                    "iptables -A {CHAIN} -m statistic --mode random --probability {p} -j DROP"
                );
                root(cluster, host, &hook_chain(&rule), "packet loss").await
            }
            FaultKind::SlowLink => {
                let rate = step.rate.as_deref().unwrap_or_default();
                let script = format!(
                    "{INTERFACE}\ntc qdisc replace dev \"$dev\" root tbf rate {rate} burst 32kbit \
                     latency 400ms"
                );
                root(cluster, host, &script, "slow link").await
            }
            FaultKind::PostmasterKill => {
                let script =
                    "kill -9 \"$(head -n1 \"$COORDINATOR_DATA_DIRECTORY/postmaster.pid\")\"";
                gpadmin(cluster, host, script, "postmaster kill").await
            }
            FaultKind::ImmediateStop => {
                let script = "pg_ctl stop -m immediate -D \"$COORDINATOR_DATA_DIRECTORY\"";
                gpadmin(cluster, host, script, "immediate stop").await
            }
            FaultKind::DatadirLoss => {
                // The disk goes first; the postmaster dies with it.
                let script = "pid=$(head -n1 \"$COORDINATOR_DATA_DIRECTORY/postmaster.pid\")\n\
                              rm -rf \"$COORDINATOR_DATA_DIRECTORY\"\nkill -9 \"$pid\"";
                gpadmin(cluster, host, script, "data directory loss").await
            }
            // Latency reports which mechanism it used.
            FaultKind::Latency => return latency::inject(cluster, step).await,
        };
        done.map(|()| Value::Null).map_err(NemesisError::from)
    };
    recorded(history, "fault", step, action).await
}

/// Heals the fault of `step` (validation guarantees the kind has a heal).
pub async fn heal(
    cluster: &Cluster,
    history: &History,
    step: &FaultStep,
) -> Result<(), NemesisError> {
    let host = step.host.as_str();
    let action = async {
        let done = match step.fault {
            // The host boots with its disk as the fault left it; no database process starts.
            FaultKind::Crash | FaultKind::Stop => cluster.start(host).await,
            FaultKind::Freeze => cluster.unpause(host).await,
            FaultKind::Disconnect => cluster.reconnect(host).await,
            FaultKind::Partition | FaultKind::PacketLoss => {
                root(cluster, host, &format!("iptables -F {CHAIN}"), "heal").await
            }
            FaultKind::SlowLink => {
                let script = format!("{INTERFACE}\ntc qdisc del dev \"$dev\" root");
                root(cluster, host, &script, "heal").await
            }
            FaultKind::PostmasterKill | FaultKind::ImmediateStop | FaultKind::DatadirLoss => Ok(()),
            FaultKind::Latency => return latency::heal(cluster, step).await,
        };
        done.map(|()| Value::Null).map_err(NemesisError::from)
    };
    recorded(history, "heal", step, action).await
}

/// Shell lines setting `$dev` to the node's network interface (the one that is not `lo`).
const INTERFACE: &str =
    "dev=$(ip -o link show | awk -F': ' '$2 != \"lo\" {sub(/@.*/, \"\", $2); print $2; exit}')";

/// `rules` preceded by making the nemesis chain and hooking it into INPUT and OUTPUT once.
fn hook_chain(rules: &str) -> String {
    format!(
        "iptables -N {CHAIN} 2>/dev/null || true\n\
         iptables -C INPUT -j {CHAIN} 2>/dev/null || iptables -I INPUT -j {CHAIN}\n\
         iptables -C OUTPUT -j {CHAIN} 2>/dev/null || iptables -I OUTPUT -j {CHAIN}\n\
         {rules}"
    )
}

async fn root(cluster: &Cluster, host: &str, script: &str, what: &str) -> Result<(), ClusterError> {
    let script = format!("set -e\n{script}");
    let out = cluster.sh(host, "root", &script, COMMAND_TIMEOUT).await?;
    ClusterError::unless_success(&out, &format!("inject the {what}"), host, true)
}

async fn gpadmin(
    cluster: &Cluster,
    host: &str,
    script: &str,
    what: &str,
) -> Result<(), ClusterError> {
    let argv = ["bash".to_string(), "-c".into(), format!("set -e\n{script}")];
    let out = cluster.gp_exec(host, &argv, COMMAND_TIMEOUT).await?;
    ClusterError::unless_success(&out, &format!("inject the {what}"), host, true)
}

/// Runs `action` between an invoke and its completion in the history. A fault's effect on the
/// database is not known when the action returns, so success is recorded as `info`, with what
/// the action reports of how it went (an object's fields, e.g. a latency's mechanism).
async fn recorded(
    history: &History,
    op: &str,
    step: &FaultStep,
    action: impl std::future::Future<Output = Result<Value, NemesisError>>,
) -> Result<(), NemesisError> {
    let mut value = json!({"fault": step.fault, "host": step.host});
    if let Some(peer) = &step.peer {
        value["peer"] = json!(peer);
    }
    if let Some(p) = step.probability {
        value["probability"] = json!(p);
    }
    if let Some(rate) = &step.rate {
        value["rate"] = json!(rate);
    }
    if let Some(delay) = step.delay {
        value["delay_ms"] = json!(delay.as_millis());
    }
    history.record(Process::Nemesis, Kind::Invoke, op, value.clone());
    let result = action.await;
    let kind = match &result {
        Ok(Value::Object(details)) => {
            for (k, v) in details {
                value[k] = v.clone();
            }
            Kind::Info
        }
        Ok(_) => Kind::Info,
        Err(e) => {
            value["error"] = json!(e.to_string());
            Kind::Fail
        }
    };
    history.record(Process::Nemesis, kind, op, value);
    result.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn only_hosts_with_network_faults_get_net_admin() {
        let text = "[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw\"\n\
                    [[step]]\naction = \"fault\"\nfault = \"partition\"\nhost = \"scdw\"\npeer = \"cdw\"\n\
                    [[step]]\naction = \"heal\"\nfault = \"partition\"\nhost = \"scdw\"\npeer = \"cdw\"\n\
                    [[step]]\naction = \"fault\"\nfault = \"slow_link\"\nhost = \"sdw1\"\nrate = \"1mbit\"\n";
        let scenario = Scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        assert_eq!(net_admin_hosts(&scenario.steps), ["scdw", "sdw1"]);
        // Latency changes the standby's network only: the peer's side is SQL and pg_hba.conf.
        let text = "[[step]]\naction = \"fault\"\nfault = \"latency\"\nhost = \"scdw\"\n\
                    peer = \"cdw\"\ndelay = \"200ms\"\n";
        let scenario = Scenario::parse(std::path::Path::new("t.toml"), text).unwrap();
        assert_eq!(net_admin_hosts(&scenario.steps), ["scdw"]);
    }

    #[test]
    fn latency_that_cannot_be_had_says_so_plainly() {
        let e = NemesisError::LatencyUnavailable {
            host: "scdw".into(),
            why: "the kernel has no netem (Error: Specified qdisc kind is unknown.), and ..."
                .into(),
        };
        assert!(e.to_string().starts_with(
            "failed to add latency on scdw: latency is not available on this host: \
                          the kernel has no netem"
        ));
    }

    #[test]
    fn the_chain_is_hooked_once_before_the_rules() {
        let script = hook_chain("iptables -A cbh-nemesis -d 10.0.0.2 -j DROP");
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[1].starts_with("iptables -C INPUT -j cbh-nemesis 2>/dev/null ||"));
        assert!(lines[2].starts_with("iptables -C OUTPUT -j cbh-nemesis 2>/dev/null ||"));
        assert_eq!(lines[3], "iptables -A cbh-nemesis -d 10.0.0.2 -j DROP");
    }
}
