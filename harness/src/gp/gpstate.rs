//! Typed parser of `gpstate` output: `gpstate -f` into a [`StandbyReport`] and `gpstate -b`
//! into a [`StatusSummary`].
//!
//! Both parsers take the whole stdout of the utility. Every line that matters carries the log
//! prefix of the management utilities (see [`parse_log_line`]); lines without it, such as the
//! progress dots `gpstate` prints while it polls the segment hosts, or blank lines, are skipped.
//! Table rows are recognised by their label text, with whitespace collapsed, so the width of the
//! label column (which depends on the widest label printed) does not matter. Labels and the
//! headings of Greenplum-era versions, which say `master` where Cloudberry says `coordinator`,
//! are accepted too.
//!
//! Values are kept as printed where their wording is the information (standby status, WAL sender
//! state); numbers are parsed, and a value that should be a number and is not is a
//! [`ParseError`], never a silent default.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// Severity of a log line, the word between `-[` and `]:-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `INFO`.
    Info,
    /// `WARNING`.
    Warning,
    /// `ERROR`.
    Error,
    /// `CRITICAL`.
    Critical,
    /// `DEBUG`.
    Debug,
}

impl Level {
    /// Whether the line reports a problem (`WARNING`, `ERROR` or `CRITICAL`).
    pub fn is_problem(self) -> bool {
        matches!(self, Level::Warning | Level::Error | Level::Critical)
    }

    fn from_word(word: &str) -> Option<Level> {
        Some(match word {
            "INFO" => Level::Info,
            "WARNING" => Level::Warning,
            "ERROR" => Level::Error,
            "CRITICAL" => Level::Critical,
            "DEBUG" => Level::Debug,
            _ => return None,
        })
    }
}

/// One line of a management utility's log output, without its timestamp and process id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// Host the utility ran on, as printed (may contain dashes: `test1-m`).
    pub host: String,
    /// The utility, e.g. `gpstate`.
    pub program: String,
    /// The operating-system user, e.g. `gpadmin`.
    pub user: String,
    /// Everything after `]:-`, untrimmed: table rows logged at INFO keep their three-space indent.
    pub message: String,
}

/// The log prefix `<YYYYMMDD>:<HH>:<MM>:<SS>:<pid> <program>:<host>:<user>-[<LEVEL>]:-`.
///
/// The timestamp is optional because published copies of these logs often lose it, and leading
/// dots are allowed because a progress dot written without its newline can end up in front of
/// the next log line. The user is matched lazily so that a user name with a dash still ends at
/// the last `-[`.
static LOG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\.*(?:\d{8}:\d{2}:\d{2}:\d{2}:\d{6,} )?(?P<program>[^\s:]+):(?P<host>[^\s:]+):(?P<user>[^\s:]+?)-\[(?P<level>[A-Z]+)\]:-(?P<message>.*)$",
    )
    .expect("the log-line pattern is valid")
});

/// Columns of a table row are padded to the longest value plus three spaces, so three or more
/// spaces always separate two columns and never occur inside one.
static COLUMN_GAP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s{3,}").expect("the column-gap pattern is valid"));

/// Whole-word `master`, the older name of `coordinator` (whole word so `postmaster` survives).
static MASTER_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bmaster\b").expect("the master-word pattern is valid"));

/// The marker a warning row of a table ends with.
const ARROWS: &str = "<<<<<<<<";

/// Parses one line of utility output; `None` when it does not carry the log prefix or its level
/// is not one of the five known ones.
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let caps = LOG_LINE.captures(line)?;
    Some(LogLine {
        level: Level::from_word(&caps["level"])?,
        host: caps["host"].to_string(),
        program: caps["program"].to_string(),
        user: caps["user"].to_string(),
        message: caps["message"].to_string(),
    })
}

/// Errors of [`parse_full`] and [`parse_brief`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum ParseError {
    /// A section the output always has is absent (often: the output was cut short).
    #[error("failed to find the `{section}` section in gpstate output ({lines} lines read)")]
    MissingSection {
        /// The section's heading.
        section: &'static str,
        /// How many lines the output had.
        lines: usize,
    },
    /// A section is present but lacks one of its rows.
    #[error("failed to find the `{label}` row of the `{section}` section starting at line {line}")]
    MissingRow {
        /// The section's heading.
        section: &'static str,
        /// The label of the missing row.
        label: String,
        /// Line (1-based) where the section starts.
        line: usize,
    },
    /// A value does not have the expected form.
    #[error("failed to read {what} at line {line}: `{text}`")]
    Malformed {
        /// What was expected there.
        what: &'static str,
        /// Line number, 1-based.
        line: usize,
        /// The whole line as printed.
        text: String,
    },
}

// ---------------------------------------------------------------------------------------------
// gpstate -f
// ---------------------------------------------------------------------------------------------

/// What `gpstate -f` reports: the standby coordinator and the coordinator's WAL senders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StandbyReport {
    /// The standby coordinator's details, or that none is configured.
    pub standby: StandbyDetails,
    /// Rows of `pg_stat_replication` on the coordinator; empty for `No entries found.` and also
    /// when there is more than one row (gpstate then prints only a warning, kept in `warnings`).
    pub replication: Vec<ReplicationRow>,
    /// WARNING, ERROR and CRITICAL messages that are not rows of the details table, in order.
    pub warnings: Vec<String>,
}

impl StandbyReport {
    /// Whether the standby is configured and its status is `Standby host passive`.
    pub fn is_passive(&self) -> bool {
        self.standby.is_passive()
    }

    /// Whether gpstate warned that `pg_stat_replication` has more than one row.
    pub fn more_than_one_sender(&self) -> bool {
        self.warnings.iter().any(|w| w.trim() == MORE_THAN_ONE_ROW)
    }
}

const MORE_THAN_ONE_ROW: &str = "pg_stat_replication shows more than 1 row.";

