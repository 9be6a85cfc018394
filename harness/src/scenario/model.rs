//! The scenario schema: [`Scenario`], its [`Step`]s and their fields, as plain data.
//!
//! The schema is documented for people in `scenarios/README.md`; keep the two in step. Every
//! struct rejects unknown fields, and no `flatten`/`untagged` is used: they ruin error messages.
//! Reading a file into these types is `load.rs`'s job, checking the steps against the
//! topology and each other `validate.rs`'s.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::cluster::Topology;

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
    /// The seed of its random choices and what was chosen (see `[choose]`).
    pub choices: super::choice::Choices,
}

/// One action of a scenario. The `action` field selects the kind (see [`Step::ACTIONS`]); the
/// other fields are those of the kind's struct.
#[derive(Debug, Clone)]
pub enum Step {
    /// Run SQL on a host's coordinator instance (default: the current coordinator).
    Sql(SqlStep),
    /// Write acknowledged rows, one transaction each, recording every outcome in the history.
    Write(WriteStep),
    /// Start the concurrent workload: client tasks writing until a `workload_stop`.
    WorkloadStart(WorkloadStartStep),
    /// Stop the concurrent workload after each client's current operation.
    WorkloadStop(WorkloadStopStep),
    /// Inject a fault.
    Fault(FaultStep),
    /// Heal a fault.
    Heal(FaultStep),
    /// `gpactivatestandby -d DIR -a` on the standby host.
    ActivateStandby(ActivateStep),
    /// Move a data directory aside (`mv FROM TO` as gpadmin).
    MoveDatadir(MoveStep),
    /// Remove what a killed coordinator instance left: `/tmp/.s.PGSQL.<port>`, its `.lock`, and
    /// `postmaster.pid` (as gpactivatestandby's warning tells the operator to).
    RemoveStaleFiles(StaleFilesStep),
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
    /// How long one row may wait for its commit, e.g. `"2m"`; default 60 s.
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub timeout: Option<Duration>,
    /// When set, the slowest row's commit must have waited at least this long: for a scenario
    /// that shows commits stalling (a synchronous standby that vanished) and then going on.
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub expect_stall: Option<Duration>,
    /// When set, every row's commit must have waited at least this long (the fastest one is
    /// compared): for a scenario that shows every synchronous commit crossing a delayed link.
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub expect_commit_wait: Option<Duration>,
}

/// See [`Step::WorkloadStart`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStartStep {
    /// How many clients write at once. Default 2.
    #[serde(default = "two")]
    pub clients: u32,
    /// Table to write to; created when missing, like the `write` step's. Default `workload`.
    #[serde(default = "workload_table")]
    pub table: String,
}

fn two() -> u32 {
    2
}

fn workload_table() -> String {
    "workload".into()
}

/// See [`Step::WorkloadStop`]: no fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadStopStep {}

/// The kinds of fault this version knows. Each says what it does to the host and what its
/// `heal` undoes; the instance-level faults have no heal (the host is sound, the recovery
/// steps deal with the instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL of the host's container; healed by starting it again (its disk survives, no
    /// database process is started).
    Crash,
    /// An orderly host shutdown (SIGTERM to every process, SIGKILL after 10 s); healed by
    /// starting it again, with no database process.
    Stop,
    /// Every process of the host frozen (pause); healed by thawing it.
    Freeze,
    /// The host cut off the cluster network; healed by reconnecting it with the same address.
    Disconnect,
    /// The host drops every packet to and from `peer` (iptables in the node); healed by
    /// removing the rules. Needs NET_ADMIN, granted to this host only.
    Partition,
    /// The host drops each incoming and outgoing packet with `probability` (iptables
    /// `statistic`); healed by removing the rules. Needs NET_ADMIN.
    PacketLoss,
    /// The host's outgoing traffic limited to `rate` (tc `tbf`); healed by removing the qdisc.
    /// Needs NET_ADMIN.
    SlowLink,
    /// `delay` added to each direction of the replication connection from the host (the
    /// standby) to `peer`'s (the coordinator's) port: with `netem` where the node's kernel has
    /// it, else through a delaying relay of the harness; healed by taking the delay away and
    /// waiting for the standby to stream directly again. Needs NET_ADMIN.
    Latency,
    /// `kill -9` of the coordinator instance's postmaster on the host: its lock files stay.
    PostmasterKill,
    /// `pg_ctl stop -m immediate` of the coordinator instance on the host.
    ImmediateStop,
    /// The coordinator data directory on the host removed and its postmaster killed: a lost disk.
    DatadirLoss,
}

