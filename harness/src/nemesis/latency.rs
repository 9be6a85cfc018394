//! The `latency` fault: `delay` added to each direction of the replication connection from the
//! standby `host` to the coordinator `peer`.
//!
//! Two mechanisms, chosen per run by probing the host's kernel:
//! - **netem**, where the kernel has the qdisc: the host's packets to the peer's port are held
//!   2 × delay (a node can delay only what it sends; the round trip grows as through the relay).
//!   It acts on the live connection.
//! - **relay** otherwise: a [`DelayRelay`] of the harness listens on the cluster network's
//!   gateway (the Docker host's address on the bridge, reachable from the nodes) and forwards
//!   to the peer. In the host, an iptables `nat OUTPUT` DNAT sends new connections to the
//!   peer's port to the relay; the peer's `pg_hba.conf` trusts the gateway for replication
//!   (the relay's connections come from there); the walsender is terminated so that the
//!   walreceiver reconnects, and the fault returns once the standby streams through the relay.
//!
//! The heal takes the delay away; with the relay it removes the DNAT rule and the `pg_hba.conf`
//! line, closes the relayed connections and, while the host is still a standby, waits until it
//! streams directly again. When neither mechanism works (Docker on another machine, as with
//! Docker Desktop, leaves the gateway out of the harness's reach) the fault fails and says so.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{gpadmin, root, NemesisError, COMMAND_TIMEOUT, INTERFACE};
use crate::client;
use crate::cluster::{Cluster, DelayRelay};
use crate::scenario::FaultStep;

/// How long the standby may take to stream again after its connection was cut (the
/// walreceiver retries every `wal_retrieve_retry_interval`, 5 s by default).
const STREAM_AGAIN: Duration = Duration::from_secs(90);
/// Pause between two looks at `pg_stat_replication`.
const POLL: Duration = Duration::from_millis(200);
/// The nat chain of the relay's DNAT rule, hooked into OUTPUT.
const NAT_CHAIN: &str = "cbh-latency";
/// Ends the `pg_hba.conf` line the fault adds, so the heal removes exactly that line.
const HBA_MARK: &str = "# cbh-latency: the delaying relay of the harness";
/// A harmless question to the kernel: does it know `netem`?
const NETEM_PROBE: &str = "tc qdisc add dev lo root netem delay 1ms && tc qdisc del dev lo root";

/// Injects the latency of `step`; reports the mechanism used.
pub(super) async fn inject(cluster: &Cluster, step: &FaultStep) -> Result<Value, NemesisError> {
    let host = step.host.as_str();
    let peer = step.peer.as_deref().unwrap_or_default();
    let delay = step.delay.unwrap_or_default();
    let port = cluster.topology().coordinator_port;
    let peer_address = cluster.address(peer).await?;
    let probe = cluster
        .sh(host, "root", NETEM_PROBE, COMMAND_TIMEOUT)
        .await?;
    if probe.success() {
        root(
            cluster,
            host,
            &netem_script(&peer_address, port, delay),
            "latency",
        )
        .await?;
        return Ok(json!({"mechanism": "netem", "held_ms": (2 * delay).as_millis()}));
    }
    let no_netem = probe.stderr.trim().to_string();
    let gateway = cluster.endpoints().gateway().await?;
    let unavailable = |why: String| NemesisError::LatencyUnavailable {
        host: host.to_string(),
        why: format!("the kernel has no netem ({no_netem}), and {why}"),
    };
    let listen = gateway
        .parse::<IpAddr>()
        .map_err(|e| unavailable(format!("the gateway `{gateway}` is no address ({e})")))?;
    let target = SocketAddr::new(
        peer_address
            .parse()
            .map_err(|e| unavailable(format!("`{peer_address}` is no address ({e})")))?,
        port,
    );
    let relay = DelayRelay::start(SocketAddr::new(listen, 0), target, delay)
        .await
        .map_err(|e| {
            unavailable(format!(
                "the harness cannot listen on the cluster network's gateway {gateway} ({e}): \
                 Docker runs on another machine (as Docker Desktop does), so no relay of the \
                 harness can stand between the nodes"
            ))
        })?;
    let relay_address = relay.local_addr();
    // Kept by the cluster from now on, so that its teardown stops the relay whatever follows.
    if let Some(old) = cluster.relays().insert(host, relay) {
        old.stop().await;
    }
    let through = format!("through the relay at {relay_address}");
    gpadmin(cluster, peer, &trust_script(&gateway), "latency").await?;
    root(
        cluster,
        host,
        &dnat_script(&peer_address, port, relay_address),
        "latency",
    )
    .await?;
    // The DNAT rule catches new connections only: the live one is cut so that the walreceiver
    // comes back through the relay, and is waited for until it is as it was (a synchronous
    // standby is synchronous again only once caught up).
    let coordinator = client::connect(cluster, peer, crate::workload::DATABASE).await?;
    let host_address = cluster.address(host).await?;
    let was = sync_state(&coordinator, peer, &host_address).await?;
    client::query_text(
        &coordinator,
        peer,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_replication \
             WHERE client_addr = '{host_address}'"
        ),
    )
    .await?;
    let relayed = || {
        cluster
            .relays()
            .with(host, |r| r.open() > 0)
            .unwrap_or(false)
    };
    wait_streaming(
        cluster,
        &coordinator,
        step,
        &gateway,
        &was,
        &through,
        relayed,
    )
    .await
    .map_err(|e| match e {
        NemesisError::NotStreaming { accepted: 0, .. } => unavailable(format!(
            "{host} never reached the harness's relay at {relay_address}: something between \
                 the nodes and the Docker host blocks it ({e})"
        )),
        e => e,
    })?;
    Ok(json!({
        "mechanism": "relay",
        "relay": relay_address.to_string(),
        "target": target.to_string(),
        "sync_state": was,
        "no_netem": no_netem,
    }))
}

