//! The Docker engine boundary: one connection, labelled objects, and `exec`.
//!
//! Everything the harness does to Docker goes through [`Engine`]; the library never shells out
//! to the `docker` CLI. Every object it creates carries [`LABEL`] plus the owner labels that let
//! `cbh gc` tell a live run's objects from a killed run's leftovers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;

/// Label carried by every container, network and volume the harness creates; its value is the
/// run id.
pub const LABEL: &str = "cbharness";
/// Label naming the cluster (one run may hold several clusters).
pub const LABEL_CLUSTER: &str = "cbharness.cluster";
/// Label naming the scenario that made the object.
pub const LABEL_SCENARIO: &str = "cbharness.scenario";
/// Label holding `<pid>@<start time in clock ticks>` of the process that owns the object, so a
/// garbage collector can tell a dead owner from a live one even when pids are reused.
pub const LABEL_OWNER: &str = "cbharness.owner";
/// Label holding the cluster's topology as JSON, so that a cluster can be worked on (`cbh exec`,
/// `cbh psql`, `cbh logs`) after the process that made it is gone.
pub const LABEL_TOPOLOGY: &str = "cbharness.topology";
/// Label (value `true`) of the marker volume of a cluster left running on request (`cbh up`,
/// `cbh run --keep`): `cbh gc` without `--all` leaves every object of its run alone.
pub const LABEL_KEPT: &str = "cbharness.kept";
/// Label (value `true`) of an image made to be thrown away (the bench's cold image builds): its
/// maker removes it, and `cbh gc` removes it once its owner is gone.
pub const LABEL_SCRATCH: &str = "cbharness.scratch";

/// Errors at the Docker boundary.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine could not be reached at all.
    #[error(
        "failed to reach the Docker engine ({hint}); start it (e.g. `sudo systemctl start docker`) \
         or point DOCKER_HOST at a running engine"
    )]
    Unreachable {
        /// What was tried.
        hint: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// An API call failed.
    #[error("failed to {what}")]
    Api {
        /// What the harness was doing, in the words of "failed to ...".
        what: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine stopped answering in the middle of a run (it was stopped, restarted, or its
    /// socket went away).
    #[error(
        "lost the Docker engine while trying to {what}; when it is back, `cbh gc` removes \
         whatever this run left behind"
    )]
    Lost {
        /// What the harness was doing, in the words of "trying to ...".
        what: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine's disk is full.
    #[error(
        "failed to {what}: the Docker engine's disk is full; free space (`cbh gc --all`, \
         `docker system prune`) and run again"
    )]
    DiskFull {
        /// What the harness was doing.
        what: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// A port to publish is taken on the host.
    #[error(
        "failed to {what}: a port it publishes on 127.0.0.1 is already in use on this machine; \
         free it, choose another with `--publish-port`, or leave `--publish-port` out so Docker \
         picks free ports"
    )]
    PortClash {
        /// What the harness was doing.
        what: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// An `exec` in a node did not finish within its deadline.
    #[error("failed to finish `{command}` on {container} within {timeout:?}")]
    ExecTimeout {
        /// The container.
        container: String,
        /// The command line.
        command: String,
        /// The deadline.
        timeout: Duration,
    },
}

