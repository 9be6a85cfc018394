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

/// Acknowledged ids missing from `present` (the ids read back from the current coordinator,
/// per table), per table; tables with nothing missing are left out.
pub fn lost_writes(
    events: &[Event],
    present: &BTreeMap<String, BTreeSet<i64>>,
) -> BTreeMap<String, (usize, Vec<i64>)> {
    let empty = BTreeSet::new();
    acknowledged_writes(events)
        .into_iter()
        .filter_map(|(table, acked)| {
            let seen = present.get(&table).unwrap_or(&empty);
            let lost: Vec<i64> = acked.difference(seen).copied().collect();
            (!lost.is_empty()).then_some((table, (acked.len(), lost)))
        })
        .collect()
}

/// No acknowledged write lost: every id acknowledged in the history is among `present`.
pub fn no_lost_writes(events: &[Event], present: &BTreeMap<String, BTreeSet<i64>>) -> Verdict {
    let reasons = describe_losses(&lost_writes(events, present));
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
    let lost = lost_writes(events, present);
    let count: usize = lost.values().map(|(_, ids)| ids.len()).sum();
    if count == expected {
        return Verdict::Valid;
    }
    let mut reasons = vec![format!(
        "expected exactly {expected} acknowledged rows lost, found {count}"
    )];
    reasons.extend(describe_losses(&lost));
    Verdict::Invalid { reasons }
}

fn describe_losses(lost: &BTreeMap<String, (usize, Vec<i64>)>) -> Vec<String> {
    lost.iter()
        .map(|(table, (acked, ids))| {
            let shown: Vec<String> = ids.iter().take(20).map(i64::to_string).collect();
            format!(
                "{} of {acked} acknowledged rows of {table} are missing: ids {}{}",
                ids.len(),
                shown.join(", "),
                if ids.len() > 20 { ", ..." } else { "" }
            )
        })
        .collect()
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