/// The `Standby coordinator details` block of `gpstate -f`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StandbyDetails {
    /// `Standby coordinator instance not configured`.
    NotConfigured,
    /// The catalog has a standby.
    Configured {
        /// `Standby address`.
        address: String,
        /// `Standby data directory`.
        data_directory: String,
        /// `Standby port`.
        port: u16,
        /// `Standby PID`, with its error column if any.
        pid: StandbyPid,
        /// `Standby status` as printed, e.g. `Standby host passive`, `Standby process not
        /// running`, `Status could not be determined`.
        status: String,
        /// Labels of the rows gpstate printed as warnings (e.g. `Standby PID`), in order.
        warning_rows: Vec<String>,
    },
}

impl StandbyDetails {
    /// Whether a standby is configured and its status is `Standby host passive`, the only
    /// healthy status.
    pub fn is_passive(&self) -> bool {
        matches!(self, StandbyDetails::Configured { status, .. } if status == "Standby host passive")
    }
}

/// The `Standby PID` row of `gpstate -f`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StandbyPid {
    /// A postmaster pid, without error.
    Running {
        /// The pid.
        pid: u32,
    },
    /// `0`: the standby has no `postmaster.pid`, its process is not running.
    NotRunning,
    /// A pid with an error column, what a killed postmaster leaves behind, e.g.
    /// `Have lock file /tmp/.s.PGSQL.5432.lock but no process running on port 5432`.
    Stale {
        /// The pid from `postmaster.pid`.
        pid: u32,
        /// The error column as printed.
        error: String,
    },
    /// No pid at all: the status could not be fetched, e.g. `Error getting status from host scdw`.
    Unknown {
        /// The text printed in place of the pid.
        error: String,
    },
}

impl StandbyPid {
    /// The pid printed, if any (`0` counts as none).
    pub fn pid(&self) -> Option<u32> {
        match self {
            StandbyPid::Running { pid } | StandbyPid::Stale { pid, .. } => Some(*pid),
            StandbyPid::NotRunning | StandbyPid::Unknown { .. } => None,
        }
    }
}

/// One row of `pg_stat_replication` as gpstate prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicationRow {
    /// `WAL Sender State`, as printed: `streaming`, `catchup`, `startup`, ...
    pub wal_sender_state: String,
    /// `Sync state` (`sync`, `async`, ...); `None` when SQL NULL (gpstate prints `None`).
    pub sync_state: Option<String>,
    /// `Sent Location`, an LSN like `0/14000000`; `None` when NULL.
    pub sent_location: Option<String>,
    /// `Flush Location`; `None` when NULL.
    pub flush_location: Option<String>,
    /// `Replay Location`; `None` when NULL.
    pub replay_location: Option<String>,
}

impl ReplicationRow {
    /// Whether the WAL sender is `streaming`.
    pub fn is_streaming(&self) -> bool {
        self.wal_sender_state == "streaming"
    }

    /// Whether the sender is synchronous (`Sync state: sync`).
    pub fn is_sync(&self) -> bool {
        self.sync_state.as_deref() == Some("sync")
    }
}

/// Parses the stdout of `gpstate -f`.
pub fn parse_full(stdout: &str) -> Result<StandbyReport, ParseError> {
    let lines = log_lines(stdout);
    let total = stdout.lines().count();

    enum Phase {
        Preamble,
        Details,
        Replication,
    }
    let mut phase = Phase::Preamble;
    let mut details_at = None;
    let mut not_configured = false;
    let mut rows: Vec<TableRow> = Vec::new();
    let mut replication_seen = false;
    let mut replication: Vec<ReplicationRow> = Vec::new();
    let mut warnings = Vec::new();

    for line in &lines {
        let message = line.log.message.as_str();
        if message.trim() == "-pg_stat_replication" {
            phase = Phase::Replication;
            replication_seen = true;
            continue;
        }
        if is_separator(message) {
            continue;
        }
        let consumed = match phase {
            Phase::Preamble => match canonical(message).as_str() {
                "standby coordinator details" => {
                    phase = Phase::Details;
                    details_at = Some(line.number);
                    true
                }
                "standby coordinator instance not configured" => {
                    not_configured = true;
                    true
                }
                _ => false,
            },
            Phase::Details => match TableRow::parse(line) {
                Some(row) => {
                    rows.push(row);
                    true
                }
                None => false,
            },
            Phase::Replication => replication_line(line, &mut replication)?,
        };
        if !consumed && line.log.level.is_problem() {
            warnings.push(message.trim().to_string());
        }
    }

    let standby = match details_at {
        Some(at) => standby_details(&rows, at)?,
        None if not_configured => StandbyDetails::NotConfigured,
        None => {
            return Err(ParseError::MissingSection {
                section: DETAILS,
                lines: total,
            });
        }
    };
    if !replication_seen {
        return Err(ParseError::MissingSection {
            section: "pg_stat_replication",
            lines: total,
        });
    }
    Ok(StandbyReport {
        standby,
        replication,
        warnings,
    })
}

const DETAILS: &str = "Standby coordinator details";

/// Handles one line of the `pg_stat_replication` block; `Ok(false)` when it is not part of it.
fn replication_line(line: &Line<'_>, rows: &mut Vec<ReplicationRow>) -> Result<bool, ParseError> {
    let message = line.log.message.trim();
    if message == "No entries found." {
        return Ok(true);
    }
    // The body lines are logged with a leading dash, giving `]:--WAL Sender State: ...`.
    let Some((key, value)) = message.strip_prefix('-').and_then(|m| m.split_once(':')) else {
        return Ok(false);
    };
    let value = value.trim();
    // Python prints SQL NULL as `None`.
    let nullable = || (!value.is_empty() && value != "None").then(|| value.to_string());
    let key = canonical(key);
    if key == "wal sender state" {
        rows.push(ReplicationRow {
            wal_sender_state: value.to_string(),
            sync_state: None,
            sent_location: None,
            flush_location: None,
            replay_location: None,
        });
        return Ok(true);
    }
    let field: fn(&mut ReplicationRow) -> &mut Option<String> = match key.as_str() {
        "sync state" => |r| &mut r.sync_state,
        "sent location" => |r| &mut r.sent_location,
        "flush location" => |r| &mut r.flush_location,
        "replay location" => |r| &mut r.replay_location,
        _ => return Ok(false),
    };
    let row = rows
        .last_mut()
        .ok_or_else(|| line.malformed("a pg_stat_replication field before any WAL Sender State"))?;
    *field(row) = nullable();
    Ok(true)
}