impl DockerError {
    pub(crate) fn api(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Self {
        let what = what.into();
        move |source| DockerError::classify(what, source)
    }

    /// Sorts a failed API call into what a person must do about it: an engine that went away,
    /// a full disk, or anything else.
    pub fn classify(what: String, source: bollard::errors::Error) -> DockerError {
        use bollard::errors::Error as E;
        match &source {
            E::DockerResponseServerError { message, .. } if is_disk_full(message) => {
                DockerError::DiskFull { what, source }
            }
            E::DockerStreamError { error } if is_disk_full(error) => {
                DockerError::DiskFull { what, source }
            }
            E::DockerResponseServerError { message, .. }
                if message.contains("port is already allocated")
                    || message.contains("address already in use") =>
            {
                DockerError::PortClash { what, source }
            }
            // Transport failures: the engine answered once (connect pings it) and now does not.
            E::HyperLegacyError { .. }
            | E::HyperResponseError { .. }
            | E::IOError { .. }
            | E::SocketNotFoundError(_)
            | E::RequestTimeoutError => DockerError::Lost { what, source },
            _ => DockerError::Api { what, source },
        }
    }

    /// True when the engine went away (see [`DockerError::Lost`]).
    pub fn is_lost(&self) -> bool {
        matches!(self, DockerError::Lost { .. })
    }
}

/// True when an engine message reports ENOSPC.
pub(crate) fn is_disk_full(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("no space left on device")
}

/// The result of a command run in a node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExecOutput {
    /// Exit code (`-1` when Docker did not report one).
    pub exit_code: i64,
    /// Everything written to stdout, lossily decoded.
    pub stdout: String,
    /// Everything written to stderr, lossily decoded.
    pub stderr: String,
    /// Wall time of the command.
    #[serde(serialize_with = "crate::history::ser_duration")]
    pub duration: Duration,
}

impl ExecOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// Which output of a command a chunk comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A container as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// Its id.
    pub id: String,
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// Its state as Docker names it: `running`, `paused`, `exited`, `created`, ...
    pub state: String,
    /// When it was created, in seconds since the Unix epoch.
    pub created: i64,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

/// What to run in a node.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// `argv`; run directly, not through a shell.
    pub argv: Vec<String>,
    /// User to run as (`gpadmin` or `root`).
    pub user: String,
    /// Extra environment, `KEY=value`.
    pub env: Vec<String>,
    /// Deadline; the command is killed inside the node when it passes (via coreutils `timeout`),
    /// so a hung utility never outlives its step.
    pub timeout: Duration,
}

/// A connection to the Docker engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