impl FaultKind {
    /// Every kind, in the order of the docs.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::Crash,
        FaultKind::Stop,
        FaultKind::Freeze,
        FaultKind::Disconnect,
        FaultKind::Partition,
        FaultKind::PacketLoss,
        FaultKind::SlowLink,
        FaultKind::Latency,
        FaultKind::PostmasterKill,
        FaultKind::ImmediateStop,
        FaultKind::DatadirLoss,
    ];

    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Stop => "stop",
            FaultKind::Freeze => "freeze",
            FaultKind::Disconnect => "disconnect",
            FaultKind::Partition => "partition",
            FaultKind::PacketLoss => "packet_loss",
            FaultKind::SlowLink => "slow_link",
            FaultKind::Latency => "latency",
            FaultKind::PostmasterKill => "postmaster_kill",
            FaultKind::ImmediateStop => "immediate_stop",
            FaultKind::DatadirLoss => "datadir_loss",
        }
    }

    /// True when the host's network must be changed from inside the node (NET_ADMIN).
    pub fn needs_net_admin(self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::PacketLoss | FaultKind::SlowLink | FaultKind::Latency
        )
    }

    /// True when `heal` undoes it.
    pub fn has_heal(self) -> bool {
        !matches!(
            self,
            FaultKind::PostmasterKill | FaultKind::ImmediateStop | FaultKind::DatadirLoss
        )
    }
}

/// See [`Step::Fault`] and [`Step::Heal`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// The fault.
    pub fault: FaultKind,
    /// The host it hits.
    pub host: String,
    /// `partition`: the other side; `latency`: the coordinator the standby `host` replicates
    /// from.
    pub peer: Option<String>,
    /// `packet_loss`: the chance that a packet is dropped, above 0 and at most 1.
    pub probability: Option<f64>,
    /// `slow_link`: the rate, as tc writes it (`1mbit`, `512kbit`).
    pub rate: Option<String>,
    /// `latency`: the delay added to each direction, e.g. `"200ms"`.
    #[serde(default, deserialize_with = "super::duration::deserialize_some")]
    pub delay: Option<Duration>,
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
    /// When set, the utility must refuse: exit non-zero with this text in its output. The
    /// cluster is then as before the step.
    pub expect_refusal: Option<String>,
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
    /// When set, the utility must refuse: exit non-zero with this text in its output. The
    /// cluster is then as before the step.
    pub expect_refusal: Option<String>,
}

/// See [`Step::RemoveStaleFiles`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaleFilesStep {
    /// The host whose coordinator instance died without cleaning up.
    pub host: String,
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
    /// The failed coordinator `host` cannot come back as a coordinator: `gpstart -a` of its
    /// coordinator data directory refuses because its standby was activated (a later
    /// timeline), and afterwards nothing on the host accepts writes.
    OldCoordinatorRefuses,
}

impl Invariant {
    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::AcknowledgedWritesPresent => "acknowledged_writes_present",
            Invariant::OneCoordinator => "one_coordinator",
            Invariant::OldCoordinatorRefuses => "old_coordinator_refuses",
        }
    }
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
    /// For `acknowledged_writes_present`: exactly this many acknowledged rows must be missing
    /// instead of none, for a scenario whose point is a loss.
    pub expect_lost: Option<usize>,
    /// For `old_coordinator_refuses` (required there, not allowed elsewhere): the failed
    /// coordinator's host.
    pub host: Option<String>,
}

impl Step {
    /// Every `action`, in the order `scenarios/README.md` documents them.
    pub const ACTIONS: [&'static str; 13] = [
        "sql",
        "write",
        "workload_start",
        "workload_stop",
        "fault",
        "heal",
        "activate_standby",
        "move_datadir",
        "remove_stale_files",
        "init_standby",
        "stop_coordinator_only",
        "gpstate",
        "check",
    ];

    /// The step's `action`, one of [`Step::ACTIONS`].
    pub fn action(&self) -> &'static str {
        match self {
            Step::Sql(_) => "sql",
            Step::Write(_) => "write",
            Step::WorkloadStart(_) => "workload_start",
            Step::WorkloadStop(_) => "workload_stop",
            Step::Fault(_) => "fault",
            Step::Heal(_) => "heal",
            Step::ActivateStandby(_) => "activate_standby",
            Step::MoveDatadir(_) => "move_datadir",
            Step::RemoveStaleFiles(_) => "remove_stale_files",
            Step::InitStandby(_) => "init_standby",
            Step::StopCoordinatorOnly(_) => "stop_coordinator_only",
            Step::Gpstate(_) => "gpstate",
            Step::Check(_) => "check",
        }
    }

    /// A one-line title for progress output and the artifact bundle.
    pub fn title(&self) -> String {
        let on = |h: &Option<String>| h.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
        match self {
            Step::Sql(s) => format!("sql{}: {}", on(&s.host), s.sql.lines().next().unwrap_or("")),
            Step::Write(s) => format!("write {} rows to {}", s.rows, s.table),
            Step::WorkloadStart(s) => {
                format!(
                    "start the workload: {} clients writing to {}",
                    s.clients, s.table
                )
            }
            Step::WorkloadStop(_) => "stop the workload".into(),
            Step::Fault(s) => format!("fault {} {}", s.fault.name(), s.host),
            Step::Heal(s) => format!("heal {} {}", s.fault.name(), s.host),
            Step::ActivateStandby(s) => format!("gpactivatestandby -d {} on {}", s.datadir, s.host),
            Step::MoveDatadir(s) => format!("move data directory on {}", s.host),
            Step::RemoveStaleFiles(s) => format!("remove stale lock files on {}", s.host),
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
            Step::Check(s) => format!("check {}{}", s.invariant.name(), on(&s.host)),
        }
    }
}
