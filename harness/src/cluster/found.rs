//! [`FoundCluster`]: a cluster found by its Docker labels, after the process that made it may
//! be gone. It is what `cbh ls`, `exec`, `psql`, `logs` and `down` work on.
//!
//! Everything is read back from the engine: the run id from the label `cbharness`, the scenario
//! from `cbharness.scenario`, the layout from `cbharness.topology`, the owner from
//! `cbharness.owner`, each host from its container's name `cbh-<run id>-<host>`, and whether the
//! run is kept from its mark (see [`super::keep_run`]). Grouping and rendering are pure
//! functions of those listings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use super::topology::{gp_argv, Topology, GPADMIN};
use crate::docker::{
    owner_alive, ContainerSummary, DockerError, Engine, ExecRequest, OutputStream, LABEL,
    LABEL_OWNER, LABEL_SCENARIO, LABEL_TOPOLOGY,
};

/// The database `cbh psql` connects to (the one every Cloudberry cluster has).
pub const PSQL_DATABASE: &str = "postgres";

/// Errors of finding a cluster, a host in it, or a coordinator that answers.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// A Docker call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// No cluster has this run id.
    #[error("failed to find cluster `{run_id}`: {}", choices(known))]
    UnknownRun {
        /// The run id asked for.
        run_id: String,
        /// `(run id, scenario)` of every cluster that exists.
        known: Vec<(String, String)>,
    },
    /// The cluster has no such host.
    #[error("failed to find host `{host}` in cluster {run_id}: its hosts are {}", hosts.join(", "))]
    UnknownHost {
        /// The cluster.
        run_id: String,
        /// The host asked for.
        host: String,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// The host's container does not run, so nothing can be run in it.
    #[error(
        "failed to run a command on {host} of cluster {run_id}: its container is {state}, not \
         running (`cbh logs {run_id} {host}` still reads its logs)"
    )]
    NotRunning {
        /// The cluster.
        run_id: String,
        /// The host.
        host: String,
        /// The container's state.
        state: HostState,
    },
    /// Neither the coordinator nor the standby host answers SQL.
    #[error(
        "failed to find a coordinator that answers in cluster {run_id} (tried {}); name the host: \
         `cbh psql {run_id} HOST`",
        tried.join(", ")
    )]
    NoCoordinator {
        /// The cluster.
        run_id: String,
        /// The hosts tried, in order.
        tried: Vec<String>,
    },
}

fn choices(known: &[(String, String)]) -> String {
    if known.is_empty() {
        return "no cluster exists (`cbh up` starts one)".into();
    }
    let list: Vec<String> = known
        .iter()
        .map(|(run, scenario)| match scenario.as_str() {
            "" => run.clone(),
            _ => format!("{run} ({scenario})"),
        })
        .collect();
    format!("the clusters that exist are {}", list.join(", "))
}

/// The state of a host's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    /// Running.
    Running,
    /// Frozen (`docker pause`, the nemesis' freeze).
    Paused,
    /// Stopped or crashed (Docker's `exited` and `dead`).
    Exited,
    /// Any other state Docker reports (`created`, `restarting`, `removing`), by its name.
    Other(String),
}

impl HostState {
    /// From Docker's name of a container state.
    pub fn from_docker(state: &str) -> HostState {
        match state {
            "running" => HostState::Running,
            "paused" => HostState::Paused,
            "exited" | "dead" => HostState::Exited,
            other => HostState::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostState::Running => "running",
            HostState::Paused => "paused",
            HostState::Exited => "exited",
            HostState::Other(state) => state,
        })
    }
}

/// One host of a found cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundHost {
    /// Host name (`cdw`, `scdw`, `sdw1`, ...).
    pub host: String,
    /// Container name (`cbh-<run id>-<host>`).
    pub container: String,
    /// Container state.
    pub state: HostState,
}

/// A cluster found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCluster {
    /// The run id (`cbharness` label).
    pub run_id: String,
    /// The scenario that made it (`cbharness.scenario`); empty when unknown.
    pub scenario: String,
    /// Its layout (`cbharness.topology`); the default topology for clusters made before that
    /// label existed.
    pub topology: Topology,
    /// Its hosts, in the topology's order (coordinator, standby, segment hosts).
    pub hosts: Vec<FoundHost>,
    /// The owner label, `<pid>@<start time>`, when there is one.
    pub owner: Option<String>,
    /// True when the owning process still runs on this machine.
    pub owner_alive: bool,
    /// True when the run is marked kept (`cbh up`, `cbh run --keep`).
    pub kept: bool,
    /// Creation of its oldest container, in seconds since the Unix epoch.
    pub created: Option<i64>,
}

