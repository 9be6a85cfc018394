//! The scenario file: a TOML description of a topology and the steps to run on it.
//!
//! The schema is documented for people in `scenarios/README.md`; keep the two in step. Every
//! struct rejects unknown fields, and no `flatten`/`untagged` is used: they ruin error messages.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cluster::{Topology, TopologyError};

/// A scenario as written in its file, with the steps' positions for error messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    topology: Topology,
    #[serde(default)]
    step: Vec<toml::Spanned<Step>>,
}

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name (the `name` field, else the file stem); names snapshots and the run.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The cluster it runs on.
    pub topology: Topology,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// 1-based line of each step's `[[step]]` header.
    pub step_lines: Vec<usize>,
    /// The file it came from.
    pub path: PathBuf,
    /// The file's text, kept for the artifact bundle.
    pub source: String,
}

/// One action of a scenario. The `action` field selects the kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Run SQL on a host's coordinator instance (default: the current coordinator).
    Sql(SqlStep),
    /// Write acknowledged rows, one transaction each, recording every outcome in the history.
    Write(WriteStep),
    /// Inject a fault.
    Fault(FaultStep),
    /// Heal a fault.
    Heal(FaultStep),
    /// `gpactivatestandby -d DIR -a` on the standby host.
    ActivateStandby(ActivateStep),
    /// Move a data directory aside (`mv FROM TO` as gpadmin).
    MoveDatadir(MoveStep),
    /// `gpinitstandby -s STANDBY -a` on the current coordinator.
    InitStandby(InitStandbyStep),
    /// `gpstop -m -a` on the current coordinator.
    StopCoordinatorOnly(StopStep),
    /// `gpstate -f` or `-b`, with expectations and a snapshot.
    Gpstate(GpstateStep),
    /// Check an invariant with the checker.
    Check(CheckStep),
}

/// See [`Step::Sql`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlStep {
    /// Host to connect to; default: the current coordinator.
    pub host: Option<String>,
    /// Statement(s) to run.
    pub sql: String,
    /// When set, the first column of the first row, as text, must equal this.
    pub expect: Option<String>,
}

/// See [`Step::Write`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteStep {
    /// Table to write to; created when missing (`id bigint primary key, written_at timestamptz`).
    pub table: String,
    /// How many rows.
    pub rows: u32,
}

/// The kinds of fault this version knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL of the host's container; healed by starting it again (its disk survives, no
    /// database process is started).
    Crash,
}

/// See [`Step::Fault`] and [`Step::Heal`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// The fault.
    pub fault: FaultKind,
    /// The host it hits.
    pub host: String,
}

/// See [`Step::ActivateStandby`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateStep {
    /// The standby host to activate.
    pub host: String,
    /// Data directory (`-d`); default `$COORDINATOR_DATA_DIRECTORY` as the seed writes it,
    /// expanded by the host's shell environment.
    #[serde(default = "coordinator_dir_var")]
    pub datadir: String,
    /// Pass `-f`. Default false.
    #[serde(default)]
    pub force: bool,
    /// How long the utility may run, e.g. `"5m"`; default [`crate::gp::LONG`] (300 s).
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub timeout: Option<Duration>,
}

fn coordinator_dir_var() -> String {
    "$COORDINATOR_DATA_DIRECTORY".into()
}

/// See [`Step::MoveDatadir`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveStep {
    /// Host whose directory moves.
    pub host: String,
    /// Directory to move; default the coordinator data directory (`.../gpseg-1`).
    pub from: Option<String>,
    /// Where to; default `backup_gpseg-1` beside it.
    pub to: Option<String>,
}

/// See [`Step::InitStandby`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitStandbyStep {
    /// Host to run on; default the current coordinator.
    pub host: Option<String>,
    /// The new standby's host (`-s`).
    pub standby: String,
    /// How long the utility may run, e.g. `"5m"`; default [`crate::gp::LONG`] (300 s).
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub timeout: Option<Duration>,
}

/// See [`Step::StopCoordinatorOnly`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopStep {
    /// Host to run on; default the current coordinator.
    pub host: Option<String>,
    /// Shutdown mode (`-M smart|fast|immediate`); default the utility's own (smart).
    pub mode: Option<String>,
    /// How long the utility may run, e.g. `"90s"`; default [`crate::gp::SHORT`] (120 s).
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub timeout: Option<Duration>,
}

/// `gpstate` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpstateMode {
    /// `gpstate -f`: standby details and `pg_stat_replication`.
    Full,
    /// `gpstate -b`: the status summary.
    Brief,
}

/// See [`Step::Gpstate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpstateStep {
    /// Host to run on; default the current coordinator.
    pub host: Option<String>,
    /// `full` (`-f`) or `brief` (`-b`).
    pub mode: GpstateMode,
    /// Snapshot name: the normalized output and the parsed state are compared with
    /// `snapshots/<scenario>__<snapshot>.snap` and `..._parsed.snap`.
    pub snapshot: Option<String>,
    /// Values the parsed output must have.
    #[serde(default)]
    pub expect: GpstateExpect,
}

