//! Checks a parsed scenario against its topology and against itself, before anything starts.
//!
//! The steps are walked in order while tracking what the run will see, which is certain because
//! a run stops at the first step that errors: the current coordinator (an `activate_standby`
//! makes its host the coordinator), whether a standby is configured (the topology's, then none
//! after an activation, then the one an `init_standby` makes), and the snapshot names taken so
//! far. Each problem names the step and field and points at the field's value.

use std::collections::{BTreeMap, BTreeSet};

use super::error::ScenarioError;
use super::load::Document;
use super::model::{
    CheckStep, FaultKind, FaultStep, GpstateMode, GpstateStep, Invariant, Scenario, Step,
};
use super::suggest;

/// What is wrong with a step: the field (dotted below the step) and the message.
struct Problem {
    field: String,
    message: String,
}

/// The most clients a workload may have (each writes ids of its own block of a million).
const MAX_CLIENTS: u32 = 100;

/// A table name the workload can write to unquoted.
fn table_name(table: &str) -> Result<(), Problem> {
    let valid = !table.is_empty() && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        return Ok(());
    }
    Err(problem(
        "table",
        format!("invalid table name `{table}`, expected letters, digits and '_'"),
    ))
}

/// The longest `latency` delay: every synchronous commit waits twice the delay, and longer
/// would be an outage rather than a slow link.
const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(10);

/// A tc rate: digits and one of tc's bit units.
fn valid_rate(rate: &str) -> bool {
    let digits = rate.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && ["bit", "kbit", "mbit", "gbit"].contains(&&rate[digits..])
}

fn problem(field: &str, message: String) -> Problem {
    Problem {
        field: field.to_string(),
        message,
    }
}

/// Who took a snapshot name.
struct Taker {
    step: usize,
    line: usize,
    /// The gpstate snapshot whose parsed state takes this name (`<that>_parsed`).
    parsed_of: Option<String>,
}

/// What the run will see when it reaches a step.
struct Walk<'a> {
    scenario: &'a Scenario,
    coordinator: String,
    standby: Option<String>,
    /// The step that activated the last standby, when that is why none is configured.
    activated_by: Option<usize>,
    snapshots: BTreeMap<String, Taker>,
    /// The step that started the running workload, if one runs.
    workload: Option<usize>,
    /// Hosts that were the coordinator at some earlier step (the topology's, activated ones).
    former_coordinators: BTreeSet<String>,
}

/// Checks every step; the first problem is the error.
pub(super) fn validate(scenario: &Scenario, doc: &Document<'_>) -> Result<(), ScenarioError> {
    let mut walk = Walk {
        scenario,
        coordinator: scenario.topology.coordinator.clone(),
        standby: scenario.topology.standby.clone(),
        activated_by: None,
        snapshots: BTreeMap::new(),
        workload: None,
        former_coordinators: BTreeSet::from([scenario.topology.coordinator.clone()]),
    };
    for (i, step) in scenario.steps.iter().enumerate() {
        walk.step(i + 1, step).map_err(|p| {
            let fields = &doc.steps[i];
            let offset = fields
                .value(&p.field)
                .unwrap_or_else(|| fields.header.clone())
                .start;
            let (line, column) = doc.position(offset);
            ScenarioError::Invalid {
                path: scenario.path.clone(),
                line,
                column,
                step: i + 1,
                field: p.field,
                message: p.message,
            }
        })?;
    }
    Ok(())
}