impl FoundCluster {
    /// Every cluster on the engine, oldest first.
    pub async fn list(engine: &Engine) -> Result<Vec<FoundCluster>, DockerError> {
        let containers = engine.container_summaries(LABEL).await?;
        let networks = engine.networks_with_label(LABEL).await?;
        let kept = super::gc::kept_runs(engine).await?;
        Ok(group(&containers, &networks, &kept, &owner_alive))
    }

    /// The cluster of `run_id`, or an error listing those that exist.
    pub async fn find(engine: &Engine, run_id: &str) -> Result<FoundCluster, FindError> {
        pick(Self::list(engine).await?, run_id)
    }

    /// The host named `host`, or an error listing the cluster's hosts.
    pub fn host(&self, host: &str) -> Result<&FoundHost, FindError> {
        self.hosts
            .iter()
            .find(|h| h.host == host)
            .ok_or_else(|| FindError::UnknownHost {
                run_id: self.run_id.clone(),
                host: host.to_string(),
                hosts: self.hosts.iter().map(|h| h.host.clone()).collect(),
            })
    }

    /// The host named `host` when its container runs.
    fn running(&self, host: &str) -> Result<&FoundHost, FindError> {
        let found = self.host(host)?;
        if found.state != HostState::Running {
            return Err(FindError::NotRunning {
                run_id: self.run_id.clone(),
                host: host.to_string(),
                state: found.state.clone(),
            });
        }
        Ok(found)
    }

    /// Runs `argv` on `host` as gpadmin with the Cloudberry environment, as the harness runs
    /// every utility ([`super::Cluster::gp_exec`]), handing its output to `sink` as it comes;
    /// returns its exit code. It is killed inside the node after `timeout`.
    pub async fn gp_exec(
        &self,
        engine: &Engine,
        host: &str,
        argv: &[String],
        timeout: Duration,
        sink: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
    ) -> Result<i64, FindError> {
        let node = self.running(host)?;
        let req = ExecRequest {
            argv: gp_argv(argv),
            user: GPADMIN.to_string(),
            env: self.topology.gp_env(),
            timeout,
        };
        Ok(engine.exec_streaming(&node.container, &req, sink).await?)
    }

    /// `psql` on the coordinator port of the host it runs on, in [`PSQL_DATABASE`]: with `-c
    /// SQL` when given, else interactive.
    pub fn psql_argv(&self, sql: Option<&str>) -> Vec<String> {
        let mut argv = vec![
            "psql".to_string(),
            "-p".into(),
            self.topology.coordinator_port.to_string(),
            "-d".into(),
            PSQL_DATABASE.into(),
        ];
        if let Some(sql) = sql {
            argv.extend(["-c".to_string(), sql.to_string()]);
        }
        argv
    }

    /// The host to run SQL on: `host` when given, else the first of the topology's coordinator
    /// and standby whose coordinator instance answers `SELECT 1` (after a failover the standby
    /// host is the coordinator).
    pub async fn sql_host(&self, engine: &Engine, host: Option<&str>) -> Result<String, FindError> {
        if let Some(host) = host {
            return Ok(self.host(host)?.host.clone());
        }
        let tried: Vec<String> = std::iter::once(self.topology.coordinator.clone())
            .chain(self.topology.standby.clone())
            .collect();
        for candidate in &tried {
            let probe = [
                "env".to_string(),
                "PGCONNECT_TIMEOUT=5".into(),
                "psql".into(),
                "-X".into(),
                "-At".into(),
                "-p".into(),
                self.topology.coordinator_port.to_string(),
                "-d".into(),
                PSQL_DATABASE.into(),
                "-c".into(),
                "SELECT 1".into(),
            ];
            let answered = self
                .gp_exec(
                    engine,
                    candidate,
                    &probe,
                    Duration::from_secs(15),
                    &mut |_, _| {},
                )
                .await;
            if matches!(answered, Ok(0)) {
                return Ok(candidate.clone());
            }
        }
        Err(FindError::NoCoordinator {
            run_id: self.run_id.clone(),
            tried,
        })
    }