/// Expected values of a `gpstate` step; every field is optional and compared exactly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpstateExpect {
    /// `-f`: whether a standby is configured.
    pub standby_configured: Option<bool>,
    /// `-f`: `Standby address`.
    pub standby_address: Option<String>,
    /// `-f`: `Standby status`, e.g. `Standby host passive`.
    pub standby_status: Option<String>,
    /// `-f`: `WAL Sender State` of the only replication row, e.g. `streaming`.
    pub wal_sender_state: Option<String>,
    /// `-f`: `Sync state` of the only replication row, e.g. `sync`.
    pub sync_state: Option<String>,
    /// `-b`: `Coordinator instance`, e.g. `Active`.
    pub coordinator_instance: Option<String>,
    /// `-b`: `Coordinator standby`: a host, or `No coordinator standby configured`.
    pub coordinator_standby: Option<String>,
    /// `-b`: `Standby coordinator state`, e.g. `Standby host passive`.
    pub standby_state: Option<String>,
}

/// Invariants a `check` step can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every write acknowledged so far is present on the current coordinator.
    AcknowledgedWritesPresent,
    /// Exactly one coordinator (content -1, role `p`) in `gp_segment_configuration`, on the
    /// host the scenario says is the coordinator.
    OneCoordinator,
}

/// See [`Step::Check`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckStep {
    /// The invariant.
    pub invariant: Invariant,
    /// For `one_coordinator`: snapshot name of the coordinator rows of the catalog (dbids,
    /// roles, hosts), normalized like everything else.
    pub snapshot: Option<String>,
}

impl Step {
    /// A one-line title for progress output and the artifact bundle.
    pub fn title(&self) -> String {
        let on = |h: &Option<String>| h.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
        match self {
            Step::Sql(s) => format!("sql{}: {}", on(&s.host), s.sql.lines().next().unwrap_or("")),
            Step::Write(s) => format!("write {} rows to {}", s.rows, s.table),
            Step::Fault(s) => format!("fault {:?} {}", s.fault, s.host).to_lowercase(),
            Step::Heal(s) => format!("heal {:?} {}", s.fault, s.host).to_lowercase(),
            Step::ActivateStandby(s) => format!("gpactivatestandby -d {} on {}", s.datadir, s.host),
            Step::MoveDatadir(s) => format!("move data directory on {}", s.host),
            Step::InitStandby(s) => format!("gpinitstandby -s {}{}", s.standby, on(&s.host)),
            Step::StopCoordinatorOnly(s) => format!("gpstop -m{}", on(&s.host)),
            Step::Gpstate(s) => format!(
                "gpstate {}{}",
                if s.mode == GpstateMode::Full {
                    "-f"
                } else {
                    "-b"
                },
                on(&s.host)
            ),
            Step::Check(s) => format!("check {:?}", s.invariant),
        }
    }
}

