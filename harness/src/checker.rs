//! The checker: invariants over the history and the cluster's observed state.
//!
//! Checkers are pure functions of data (the history, rows read back, catalog rows); they never
//! touch Docker. A verdict is valid, invalid or unknown; combined verdicts take the worst.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{Event, Kind};

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The invariant holds.
    Valid,
    /// It does not; the reasons say where.
    Invalid {
        /// What is wrong.
        reasons: Vec<String>,
    },
    /// It could not be decided.
    Unknown {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// True for [`Verdict::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }

    fn rank(&self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Unknown { .. } => 1,
            Verdict::Invalid { .. } => 2,
        }
    }

    /// The worse of two verdicts (invalid beats unknown beats valid).
    pub fn worst(self, other: Verdict) -> Verdict {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// Rows acknowledged as written, per table, from the history.
pub fn acknowledged_writes(events: &[Event]) -> BTreeMap<String, BTreeSet<i64>> {
    let mut acked: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.op == "write" && e.kind == Kind::Ok)
    {
        if let (Some(table), Some(id)) = (e.value["table"].as_str(), e.value["id"].as_i64()) {
            acked.entry(table.to_string()).or_default().insert(id);
        }
    }
    acked
}

/// Every table a write was invoked on, whatever came of it.
pub fn written_tables(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e.op == "write")
        .filter_map(|e| e.value["table"].as_str().map(str::to_string))
        .collect()
}

/// One table's writes: their outcomes in the history, and which were read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableWrites {
    /// The table.
    pub table: String,
    /// Writes acknowledged (`ok`).
    pub acknowledged: usize,
    /// Acknowledged ids not read back: lost writes.
    pub lost: Vec<i64>,
    /// Writes the server certainly rejected (`fail`).
    pub failed: usize,
    /// Writes of unknown outcome (`info`, or invoked and never completed): never lost, whether
    /// or not they are present.
    pub unknown: usize,
    /// How many of those unknown writes were read back.
    pub unknown_present: usize,
}

impl std::fmt::Display for TableWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} acknowledged, {} lost, {} failed, {} unknown ({} of them present)",
            self.table,
            self.acknowledged,
            self.lost.len(),
            self.failed,
            self.unknown,
            self.unknown_present
        )
    }
}

/// The outcome of every write per table, against `present` (the ids read back from the
/// current coordinator, per table). A write's outcome is its last completion (`ok`, `fail`,
/// `info`); a write invoked and never completed is unknown.
pub fn write_counts(
    events: &[Event],
    present: &BTreeMap<String, BTreeSet<i64>>,
) -> Vec<TableWrites> {
    let mut outcomes: BTreeMap<String, BTreeMap<i64, Kind>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.op == "write") {
        if let (Some(table), Some(id)) = (e.value["table"].as_str(), e.value["id"].as_i64()) {
            let ids = outcomes.entry(table.to_string()).or_default();
            match e.kind {
                Kind::Invoke => {
                    ids.entry(id).or_insert(Kind::Info);
                }
                kind => {
                    ids.insert(id, kind);
                }
            }
        }
    }
    let empty = BTreeSet::new();
    outcomes
        .into_iter()
        .map(|(table, ids)| {
            let seen = present.get(&table).unwrap_or(&empty);
            let mut counts = TableWrites {
                table,
                acknowledged: 0,
                lost: Vec::new(),
                failed: 0,
                unknown: 0,
                unknown_present: 0,
            };
            for (id, kind) in ids {
                match kind {
                    Kind::Ok => {
                        counts.acknowledged += 1;
                        if !seen.contains(&id) {
                            counts.lost.push(id);
                        }
                    }
                    Kind::Fail => counts.failed += 1,
                    Kind::Info | Kind::Invoke => {
                        counts.unknown += 1;
                        counts.unknown_present += usize::from(seen.contains(&id));
                    }
                }
            }
            counts
        })
        .collect()
}