    /// The `docker exec` line that opens an interactive psql on `host`. `cbh` does not attach
    /// terminals (the library talks to the engine through its API and never hands a terminal
    /// to a node), so a person runs this line instead. `bash -l` loads gpadmin's login
    /// environment, which both node images set (the Cloudberry environment, `PGPORT`).
    pub fn interactive_psql(&self, host: &str) -> Result<String, FindError> {
        let container = &self.host(host)?.container;
        Ok(format!(
            "docker exec -it -u {GPADMIN} {container} bash -lc '{}'",
            self.psql_argv(None).join(" ")
        ))
    }
}

/// The cluster of `run_id` among `clusters`.
fn pick(clusters: Vec<FoundCluster>, run_id: &str) -> Result<FoundCluster, FindError> {
    let known = clusters
        .iter()
        .map(|c| (c.run_id.clone(), c.scenario.clone()))
        .collect();
    clusters
        .into_iter()
        .find(|c| c.run_id == run_id)
        .ok_or_else(|| FindError::UnknownRun {
            run_id: run_id.to_string(),
            known,
        })
}

/// Groups labelled containers and networks into clusters, oldest first. `alive` tells whether
/// an owner label names a running process.
pub fn group(
    containers: &[ContainerSummary],
    networks: &[(String, HashMap<String, String>)],
    kept: &BTreeSet<String>,
    alive: &dyn Fn(&str) -> bool,
) -> Vec<FoundCluster> {
    let mut runs: BTreeMap<String, FoundCluster> = BTreeMap::new();
    for c in containers {
        let Some(run_id) = c.labels.get(LABEL) else {
            continue;
        };
        let prefix = format!("cbh-{run_id}-");
        let host = c.name.strip_prefix(&prefix).unwrap_or(&c.name).to_string();
        let cluster = entry(&mut runs, run_id, &c.labels, kept, alive);
        cluster.created = Some(cluster.created.map_or(c.created, |t| t.min(c.created)));
        cluster.hosts.push(FoundHost {
            host,
            container: c.name.clone(),
            state: HostState::from_docker(&c.state),
        });
    }
    for (_, labels) in networks {
        if let Some(run_id) = labels.get(LABEL) {
            entry(&mut runs, run_id, labels, kept, alive);
        }
    }
    for run_id in kept {
        entry(&mut runs, run_id, &HashMap::new(), kept, alive);
    }
    let mut clusters: Vec<FoundCluster> = runs.into_values().collect();
    for cluster in &mut clusters {
        let order = cluster.topology.hosts();
        let rank = |h: &FoundHost| {
            order
                .iter()
                .position(|o| *o == h.host)
                .unwrap_or(usize::MAX)
        };
        cluster
            .hosts
            .sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.host.cmp(&b.host)));
    }
    clusters.sort_by_key(|c| (c.created.unwrap_or(i64::MAX), c.run_id.clone()));
    clusters
}

/// The cluster of `run_id` in `runs`, made when new, with what `labels` say of it.
fn entry<'a>(
    runs: &'a mut BTreeMap<String, FoundCluster>,
    run_id: &str,
    labels: &HashMap<String, String>,
    kept: &BTreeSet<String>,
    alive: &dyn Fn(&str) -> bool,
) -> &'a mut FoundCluster {
    let cluster = runs
        .entry(run_id.to_string())
        .or_insert_with(|| FoundCluster {
            run_id: run_id.to_string(),
            scenario: String::new(),
            topology: Topology::default(),
            hosts: Vec::new(),
            owner: None,
            owner_alive: false,
            kept: kept.contains(run_id),
            created: None,
        });
    if let Some(scenario) = labels.get(LABEL_SCENARIO) {
        cluster.scenario = scenario.clone();
    }
    if let Some(topology) = labels
        .get(LABEL_TOPOLOGY)
        .and_then(|t| serde_json::from_str(t).ok())
    {
        cluster.topology = topology;
    }
    if let Some(owner) = labels.get(LABEL_OWNER) {
        cluster.owner_alive = alive(owner);
        cluster.owner = Some(owner.clone());
    }
    cluster
}