/// Errors loading a scenario; each names the file and, where it can, the line and field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("failed to read scenario {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML or schema error.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, from the TOML parser.
        message: String,
    },
    /// A step that does not fit the topology or the other steps.
    #[error("{path}:{line}: step {step} (`{field}`): {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Line of the step's `[[step]]` header.
        line: usize,
        /// 1-based step number.
        step: usize,
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The topology cannot be built.
    #[error("{path}: [topology]: {source}")]
    Topology {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: TopologyError,
    },
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let source = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(path, &source)
    }

    /// Parses and validates scenario text; `path` is used in messages.
    pub fn parse(path: &Path, source: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(source).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| position(source, s.start))
                .unwrap_or((1, 1));
            ScenarioError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        file.topology
            .validate()
            .map_err(|source| ScenarioError::Topology {
                path: path.to_path_buf(),
                source,
            })?;
        let name = file.name.unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let step_lines = file
            .step
            .iter()
            .map(|s| position(source, s.span().start).0)
            .collect();
        let scenario = Scenario {
            name,
            description: file.description.unwrap_or_default(),
            topology: file.topology,
            steps: file.step.into_iter().map(|s| s.into_inner()).collect(),
            step_lines,
            path: path.to_path_buf(),
            source: source.to_string(),
        };
        scenario.validate()?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let mut snapshots = std::collections::BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let fail = |field: &str, message: String| ScenarioError::Invalid {
                path: self.path.clone(),
                line: self.step_lines[i],
                step: i + 1,
                field: field.into(),
                message,
            };
            let host_ok = |field: &str, host: &str| {
                if self.topology.has_host(host) {
                    Ok(())
                } else {
                    Err(fail(
                        field,
                        format!(
                            "unknown host `{host}`; the topology has {}",
                            self.topology.hosts().join(", ")
                        ),
                    ))
                }
            };
            let opt_host_ok = |host: &Option<String>| match host {
                Some(h) => host_ok("host", h),
                None => Ok(()),
            };
            let snapshot_ok = |snapshots: &mut std::collections::BTreeSet<String>,
                               s: &Option<String>| {
                if let Some(name) = s {
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if !valid {
                        return Err(fail(
                            "snapshot",
                            format!(
                                "snapshot name `{name}` may only hold letters, digits, '-' and '_'"
                            ),
                        ));
                    }
                    if !snapshots.insert(name.clone()) {
                        return Err(fail(
                            "snapshot",
                            format!("snapshot name `{name}` is used twice in this scenario"),
                        ));
                    }
                }
                Ok(())
            };
            match step {
                Step::Sql(s) => opt_host_ok(&s.host)?,
                Step::Write(s) => {
                    if s.rows == 0 {
                        return Err(fail("rows", "rows must be at least 1".into()));
                    }
                    let valid = s
                        .table
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !s.table.is_empty();
                    if !valid {
                        return Err(fail(
                            "table",
                            format!(
                                "table name `{}` may only hold letters, digits and '_'",
                                s.table
                            ),
                        ));
                    }
                }
                Step::Fault(s) | Step::Heal(s) => host_ok("host", &s.host)?,
                Step::ActivateStandby(s) => host_ok("host", &s.host)?,
                Step::MoveDatadir(s) => host_ok("host", &s.host)?,
                Step::InitStandby(s) => {
                    opt_host_ok(&s.host)?;
                    host_ok("standby", &s.standby)?;
                }
                Step::StopCoordinatorOnly(s) => {
                    opt_host_ok(&s.host)?;
                    if let Some(m) = &s.mode {
                        if !["smart", "fast", "immediate"].contains(&m.as_str()) {
                            return Err(fail(
                                "mode",
                                format!("unknown mode `{m}`; expected smart, fast or immediate"),
                            ));
                        }
                    }
                }
                Step::Gpstate(s) => {
                    opt_host_ok(&s.host)?;
                    snapshot_ok(&mut snapshots, &s.snapshot)?;
                    let e = &s.expect;
                    let (wrong, mode) = match s.mode {
                        GpstateMode::Full => (
                            [
                                ("coordinator_instance", e.coordinator_instance.is_some()),
                                ("coordinator_standby", e.coordinator_standby.is_some()),
                                ("standby_state", e.standby_state.is_some()),
                            ]
                            .into_iter()
                            .find(|(_, set)| *set),
                            "full",
                        ),
                        GpstateMode::Brief => (
                            [
                                ("standby_configured", e.standby_configured.is_some()),
                                ("standby_address", e.standby_address.is_some()),
                                ("standby_status", e.standby_status.is_some()),
                                ("wal_sender_state", e.wal_sender_state.is_some()),
                                ("sync_state", e.sync_state.is_some()),
                            ]
                            .into_iter()
                            .find(|(_, set)| *set),
                            "brief",
                        ),
                    };
                    if let Some((field, _)) = wrong {
                        return Err(fail(
                            &format!("expect.{field}"),
                            format!("`{field}` is not shown by gpstate in mode `{mode}`"),
                        ));
                    }
                }
                Step::Check(s) => snapshot_ok(&mut snapshots, &s.snapshot)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/t.toml"), text)
    }

    #[test]
    fn a_minimal_scenario_uses_the_default_topology_and_the_file_stem() {
        let s = parse("[[step]]\naction = \"gpstate\"\nmode = \"full\"\n").unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.topology, Topology::default());
        assert_eq!(s.step_lines, [1]);
    }

    #[test]
    fn an_unknown_action_names_file_line_and_the_valid_actions() {
        let err = parse("name = \"x\"\n\n[[step]]\naction = \"explode\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("scenarios/t.toml:4:10: unknown variant `explode`"),
            "{err}"
        );
        assert!(
            err.contains("explode") && err.contains("activate_standby"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_is_rejected_with_its_line() {
        let err =
            parse("[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw\"\nhots = 1\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("scenarios/t.toml:") && err.contains("hots"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_host_names_the_step_and_the_hosts_that_exist() {
        let err = parse("[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw9\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "scenarios/t.toml:1: step 1 (`host`): unknown host `cdw9`; the topology has cdw, scdw, sdw1, sdw2"
        );
    }

    #[test]
    fn a_duplicate_snapshot_name_is_rejected() {
        let text = "[[step]]\naction = \"gpstate\"\nmode = \"full\"\nsnapshot = \"a\"\n\
                    [[step]]\naction = \"gpstate\"\nmode = \"brief\"\nsnapshot = \"a\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(":5: step 2 (`snapshot`)"), "{err}");
    }

    #[test]
    fn an_expectation_gpstate_cannot_show_in_that_mode_is_rejected() {
        let text = "[[step]]\naction = \"gpstate\"\nmode = \"brief\"\n[step.expect]\nsync_state = \"sync\"\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("`expect.sync_state`"), "{err}");
    }

    #[test]
    fn an_impossible_topology_is_rejected() {
        let err = parse("[topology]\nsegment_hosts = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mirrors need at least two segment hosts"),
            "{err}"
        );
    }
}
