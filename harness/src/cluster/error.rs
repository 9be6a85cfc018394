//! [`ClusterError`], what the cluster's operations fail with, and [`CommandRecord`], one command
//! run in a node as the artifact bundle shows it.

use std::time::Duration;

use serde::Serialize;

use crate::docker::{DockerError, ExecOutput};

/// Errors of cluster operations.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A Docker call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// A host name that is not part of the topology.
    #[error("failed to find host `{0}` in the cluster")]
    UnknownHost(String),
    /// A node did not become ready in time.
    #[error(
        "node {host} did not become ready within {timeout:?}: its entrypoint never created \
         /run/cbh-node-ready (the image must satisfy the node contract: `cbh image check \
         {image}`); the end of its container log:\n{log_tail}"
    )]
    NotReady {
        /// The host.
        host: String,
        /// The node image.
        image: String,
        /// How long the harness waited.
        timeout: Duration,
        /// The last lines of the container's log.
        log_tail: String,
    },
    /// A bring-up command failed.
    #[error("failed to {what} on {host}: exit code {exit_code}\n{output}")]
    Command {
        /// What the command was for.
        what: String,
        /// Where it ran.
        host: String,
        /// Its exit code.
        exit_code: i64,
        /// The end of its stdout and stderr.
        output: String,
    },
    /// The node has no address on the cluster network (it is stopped).
    #[error("failed to find an address for {0} on the cluster network (is it stopped?)")]
    NoAddress(String),
    /// Docker names no gateway for the cluster network.
    #[error("failed to find the gateway of network {0}")]
    NoGateway(String),
}

impl ClusterError {
    /// `Ok` when `out` exited 0, else [`ClusterError::Command`] for `what` on `host` with the
    /// command's stderr, and its stdout too when `show_stdout` (never for output that holds a
    /// secret, such as a generated key).
    pub(crate) fn unless_success(
        out: &ExecOutput,
        what: &str,
        host: &str,
        show_stdout: bool,
    ) -> Result<(), ClusterError> {
        if out.success() {
            return Ok(());
        }
        let output = if show_stdout {
            format!("{}{}", out.stdout, out.stderr)
        } else {
            out.stderr.clone()
        };
        Err(ClusterError::Command {
            what: what.into(),
            host: host.into(),
            exit_code: out.exit_code,
            output,
        })
    }
}

/// One command the harness ran in a node, for the artifact bundle.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    /// Host it ran on.
    pub host: String,
    /// User it ran as.
    pub user: String,
    /// The command.
    pub argv: Vec<String>,
    /// Milliseconds since the cluster was created.
    pub started_ms: f64,
    /// What it returned.
    pub output: ExecOutput,
}
