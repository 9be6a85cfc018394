//! [`Endpoints`]: where the harness reaches each host's coordinator port, as a small owned
//! value. A client task that outlives a step (the concurrent workload) holds one instead of
//! borrowing the [`super::Cluster`].

use std::collections::BTreeMap;

use super::error::ClusterError;
use crate::docker::{DockerError, Engine};

/// The addresses of a cluster's hosts, read from Docker at each call (a restarted container
/// may get a new address).
#[derive(Clone)]
pub struct Endpoints {
    pub(super) engine: Engine,
    pub(super) network: String,
    /// Host name → container name.
    pub(super) containers: BTreeMap<String, String>,
    /// The coordinator port inside the nodes.
    pub(super) port: u16,
    /// Hosts whose coordinator port is published on 127.0.0.1.
    pub(super) published: Vec<String>,
}

impl Endpoints {
    fn container(&self, host: &str) -> Result<&str, ClusterError> {
        self.containers
            .get(host)
            .map(String::as_str)
            .ok_or_else(|| ClusterError::UnknownHost(host.to_string()))
    }

    /// What Docker says of `host`'s networking now (a restarted container may have moved).
    async fn network_settings(
        &self,
        host: &str,
    ) -> Result<Option<bollard::models::NetworkSettings>, ClusterError> {
        let container = self.container(host)?;
        let info = self
            .engine
            .api()
            .inspect_container(container, None)
            .await
            .map_err(DockerError::api(format!("inspect container {container}")))?;
        Ok(info.network_settings)
    }

    /// The address of `host` on the cluster network.
    pub async fn address(&self, host: &str) -> Result<String, ClusterError> {
        self.network_settings(host)
            .await?
            .and_then(|s| s.networks)
            .and_then(|mut n| n.remove(&self.network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| ClusterError::NoAddress(host.to_string()))
    }

    /// Where the harness reaches `host`'s coordinator port: its published port on 127.0.0.1
    /// when it is published, else its container address.
    pub async fn endpoint(&self, host: &str) -> Result<(String, u16), ClusterError> {
        if !self.published.iter().any(|h| h == host) {
            return Ok((self.address(host).await?, self.port));
        }
        self.network_settings(host)
            .await?
            .and_then(|s| s.ports)
            .and_then(|mut p| p.remove(&format!("{}/tcp", self.port)))
            .flatten()
            .into_iter()
            .flatten()
            .filter(|b| b.host_ip.as_deref() == Some("127.0.0.1"))
            .find_map(|b| b.host_port?.parse().ok())
            .map(|p| ("127.0.0.1".to_string(), p))
            .ok_or_else(|| ClusterError::NoAddress(host.to_string()))
    }

    /// The cluster network's gateway: the Docker host's own address on the network's bridge,
    /// where a node reaches a service the harness runs (when Docker runs on this machine).
    pub async fn gateway(&self) -> Result<String, ClusterError> {
        let network = self
            .engine
            .api()
            .inspect_network(&self.network, None)
            .await
            .map_err(DockerError::api(format!(
                "inspect network {}",
                self.network
            )))?;
        network
            .ipam
            .and_then(|i| i.config)
            .into_iter()
            .flatten()
            .find_map(|c| c.gateway.filter(|g| !g.is_empty()))
            .ok_or_else(|| ClusterError::NoGateway(self.network.clone()))
    }
}