fn standby_details(rows: &[TableRow], at: usize) -> Result<StandbyDetails, ParseError> {
    let find = |label: &'static str| {
        rows.iter()
            .find(|r| canonical(&r.label) == canonical(label))
            .ok_or_else(|| ParseError::MissingRow {
                section: DETAILS,
                label: label.into(),
                line: at,
            })
    };
    let address = find("Standby address")?.value.clone();
    let data_directory = find("Standby data directory")?.value.clone();
    let port_row = find("Standby port")?;
    let port = port_row
        .value
        .parse()
        .map_err(|_| port_row.malformed("a port number"))?;
    let pid_row = find("Standby PID")?;
    let extra = pid_row.extra.join("   ");
    let pid = match pid_row.value.parse::<u32>() {
        Ok(pid) if !extra.is_empty() => StandbyPid::Stale { pid, error: extra },
        Ok(0) => StandbyPid::NotRunning,
        Ok(pid) => StandbyPid::Running { pid },
        Err(_) => StandbyPid::Unknown {
            error: [pid_row.value.as_str(), extra.as_str()]
                .join("   ")
                .trim()
                .to_string(),
        },
    };
    let status = find("Standby status")?.value.clone();
    let warning_rows = rows
        .iter()
        .filter(|r| r.warning)
        .map(|r| r.label.clone())
        .collect();
    Ok(StandbyDetails::Configured {
        address,
        data_directory,
        port,
        pid,
        status,
        warning_rows,
    })
}

// ---------------------------------------------------------------------------------------------
// gpstate -b
// ---------------------------------------------------------------------------------------------

/// What `gpstate -b` (and plain `gpstate`) reports: the instance status summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusSummary {
    /// `Coordinator instance`, normally `Active`.
    pub coordinator_instance: String,
    /// `Coordinator standby`.
    pub coordinator_standby: CoordinatorStandby,
    /// `Standby coordinator state` as printed (`Standby host passive`, `Standby host DOWN`,
    /// `Status could not be determined: ...`); `None` when the row is absent (no standby).
    pub standby_state: Option<String>,
    /// `Total segment instance count from metadata`.
    pub total_segment_instances: u32,
    /// The `Primary Segment Status` section.
    pub primary: SegmentCounts,
    /// The `Mirror Segment Status` section; `None` for `Mirrors not configured on this array`.
    pub mirror: Option<SegmentCounts>,
    /// Labels of the rows above the segment sections that were printed as warnings.
    pub warning_rows: Vec<String>,
    /// Rows with a label this parser does not know (e.g. `Cluster Expansion`), kept rather than
    /// dropped.
    pub other_rows: Vec<SummaryRow>,
    /// WARNING, ERROR and CRITICAL messages that are not table rows, in order.
    pub warnings: Vec<String>,
}

/// `Coordinator standby` of `gpstate -b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatorStandby {
    /// `No coordinator standby configured`.
    NotConfigured,
    /// The standby's hostname.
    Host(String),
}

/// A table row of `gpstate -b` with a label the parser does not interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryRow {
    /// The label as printed.
    pub label: String,
    /// The value after `= `.
    pub value: String,
    /// Whether it was printed as a warning.
    pub warning: bool,
}

/// One segment section of `gpstate -b`, every row as a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentCounts {
    /// `Total <kind> segments`.
    pub total: u32,
    /// `Total <kind> segment valid (at coordinator)`.
    pub valid: u32,
    /// `Total <kind> segment failures (at coordinator)`.
    pub failures: u32,
    /// `Total number of postmaster.pid files missing`.
    pub pid_files_missing: u32,
    /// `Total number of postmaster.pid files found`.
    pub pid_files_found: u32,
    /// `Total number of postmaster.pid PIDs missing`.
    pub pids_missing: u32,
    /// `Total number of postmaster.pid PIDs found`.
    pub pids_found: u32,
    /// `Total number of /tmp lock files missing`.
    pub lock_files_missing: u32,
    /// `Total number of /tmp lock files found`.
    pub lock_files_found: u32,
    /// `Total number postmaster processes missing`.
    pub postmaster_processes_missing: u32,
    /// `Total number postmaster processes found`.
    pub postmaster_processes_found: u32,
    /// `Total number mirror segments acting as primary segments`; mirror section only.
    pub acting_as_primary: Option<u32>,
    /// `Total number mirror segments acting as mirror segments`; mirror section only.
    pub acting_as_mirror: Option<u32>,
    /// Labels of the rows printed as warnings (non-zero failures, missing files, ...), in order.
    pub warning_rows: Vec<String>,
}

/// The summary's heading ends so; it starts with the product name, which varies.
const SUMMARY_ENDING: &str = "instance status summary";
const SUMMARY: &str = "Cloudberry instance status summary";
const PRIMARY: &str = "Primary Segment Status";
const MIRROR: &str = "Mirror Segment Status";