/// Takes the latency of `step` away.
pub(super) async fn heal(cluster: &Cluster, step: &FaultStep) -> Result<Value, NemesisError> {
    let host = step.host.as_str();
    let peer = step.peer.as_deref().unwrap_or_default();
    let Some(relay) = cluster.relays().take(host) else {
        let script = format!("{INTERFACE}\ntc qdisc del dev \"$dev\" root");
        root(cluster, host, &script, "heal").await?;
        return Ok(json!({"mechanism": "netem"}));
    };
    let accepted = relay.accepted();
    let standby = client::connect(cluster, host, crate::workload::DATABASE).await?;
    let in_recovery = client::query_value(&standby, host, "SELECT pg_is_in_recovery()").await?;
    // An activated standby streams from no one: nothing to wait for then.
    let mut watch = None;
    if in_recovery.as_deref() == Some("t") {
        let coordinator = client::connect(cluster, peer, crate::workload::DATABASE).await?;
        let gateway = cluster.endpoints().gateway().await?;
        let was = sync_state(&coordinator, peer, &gateway).await?;
        watch = Some((coordinator, was));
    }
    // New connections go straight to the peer again before the relayed ones are cut.
    root(
        cluster,
        host,
        &format!("iptables -t nat -F {NAT_CHAIN}"),
        "heal",
    )
    .await?;
    relay.stop().await;
    gpadmin(cluster, peer, UNTRUST_SCRIPT, "heal").await?;
    if let Some((coordinator, was)) = watch {
        let host_address = cluster.address(host).await?;
        wait_streaming(
            cluster,
            &coordinator,
            step,
            &host_address,
            &was,
            "directly",
            || true,
        )
        .await?;
    }
    Ok(json!({"mechanism": "relay", "relayed_connections": accepted}))
}

/// The `sync_state` of the coordinator's WAL sender to a standby connected from `from`.
async fn sync_state(
    coordinator: &tokio_postgres::Client,
    peer: &str,
    from: &str,
) -> Result<Option<String>, NemesisError> {
    let sql =
        format!("SELECT sync_state FROM pg_stat_replication WHERE client_addr = '{from}' LIMIT 1");
    Ok(client::query_value(coordinator, peer, &sql).await?)
}

