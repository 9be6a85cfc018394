//! [`Cluster`]: a running set of node containers on their own network, and what can be done to
//! them (exec as gpadmin, kill, start, collect logs, tear down).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, MountVolumeOptions,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::KillContainerOptionsBuilder;

use super::endpoints::Endpoints;
use super::error::{ClusterError, CommandRecord};
use super::relay::Relays;
use super::topology::{gp_argv, Topology, GPADMIN};
use crate::docker::{
    DockerError, Engine, ExecOutput, ExecRequest, LABEL, LABEL_CLUSTER, LABEL_OWNER,
    LABEL_SCENARIO, LABEL_TOPOLOGY,
};

/// What a cluster is made from.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Layout.
    pub topology: Topology,
    /// Node image.
    pub image: String,
    /// Unique id of this run (also the `cbharness` label value).
    pub run_id: String,
    /// Scenario name, for labels.
    pub scenario: String,
    /// How long a node may take to become ready. Default [`DEFAULT_READY_TIMEOUT`].
    pub ready_timeout: Duration,
    /// Publish the coordinator candidates' port on the host's loopback (for hosts that cannot
    /// route to container addresses, such as Docker Desktop). Default: nothing published.
    pub publish: Publish,
    /// Hosts that get the NET_ADMIN capability (for the nemesis' network faults). Default none;
    /// no node is ever privileged.
    pub net_admin: Vec<String>,
    /// Give the network an explicit subnet, so a disconnected host can come back with its own
    /// address. Default false: it costs three Docker calls at bring-up.
    pub stable_addresses: bool,
    /// Per-host images instead of `image` (a cluster template's). Default none.
    pub host_images: BTreeMap<String, String>,
    /// Keep the coordinator directory (`gpseg-1`'s parent, where gpinitstandby copies and the
    /// recovery moves data directories) on a volume per node, filled by Docker from the image
    /// and removed with the container, instead of the container's copy-on-write layer. On a
    /// copy-on-write driver such as fuse-overlayfs, renaming a data directory that came from an
    /// image layer copies it whole and every new file is slow; on a volume both are plain
    /// file-system operations. Only that directory: filling a volume copies it, and the
    /// segments' data never moves. Default false: `docker commit` leaves volumes out, so a
    /// cluster that saves a template keeps its data in the layer.
    pub data_volume: bool,
}

/// Whether and where the coordinator port of the coordinator candidates (the coordinator and
/// standby hosts) is published on 127.0.0.1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Publish {
    /// Nothing published; nodes live on an internal network without egress (the default).
    #[default]
    Nothing,
    /// Published on 127.0.0.1: on free ports chosen by Docker (`None`), or on the given port
    /// for the coordinator and the next one for the standby.
    Localhost(Option<u16>),
}

impl ClusterSpec {
    /// A spec with the default readiness deadline and nothing published.
    pub fn new(topology: Topology, image: String, run_id: String, scenario: String) -> Self {
        ClusterSpec {
            topology,
            image,
            run_id,
            scenario,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            publish: Publish::Nothing,
            net_admin: Vec::new(),
            stable_addresses: false,
            host_images: BTreeMap::new(),
            data_volume: false,
        }
    }

    /// Hosts whose coordinator port is published, with the host port asked for (0: any).
    fn published(&self) -> Vec<(String, u16)> {
        let Publish::Localhost(first) = self.publish else {
            return Vec::new();
        };
        let t = &self.topology;
        std::iter::once(t.coordinator.clone())
            .chain(t.standby.clone())
            .enumerate()
            .map(|(i, host)| (host, first.map(|p| p.saturating_add(i as u16)).unwrap_or(0)))
            .collect()
    }
}

/// A running cluster. Tear it down with [`Cluster::teardown`], or leave it running with
/// [`Cluster::keep`]; if it is dropped without either (a panic), `Drop` removes its objects as a
/// last resort.
pub struct Cluster {
    engine: Engine,
    spec: ClusterSpec,
    network: String,
    containers: BTreeMap<String, String>,
    created: Instant,
    log: Arc<Mutex<Vec<CommandRecord>>>,
    /// Addresses of hosts cut off the network, to give back on reconnect.
    detached: Mutex<BTreeMap<String, String>>,
    /// Delaying relays of latency faults, stopped at the latest by the teardown.
    relays: Relays,
    /// Torn down or kept: `Drop` has nothing to do.
    released: bool,
}