impl Engine {
    /// Connects with the usual defaults (`DOCKER_HOST`, else the local socket) and checks that
    /// the engine answers.
    pub async fn connect() -> Result<Engine, DockerError> {
        let hint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "/var/run/docker.sock".into());
        let docker =
            Docker::connect_with_defaults().map_err(|source| DockerError::Unreachable {
                hint: hint.clone(),
                source,
            })?;
        docker
            .ping()
            .await
            .map_err(|source| DockerError::Unreachable { hint, source })?;
        Ok(Engine { docker })
    }

    /// The underlying client, for modules that need calls not wrapped here.
    pub fn api(&self) -> &Docker {
        &self.docker
    }

    /// Runs a command in a running container and collects its output.
    pub async fn exec(
        &self,
        container: &str,
        req: &ExecRequest,
    ) -> Result<ExecOutput, DockerError> {
        let started = Instant::now();
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let exit_code = self
            .exec_streaming(container, req, &mut |stream, bytes| match stream {
                OutputStream::Stdout => stdout.extend_from_slice(bytes),
                OutputStream::Stderr => stderr.extend_from_slice(bytes),
            })
            .await?;
        Ok(ExecOutput {
            exit_code,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration: started.elapsed(),
        })
    }

    /// Runs a command in a running container, handing its output to `sink` as it comes, and
    /// returns its exit code (`-1` when Docker did not report one).
    pub async fn exec_streaming(
        &self,
        container: &str,
        req: &ExecRequest,
        sink: &mut (dyn FnMut(OutputStream, &[u8]) + Send),
    ) -> Result<i64, DockerError> {
        // `timeout -k` kills the command inside the node; the outer tokio timeout only guards
        // against the engine itself not answering.
        let secs = req.timeout.as_secs_f64().max(1.0);
        let mut argv = vec![
            "timeout".to_string(),
            "-k".into(),
            "5".into(),
            format!("{secs:.1}"),
        ];
        argv.extend(req.argv.iter().cloned());
        let options = CreateExecOptions {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv),
            env: Some(req.env.clone()),
            user: Some(req.user.clone()),
            ..Default::default()
        };
        let what = || format!("exec `{}` in {container}", req.argv.join(" "));
        let created = self
            .docker
            .create_exec(container, options)
            .await
            .map_err(DockerError::api(what()))?;
        let run = async {
            let started_exec = self
                .docker
                .start_exec(&created.id, None::<StartExecOptions>)
                .await
                .map_err(DockerError::api(what()))?;
            if let StartExecResults::Attached { mut output, .. } = started_exec {
                while let Some(chunk) = output.next().await {
                    match chunk.map_err(DockerError::api(what()))? {
                        bollard::container::LogOutput::StdOut { message } => {
                            sink(OutputStream::Stdout, &message)
                        }
                        bollard::container::LogOutput::StdErr { message } => {
                            sink(OutputStream::Stderr, &message)
                        }
                        _ => {}
                    }
                }
            }
            let inspected = self
                .docker
                .inspect_exec(&created.id)
                .await
                .map_err(DockerError::api(what()))?;
            Ok::<_, DockerError>(inspected.exit_code.unwrap_or(-1))
        };
        match tokio::time::timeout(req.timeout + Duration::from_secs(10), run).await {
            Ok(result) => result,
            Err(_) => Err(DockerError::ExecTimeout {
                container: container.to_string(),
                command: req.argv.join(" "),
                timeout: req.timeout,
            }),
        }
    }

    /// The log of a container (stdout and stderr as they were written), its last `tail` lines
    /// only when given. Works on stopped containers; an unreadable log reads as what was read.
    pub async fn container_log(
        &self,
        container: &str,
        tail: Option<usize>,
        timestamps: bool,
    ) -> Vec<u8> {
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let options = bollard::query_parameters::LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(timestamps)
            .tail(&tail)
            .build();
        let mut stream = self.docker.logs(container, Some(options));
        let mut text = Vec::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.extend_from_slice(&chunk.into_bytes());
        }
        text
    }

    /// A path of a container (file or directory) as a tar archive; `None` when the path does
    /// not exist there (or cannot be read). Works on stopped containers.
    pub async fn download(&self, container: &str, path: &str) -> Option<Vec<u8>> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            tar.extend_from_slice(&chunk.ok()?);
        }
        Some(tar)
    }

    /// Lists containers carrying `label` (optionally `label=value`), running or not, with
    /// their names, states and labels.
    pub async fn container_summaries(
        &self,
        label: &str,
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let filters = HashMap::from([("label", vec![label])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(DockerError::api("list containers"))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                Some(ContainerSummary {
                    id: c.id?,
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    created: c.created.unwrap_or(0),
                    labels: c.labels.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Creates container `name` from `body`.
    pub async fn create_container(
        &self,
        name: &str,
        body: bollard::models::ContainerCreateBody,
    ) -> Result<(), DockerError> {
        let image = body.image.clone().unwrap_or_default();
        let options = bollard::query_parameters::CreateContainerOptionsBuilder::new()
            .name(name)
            .build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(DockerError::api(format!(
                "create container {name} from {image}"
            )))?;
        Ok(())
    }

    /// Creates a volume with `labels` (used as a marker; nothing is stored in it).
    pub async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        self.docker
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(name.to_string()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(DockerError::api(format!("create volume {name}")))?;
        Ok(())
    }

    /// Lists ids of containers carrying `label` (optionally `label=value`), running or not,
    /// with their labels.
    pub async fn containers_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerError> {
        Ok(self
            .container_summaries(label)
            .await?
            .into_iter()
            .map(|c| (c.id, c.labels))
            .collect())
    }

    /// Lists networks carrying `label` with their labels.
    pub async fn networks_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerError> {
        let filters = HashMap::from([("label", vec![label])]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(DockerError::api("list networks"))?;
        Ok(list
            .into_iter()
            .filter_map(|n| Some((n.id?, n.labels.unwrap_or_default())))
            .collect())
    }

    /// Lists volumes carrying `label` with their labels.
    pub async fn volumes_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerError> {
        let filters = HashMap::from([("label", vec![label])]);
        let options = bollard::query_parameters::ListVolumesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(DockerError::api("list volumes"))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.labels))
            .collect())
    }

    /// The id of `image` (a tag or an id): what stays the same when a tag moves.
    pub async fn image_id(&self, image: &str) -> Result<String, DockerError> {
        Ok(self
            .docker
            .inspect_image(image)
            .await
            .map_err(DockerError::api(format!("inspect image {image}")))?
            .id
            .unwrap_or_default())
    }

    /// Lists images carrying `label` with their labels.
    pub async fn images_with_label(
        &self,
        label: &str,
    ) -> Result<Vec<(String, HashMap<String, String>)>, DockerError> {
        let filters = HashMap::from([("label", vec![label])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(DockerError::api("list images"))?;
        Ok(list.into_iter().map(|i| (i.id, i.labels)).collect())
    }

    /// Removes an image by id or tag, with every tag it has; one already gone counts as removed.
    pub async fn remove_image(&self, image: &str) -> Result<(), DockerError> {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(DockerError::classify(
                format!("remove image {image}"),
                source,
            )),
        }
    }

    /// Removes a container and its anonymous volumes, whatever its state; a container that is
    /// already gone counts as removed.
    pub async fn remove_container(&self, id: &str) -> Result<(), DockerError> {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(DockerError::classify(
                format!("remove container {id}"),
                source,
            )),
        }
    }

    /// Removes a network; one that is already gone counts as removed.
    pub async fn remove_network(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(DockerError::classify(
                format!("remove network {id}"),
                source,
            )),
        }
    }

    /// Removes a volume; one that is already gone counts as removed.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        let options = bollard::query_parameters::RemoveVolumeOptionsBuilder::new()
            .force(true)
            .build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(source) => Err(DockerError::classify(
                format!("remove volume {name}"),
                source,
            )),
        }
    }
}