/// Polls the coordinator `peer` until it streams to a standby connected from `from`, in the
/// sync state `was` when there was one (and `also` holds), for at most [`STREAM_AGAIN`].
async fn wait_streaming(
    cluster: &Cluster,
    coordinator: &tokio_postgres::Client,
    step: &FaultStep,
    from: &str,
    was: &Option<String>,
    how: &str,
    also: impl Fn() -> bool,
) -> Result<(), NemesisError> {
    let peer = step.peer.as_deref().unwrap_or_default();
    let sync = was
        .as_deref()
        .map(|s| format!(" AND sync_state = '{s}'"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_replication \
         WHERE client_addr = '{from}' AND state = 'streaming'{sync}"
    );
    let deadline = Instant::now() + STREAM_AGAIN;
    loop {
        let streaming = client::query_value(coordinator, peer, &sql).await?;
        if streaming.is_some_and(|n| n != "0") && also() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(NemesisError::NotStreaming {
                host: step.host.clone(),
                peer: peer.to_string(),
                how: match was {
                    Some(state) => format!("{how}, `{state}` again"),
                    None => how.to_string(),
                },
                timeout: STREAM_AGAIN,
                accepted: cluster
                    .relays()
                    .with(&step.host, DelayRelay::accepted)
                    .unwrap_or(0),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// netem on a fourth band of a `prio` qdisc whose priomap never uses it, so that only the
/// filtered packets (to the peer's port) are held.
fn netem_script(peer: &str, port: u16, delay: Duration) -> String {
    let held = (2 * delay).as_millis();
    format!(
        "{INTERFACE}\n\
         tc qdisc add dev \"$dev\" root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n\
         tc qdisc add dev \"$dev\" parent 1:4 handle 40: netem delay {held}ms\n\
         tc filter add dev \"$dev\" parent 1: protocol ip prio 1 u32 \
         match ip dst {peer}/32 match ip dport {port} 0xffff flowid 1:4"
    )
}

/// The host's new connections to the peer's port sent to the relay.
fn dnat_script(peer: &str, port: u16, relay: SocketAddr) -> String {
    format!(
        "iptables -t nat -N {NAT_CHAIN} 2>/dev/null || true\n\
         iptables -t nat -C OUTPUT -j {NAT_CHAIN} 2>/dev/null || iptables -t nat -I OUTPUT -j {NAT_CHAIN}\n\
         iptables -t nat -A {NAT_CHAIN} -p tcp -d {peer} --dport {port} -j DNAT --to-destination {relay}"
    )
}

/// The peer trusts replication from the gateway, first (the first matching line decides), and
/// reloads.
fn trust_script(gateway: &str) -> String {
    format!(
        "f=\"$COORDINATOR_DATA_DIRECTORY/pg_hba.conf\"\n\
         sed -i '1i host replication all {gateway}/32 trust {HBA_MARK}' \"$f\"\n\
         pg_ctl reload -D \"$COORDINATOR_DATA_DIRECTORY\" >/dev/null"
    )
}

/// The fault's `pg_hba.conf` line removed, where the data directory still is, and a reload
/// where the instance still runs (the peer may have failed since: the scenario's point).
const UNTRUST_SCRIPT: &str = "f=\"$COORDINATOR_DATA_DIRECTORY/pg_hba.conf\"\n\
     if [ -f \"$f\" ]; then sed -i '/# cbh-latency: /d' \"$f\"; fi\n\
     if pg_ctl status -D \"$COORDINATOR_DATA_DIRECTORY\" >/dev/null; then \
     pg_ctl reload -D \"$COORDINATOR_DATA_DIRECTORY\" >/dev/null; fi";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_holds_only_the_packets_to_the_peers_port_twice_the_delay() {
        let script = netem_script("10.0.0.2", 5432, Duration::from_millis(200));
        assert!(
            script.contains("parent 1:4 handle 40: netem delay 400ms"),
            "{script}"
        );
        assert!(script.contains("match ip dst 10.0.0.2/32 match ip dport 5432 0xffff flowid 1:4"));
        // The default priomap (bands 0 to 2) sends nothing else to the fourth band.
        assert!(script.contains("prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1"));
    }

    #[test]
    fn the_dnat_rule_sends_new_connections_to_the_peers_port_to_the_relay() {
        let script = dnat_script("10.0.0.2", 5432, "10.0.0.1:40000".parse().unwrap());
        let last = script.lines().last().unwrap();
        assert_eq!(
            last,
            "iptables -t nat -A cbh-latency -p tcp -d 10.0.0.2 --dport 5432 -j DNAT \
             --to-destination 10.0.0.1:40000"
        );
    }

    #[test]
    fn the_heal_removes_exactly_the_line_the_fault_added() {
        let added = trust_script("10.0.0.1");
        assert!(added.contains(&format!(
            "host replication all 10.0.0.1/32 trust {HBA_MARK}"
        )));
        assert!(HBA_MARK.starts_with("# cbh-latency: "));
        assert!(UNTRUST_SCRIPT.contains("sed -i '/# cbh-latency: /d'"));
    }
}