impl Walk<'_> {
    fn step(&mut self, n: usize, step: &Step) -> Result<(), Problem> {
        match step {
            Step::Sql(s) => self.opt_host(&s.host),
            Step::Write(s) => {
                if s.rows == 0 {
                    return Err(problem(
                        "rows",
                        "invalid value 0, expected at least 1 row".into(),
                    ));
                }
                table_name(&s.table)
            }
            Step::WorkloadStart(s) => {
                if let Some(started) = self.workload {
                    return Err(problem(
                        "action",
                        format!(
                            "a workload is already running (started by step {started}), expected \
                             a `workload_stop` step first: one workload at a time"
                        ),
                    ));
                }
                if !(1..=MAX_CLIENTS).contains(&s.clients) {
                    return Err(problem(
                        "clients",
                        format!(
                            "invalid value {}, expected 1 to {MAX_CLIENTS} clients",
                            s.clients
                        ),
                    ));
                }
                table_name(&s.table)?;
                self.workload = Some(n);
                Ok(())
            }
            Step::WorkloadStop(_) => {
                if self.workload.take().is_none() {
                    return Err(problem(
                        "action",
                        "no workload to stop, expected a `workload_start` step before this one"
                            .into(),
                    ));
                }
                Ok(())
            }
            Step::Fault(s) => {
                self.fault(s)?;
                if s.fault == FaultKind::Latency {
                    self.replication_path(s)?;
                }
                Ok(())
            }
            Step::Heal(s) => {
                if !s.fault.has_heal() {
                    return Err(problem(
                        "fault",
                        format!(
                            "`{}` has no heal: the host itself is sound, and the recovery steps \
                             deal with the instance; expected {}",
                            s.fault.name(),
                            suggest::one_of(
                                &FaultKind::ALL
                                    .iter()
                                    .filter(|k| k.has_heal())
                                    .map(|k| k.name())
                                    .collect::<Vec<_>>()
                            )
                        ),
                    ));
                }
                self.fault(s)
            }
            // A step that must be refused leaves the cluster as it was; any host may be asked.
            Step::ActivateStandby(s) if s.expect_refusal.is_some() => self.host("host", &s.host),
            Step::InitStandby(s) if s.expect_refusal.is_some() => {
                self.opt_host(&s.host)?;
                self.host("standby", &s.standby)
            }
            Step::ActivateStandby(s) => {
                self.host("host", &s.host)?;
                match &self.standby {
                    None => {
                        return Err(problem(
                            "host",
                            format!("no standby to activate: {}", self.why_no_standby()),
                        ))
                    }
                    Some(standby) if *standby != s.host => {
                        return Err(problem(
                            "host",
                            format!(
                                "`{}` is not the standby, expected the standby at this step, \
                                 `{standby}`",
                                s.host
                            ),
                        ))
                    }
                    Some(_) => {}
                }
                self.coordinator = s.host.clone();
                self.former_coordinators.insert(s.host.clone());
                self.standby = None;
                self.activated_by = Some(n);
                Ok(())
            }
            Step::MoveDatadir(s) => self.host("host", &s.host),
            Step::RemoveStaleFiles(s) => self.host("host", &s.host),
            Step::InitStandby(s) => {
                self.opt_host(&s.host)?;
                self.host("standby", &s.standby)?;
                if s.standby == self.coordinator {
                    return Err(problem(
                        "standby",
                        format!(
                            "`{}` is the coordinator at this step, expected another host: the \
                             standby needs a host of its own",
                            s.standby
                        ),
                    ));
                }
                if let Some(standby) = &self.standby {
                    return Err(problem(
                        "standby",
                        format!(
                            "a standby is already configured at this step (`{standby}`), and \
                             gpinitstandby refuses a second one; activate it first"
                        ),
                    ));
                }
                self.standby = Some(s.standby.clone());
                Ok(())
            }
            Step::StopCoordinatorOnly(s) => {
                self.opt_host(&s.host)?;
                match s.mode.as_deref() {
                    Some(mode) if !["smart", "fast", "immediate"].contains(&mode) => Err(problem(
                        "mode",
                        format!(
                            "unknown mode `{mode}`, expected one of `smart`, `fast`, `immediate`{}",
                            suggest::did_you_mean(mode, ["smart", "fast", "immediate"])
                        ),
                    )),
                    _ => Ok(()),
                }
            }
            Step::Gpstate(s) => {
                self.opt_host(&s.host)?;
                self.gpstate_expectations(s)?;
                if let Some(name) = &s.snapshot {
                    self.snapshot(n, name, None)?;
                    self.snapshot(n, &format!("{name}_parsed"), Some(name))?;
                }
                Ok(())
            }
            Step::Check(s) => self.check(n, s),
        }
    }

    /// Why no standby is configured at this step, for messages.
    fn why_no_standby(&self) -> String {
        match self.activated_by {
            Some(step) => format!(
                "step {step} activated the standby, and no `init_standby` step since made a new one"
            ),
            None => "the topology has `standby = false`, and no earlier `init_standby` step \
                     makes one"
                .into(),
        }
    }

    fn host(&self, field: &str, host: &str) -> Result<(), Problem> {
        if self.scenario.topology.has_host(host) {
            return Ok(());
        }
        let hosts = self.scenario.topology.hosts();
        Err(problem(
            field,
            format!(
                "unknown host `{host}`, expected {}{}",
                suggest::one_of(&hosts),
                suggest::did_you_mean(host, hosts.iter().map(String::as_str))
            ),
        ))
    }

    /// A fault's host and the fields its kind needs, and none that it does not take.
    fn fault(&self, s: &FaultStep) -> Result<(), Problem> {
        self.host("host", &s.host)?;
        let kind = s.fault.name();
        let needs = |field: &str, what: &str| {
            problem(
                field,
                format!("missing field `{field}`: fault `{kind}` needs {what}"),
            )
        };
        let stray = |field: &str| problem(field, format!("fault `{kind}` takes no `{field}`"));
        match (s.fault, &s.peer) {
            (FaultKind::Partition, None) => {
                return Err(needs("peer", "the host on the other side"))
            }
            (FaultKind::Latency, None) => {
                return Err(needs("peer", "the coordinator the standby replicates from"))
            }
            (FaultKind::Partition | FaultKind::Latency, Some(peer)) => {
                self.host("peer", peer)?;
                if *peer == s.host {
                    return Err(problem(
                        "peer",
                        format!("`{peer}` is the faulted host itself, expected another host"),
                    ));
                }
            }
            (_, Some(_)) => return Err(stray("peer")),
            (_, None) => {}
        }
        match (s.fault, s.probability) {
            (FaultKind::PacketLoss, None) => {
                return Err(needs("probability", "the chance of a drop, e.g. 0.3"))
            }
            (FaultKind::PacketLoss, Some(p)) if !(p > 0.0 && p <= 1.0) => {
                return Err(problem(
                    "probability",
                    format!("invalid probability {p}, expected above 0 and at most 1"),
                ))
            }
            (FaultKind::PacketLoss, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(stray("probability")),
        }
        match (s.fault, &s.rate) {
            (FaultKind::SlowLink, None) => return Err(needs("rate", "a rate, e.g. \"1mbit\"")),
            (FaultKind::SlowLink, Some(rate)) if !valid_rate(rate) => {
                return Err(problem(
                    "rate",
                    format!(
                        "invalid rate `{rate}`, expected a number and a tc unit: `bit`, `kbit`, \
                         `mbit`, `gbit`, e.g. \"1mbit\""
                    ),
                ))
            }
            (FaultKind::SlowLink, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(stray("rate")),
        }
        match (s.fault, s.delay) {
            (FaultKind::Latency, None) => return Err(needs("delay", "a delay, e.g. \"200ms\"")),
            (FaultKind::Latency, Some(delay)) if delay > MAX_DELAY => {
                return Err(problem(
                    "delay",
                    format!(
                        "invalid delay of {}ms, expected at most {}s: every synchronous commit \
                         waits twice the delay",
                        delay.as_millis(),
                        MAX_DELAY.as_secs()
                    ),
                ))
            }
            (FaultKind::Latency, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(stray("delay")),
        }
        Ok(())
    }

    /// A `latency` fault delays the replication connection, which the harness makes reconnect
    /// through the delay and then watches: `host` must be the standby and `peer` the
    /// coordinator at this step.
    fn replication_path(&self, s: &FaultStep) -> Result<(), Problem> {
        let why = "latency delays the replication connection from the standby to the coordinator";
        match &self.standby {
            None => {
                return Err(problem(
                    "host",
                    format!("no standby at this step ({why}): {}", self.why_no_standby()),
                ))
            }
            Some(standby) if *standby != s.host => {
                return Err(problem(
                    "host",
                    format!(
                        "`{}` is not the standby at this step, expected `{standby}`: {why}",
                        s.host
                    ),
                ))
            }
            Some(_) => {}
        }
        match s.peer.as_deref() {
            Some(peer) if peer != self.coordinator => Err(problem(
                "peer",
                format!(
                    "`{peer}` is not the coordinator at this step, expected `{}`: {why}",
                    self.coordinator
                ),
            )),
            _ => Ok(()),
        }
    }

    fn opt_host(&self, host: &Option<String>) -> Result<(), Problem> {
        host.as_deref().map_or(Ok(()), |h| self.host("host", h))
    }

    /// Expectations gpstate shows in the step's mode, and only those that can hold: none that
    /// needs a standby when none is configured.
    fn gpstate_expectations(&self, s: &GpstateStep) -> Result<(), Problem> {
        let e = &s.expect;
        let no_standby = "No coordinator standby configured";
        // (field, set, needs a standby)
        let (shown, not_shown, mode) = match s.mode {
            GpstateMode::Full => (
                vec![
                    (
                        "standby_configured",
                        e.standby_configured.is_some(),
                        e.standby_configured == Some(true),
                    ),
                    ("standby_address", e.standby_address.is_some(), true),
                    ("standby_status", e.standby_status.is_some(), true),
                    ("wal_sender_state", e.wal_sender_state.is_some(), true),
                    ("sync_state", e.sync_state.is_some(), true),
                ],
                [
                    ("coordinator_instance", e.coordinator_instance.is_some()),
                    ("coordinator_standby", e.coordinator_standby.is_some()),
                    ("standby_state", e.standby_state.is_some()),
                ]
                .to_vec(),
                "full",
            ),
            GpstateMode::Brief => (
                vec![
                    (
                        "coordinator_instance",
                        e.coordinator_instance.is_some(),
                        false,
                    ),
                    (
                        "coordinator_standby",
                        e.coordinator_standby.is_some(),
                        e.coordinator_standby
                            .as_deref()
                            .is_some_and(|v| v != no_standby),
                    ),
                    ("standby_state", e.standby_state.is_some(), true),
                ],
                [
                    ("standby_configured", e.standby_configured.is_some()),
                    ("standby_address", e.standby_address.is_some()),
                    ("standby_status", e.standby_status.is_some()),
                    ("wal_sender_state", e.wal_sender_state.is_some()),
                    ("sync_state", e.sync_state.is_some()),
                ]
                .to_vec(),
                "brief",
            ),
        };
        if let Some((field, _)) = not_shown.iter().find(|(_, set)| *set) {
            let valid: Vec<&str> = shown.iter().map(|(f, ..)| *f).collect();
            return Err(problem(
                &format!("expect.{field}"),
                format!(
                    "`{field}` is not shown by gpstate in mode `{mode}`, expected {}",
                    suggest::one_of(&valid)
                ),
            ));
        }
        if self.standby.is_none() {
            if let Some((field, ..)) = shown.iter().find(|(_, set, needs)| *set && *needs) {
                return Err(problem(
                    &format!("expect.{field}"),
                    format!(
                        "`{field}` expects a standby, and none is configured at this step: {}",
                        self.why_no_standby()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check(&mut self, n: usize, s: &CheckStep) -> Result<(), Problem> {
        let invariant = s.invariant.name();
        match (s.invariant, &s.host) {
            (Invariant::OldCoordinatorRefuses, None) => {
                return Err(problem(
                    "host",
                    format!("missing field `host`: invariant `{invariant}` needs the failed coordinator's host"),
                ))
            }
            (Invariant::OldCoordinatorRefuses, Some(host)) => self.old_coordinator(host)?,
            (_, Some(_)) => {
                return Err(problem(
                    "host",
                    format!("invariant `{invariant}` takes no `host`: it reads the current coordinator"),
                ))
            }
            (_, None) => {}
        }
        if s.expect_lost.is_some() && s.invariant != Invariant::AcknowledgedWritesPresent {
            return Err(problem(
                "expect_lost",
                format!(
                    "invariant `{invariant}` counts no rows, expected `expect_lost` only with \
                     `acknowledged_writes_present`"
                ),
            ));
        }
        let Some(name) = &s.snapshot else {
            return Ok(());
        };
        if s.invariant != Invariant::OneCoordinator {
            return Err(problem(
                "snapshot",
                format!(
                    "invariant `{invariant}` has nothing to snapshot, expected `snapshot` only \
                     with `one_coordinator`"
                ),
            ));
        }
        self.snapshot(n, name, None)
    }

    /// `old_coordinator_refuses` starts the old coordinator's data directory with gpstart on
    /// `host`: that proves something only on a host that was a coordinator, is no longer one,
    /// and runs no standby (whose instance holds the port, so any start would fail for that
    /// alone).
    fn old_coordinator(&self, host: &str) -> Result<(), Problem> {
        self.host("host", host)?;
        if *host == self.coordinator {
            return Err(problem(
                "host",
                format!(
                    "`{host}` is the coordinator at this step, expected a former coordinator \
                     whose standby was activated"
                ),
            ));
        }
        if !self.former_coordinators.contains(host) {
            return Err(problem(
                "host",
                format!(
                    "`{host}` was never the coordinator, expected a former coordinator: {}",
                    suggest::one_of(
                        &self
                            .former_coordinators
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    )
                ),
            ));
        }
        if self.standby.as_deref() == Some(host) {
            return Err(problem(
                "host",
                format!(
                    "`{host}` runs the standby at this step, whose instance holds the \
                     coordinator port: expected the check before `init_standby` makes it one"
                ),
            ));
        }
        Ok(())
    }

    /// Takes snapshot `name` for step `n`; `parsed_of` when it holds the parsed state of the
    /// gpstate snapshot of that name.
    fn snapshot(&mut self, n: usize, name: &str, parsed_of: Option<&str>) -> Result<(), Problem> {
        if name.is_empty() {
            return Err(problem(
                "snapshot",
                "missing snapshot name, expected letters, digits, '-' and '_'; to compare \
                 nothing, leave `snapshot` out"
                    .into(),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(problem(
                "snapshot",
                format!("invalid snapshot name `{name}`, expected letters, digits, '-' and '_'"),
            ));
        }
        if let Some(taker) = self.snapshots.get(name) {
            let mut by = format!("step {} (line {})", taker.step, taker.line);
            if let Some(of) = &taker.parsed_of {
                by.push_str(&format!(" for the parsed state of its snapshot `{of}`"));
            }
            let message = match parsed_of {
                Some(of) => format!(
                    "snapshot `{of}` saves its parsed state as `{name}`, which is already used \
                     by {by}, expected a name unique within the scenario"
                ),
                None => format!(
                    "snapshot name `{name}` is already used by {by}, expected a name unique \
                     within the scenario"
                ),
            };
            return Err(problem("snapshot", message));
        }
        self.snapshots.insert(
            name.to_string(),
            Taker {
                step: n,
                line: self.scenario.step_lines[n - 1],
                parsed_of: parsed_of.map(str::to_string),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn error(text: &str) -> String {
        Scenario::parse(Path::new("t.toml"), text)
            .unwrap_err()
            .to_string()
    }

    fn valid(text: &str) {
        Scenario::parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    }

    const CRASH_AND_ACTIVATE: &str =
        "[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw\"\n\
         [[step]]\naction = \"activate_standby\"\nhost = \"scdw\"\n";

    #[test]
    fn an_unknown_host_points_at_it_and_suggests_the_nearest_host() {
        assert_eq!(
            error("[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"sdw3\"\n"),
            "t.toml:4:8: step 1 (`host`): unknown host `sdw3`, expected one of `cdw`, `scdw`, \
             `sdw1`, `sdw2`; did you mean `sdw1`?"
        );
    }

    #[test]
    fn the_seed_procedure_of_activate_then_reinitialize_is_valid() {
        valid(&format!(
            "{CRASH_AND_ACTIVATE}[[step]]\naction = \"init_standby\"\nstandby = \"cdw\"\n\
             [[step]]\naction = \"activate_standby\"\nhost = \"cdw\"\n\
             [[step]]\naction = \"init_standby\"\nstandby = \"scdw\"\n"
        ));
    }

    #[test]
    fn activating_twice_without_a_new_standby_is_rejected() {
        let err = error(&format!(
            "{CRASH_AND_ACTIVATE}[[step]]\naction = \"activate_standby\"\nhost = \"scdw\"\n"
        ));
        assert_eq!(
            err,
            "t.toml:10:8: step 3 (`host`): no standby to activate: step 2 activated the standby, \
             and no `init_standby` step since made a new one"
        );
    }

    #[test]
    fn activating_without_a_configured_standby_is_rejected() {
        let err = error(
            "[topology]\nstandby = false\n[[step]]\naction = \"activate_standby\"\nhost = \"sdw1\"\n",
        );
        assert!(
            err.ends_with(
                "the topology has `standby = false`, and no earlier `init_standby` step makes one"
            ),
            "{err}"
        );
        valid(
            "[topology]\nstandby = false\n[[step]]\naction = \"init_standby\"\nstandby = \"sdw1\"\n\
             [[step]]\naction = \"activate_standby\"\nhost = \"sdw1\"\n",
        );
    }

    #[test]
    fn only_the_standby_can_be_activated() {
        assert_eq!(
            error("[[step]]\naction = \"activate_standby\"\nhost = \"sdw1\"\n"),
            "t.toml:3:8: step 1 (`host`): `sdw1` is not the standby, expected the standby at \
             this step, `scdw`"
        );
    }

    #[test]
    fn a_standby_cannot_be_made_on_the_coordinator_or_beside_another_standby() {
        let err = error("[[step]]\naction = \"init_standby\"\nstandby = \"cdw\"\n");
        assert!(
            err.contains("`cdw` is the coordinator at this step"),
            "{err}"
        );
        let err = error(&format!(
            "{CRASH_AND_ACTIVATE}[[step]]\naction = \"init_standby\"\nstandby = \"scdw\"\n"
        ));
        assert!(
            err.contains("`scdw` is the coordinator at this step"),
            "{err}"
        );
        let err = error("[[step]]\naction = \"init_standby\"\nstandby = \"sdw1\"\n");
        assert!(
            err.contains("a standby is already configured at this step (`scdw`)"),
            "{err}"
        );
    }

    #[test]
    fn gpstate_expectations_of_a_standby_need_one() {
        let err = error(&format!(
            "{CRASH_AND_ACTIVATE}[[step]]\naction = \"gpstate\"\nmode = \"full\"\n\
             [step.expect]\nstandby_configured = false\nsync_state = \"sync\"\n"
        ));
        assert_eq!(
            err,
            "t.toml:13:14: step 3 (`expect.sync_state`): `sync_state` expects a standby, and \
             none is configured at this step: step 2 activated the standby, and no \
             `init_standby` step since made a new one"
        );
        valid(&format!(
            "{CRASH_AND_ACTIVATE}[[step]]\naction = \"gpstate\"\nmode = \"brief\"\n\
             [step.expect]\ncoordinator_standby = \"No coordinator standby configured\"\n"
        ));
    }

    #[test]
    fn an_expectation_gpstate_cannot_show_in_that_mode_is_rejected() {
        let err = error(
            "[[step]]\naction = \"gpstate\"\nmode = \"brief\"\n[step.expect]\nsync_state = \"sync\"\n",
        );
        assert_eq!(
            err,
            "t.toml:5:14: step 1 (`expect.sync_state`): `sync_state` is not shown by gpstate in \
             mode `brief`, expected one of `coordinator_instance`, `coordinator_standby`, \
             `standby_state`"
        );
    }

    #[test]
    fn snapshot_names_are_unique_with_the_parsed_state_of_gpstate_snapshots() {
        let gpstate = |name: &str| {
            format!("[[step]]\naction = \"gpstate\"\nmode = \"full\"\nsnapshot = \"{name}\"\n")
        };
        let err = error(&(gpstate("a") + &gpstate("a")));
        assert!(
            err.starts_with(
                "t.toml:8:12: step 2 (`snapshot`): snapshot name `a` is already used by step 1 \
                 (line 1)"
            ),
            "{err}"
        );
        let err = error(&(gpstate("a_parsed") + &gpstate("a")));
        assert!(
            err.contains(
                "snapshot `a` saves its parsed state as `a_parsed`, which is already used by \
                 step 1 (line 1)"
            ),
            "{err}"
        );
        let err = error(&gpstate(""));
        assert!(err.contains("(`snapshot`): missing snapshot name"), "{err}");
    }

    #[test]
    fn a_snapshot_only_goes_with_an_invariant_that_has_one() {
        let err = error(
            "[[step]]\naction = \"check\"\ninvariant = \"acknowledged_writes_present\"\nsnapshot = \"x\"\n",
        );
        assert!(
            err.starts_with("t.toml:4:12: step 1 (`snapshot`): "),
            "{err}"
        );
    }

    #[test]
    fn workloads_run_one_at_a_time_and_a_stop_needs_one_running() {
        let start = "[[step]]\naction = \"workload_start\"\n";
        let stop = "[[step]]\naction = \"workload_stop\"\n";
        valid(&format!("{start}{stop}{start}{stop}"));
        // Left running: the runner stops it after the steps.
        valid(start);
        assert!(error(&format!("{start}{start}")).contains("a workload is already running"));
        assert!(error(&format!("{start}{stop}{stop}")).contains("no workload to stop"));
        let err = error("[[step]]\naction = \"workload_start\"\nclients = 0\n");
        assert!(err.contains("(`clients`): invalid value 0"), "{err}");
        let err = error("[[step]]\naction = \"workload_start\"\ntable = \"a-b\"\n");
        assert!(err.contains("(`table`): invalid table name `a-b`"), "{err}");
    }

    #[test]
    fn latency_needs_a_delay_and_runs_from_the_standby_to_the_coordinator() {
        let latency = |host: &str, peer: &str, delay: &str| {
            format!(
                "[[step]]\naction = \"fault\"\nfault = \"latency\"\nhost = \"{host}\"\n\
                 peer = \"{peer}\"\ndelay = \"{delay}\"\n"
            )
        };
        valid(&latency("scdw", "cdw", "200ms"));
        let err = error(
            "[[step]]\naction = \"fault\"\nfault = \"latency\"\nhost = \"scdw\"\npeer = \"cdw\"\n",
        );
        assert!(
            err.contains("missing field `delay`: fault `latency` needs a delay"),
            "{err}"
        );
        let err = error(
            "[[step]]\naction = \"fault\"\nfault = \"latency\"\nhost = \"scdw\"\ndelay = \"1s\"\n",
        );
        assert!(err.contains("missing field `peer`"), "{err}");
        assert_eq!(
            error(&latency("scdw", "cdw", "11s")),
            "t.toml:6:9: step 1 (`delay`): invalid delay of 11000ms, expected at most 10s: every \
             synchronous commit waits twice the delay"
        );
        let err = error(&latency("sdw1", "cdw", "200ms"));
        assert!(
            err.contains("`sdw1` is not the standby at this step, expected `scdw`"),
            "{err}"
        );
        let err = error(&latency("scdw", "sdw1", "200ms"));
        assert!(
            err.contains("`sdw1` is not the coordinator at this step, expected `cdw`"),
            "{err}"
        );
        let err = error(&latency("scdw", "scdw", "200ms"));
        assert!(err.contains("`scdw` is the faulted host itself"), "{err}");
        let err = error(&format!(
            "{CRASH_AND_ACTIVATE}{}",
            latency("scdw", "cdw", "200ms")
        ));
        assert!(err.contains("no standby at this step"), "{err}");
        let err = error(
            "[[step]]\naction = \"fault\"\nfault = \"crash\"\nhost = \"cdw\"\ndelay = \"1s\"\n",
        );
        assert!(err.contains("fault `crash` takes no `delay`"), "{err}");
        // The heal may come after the standby was activated: it takes the delay away as it is.
        valid(&format!(
            "{}{CRASH_AND_ACTIVATE}[[step]]\naction = \"heal\"\nfault = \"latency\"\n\
             host = \"scdw\"\npeer = \"cdw\"\ndelay = \"200ms\"\n",
            latency("scdw", "cdw", "200ms")
        ));
    }

    #[test]
    fn old_coordinator_refuses_names_a_former_coordinator_that_is_neither_role_now() {
        let check = |host: &str| {
            format!("[[step]]\naction = \"check\"\ninvariant = \"old_coordinator_refuses\"\nhost = \"{host}\"\n")
        };
        valid(&format!("{CRASH_AND_ACTIVATE}{}", check("cdw")));
        let err = error(&check("cdw"));
        assert!(
            err.contains("`cdw` is the coordinator at this step"),
            "{err}"
        );
        let err = error(&format!("{CRASH_AND_ACTIVATE}{}", check("sdw1")));
        assert!(err.contains("`sdw1` was never the coordinator"), "{err}");
        let err = error(
            "[[step]]\naction = \"check\"\ninvariant = \"one_coordinator\"\nhost = \"cdw\"\n",
        );
        assert!(
            err.contains("invariant `one_coordinator` takes no `host`"),
            "{err}"
        );
    }
}