/// How long a node may take to start its sshd and watcher, unless the spec says otherwise.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Creates the network and the node containers, starts them in parallel and waits until
    /// every node is ready. On failure everything created so far is removed.
    pub async fn create(engine: &Engine, spec: ClusterSpec) -> Result<Cluster, ClusterError> {
        let network = format!("cbh-{}", spec.run_id);
        let containers = spec
            .topology
            .hosts()
            .into_iter()
            .map(|h| {
                let name = format!("cbh-{}-{h}", spec.run_id);
                (h, name)
            })
            .collect();
        let mut cluster = Cluster {
            engine: engine.clone(),
            spec,
            network,
            containers,
            created: Instant::now(),
            log: Arc::new(Mutex::new(Vec::new())),
            detached: Mutex::new(BTreeMap::new()),
            relays: Relays::default(),
            released: false,
        };
        match cluster.start_nodes().await {
            Ok(()) => Ok(cluster),
            Err(e) => {
                // The bring-up error is the one to report; a teardown error is logged.
                let _ = cluster.teardown().await;
                Err(e)
            }
        }
    }

    /// The coordinator-directory volume of a node, when the spec asks for one: anonymous, so
    /// removing the container removes it, and labelled like the container, so `cbh gc` finds it
    /// if not.
    fn data_mount(&self) -> Option<Vec<Mount>> {
        self.spec.data_volume.then(|| {
            vec![Mount {
                target: Some(self.spec.topology.coordinator_directory.clone()),
                typ: Some(MountType::VOLUME),
                volume_options: Some(MountVolumeOptions {
                    no_copy: Some(false),
                    labels: Some(self.labels()),
                    ..Default::default()
                }),
                ..Default::default()
            }]
        })
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL.to_string(), self.spec.run_id.clone()),
            (LABEL_CLUSTER.to_string(), self.spec.run_id.clone()),
            (LABEL_SCENARIO.to_string(), self.spec.scenario.clone()),
            (LABEL_OWNER.to_string(), crate::docker::owner_id()),
            (
                LABEL_TOPOLOGY.to_string(),
                serde_json::to_string(&self.spec.topology).unwrap_or_default(),
            ),
        ])
    }

    /// Creates the cluster network; with `stable_addresses`, with an explicit subnet, so that a
    /// host cut off by the nemesis can come back with its own address (Docker honours a
    /// requested address only on a network whose subnet was given). The subnet is the one
    /// Docker's pool hands out: a first network is made to learn it, then made again with it;
    /// another engine client may take the subnet in between, so that is retried.
    async fn create_network(&self, internal: bool) -> Result<(), ClusterError> {
        let api = self.engine.api();
        let request = |ipam| NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            internal: Some(internal),
            labels: Some(self.labels()),
            ipam,
            ..Default::default()
        };
        let what = format!("create network {}", self.network);
        let mut attempt = 0;
        loop {
            attempt += 1;
            api.create_network(request(None))
                .await
                .map_err(DockerError::api(what.clone()))?;
            if !self.spec.stable_addresses {
                return Ok(());
            }
            let config = api
                .inspect_network(&self.network, None)
                .await
                .map_err(DockerError::api(format!(
                    "inspect network {}",
                    self.network
                )))?
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default();
            self.engine.remove_network(&self.network).await?;
            let ipam = bollard::models::Ipam {
                config: Some(config),
                ..Default::default()
            };
            match api.create_network(request(Some(ipam))).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 3 => {
                    tracing::info!(error = %e, "the network's subnet was taken meanwhile; again")
                }
                Err(e) => return Err(DockerError::classify(what, e).into()),
            }
        }
    }

    async fn start_nodes(&self) -> Result<(), ClusterError> {
        // Internal: nodes have no route out of the network; on Linux the harness still reaches
        // them by container address. Docker publishes no port of a node on an internal network,
        // so the opt-in publishing needs an ordinary bridge.
        let published = self.spec.published();
        self.create_network(published.is_empty()).await?;
        // Each node is created and started on its own: a slow one does not hold up the others.
        let nodes = self.containers.iter().map(|(host, name)| {
            let body = self.container_body(host, &published);
            async move {
                self.engine.create_container(name, body).await?;
                self.start(host).await
            }
        });
        for result in futures_util::future::join_all(nodes).await {
            result?;
        }
        Ok(())
    }

    /// The container of `host`: its image, name, labels, network alias, and what the spec
    /// grants it (published port, NET_ADMIN).
    fn container_body(&self, host: &str, published: &[(String, u16)]) -> ContainerCreateBody {
        let port_key = format!("{}/tcp", self.spec.topology.coordinator_port);
        let publish = published.iter().find(|(h, _)| h == host).map(|(_, port)| {
            HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(if *port == 0 {
                        String::new()
                    } else {
                        port.to_string()
                    }),
                }]),
            )])
        });
        let image = self.spec.host_images.get(host).unwrap_or(&self.spec.image);
        ContainerCreateBody {
            image: Some(image.clone()),
            hostname: Some(host.to_string()),
            labels: Some(self.labels()),
            exposed_ports: publish.as_ref().map(|_| vec![port_key.clone()]),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                port_bindings: publish,
                cap_add: self
                    .spec
                    .net_admin
                    .iter()
                    .any(|h| h == host)
                    .then(|| vec!["NET_ADMIN".to_string()]),
                // Docker's DNS has no upstream on an internal network, so the name of a
                // stopped node takes 20 s to fail; a real site's DNS answers at once.
                dns_options: Some(vec!["timeout:1".into(), "attempts:1".into()]),
                mounts: self.data_mount(),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![host.to_string()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.spec.topology
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.spec.run_id
    }

    /// The Docker engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The node image.
    pub fn image(&self) -> &str {
        &self.spec.image
    }

    /// The container name of `host`.
    pub fn container(&self, host: &str) -> Result<&str, ClusterError> {
        self.containers
            .get(host)
            .map(String::as_str)
            .ok_or_else(|| ClusterError::UnknownHost(host.to_string()))
    }

    /// Every command run so far.
    pub fn commands(&self) -> Vec<CommandRecord> {
        self.log.lock().expect("command log lock").clone()
    }

    /// Number of commands run so far (a cursor for [`Cluster::commands_since`]).
    pub fn command_count(&self) -> usize {
        self.log.lock().expect("command log lock").len()
    }

    /// Commands run since the cursor.
    pub fn commands_since(&self, cursor: usize) -> Vec<CommandRecord> {
        self.log.lock().expect("command log lock")[cursor..].to_vec()
    }

    /// Runs `argv` on `host` as gpadmin with the Cloudberry environment
    /// (`$GPHOME/cloudberry-env.sh`, else the older `greenplum_path.sh`), recording it.
    pub async fn gp_exec(
        &self,
        host: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.exec_recorded(host, GPADMIN, gp_argv(argv), argv.to_vec(), timeout)
            .await
    }

    /// Runs a shell script on `host` as `user`, recording it.
    pub async fn sh(
        &self,
        host: &str,
        user: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let argv = vec!["bash".to_string(), "-c".into(), script.to_string()];
        self.exec_recorded(host, user, argv.clone(), argv, timeout)
            .await
    }

    async fn exec_recorded(
        &self,
        host: &str,
        user: &str,
        argv: Vec<String>,
        shown: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let started_ms = self.created.elapsed().as_secs_f64() * 1000.0;
        let output = self
            .exec_quiet(host, user, argv, Vec::new(), timeout)
            .await?;
        self.log
            .lock()
            .expect("command log lock")
            .push(CommandRecord {
                host: host.to_string(),
                user: user.to_string(),
                argv: shown,
                started_ms,
                output: output.clone(),
            });
        Ok(output)
    }

    /// Runs a command without recording it (for secrets such as the SSH private key).
    pub(crate) async fn exec_quiet(
        &self,
        host: &str,
        user: &str,
        argv: Vec<String>,
        extra_env: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        let container = self.container(host)?;
        let mut env = self.spec.topology.gp_env();
        env.extend(extra_env);
        let req = ExecRequest {
            argv,
            user: user.to_string(),
            env,
            timeout,
        };
        Ok(self.engine.exec(container, &req).await?)
    }

    /// Where the harness reaches the hosts' coordinator ports, as an owned value for tasks
    /// that outlive a borrow of the cluster.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            engine: self.engine.clone(),
            network: self.network.clone(),
            containers: self.containers.clone(),
            port: self.spec.topology.coordinator_port,
            published: self.spec.published().into_iter().map(|(h, _)| h).collect(),
        }
    }

    /// The delaying relays of latency faults (see [`super::DelayRelay`]).
    pub(crate) fn relays(&self) -> &Relays {
        &self.relays
    }

    /// The address of `host` on the cluster network, read from Docker each time (a restarted
    /// container may get a new one).
    pub async fn address(&self, host: &str) -> Result<String, ClusterError> {
        self.endpoints().address(host).await
    }

    /// Where the harness reaches `host`'s coordinator port: its published port on 127.0.0.1
    /// when the spec publishes it, else its container address.
    pub async fn endpoint(&self, host: &str) -> Result<(String, u16), ClusterError> {
        self.endpoints().endpoint(host).await
    }

    /// Sends SIGKILL to the whole container of `host`: a host crash.
    pub async fn kill(&self, host: &str) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        self.engine
            .api()
            .kill_container(container, Some(options))
            .await
            .map_err(DockerError::api(format!("kill container {container}")))?;
        Ok(())
    }

    /// Stops the container of `host` as an orderly host shutdown would: SIGTERM to its init,
    /// SIGKILL after `grace`.
    pub async fn stop(&self, host: &str, grace: Duration) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        let options = bollard::query_parameters::StopContainerOptionsBuilder::new()
            .t(grace.as_secs() as i32)
            .build();
        self.engine
            .api()
            .stop_container(container, Some(options))
            .await
            .map_err(DockerError::api(format!("stop container {container}")))?;
        Ok(())
    }

    /// Freezes every process of `host` (the cgroup freezer): the host neither answers nor
    /// notices time passing.
    pub async fn pause(&self, host: &str) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        self.engine
            .api()
            .pause_container(container)
            .await
            .map_err(DockerError::api(format!("pause container {container}")))?;
        Ok(())
    }

    /// Thaws a frozen host.
    pub async fn unpause(&self, host: &str) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        self.engine
            .api()
            .unpause_container(container)
            .await
            .map_err(DockerError::api(format!("unpause container {container}")))?;
        Ok(())
    }

    /// Cuts `host` off the cluster network, keeping its address for [`Cluster::reconnect`].
    pub async fn disconnect(&self, host: &str) -> Result<(), ClusterError> {
        let address = self.address(host).await?;
        let container = self.container(host)?;
        self.engine
            .api()
            .disconnect_network(
                &self.network,
                bollard::models::NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(DockerError::api(format!(
                "disconnect {container} from {}",
                self.network
            )))?;
        self.detached
            .lock()
            .expect("detached lock")
            .insert(host.to_string(), address);
        Ok(())
    }

    /// Puts `host` back on the cluster network with the address and name it had.
    pub async fn reconnect(&self, host: &str) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        let address = self
            .detached
            .lock()
            .expect("detached lock")
            .remove(host)
            .ok_or_else(|| ClusterError::NoAddress(host.to_string()))?;
        self.engine
            .api()
            .connect_network(
                &self.network,
                bollard::models::NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(vec![host.to_string()]),
                        ipam_config: Some(bollard::models::EndpointIpamConfig {
                            ipv4_address: Some(address.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                },
            )
            .await
            .map_err(DockerError::api(format!(
                "reconnect {container} to {} as {address}",
                self.network
            )))?;
        Ok(())
    }

    /// Starts the container of `host` (again) and waits until its node is ready. Nothing of
    /// the database is started: after a crash the host comes back with its disk only.
    pub async fn start(&self, host: &str) -> Result<(), ClusterError> {
        let container = self.container(host)?;
        self.engine
            .api()
            .start_container(container, None)
            .await
            .map_err(DockerError::api(format!("start container {container}")))?;
        self.wait_ready(host).await
    }

    async fn wait_ready(&self, host: &str) -> Result<(), ClusterError> {
        let timeout = self.spec.ready_timeout;
        let deadline = Instant::now() + timeout;
        let probe = vec![
            "test".to_string(),
            "-e".into(),
            "/run/cbh-node-ready".into(),
        ];
        loop {
            let out = self
                .exec_quiet(
                    host,
                    "root",
                    probe.clone(),
                    Vec::new(),
                    Duration::from_secs(5),
                )
                .await;
            if matches!(out, Ok(ref o) if o.success()) {
                return Ok(());
            }
            // An engine that went away will not come back within this wait.
            if let Err(ClusterError::Docker(e)) = &out {
                if e.is_lost() {
                    return out.map(|_| ());
                }
            }
            if Instant::now() > deadline {
                return Err(ClusterError::NotReady {
                    host: host.to_string(),
                    image: self.spec.image.clone(),
                    timeout,
                    log_tail: self.log_tail(host, 20).await,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Copies what a person needs to understand a failure into `dir`: each container's log,
    /// and from every host `gpAdminLogs` and the PostgreSQL logs of every data directory the
    /// topology can place there. Works on stopped containers too. Errors are logged, never
    /// returned: collecting logs must not hide the original failure.
    pub async fn collect_logs(&self, dir: &Path) {
        let jobs = self.containers.iter().map(|(host, container)| async move {
            let host_dir = dir.join(host);
            if let Err(e) = std::fs::create_dir_all(&host_dir) {
                tracing::warn!(%host, error = %e, "cannot create the log folder");
                return;
            }
            self.container_log(container, &host_dir.join("container.log"))
                .await;
            let mut paths = vec![format!("/home/{GPADMIN}/gpAdminLogs")];
            for d in self.spec.topology.datadirs_on(host) {
                paths.push(format!("{d}/log"));
            }
            for path in paths {
                self.download(container, &path, &host_dir).await;
            }
        });
        futures_util::future::join_all(jobs).await;
    }

    /// The last `lines` lines of `host`'s container log, indented, for error messages.
    async fn log_tail(&self, host: &str, lines: usize) -> String {
        let Ok(container) = self.container(host) else {
            return String::new();
        };
        let text = self
            .engine
            .container_log(container, Some(lines), false)
            .await;
        let text = String::from_utf8_lossy(&text);
        if text.trim().is_empty() {
            return "  (empty)".into();
        }
        text.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn container_log(&self, container: &str, to: &Path) {
        let _ = std::fs::write(to, self.engine.container_log(container, None, true).await);
    }

    async fn download(&self, container: &str, path: &str, to: &Path) {
        // Most paths exist only on some hosts; a missing one is expected.
        let Some(tar) = self.engine.download(container, path).await else {
            return;
        };
        // Keep the directory's place: /data0/database/coordinator/gpseg-1/log → that path.
        let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
        let target = to.join(parent.strip_prefix("/").unwrap_or(parent));
        if std::fs::create_dir_all(&target).is_ok() {
            if let Err(e) = tar::Archive::new(tar.as_slice()).unpack(&target) {
                tracing::warn!(%container, %path, error = %e, "cannot unpack logs");
            }
        }
    }

    /// Removes every container and the network. Whatever cannot be removed now is left to
    /// `cbh gc`, which finds it by label; the first such error is returned so that the run
    /// can say so.
    pub async fn teardown(&mut self) -> Result<(), DockerError> {
        self.released = true;
        self.relays.stop_all().await;
        let removals = self
            .containers
            .values()
            .map(|c| self.engine.remove_container(c));
        let mut first = None;
        for result in futures_util::future::join_all(removals).await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "teardown: container not removed");
                first.get_or_insert(e);
            }
        }
        if let Err(e) = self.engine.remove_network(&self.network).await {
            tracing::warn!(error = %e, "teardown: network not removed");
            first.get_or_insert(e);
        }
        first.map_or(Ok(()), Err)
    }

    /// Leaves the cluster running after this process ends: marks its run kept (see
    /// [`super::keep_run`]), so that `cbh gc` without `--all` and the next run's automatic
    /// collection leave it alone; `cbh down RUN_ID` removes it. When the mark cannot be made the
    /// cluster is torn down (a cluster no collector would spare must not outlive its owner) and
    /// the error returned.
    pub async fn keep(mut self) -> Result<(), DockerError> {
        // A relay lives in this process, which is about to end.
        self.relays.stop_all().await;
        match super::gc::keep_run(&self.engine, &self.spec.run_id, &self.spec.scenario).await {
            Ok(()) => {
                self.released = true;
                Ok(())
            }
            Err(e) => {
                let _ = self.teardown().await;
                Err(e)
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Last resort (a panic unwound past the runner): remove by label on a fresh runtime in
        // a thread, since this may run inside an async context that cannot block.
        let run_id = self.spec.run_id.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(engine) = Engine::connect().await {
                        let _ = super::gc::remove_run(&engine, &run_id).await;
                    }
                });
            }
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(exit_code: i64) -> ExecOutput {
        ExecOutput {
            exit_code,
            stdout: "-----BEGIN OPENSSH PRIVATE KEY-----\n".into(),
            stderr: "ssh-keygen: failed\n".into(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn a_failed_command_keeps_its_stdout_out_of_the_error_when_asked() {
        let e = ClusterError::unless_success(&output(1), "generate a key", "cdw", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ssh-keygen: failed"), "{e}");
        assert!(!e.contains("PRIVATE KEY"), "{e}");
        let shown = ClusterError::unless_success(&output(1), "read a file", "cdw", true)
            .unwrap_err()
            .to_string();
        assert!(
            shown.contains("PRIVATE KEY") && shown.contains("failed"),
            "{shown}"
        );
        assert!(ClusterError::unless_success(&output(0), "x", "cdw", false).is_ok());
    }
}