/// Parses the stdout of `gpstate -b`.
pub fn parse_brief(stdout: &str) -> Result<StatusSummary, ParseError> {
    let lines = log_lines(stdout);
    let total = stdout.lines().count();

    #[derive(Clone, Copy, PartialEq)]
    enum Section {
        Preamble,
        Top,
        Primary,
        Mirror,
        Done,
    }
    let mut section = Section::Preamble;
    let mut summary_at = None;
    let mut coordinator_instance = None;
    let mut coordinator_standby = None;
    let mut standby_state = None;
    let mut total_segment_instances = None;
    let mut warning_rows = Vec::new();
    let mut primary: Option<(usize, CountsBuilder)> = None;
    let mut mirror: Option<(usize, CountsBuilder)> = None;
    let mut mirrors_absent = false;
    let mut other_rows = Vec::new();
    let mut warnings = Vec::new();

    for line in &lines {
        let message = line.log.message.as_str();
        if is_separator(message) {
            continue;
        }
        let heading = canonical(message);
        if section == Section::Preamble {
            if heading.ends_with(SUMMARY_ENDING) {
                section = Section::Top;
                summary_at = Some(line.number);
            } else if line.log.level.is_problem() {
                warnings.push(message.trim().to_string());
            }
            continue;
        }
        match heading.as_str() {
            "primary segment status" => {
                section = Section::Primary;
                primary = Some((line.number, CountsBuilder::new("primary")));
                continue;
            }
            "mirror segment status" => {
                section = Section::Mirror;
                mirror = Some((line.number, CountsBuilder::new("mirror")));
                continue;
            }
            "mirrors not configured on this array" => {
                section = Section::Done;
                mirror = None;
                mirrors_absent = true;
                continue;
            }
            _ => {}
        }
        let Some(row) = TableRow::parse(line) else {
            if line.log.level.is_problem() {
                warnings.push(message.trim().to_string());
            }
            continue;
        };
        let label = canonical(&row.label);
        let known = match section {
            Section::Top => {
                let known = match label.as_str() {
                    "coordinator instance" => {
                        coordinator_instance = Some(row.value.clone());
                        true
                    }
                    "coordinator standby" => {
                        coordinator_standby = Some(
                            if canonical(&row.value) == "no coordinator standby configured" {
                                CoordinatorStandby::NotConfigured
                            } else {
                                CoordinatorStandby::Host(row.value.clone())
                            },
                        );
                        true
                    }
                    "standby coordinator state" => {
                        standby_state = Some(row.value.clone());
                        true
                    }
                    "total segment instance count from metadata" => {
                        total_segment_instances = Some(row.number("a segment count")?);
                        true
                    }
                    _ => false,
                };
                if known && row.warning {
                    warning_rows.push(row.label.clone());
                }
                known
            }
            Section::Primary => primary
                .as_mut()
                .expect("set with the section")
                .1
                .record(&label, &row)?,
            Section::Mirror => mirror
                .as_mut()
                .expect("set with the section")
                .1
                .record(&label, &row)?,
            Section::Preamble | Section::Done => false,
        };
        if !known {
            other_rows.push(SummaryRow {
                label: row.label,
                value: row.value,
                warning: row.warning,
            });
        }
    }

    let Some(at) = summary_at else {
        return Err(ParseError::MissingSection {
            section: SUMMARY,
            lines: total,
        });
    };
    let missing = |label: &str| ParseError::MissingRow {
        section: SUMMARY,
        label: label.into(),
        line: at,
    };
    let primary = match primary {
        Some((line, counts)) => counts.finish(PRIMARY, line)?,
        None => {
            return Err(ParseError::MissingSection {
                section: PRIMARY,
                lines: total,
            })
        }
    };
    let mirror = match mirror {
        Some((line, counts)) => Some(counts.finish(MIRROR, line)?),
        None if mirrors_absent => None,
        None => {
            return Err(ParseError::MissingSection {
                section: MIRROR,
                lines: total,
            })
        }
    };
    Ok(StatusSummary {
        coordinator_instance: coordinator_instance
            .ok_or_else(|| missing("Coordinator instance"))?,
        coordinator_standby: coordinator_standby.ok_or_else(|| missing("Coordinator standby"))?,
        standby_state,
        total_segment_instances: total_segment_instances
            .ok_or_else(|| missing("Total segment instance count from metadata"))?,
        primary,
        mirror,
        warning_rows,
        other_rows,
        warnings,
    })
}

/// Collects the rows of one segment section; every field stays `None` until its row is seen.
struct CountsBuilder {
    kind: &'static str,
    fields: [Option<u32>; 13],
    warning_rows: Vec<String>,
}

/// Canonical labels of a segment section, in the order of [`CountsBuilder::fields`]; `{kind}`
/// stands for `primary` or `mirror`. The last two rows exist in the mirror section only.
const COUNT_LABELS: [&str; 13] = [
    "Total {kind} segments",
    "Total {kind} segment valid (at coordinator)",
    "Total {kind} segment failures (at coordinator)",
    "Total number of postmaster.pid files missing",
    "Total number of postmaster.pid files found",
    "Total number of postmaster.pid PIDs missing",
    "Total number of postmaster.pid PIDs found",
    "Total number of /tmp lock files missing",
    "Total number of /tmp lock files found",
    "Total number postmaster processes missing",
    "Total number postmaster processes found",
    "Total number mirror segments acting as primary segments",
    "Total number mirror segments acting as mirror segments",
];

impl CountsBuilder {
    fn new(kind: &'static str) -> Self {
        CountsBuilder {
            kind,
            fields: [None; 13],
            warning_rows: Vec::new(),
        }
    }

    /// Records `row` if its label belongs to the section; `Ok(false)` if it does not.
    fn record(&mut self, label: &str, row: &TableRow) -> Result<bool, ParseError> {
        let Some(index) = COUNT_LABELS
            .iter()
            .position(|known| canonical(&known.replace("{kind}", self.kind)) == label)
        else {
            return Ok(false);
        };
        self.fields[index] = Some(row.number("a segment count")?);
        if row.warning {
            self.warning_rows.push(row.label.clone());
        }
        Ok(true)
    }