/// No acknowledged write lost: every id acknowledged in the history is among `present`
/// (the ids read back from the current coordinator, per table). Writes of unknown outcome are
/// never counted as lost; a reason names how many there were.
pub fn no_lost_writes(events: &[Event], present: &BTreeMap<String, BTreeSet<i64>>) -> Verdict {
    let mut reasons = Vec::new();
    for counts in write_counts(events, present) {
        let lost = &counts.lost;
        if lost.is_empty() {
            continue;
        }
        let shown: Vec<String> = lost.iter().take(20).map(i64::to_string).collect();
        let mut reason = format!(
            "{} of {} acknowledged rows of {} are missing: ids {}{}",
            lost.len(),
            counts.acknowledged,
            counts.table,
            shown.join(", "),
            if lost.len() > 20 { ", ..." } else { "" }
        );
        if counts.unknown > 0 {
            reason.push_str(&format!(
                "; {} writes of unknown outcome are not counted ({} of them present)",
                counts.unknown, counts.unknown_present
            ));
        }
        reasons.push(reason);
    }
    if reasons.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid { reasons }
    }
}

/// Exactly `expected` acknowledged writes lost, no more and no fewer: for a scenario whose
/// point is a loss (activating a stale standby with `-f`).
pub fn exactly_lost(
    events: &[Event],
    present: &BTreeMap<String, BTreeSet<i64>>,
    expected: usize,
) -> Verdict {
    let count: usize = write_counts(events, present)
        .iter()
        .map(|c| c.lost.len())
        .sum();
    if count == expected {
        return Verdict::Valid;
    }
    let mut reasons = vec![format!(
        "expected exactly {expected} acknowledged rows lost, found {count}"
    )];
    if let Verdict::Invalid { reasons: losses } = no_lost_writes(events, present) {
        reasons.extend(losses);
    }
    Verdict::Invalid { reasons }
}

/// What a coordinator whose standby was activated says when started: Cloudberry's `gpstart`
/// compares its timeline with the standby's and refuses when the standby's is later.
pub const ACTIVATED_REFUSAL: &str = "Standby activated, this node no more can act as coordinator.";

/// The failed coordinator on `host` cannot come back as a coordinator: `gpstart -a` of its data
/// directory exited non-zero with [`ACTIVATED_REFUSAL`] in `output`, and afterwards the host
/// does not accept writes. A failure for another reason proves nothing either way: unknown.
pub fn old_coordinator_refuses(
    host: &str,
    exit_code: i64,
    output: &str,
    accepts_writes: bool,
) -> Verdict {
    let mut reasons = Vec::new();
    if exit_code == 0 {
        reasons.push(format!(
            "`gpstart -a` on {host} started the old coordinator (exit code 0), expected the \
             refusal `{ACTIVATED_REFUSAL}`"
        ));
    }
    if accepts_writes {
        reasons.push(format!(
            "after `gpstart -a`, {host} accepts writes on its coordinator port (not in recovery)"
        ));
    }
    if !reasons.is_empty() {
        return Verdict::Invalid { reasons };
    }
    if output.contains(ACTIVATED_REFUSAL) {
        return Verdict::Valid;
    }
    Verdict::Unknown {
        reason: format!(
            "`gpstart -a` on {host} failed (exit code {exit_code}) without `{ACTIVATED_REFUSAL}`: \
             it refused for another reason, which does not show that the old coordinator would"
        ),
    }
}

/// A row of `gp_segment_configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogRow {
    /// `dbid`.
    pub dbid: i32,
    /// `content` (-1 for coordinator and standby).
    pub content: i32,
    /// `role`: `p` or `m`.
    pub role: String,
    /// `preferred_role`.
    pub preferred_role: String,
    /// `mode`.
    pub mode: String,
    /// `status`.
    pub status: String,
    /// `port`.
    pub port: i32,
    /// `hostname`.
    pub hostname: String,
    /// `datadir`.
    pub datadir: String,
}

