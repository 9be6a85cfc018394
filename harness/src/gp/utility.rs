//! Typed calls of the Cloudberry management utilities. Each returns a [`GpRun`]: the command,
//! where it ran, its exit code and output; `gpstate` calls also return the parsed state.

use std::time::Duration;

use serde::Serialize;

use super::gpstate::{self, ParseError, StandbyReport, StatusSummary};
use crate::cluster::{Cluster, ClusterError};
use crate::docker::ExecOutput;

/// Deadline of a utility that does real work (init, activate).
pub const LONG: Duration = Duration::from_secs(300);
/// Deadline of a status or stop utility.
pub const SHORT: Duration = Duration::from_secs(120);

/// Errors of utility calls.
#[derive(Debug, thiserror::Error)]
pub enum GpError {
    /// The command could not be run at all.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The command ran and failed.
    #[error("failed to run `{command}` on {host}: exit code {exit_code}\n{tail}")]
    Failed {
        /// The command line.
        command: String,
        /// Where it ran.
        host: String,
        /// Its exit code.
        exit_code: i64,
        /// The last lines of its output.
        tail: String,
    },
    /// The output did not parse.
    #[error("failed to parse the output of `{command}` on {host}")]
    Parse {
        /// The command line.
        command: String,
        /// Where it ran.
        host: String,
        /// The cause.
        #[source]
        source: ParseError,
    },
}

/// One utility run.
#[derive(Debug, Clone, Serialize)]
pub struct GpRun {
    /// Host it ran on.
    pub host: String,
    /// The command.
    pub argv: Vec<String>,
    /// What it returned.
    pub output: ExecOutput,
}

impl GpRun {
    /// The command line as text.
    pub fn command(&self) -> String {
        self.argv.join(" ")
    }

    /// `Ok(self)` when the utility exited 0, else [`GpError::Failed`] with its last lines.
    pub fn ok(self) -> Result<GpRun, GpError> {
        if self.output.success() {
            return Ok(self);
        }
        Err(GpError::Failed {
            command: self.command(),
            host: self.host.clone(),
            exit_code: self.output.exit_code,
            tail: tail(&format!("{}{}", self.output.stdout, self.output.stderr), 20),
        })
    }
}

impl GpRun {
    /// Problems when the utility did not refuse as `expected` (exit non-zero with `expected`
    /// in its output); none when it did.
    pub fn refused(&self, expected: &str) -> Vec<String> {
        let output = format!("{}{}", self.output.stdout, self.output.stderr);
        if self.output.success() {
            return vec![format!(
                "`{}` on {}: expected a refusal with `{expected}`, and it succeeded",
                self.command(),
                self.host
            )];
        }
        if !output.contains(expected) {
            return vec![format!(
                "`{}` on {}: refused (exit code {}), but without `{expected}`:\n{}",
                self.command(),
                self.host,
                self.output.exit_code,
                tail(&output, 20)
            )];
        }
        Vec::new()
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a utility command on `host` with the given deadline.
pub async fn run(
    cluster: &Cluster,
    host: &str,
    argv: &[&str],
    timeout: Duration,
) -> Result<GpRun, GpError> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let output = cluster.gp_exec(host, &argv, timeout).await?;
    Ok(GpRun {
        host: host.to_string(),
        argv,
        output,
    })
}

/// `gpinitsystem -a -c CONFIG -h HOSTFILE`.
pub async fn gpinitsystem(
    cluster: &Cluster,
    host: &str,
    config: &str,
    hostfile: &str,
) -> Result<GpRun, GpError> {
    run(
        cluster,
        host,
        &["gpinitsystem", "-a", "-c", config, "-h", hostfile],
        LONG,
    )
    .await
}

/// `gpinitstandby -s STANDBY -a`, run on the current coordinator `on`, within `deadline`
/// (usually [`LONG`]).
pub async fn gpinitstandby(
    cluster: &Cluster,
    on: &str,
    standby: &str,
    deadline: Duration,
) -> Result<GpRun, GpError> {
    run(
        cluster,
        on,
        &["gpinitstandby", "-s", standby, "-a"],
        deadline,
    )
    .await
}

/// `gpactivatestandby -d DIR -a [-f]`, run on the standby `on`, within `deadline` (usually
/// [`LONG`]).
pub async fn gpactivatestandby(
    cluster: &Cluster,
    on: &str,
    datadir: &str,
    force: bool,
    deadline: Duration,
) -> Result<GpRun, GpError> {
    let mut argv = vec!["gpactivatestandby", "-d", datadir, "-a"];
    if force {
        argv.push("-f");
    }
    run(cluster, on, &argv, deadline).await
}

/// `gpstop -m -a [-M MODE]`: stop only the coordinator on `on`, within `deadline` (usually
/// [`SHORT`]).
pub async fn gpstop_coordinator_only(
    cluster: &Cluster,
    on: &str,
    mode: Option<&str>,
    deadline: Duration,
) -> Result<GpRun, GpError> {
    let mut argv = vec!["gpstop", "-m", "-a"];
    if let Some(mode) = mode {
        argv.extend(["-M", mode]);
    }
    run(cluster, on, &argv, deadline).await
}

/// `gpstart -a` on `on` (its `COORDINATOR_DATA_DIRECTORY`), within `deadline`.
pub async fn gpstart(cluster: &Cluster, on: &str, deadline: Duration) -> Result<GpRun, GpError> {
    run(cluster, on, &["gpstart", "-a"], deadline).await
}

/// `gpstate -f` on `on`, parsed.
pub async fn gpstate_full(cluster: &Cluster, on: &str) -> Result<(GpRun, StandbyReport), GpError> {
    let run = run(cluster, on, &["gpstate", "-f"], SHORT).await?.ok()?;
    let parsed = gpstate::parse_full(&run.output.stdout).map_err(|source| GpError::Parse {
        command: run.command(),
        host: on.to_string(),
        source,
    })?;
    Ok((run, parsed))
}

/// `gpstate -b` on `on`, parsed.
pub async fn gpstate_brief(cluster: &Cluster, on: &str) -> Result<(GpRun, StatusSummary), GpError> {
    let run = run(cluster, on, &["gpstate", "-b"], SHORT).await?.ok()?;
    let parsed = gpstate::parse_brief(&run.output.stdout).map_err(|source| GpError::Parse {
        command: run.command(),
        host: on.to_string(),
        source,
    })?;
    Ok((run, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(exit_code: i64, stdout: &str) -> GpRun {
        GpRun {
            host: "scdw".into(),
            argv: vec!["gpactivatestandby".into(), "-a".into()],
            output: ExecOutput {
                exit_code,
                stdout: stdout.into(),
                stderr: String::new(),
                duration: Duration::ZERO,
            },
        }
    }

    #[test]
    fn a_refusal_with_the_expected_message_is_no_problem() {
        let run = run_with(2, "[CRITICAL]:-Error activating standby coordinator: Active postgres process on coordinator\n");
        assert!(run.refused("Active postgres process").is_empty());
    }

    #[test]
    fn a_success_where_a_refusal_was_expected_is_a_problem() {
        let problems = run_with(0, "done\n").refused("Active postgres process");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("it succeeded"), "{problems:?}");
    }

    #[test]
    fn a_refusal_for_another_reason_is_a_problem_that_shows_the_output() {
        let problems =
            run_with(2, "[CRITICAL]:-standby.signal missing\n").refused("Active postgres process");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("standby.signal missing"),
            "{problems:?}"
        );
    }
}