    fn finish(self, section: &'static str, line: usize) -> Result<SegmentCounts, ParseError> {
        let required = |index: usize| {
            self.fields[index].ok_or_else(|| ParseError::MissingRow {
                section,
                label: COUNT_LABELS[index].replace("{kind}", self.kind),
                line,
            })
        };
        Ok(SegmentCounts {
            total: required(0)?,
            valid: required(1)?,
            failures: required(2)?,
            pid_files_missing: required(3)?,
            pid_files_found: required(4)?,
            pids_missing: required(5)?,
            pids_found: required(6)?,
            lock_files_missing: required(7)?,
            lock_files_found: required(8)?,
            postmaster_processes_missing: required(9)?,
            postmaster_processes_found: required(10)?,
            acting_as_primary: self.fields[11],
            acting_as_mirror: self.fields[12],
            warning_rows: self.warning_rows,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/// A log line with its place in the output.
struct Line<'a> {
    /// 1-based line number in stdout.
    number: usize,
    /// The line as printed, for error messages.
    raw: &'a str,
    log: LogLine,
}

impl Line<'_> {
    fn malformed(&self, what: &'static str) -> ParseError {
        ParseError::Malformed {
            what,
            line: self.number,
            text: self.raw.to_string(),
        }
    }
}

fn log_lines(stdout: &str) -> Vec<Line<'_>> {
    stdout
        .lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            parse_log_line(raw).map(|log| Line {
                number: i + 1,
                raw,
                log,
            })
        })
        .collect()
}

/// A `label = value [extra...]` row of a gpstate table.
struct TableRow {
    number: usize,
    raw: String,
    /// The label as printed.
    label: String,
    /// The value without its `= ` prefix.
    value: String,
    /// Further columns (the error column of a stale `Standby PID`), without the arrows.
    extra: Vec<String>,
    /// Whether the row was logged as a warning or ends with `<<<<<<<<`.
    warning: bool,
}

impl TableRow {
    fn parse(line: &Line<'_>) -> Option<TableRow> {
        let mut text = line.log.message.trim();
        let arrows = text.ends_with(ARROWS);
        if arrows {
            text = text[..text.len() - ARROWS.len()].trim_end();
        }
        let mut fields = COLUMN_GAP.split(text);
        let label = fields.next()?.to_string();
        let value = fields.next()?.strip_prefix('=')?.trim().to_string();
        Some(TableRow {
            number: line.number,
            raw: line.raw.to_string(),
            label,
            value,
            extra: fields.map(str::to_string).collect(),
            warning: arrows || line.log.level == Level::Warning,
        })
    }

    fn number(&self, what: &'static str) -> Result<u32, ParseError> {
        self.value.parse().map_err(|_| self.malformed(what))
    }

    fn malformed(&self, what: &'static str) -> ParseError {
        ParseError::Malformed {
            what,
            line: self.number,
            text: self.raw.clone(),
        }
    }
}

/// Whether a message is a table separator or underline: dashes only.
fn is_separator(message: &str) -> bool {
    let message = message.trim();
    !message.is_empty() && message.bytes().all(|b| b == b'-')
}