/// Exactly one coordinator (content -1, role `p`) in the catalog, and it is on `expected_host`.
pub fn one_coordinator(rows: &[CatalogRow], expected_host: &str) -> Verdict {
    let coordinators: Vec<&CatalogRow> = rows
        .iter()
        .filter(|r| r.content == -1 && r.role == "p")
        .collect();
    match coordinators.as_slice() {
        [only] if only.hostname == expected_host => Verdict::Valid,
        [only] => Verdict::Invalid {
            reasons: vec![format!(
                "the catalog's coordinator is {} (dbid {}), expected {expected_host}",
                only.hostname, only.dbid
            )],
        },
        [] => Verdict::Invalid {
            reasons: vec!["the catalog has no coordinator (content -1, role p)".into()],
        },
        many => Verdict::Invalid {
            reasons: vec![format!(
                "the catalog has {} coordinators (content -1, role p): {}",
                many.len(),
                many.iter()
                    .map(|r| format!("{} (dbid {})", r.hostname, r.dbid))
                    .collect::<Vec<_>>()
                    .join(", ")
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Process};
    use serde_json::json;

    fn history_with(outcomes: &[(i64, Kind)]) -> Vec<Event> {
        let h = History::new();
        for (id, kind) in outcomes {
            let v = json!({"table": "t", "id": id});
            h.record(Process::Client(0), Kind::Invoke, "write", v.clone());
            h.record(Process::Client(0), *kind, "write", v);
        }
        h.events()
    }

    fn present(ids: &[i64]) -> BTreeMap<String, BTreeSet<i64>> {
        BTreeMap::from([("t".to_string(), ids.iter().copied().collect())])
    }

    #[test]
    fn all_acknowledged_rows_present_is_valid() {
        let h = history_with(&[(1, Kind::Ok), (2, Kind::Ok)]);
        assert_eq!(no_lost_writes(&h, &present(&[1, 2, 3])), Verdict::Valid);
    }

    #[test]
    fn a_missing_acknowledged_row_is_a_lost_write() {
        let h = history_with(&[(1, Kind::Ok), (2, Kind::Ok), (3, Kind::Ok)]);
        let v = no_lost_writes(&h, &present(&[1, 3]));
        assert_eq!(
            v,
            Verdict::Invalid {
                reasons: vec!["1 of 3 acknowledged rows of t are missing: ids 2".into()]
            }
        );
    }

    #[test]
    fn unknown_and_failed_writes_are_not_counted_as_lost() {
        let h = history_with(&[(1, Kind::Ok), (2, Kind::Info), (3, Kind::Fail)]);
        assert_eq!(no_lost_writes(&h, &present(&[1])), Verdict::Valid);
    }

    #[test]
    fn an_expected_loss_holds_only_at_its_exact_size() {
        let h = history_with(&[(1, Kind::Ok), (2, Kind::Ok), (3, Kind::Ok)]);
        assert_eq!(exactly_lost(&h, &present(&[1]), 2), Verdict::Valid);
        let fewer = exactly_lost(&h, &present(&[1, 2]), 2);
        assert_eq!(
            fewer,
            Verdict::Invalid {
                reasons: vec![
                    "expected exactly 2 acknowledged rows lost, found 1".into(),
                    "1 of 3 acknowledged rows of t are missing: ids 3".into()
                ]
            }
        );
        assert!(!exactly_lost(&h, &present(&[1, 2, 3]), 2).is_valid());
    }

    #[test]
    fn each_outcome_is_counted_and_only_acknowledged_rows_can_be_lost() {
        let mut h = history_with(&[
            (1, Kind::Ok),
            (2, Kind::Ok),
            (3, Kind::Fail),
            (4, Kind::Info),
            (5, Kind::Info),
        ]);
        // Invoked, never completed (a client aborted mid-flight): unknown.
        let extra = History::from_events(h.clone());
        extra.record(
            Process::Client(1),
            Kind::Invoke,
            "write",
            json!({"table": "t", "id": 6}),
        );
        h = extra.events();
        let present = present(&[1, 4]);
        assert_eq!(
            write_counts(&h, &present),
            vec![TableWrites {
                table: "t".into(),
                acknowledged: 2,
                lost: vec![2],
                failed: 1,
                unknown: 3,
                unknown_present: 1,
            }]
        );
        assert_eq!(
            no_lost_writes(&h, &present),
            Verdict::Invalid {
                reasons: vec![
                    "1 of 2 acknowledged rows of t are missing: ids 2; 3 writes of \
                               unknown outcome are not counted (1 of them present)"
                        .into()
                ]
            }
        );
    }

    #[test]
    fn writes_of_several_clients_and_tables_are_checked_per_table() {
        let h = History::new();
        for (process, table, id) in [(0, "a", 1), (1, "w", 1_000_001), (2, "w", 2_000_001)] {
            let v = json!({"table": table, "id": id});
            h.record(Process::Client(process), Kind::Invoke, "write", v.clone());
            h.record(Process::Client(process), Kind::Ok, "write", v);
        }
        let events = h.events();
        assert_eq!(
            written_tables(&events),
            BTreeSet::from(["a".to_string(), "w".to_string()])
        );
        let present = BTreeMap::from([
            ("a".to_string(), BTreeSet::from([1])),
            ("w".to_string(), BTreeSet::from([1_000_001])),
        ]);
        assert_eq!(
            no_lost_writes(&events, &present),
            Verdict::Invalid {
                reasons: vec!["1 of 2 acknowledged rows of w are missing: ids 2000001".into()]
            }
        );
    }

    #[test]
    fn the_old_coordinator_refusing_with_the_timeline_message_is_valid() {
        let output = format!("[CRITICAL]:-gpstart failed. ({ACTIVATED_REFUSAL})\n");
        assert_eq!(
            old_coordinator_refuses("cdw", 2, &output, false),
            Verdict::Valid
        );
    }

    #[test]
    fn an_old_coordinator_that_starts_or_takes_writes_is_invalid() {
        assert!(matches!(
            old_coordinator_refuses("cdw", 0, "Database successfully started", true),
            Verdict::Invalid { reasons } if reasons.len() == 2
        ));
        let refused = format!("{ACTIVATED_REFUSAL}\n");
        assert!(!old_coordinator_refuses("cdw", 2, &refused, true).is_valid());
    }

    #[test]
    fn a_start_that_fails_for_another_reason_proves_nothing() {
        assert!(matches!(
            old_coordinator_refuses("cdw", 2, "Port 5432 is already in use", false),
            Verdict::Unknown { .. }
        ));
    }

    fn coordinator(dbid: i32, host: &str, role: &str) -> CatalogRow {
        CatalogRow {
            dbid,
            content: -1,
            role: role.into(),
            preferred_role: role.into(),
            mode: "s".into(),
            status: "u".into(),
            port: 5432,
            hostname: host.into(),
            datadir: "/data0/database/coordinator/gpseg-1".into(),
        }
    }

    #[test]
    fn one_coordinator_on_the_expected_host_is_valid() {
        let rows = [coordinator(6, "scdw", "p"), coordinator(7, "cdw", "m")];
        assert_eq!(one_coordinator(&rows, "scdw"), Verdict::Valid);
    }

    #[test]
    fn two_coordinators_or_none_or_the_wrong_one_are_invalid() {
        let two = [coordinator(1, "cdw", "p"), coordinator(6, "scdw", "p")];
        assert!(!one_coordinator(&two, "scdw").is_valid());
        assert!(!one_coordinator(&[coordinator(7, "cdw", "m")], "cdw").is_valid());
        assert!(!one_coordinator(&[coordinator(1, "cdw", "p")], "scdw").is_valid());
    }

    #[test]
    fn the_worst_verdict_wins() {
        let invalid = Verdict::Invalid { reasons: vec![] };
        let unknown = Verdict::Unknown { reason: "x".into() };
        assert_eq!(Verdict::Valid.worst(unknown.clone()), unknown);
        assert_eq!(unknown.clone().worst(invalid.clone()), invalid);
        assert_eq!(invalid.clone().worst(Verdict::Valid), invalid);
    }
}