/// True for a 404 from the engine.
pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The owner label value of this process: `<pid>@<start time>`.
pub fn owner_id() -> String {
    let pid = std::process::id();
    format!("{pid}@{}", process_start_ticks(pid).unwrap_or(0))
}

/// True when the process named by an owner label value still runs on this machine.
pub fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = owner.split_once('@') else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    process_start_ticks(pid) == Some(start)
}

/// Start time of a process in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enospc_answer_is_a_full_disk_with_what_to_do() {
        let source = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "write /var/lib/docker/tmp/x: no space left on device".into(),
        };
        let e = DockerError::classify("create container cbh-x-cdw".into(), source);
        assert!(matches!(e, DockerError::DiskFull { .. }));
        assert!(e.to_string().contains("disk is full"), "{e}");
        assert!(e.to_string().contains("cbh gc --all"), "{e}");
    }

    #[test]
    fn a_transport_failure_is_a_lost_engine_and_says_how_to_clean_up() {
        let source = bollard::errors::Error::IOError {
            err: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe"),
        };
        let e = DockerError::classify("kill container cbh-x-cdw".into(), source);
        assert!(e.is_lost());
        assert_eq!(
            e.to_string(),
            "lost the Docker engine while trying to kill container cbh-x-cdw; when it is back, \
             `cbh gc` removes whatever this run left behind"
        );
    }

    #[test]
    fn a_taken_port_is_a_port_clash_with_what_to_do() {
        let source = bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message: "driver failed programming external connectivity on endpoint x: failed to \
                      bind host port 127.0.0.1:15432/tcp: address already in use"
                .into(),
        };
        let e = DockerError::classify("start container x".into(), source);
        assert!(matches!(e, DockerError::PortClash { .. }));
        assert!(e.to_string().contains("--publish-port"), "{e}");
    }

    #[test]
    fn an_engine_refusal_is_an_ordinary_api_error() {
        let source = bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "conflict".into(),
        };
        let e = DockerError::classify("start container x".into(), source);
        assert!(matches!(e, DockerError::Api { .. }));
    }

    #[test]
    fn this_process_is_its_own_live_owner() {
        assert!(owner_alive(&owner_id()));
    }

    #[test]
    fn a_reused_pid_with_another_start_time_is_not_the_owner() {
        let pid = std::process::id();
        assert!(!owner_alive(&format!("{pid}@1")));
        assert!(!owner_alive("not-an-owner"));
    }
}