/// A label or heading reduced for comparison: trimmed, whitespace collapsed, lowercase, and the
/// word `master` read as `coordinator`.
fn canonical(text: &str) -> String {
    let lower = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    MASTER_WORD.replace_all(&lower, "coordinator").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/gpstate/",
                $name
            ))
        };
    }

    fn configured(pid: StandbyPid, status: &str, warning_rows: &[&str]) -> StandbyDetails {
        StandbyDetails::Configured {
            address: "scdw".into(),
            data_directory: "/data0/database/coordinator/gpseg-1".into(),
            port: 5432,
            pid,
            status: status.into(),
            warning_rows: warning_rows.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn row(state: &str, sent: &str, flush: &str, replay: &str) -> ReplicationRow {
        ReplicationRow {
            wal_sender_state: state.into(),
            sync_state: Some("sync".into()),
            sent_location: Some(sent.into()),
            flush_location: Some(flush.into()),
            replay_location: Some(replay.into()),
        }
    }

    fn streaming() -> Vec<ReplicationRow> {
        vec![row("streaming", "0/14000000", "0/14000000", "0/14000000")]
    }

    const PID_WARNINGS: &[&str] = &["Standby PID", "Standby status"];

    fn healthy_counts(total: u32, mirror: bool) -> SegmentCounts {
        SegmentCounts {
            total,
            valid: total,
            failures: 0,
            pid_files_missing: 0,
            pid_files_found: total,
            pids_missing: 0,
            pids_found: total,
            lock_files_missing: 0,
            lock_files_found: total,
            postmaster_processes_missing: 0,
            postmaster_processes_found: total,
            acting_as_primary: mirror.then_some(0),
            acting_as_mirror: mirror.then_some(total),
            warning_rows: vec![],
        }
    }

    #[test]
    fn log_line_fields() {
        let line = parse_log_line(
            "20230607:06:50:06:004205 gpstate:test1-m:gpadmin-[INFO]:-Starting gpstate with args: -f",
        )
        .unwrap();
        assert_eq!(
            line,
            LogLine {
                level: Level::Info,
                host: "test1-m".into(),
                program: "gpstate".into(),
                user: "gpadmin".into(),
                message: "Starting gpstate with args: -f".into(),
            }
        );
    }

    #[test]
    fn log_line_variants() {
        let long_pid = "20230607:06:50:06:1234567 gpstate:cdw:gpadmin-[WARNING]:-x";
        assert_eq!(parse_log_line(long_pid).unwrap().level, Level::Warning);
        let dashed_user = "20230607:06:50:06:004205 gpinitstandby:cdw-1:gp-admin-[ERROR]:-boom";
        let line = parse_log_line(dashed_user).unwrap();
        assert_eq!(
            (line.program.as_str(), line.user.as_str()),
            ("gpinitstandby", "gp-admin")
        );
        assert_eq!(line.level, Level::Error);
        let critical = "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[CRITICAL]:-gpstate failed.";
        assert_eq!(parse_log_line(critical).unwrap().level, Level::Critical);
        let debug = "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[DEBUG]:-x";
        assert_eq!(parse_log_line(debug).unwrap().level, Level::Debug);
        // A progress dot that lost its newline does not hide the line after it.
        let dotted = "..20230607:06:50:06:004205 gpstate:cdw:gpadmin-[INFO]:-x";
        assert_eq!(parse_log_line(dotted).unwrap().message, "x");
        // Double dash: the message keeps its own leading dash.
        let body = "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[INFO]:--Sync state: sync";
        assert_eq!(parse_log_line(body).unwrap().message, "-Sync state: sync");
    }

    #[test]
    fn log_line_rejects_other_lines() {
        assert_eq!(parse_log_line("...."), None);
        assert_eq!(parse_log_line(""), None);
        assert_eq!(
            parse_log_line("Do you want to continue? Yy|Nn (default=N):"),
            None
        );
        assert_eq!(
            parse_log_line("20230607:06:50:06:004205 gpstate:cdw:gpadmin-[NOTICE]:-x"),
            None
        );
        // A five-digit pid is not the utilities' format.
        assert_eq!(
            parse_log_line("20230607:06:50:06:04205 gpstate:cdw:gpadmin-[INFO]:-x"),
            None
        );
    }

    #[test]
    fn full_healthy() {
        let report = parse_full(fixture!("full_healthy.txt")).unwrap();
        assert_eq!(
            report,
            StandbyReport {
                standby: configured(
                    StandbyPid::Running { pid: 4321 },
                    "Standby host passive",
                    &[]
                ),
                replication: streaming(),
                warnings: vec![],
            }
        );
        assert!(report.is_passive());
        assert!(report.replication[0].is_streaming() && report.replication[0].is_sync());
        assert!(!report.more_than_one_sender());
    }

    #[test]
    fn full_no_standby() {
        let report = parse_full(fixture!("full_no_standby.txt")).unwrap();
        assert_eq!(
            report,
            StandbyReport {
                standby: StandbyDetails::NotConfigured,
                replication: vec![],
                warnings: vec![]
            }
        );
        assert!(!report.is_passive());
    }

    #[test]
    fn full_pid_zero() {
        let report = parse_full(fixture!("full_pid_zero.txt")).unwrap();
        assert_eq!(
            report.standby,
            configured(
                StandbyPid::NotRunning,
                "Standby process not running",
                PID_WARNINGS
            )
        );
        assert!(report.replication.is_empty());
        assert!(report.warnings.is_empty());
        assert!(!report.is_passive());
    }

    #[test]
    fn full_host_unreachable() {
        let report = parse_full(fixture!("full_unreachable.txt")).unwrap();
        let pid = StandbyPid::Unknown {
            error: "Error getting status from host scdw".into(),
        };
        assert_eq!(
            report.standby,
            configured(pid, "Status could not be determined", PID_WARNINGS)
        );
        // The WAL sender outlives the host until wal_sender_timeout.
        assert_eq!(report.replication, streaming());
    }

    #[test]
    fn full_stale_locks() {
        let cases = [
            (
                fixture!("full_stale_lock_no_process.txt"),
                "Have lock file /tmp/.s.PGSQL.5432.lock but no process running on port 5432",
                false,
            ),
            (
                fixture!("full_stale_no_socket.txt"),
                "No socket connection or lock file (/tmp/.s.PGSQL.5432.lock) found for port 5432",
                false,
            ),
            (
                fixture!("full_stale_no_lock_file.txt"),
                "No lock file /tmp/.s.PGSQL.5432.lock but process running on port 5432",
                true,
            ),
        ];
        for (stdout, error, sender) in cases {
            let report = parse_full(stdout).unwrap();
            let pid = StandbyPid::Stale {
                pid: 4321,
                error: error.into(),
            };
            assert_eq!(
                report.standby,
                configured(pid, "Status could not be determined", PID_WARNINGS)
            );
            assert_eq!(report.replication.len(), usize::from(sender), "{error}");
            assert!(report.warnings.is_empty());
        }
    }

    #[test]
    fn full_catchup_on_dashed_host() {
        let report = parse_full(fixture!("full_catchup.txt")).unwrap();
        assert_eq!(
            report.replication,
            vec![row("catchup", "0/16000060", "0/15FFFFA8", "0/15000000")]
        );
        assert!(!report.replication[0].is_streaming());
        assert!(report.is_passive());
    }

    #[test]
    fn full_more_than_one_row() {
        let report = parse_full(fixture!("full_more_than_one_row.txt")).unwrap();
        assert!(report.replication.is_empty());
        assert_eq!(report.warnings, vec![MORE_THAN_ONE_ROW.to_string()]);
        assert!(report.more_than_one_sender());
    }

    #[test]
    fn full_null_columns_and_noise() {
        let p = "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[INFO]:-";
        let stdout = format!(
            "{p}Standby coordinator instance not configured\n\n....\n{p}-pg_stat_replication\n\
             {p}-WAL Sender State: startup\n{p}-Sync state: None\n{p}-Sent Location: None\n\
             {p}-Flush Location: \n{p}-Replay Location: None\n"
        );
        let report = parse_full(&stdout).unwrap();
        assert_eq!(
            report.replication,
            vec![ReplicationRow {
                wal_sender_state: "startup".into(),
                sync_state: None,
                sent_location: None,
                flush_location: None,
                replay_location: None,
            }]
        );
    }

    #[test]
    fn full_errors() {
        let head =
            "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[INFO]:-Starting gpstate with args: -f\n";
        assert_eq!(
            parse_full(head),
            Err(ParseError::MissingSection {
                section: DETAILS,
                lines: 1
            })
        );
        let bad_port = fixture!("full_healthy.txt").replace("= 5432", "= fivek");
        let err = parse_full(&bad_port).unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::Malformed {
                    what: "a port number",
                    line: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("failed to read a port number at line 9: `"),
            "{err}"
        );
        let no_status: String = fixture!("full_healthy.txt")
            .lines()
            .filter(|l| !l.contains("Standby status"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            parse_full(&no_status),
            Err(ParseError::MissingRow {
                section: DETAILS,
                label: "Standby status".into(),
                line: 5
            })
        );
        let p = "20230607:06:50:06:004205 gpstate:cdw:gpadmin-[INFO]:-";
        let orphan = format!("{p}-pg_stat_replication\n{p}-Sync state: sync\n");
        assert!(matches!(
            parse_full(&orphan),
            Err(ParseError::Malformed { line: 2, .. })
        ));
        let cut: String = fixture!("full_healthy.txt")
            .lines()
            .take(11)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            parse_full(&cut),
            Err(ParseError::MissingSection {
                section: "pg_stat_replication",
                lines: 11
            })
        );
    }

    #[test]
    fn brief_healthy() {
        let summary = parse_brief(fixture!("brief_healthy.txt")).unwrap();
        assert_eq!(
            summary,
            StatusSummary {
                coordinator_instance: "Active".into(),
                coordinator_standby: CoordinatorStandby::Host("scdw".into()),
                standby_state: Some("Standby host passive".into()),
                total_segment_instances: 8,
                primary: healthy_counts(4, false),
                mirror: Some(healthy_counts(4, true)),
                warning_rows: vec![],
                other_rows: vec![],
                warnings: vec![],
            }
        );
    }

    #[test]
    fn brief_no_standby() {
        let summary = parse_brief(fixture!("brief_no_standby.txt")).unwrap();
        assert_eq!(
            summary.coordinator_standby,
            CoordinatorStandby::NotConfigured
        );
        assert_eq!(summary.standby_state, None);
        assert!(summary.warning_rows.is_empty());
    }

    #[test]
    fn brief_standby_down() {
        let summary = parse_brief(fixture!("brief_standby_down.txt")).unwrap();
        assert_eq!(summary.standby_state.as_deref(), Some("Standby host DOWN"));
        assert_eq!(
            summary.warning_rows,
            vec!["Standby coordinator state".to_string()]
        );
        assert_eq!(summary.mirror, Some(healthy_counts(4, true)));
    }

    #[test]
    fn brief_standby_unreachable() {
        let summary = parse_brief(fixture!("brief_unreachable.txt")).unwrap();
        assert_eq!(
            summary.standby_state.as_deref(),
            Some("Status could not be determined: Error getting status from host scdw")
        );
        assert_eq!(
            summary.warning_rows,
            vec!["Standby coordinator state".to_string()]
        );
        assert_eq!(summary.primary, healthy_counts(4, false));
    }

    #[test]
    fn brief_no_mirrors_narrow_labels() {
        let summary = parse_brief(fixture!("brief_no_mirrors.txt")).unwrap();
        assert_eq!(summary.mirror, None);
        assert_eq!(summary.total_segment_instances, 4);
        assert_eq!(summary.primary, healthy_counts(4, false));
        assert_eq!(
            summary.coordinator_standby,
            CoordinatorStandby::Host("scdw".into())
        );
    }

    #[test]
    fn brief_failures_with_progress_dots() {
        let stdout = fixture!("brief_segment_failure.txt");
        assert!(stdout.lines().any(|l| l == "...."));
        let summary = parse_brief(stdout).unwrap();
        let primary = SegmentCounts {
            valid: 3,
            failures: 1,
            pid_files_missing: 1,
            pid_files_found: 3,
            pids_missing: 1,
            pids_found: 3,
            postmaster_processes_missing: 1,
            postmaster_processes_found: 3,
            warning_rows: [
                "Total primary segment failures (at coordinator)",
                "Total number of postmaster.pid files missing",
                "Total number of postmaster.pid PIDs missing",
                "Total number postmaster processes missing",
            ]
            .map(String::from)
            .to_vec(),
            ..healthy_counts(4, false)
        };
        assert_eq!(summary.primary, primary);
        let mirror = summary.mirror.unwrap();
        assert_eq!(
            (mirror.acting_as_primary, mirror.acting_as_mirror),
            (Some(1), Some(3))
        );
        assert_eq!(
            mirror.warning_rows,
            vec!["Total number mirror segments acting as primary segments"]
        );
        assert!(summary.warnings.is_empty());
    }

    #[test]
    fn full_no_status_output() {
        let report = parse_full(fixture!("full_no_status_output.txt")).unwrap();
        let pid = StandbyPid::Unknown {
            error: "No status output provided from host scdw".into(),
        };
        assert_eq!(
            report.standby,
            configured(pid, "Status could not be determined", PID_WARNINGS)
        );
        assert!(!report.standby.is_passive());
        assert!(report.replication.is_empty());
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn full_startup_with_null_columns() {
        let report = parse_full(fixture!("full_startup_nulls.txt")).unwrap();
        assert!(report.is_passive());
        assert_eq!(
            report.replication,
            vec![ReplicationRow {
                wal_sender_state: "startup".into(),
                sync_state: None,
                sent_location: None,
                flush_location: None,
                replay_location: None,
            }]
        );
        assert!(!report.replication[0].is_streaming() && !report.replication[0].is_sync());
    }

    #[test]
    fn brief_no_standby_no_mirrors() {
        let summary = parse_brief(fixture!("brief_no_standby_no_mirrors.txt")).unwrap();
        assert_eq!(
            summary,
            StatusSummary {
                coordinator_instance: "Active".into(),
                coordinator_standby: CoordinatorStandby::NotConfigured,
                standby_state: None,
                total_segment_instances: 4,
                primary: healthy_counts(4, false),
                mirror: None,
                warning_rows: vec![],
                other_rows: vec![],
                warnings: vec![],
            }
        );
    }

    #[test]
    fn brief_standby_down_no_mirrors() {
        let summary = parse_brief(fixture!("brief_standby_down_no_mirrors.txt")).unwrap();
        assert_eq!(
            summary.coordinator_standby,
            CoordinatorStandby::Host("scdw".into())
        );
        assert_eq!(summary.standby_state.as_deref(), Some("Standby host DOWN"));
        assert_eq!(summary.warning_rows, vec!["Standby coordinator state"]);
        assert_eq!(summary.primary, healthy_counts(4, false));
        assert_eq!(summary.mirror, None);
    }

    #[test]
    fn brief_segment_host_unreachable_counts_everything_missing() {
        let stdout = fixture!("brief_segment_host_unreachable.txt");
        assert!(stdout.lines().any(|l| l == "....."));
        let summary = parse_brief(stdout).unwrap();
        let missing_rows = [
            "Total number of postmaster.pid files missing",
            "Total number of postmaster.pid PIDs missing",
            "Total number of /tmp lock files missing",
            "Total number postmaster processes missing",
        ]
        .map(String::from)
        .to_vec();
        let half_missing = |mirror: bool| SegmentCounts {
            pid_files_missing: 2,
            pid_files_found: 2,
            pids_missing: 2,
            pids_found: 2,
            lock_files_missing: 2,
            lock_files_found: 2,
            postmaster_processes_missing: 2,
            postmaster_processes_found: 2,
            warning_rows: missing_rows.clone(),
            ..healthy_counts(4, mirror)
        };
        assert_eq!(summary.primary, half_missing(false));
        assert_eq!(summary.mirror, Some(half_missing(true)));
        assert_eq!(
            summary.standby_state.as_deref(),
            Some("Standby host passive")
        );
        assert!(summary.warning_rows.is_empty() && summary.warnings.is_empty());
    }

    #[test]
    fn brief_stale_segment_files() {
        let summary = parse_brief(fixture!("brief_stale_segment_files.txt")).unwrap();
        // kill -9 of a primary: its pid file, pid and lock file stay, the process is gone.
        let primary = SegmentCounts {
            postmaster_processes_missing: 1,
            postmaster_processes_found: 3,
            warning_rows: vec!["Total number postmaster processes missing".into()],
            ..healthy_counts(4, false)
        };
        assert_eq!(summary.primary, primary);
        // A mirror's host rebooted: the lock file is gone too.
        let mirror = SegmentCounts {
            lock_files_missing: 1,
            lock_files_found: 3,
            postmaster_processes_missing: 1,
            postmaster_processes_found: 3,
            warning_rows: vec![
                "Total number of /tmp lock files missing".into(),
                "Total number postmaster processes missing".into(),
            ],
            ..healthy_counts(4, true)
        };
        assert_eq!(summary.mirror, Some(mirror));
    }

    #[test]
    fn brief_master_wording_and_unknown_rows() {
        let p = "20200715:09:29:42:005149 gpstate:hgdb-master-26:gpadmin-[INFO]:-";
        let w = "20200715:09:29:42:005149 gpstate:hgdb-master-26:gpadmin-[WARNING]:-";
        let mut stdout = format!(
            "{p}Greenplum instance status summary\n{p}   Master instance   = Active\n\
             {p}   Master standby   = No master standby configured\n\
             {p}   Total segment instance count from metadata   = 2\n{p}   Primary Segment Status\n"
        );
        for label in COUNT_LABELS.iter().take(11) {
            let label = label
                .replace("{kind}", "primary")
                .replace("coordinator", "master");
            stdout.push_str(&format!("{p}   {label}   = 2\n"));
        }
        stdout.push_str(&format!(
            "{p}   Mirrors not configured on this array\n{p}   Cluster Expansion   = In Progress\n\
             {w}something odd happened\n"
        ));
        let summary = parse_brief(&stdout).unwrap();
        assert_eq!(
            summary.coordinator_standby,
            CoordinatorStandby::NotConfigured
        );
        assert_eq!(summary.primary.pid_files_found, 2);
        assert_eq!(
            summary.other_rows,
            vec![SummaryRow {
                label: "Cluster Expansion".into(),
                value: "In Progress".into(),
                warning: false
            }]
        );
        assert_eq!(summary.warnings, vec!["something odd happened".to_string()]);
    }

    #[test]
    fn brief_errors() {
        let healthy = fixture!("brief_healthy.txt");
        assert_eq!(
            parse_brief(fixture!("full_healthy.txt")),
            Err(ParseError::MissingSection {
                section: SUMMARY,
                lines: 20
            })
        );
        let cut: String = healthy.lines().take(26).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            parse_brief(&cut),
            Err(ParseError::MissingSection {
                section: MIRROR,
                lines: 26
            })
        );
        let bad = healthy.replacen("= 8", "= eight", 1);
        assert!(matches!(
            parse_brief(&bad),
            Err(ParseError::Malformed {
                what: "a segment count",
                line: 11,
                ..
            })
        ));
        let no_found: String = healthy
            .lines()
            .filter(|l| !l.contains("processes found"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            parse_brief(&no_found),
            Err(ParseError::MissingRow {
                section: PRIMARY,
                label: "Total number postmaster processes found".into(),
                line: 13,
            })
        );
    }

    #[test]
    fn serializes_with_tags() {
        let report = parse_full(fixture!("full_pid_zero.txt")).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["standby"]["state"], "configured");
        assert_eq!(json["standby"]["pid"]["state"], "not_running");
    }
}