/// `cbh ls`: one line per cluster, `now` in seconds since the Unix epoch.
pub fn listing(clusters: &[FoundCluster], now: i64) -> String {
    if clusters.is_empty() {
        return "no clusters (`cbh up` starts one)\n".into();
    }
    let header = ["RUN ID", "SCENARIO", "KEPT", "OWNER", "AGE", "HOSTS"].map(String::from);
    let rows: Vec<[String; 6]> = clusters
        .iter()
        .map(|c| {
            let hosts: Vec<String> = c
                .hosts
                .iter()
                .map(|h| format!("{} {}", h.host, h.state))
                .collect();
            [
                c.run_id.clone(),
                if c.scenario.is_empty() {
                    "-".into()
                } else {
                    c.scenario.clone()
                },
                if c.kept { "yes" } else { "no" }.into(),
                match (&c.owner, c.owner_alive) {
                    (None, _) => "-".into(),
                    (Some(_), true) => "alive".into(),
                    (Some(_), false) => "gone".into(),
                },
                c.created.map_or_else(|| "-".into(), |t| age(now - t)),
                if hosts.is_empty() {
                    "(no containers)".into()
                } else {
                    hosts.join(", ")
                },
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// What `cbh up` and `cbh run --keep` print of a kept cluster: each host's container and
/// coordinator address (`nodes`: host, container, address; the coordinator first), then the
/// commands that work on it.
pub fn kept_guide(run_id: &str, nodes: &[(String, String, Option<String>)]) -> String {
    let mut text = format!(
        "cluster  {run_id} kept running (`cbh gc` leaves it alone; `cbh down` removes it)\n"
    );
    let width = nodes.iter().map(|n| n.1.len()).max().unwrap_or(0);
    for (host, container, address) in nodes {
        text.push_str(&format!(
            "  {host:<6} {container:<width$}  postgres at {}\n",
            address.as_deref().unwrap_or("-")
        ));
    }
    let coordinator = nodes.first().map_or("cdw", |n| n.0.as_str());
    let commands = [
        (
            format!("cbh exec {run_id} {coordinator} -- gpstate -b"),
            "a command as gpadmin, with the Cloudberry environment",
        ),
        (
            format!("cbh psql {run_id} -c 'SELECT 1'"),
            "SQL on the coordinator (without -c: the line for an interactive psql)",
        ),
        (
            format!("cbh logs {run_id} {coordinator}"),
            "the container log, PostgreSQL logs and gpAdminLogs of a host",
        ),
        (
            "cbh ls".to_string(),
            "every cluster, its hosts and their states",
        ),
        (format!("cbh down {run_id}"), "remove it"),
    ];
    let width = commands.iter().map(|c| c.0.len()).max().unwrap_or(0);
    for (command, what) in commands {
        text.push_str(&format!("  {command:<width$}  {what}\n"));
    }
    text
}

/// A duration in seconds as a person reads an age: `42s`, `5m`, `3h`, `2d`.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(run: &str, host: &str, state: &str, created: i64) -> ContainerSummary {
        let topology = Topology {
            segment_hosts: 1,
            mirrors: false,
            ..Topology::default()
        };
        ContainerSummary {
            id: format!("id-{run}-{host}"),
            name: format!("cbh-{run}-{host}"),
            state: state.into(),
            created,
            labels: HashMap::from([
                (LABEL.to_string(), run.to_string()),
                (LABEL_SCENARIO.to_string(), "small-passing".to_string()),
                (LABEL_OWNER.to_string(), format!("{run}-owner")),
                (
                    LABEL_TOPOLOGY.to_string(),
                    serde_json::to_string(&topology).unwrap(),
                ),
            ]),
        }
    }

    fn found() -> Vec<FoundCluster> {
        let containers = [
            container("bbbb", "sdw1", "exited", 200),
            container("bbbb", "cdw", "running", 100),
            container("bbbb", "scdw", "paused", 100),
            container("aaaa", "cdw", "running", 300),
        ];
        let network = HashMap::from([(LABEL.to_string(), "cccc".to_string())]);
        let kept = BTreeSet::from(["bbbb".to_string()]);
        group(&containers, &[("n".into(), network)], &kept, &|owner| {
            owner == "aaaa-owner"
        })
    }

    #[test]
    fn containers_group_into_clusters_with_hosts_in_topology_order() {
        let clusters = found();
        let ids: Vec<&str> = clusters.iter().map(|c| c.run_id.as_str()).collect();
        assert_eq!(
            ids,
            ["bbbb", "aaaa", "cccc"],
            "oldest first, no containers last"
        );
        let b = &clusters[0];
        assert_eq!(b.scenario, "small-passing");
        assert_eq!(b.topology.hosts(), ["cdw", "scdw", "sdw1"]);
        assert_eq!(
            b.hosts,
            [
                FoundHost {
                    host: "cdw".into(),
                    container: "cbh-bbbb-cdw".into(),
                    state: HostState::Running
                },
                FoundHost {
                    host: "scdw".into(),
                    container: "cbh-bbbb-scdw".into(),
                    state: HostState::Paused
                },
                FoundHost {
                    host: "sdw1".into(),
                    container: "cbh-bbbb-sdw1".into(),
                    state: HostState::Exited
                },
            ]
        );
        assert_eq!(b.created, Some(100));
        assert!(b.kept && !b.owner_alive);
        assert!(!clusters[1].kept && clusters[1].owner_alive);
        assert_eq!(clusters[2].topology, Topology::default());
    }

    #[test]
    fn the_listing_shows_hosts_states_owner_kept_and_age() {
        assert_eq!(
            listing(&found(), 100 + 3 * 3600),
            "RUN ID  SCENARIO       KEPT  OWNER  AGE  HOSTS\n\
             bbbb    small-passing  yes   gone   3h   cdw running, scdw paused, sdw1 exited\n\
             aaaa    small-passing  no    alive  2h   cdw running\n\
             cccc    -              no    -      -    (no containers)\n"
        );
        assert_eq!(listing(&[], 0), "no clusters (`cbh up` starts one)\n");
    }

    #[test]
    fn the_kept_guide_names_every_host_and_the_commands_with_the_run_id() {
        let nodes = [
            (
                "cdw".to_string(),
                "cbh-5d3c9a10-cdw".to_string(),
                Some("172.18.0.2:5432".to_string()),
            ),
            ("sdw1".to_string(), "cbh-5d3c9a10-sdw1".to_string(), None),
        ];
        assert_eq!(
            kept_guide("5d3c9a10", &nodes),
            "cluster  5d3c9a10 kept running (`cbh gc` leaves it alone; `cbh down` removes it)\n\
             \x20 cdw    cbh-5d3c9a10-cdw   postgres at 172.18.0.2:5432\n\
             \x20 sdw1   cbh-5d3c9a10-sdw1  postgres at -\n\
             \x20 cbh exec 5d3c9a10 cdw -- gpstate -b  a command as gpadmin, with the Cloudberry environment\n\
             \x20 cbh psql 5d3c9a10 -c 'SELECT 1'      SQL on the coordinator (without -c: the line for an interactive psql)\n\
             \x20 cbh logs 5d3c9a10 cdw                the container log, PostgreSQL logs and gpAdminLogs of a host\n\
             \x20 cbh ls                               every cluster, its hosts and their states\n\
             \x20 cbh down 5d3c9a10                    remove it\n"
        );
    }

    #[test]
    fn ages_read_as_a_person_says_them() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(5 * 60 + 3), "5m");
        assert_eq!(age(2 * 86400 + 7), "2d");
        assert_eq!(age(-3), "0s");
    }

    #[test]
    fn an_unknown_run_id_lists_the_clusters_that_exist() {
        let e = pick(found(), "zzzz").unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to find cluster `zzzz`: the clusters that exist are bbbb (small-passing), \
             aaaa (small-passing), cccc"
        );
        let e = pick(Vec::new(), "zzzz").unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to find cluster `zzzz`: no cluster exists (`cbh up` starts one)"
        );
    }

    #[test]
    fn an_unknown_host_lists_the_hosts_and_a_stopped_one_says_so() {
        let b = pick(found(), "bbbb").unwrap();
        assert_eq!(
            b.host("sdw9").unwrap_err().to_string(),
            "failed to find host `sdw9` in cluster bbbb: its hosts are cdw, scdw, sdw1"
        );
        assert_eq!(
            b.running("sdw1").unwrap_err().to_string(),
            "failed to run a command on sdw1 of cluster bbbb: its container is exited, not \
             running (`cbh logs bbbb sdw1` still reads its logs)"
        );
        assert!(b.running("cdw").is_ok());
    }

    #[test]
    fn the_interactive_psql_line_names_the_container_port_and_database() {
        let b = pick(found(), "bbbb").unwrap();
        assert_eq!(
            b.interactive_psql("cdw").unwrap(),
            "docker exec -it -u gpadmin cbh-bbbb-cdw bash -lc 'psql -p 5432 -d postgres'"
        );
        assert_eq!(
            b.psql_argv(Some("SELECT 1")),
            ["psql", "-p", "5432", "-d", "postgres", "-c", "SELECT 1"]
        );
    }
}
