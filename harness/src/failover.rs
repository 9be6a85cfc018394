//! Failover time, read from the history as CloudNativePG measures it: every acknowledged write
//! carries the WAL timeline it was written on (a column default filled from the current WAL
//! file's name), so the first write acknowledged on a later timeline is the first write of the
//! promoted coordinator. The writes are those of the concurrent workload when one runs across
//! the fault (its clients move to the promoted coordinator on their own), else of the `write`
//! steps, whose first write after the activation is then the figure. Also the time until
//! mirroring is restored: the first `gpstate -f` after that showing a standby `streaming` and
//! `sync`.
//!
//! Both are measured as the scenario drives the recovery: they include the operator's steps
//! (activation, re-initialization), which is what a user of the procedure waits for.

use std::time::Duration;

use serde::Serialize;

use crate::history::{Event, Kind, Process};

/// What a run's history says about its failover.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverTimes {
    /// The fault: its kind and host, as recorded.
    pub fault: serde_json::Value,
    /// Timeline of the last write acknowledged before the fault.
    pub timeline_before: Option<i64>,
    /// Timeline of the first write acknowledged on a later one.
    pub timeline_after: Option<i64>,
    /// From the fault's start to that first write's acknowledgement.
    #[serde(serialize_with = "ser_opt_duration")]
    pub to_first_write: Option<Duration>,
    /// From the fault's start to the first `gpstate -f` showing the standby `sync` after the
    /// new coordinator took writes.
    #[serde(serialize_with = "ser_opt_duration")]
    pub to_mirroring: Option<Duration>,
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl std::fmt::Display for FailoverTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |d: Option<Duration>| {
            d.map(|d| format!("{:.1}s", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into())
        };
        write!(
            f,
            "fault to first write on the new timeline {} (timeline {} -> {}), to mirroring restored (sync) {}",
            secs(self.to_first_write),
            self.timeline_before.map_or("?".into(), |t| t.to_string()),
            self.timeline_after.map_or("?".into(), |t| t.to_string()),
            secs(self.to_mirroring)
        )
    }
}

/// The timeline of the last write acknowledged before `since_ms`, and the first write
/// acknowledged after it on a later timeline: the promoted coordinator's first. A write the old
/// coordinator acknowledges after the fault (a split brain) is on the old timeline and does not
/// count.
pub fn first_write_on_a_later_timeline(
    events: &[Event],
    since_ms: f64,
) -> (Option<i64>, Option<&Event>) {
    let acked = |e: &&Event| matches!(e.process, Process::Client(_)) && e.kind == Kind::Ok;
    let before = events
        .iter()
        .rev()
        .filter(|e| e.time_ms < since_ms)
        .filter(acked)
        .find_map(timeline);
    let first = events
        .iter()
        .filter(|e| e.time_ms >= since_ms)
        .filter(acked)
        .find(|e| matches!((timeline(e), before), (Some(t), Some(b)) if t > b));
    (before, first)
}

fn timeline(e: &Event) -> Option<i64> {
    e.value.get("timeline").and_then(|t| t.as_i64())
}

/// Measures the failover of the first fault in `events`; `None` when the run had no fault.
pub fn measure(events: &[Event]) -> Option<FailoverTimes> {
    let fault = events
        .iter()
        .find(|e| e.process == Process::Nemesis && e.kind == Kind::Invoke && e.op == "fault")?;
    let (timeline_before, first_write) = first_write_on_a_later_timeline(events, fault.time_ms);
    let since_fault = |e: &Event| Duration::from_secs_f64((e.time_ms - fault.time_ms) / 1000.0);
    let mirroring = first_write.and_then(|w| {
        events[w.index..].iter().find(|e| {
            e.op == "replication"
                && e.value.get("sync_state").and_then(|s| s.as_str()) == Some("sync")
                && e.value.get("wal_sender_state").and_then(|s| s.as_str()) == Some("streaming")
        })
    });
    Some(FailoverTimes {
        fault: fault.value.clone(),
        timeline_before,
        timeline_after: first_write.and_then(timeline),
        to_first_write: first_write.map(since_fault),
        to_mirroring: mirroring.map(since_fault),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(
        index: usize,
        time_ms: f64,
        process: Process,
        kind: Kind,
        op: &str,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index,
            time_ms,
            process,
            kind,
            op: op.into(),
            value,
        }
    }

    fn write(index: usize, time_ms: f64, timeline: i64) -> Event {
        event(
            index,
            time_ms,
            Process::Client(0),
            Kind::Ok,
            "write",
            json!({"id": index, "timeline": timeline}),
        )
    }

    fn history() -> Vec<Event> {
        vec![
            write(0, 100.0, 1),
            write(1, 200.0, 1),
            event(
                2,
                1000.0,
                Process::Nemesis,
                Kind::Invoke,
                "fault",
                json!({"fault": "crash", "host": "cdw"}),
            ),
            event(
                3,
                1010.0,
                Process::Nemesis,
                Kind::Info,
                "fault",
                json!({"fault": "crash", "host": "cdw"}),
            ),
            // An acknowledged write on the old timeline after the fault (a split brain's old
            // coordinator) is not the new coordinator's.
            write(4, 2000.0, 1),
            write(5, 4500.0, 2),
            event(
                6,
                5000.0,
                Process::Runner,
                Kind::Ok,
                "replication",
                json!({"wal_sender_state": "startup", "sync_state": "async"}),
            ),
            event(
                7,
                9000.0,
                Process::Runner,
                Kind::Ok,
                "replication",
                json!({"wal_sender_state": "streaming", "sync_state": "sync"}),
            ),
        ]
    }

    #[test]
    fn failover_runs_from_the_fault_to_the_first_write_on_a_later_timeline() {
        let times = measure(&history()).unwrap();
        assert_eq!(times.timeline_before, Some(1));
        assert_eq!(times.timeline_after, Some(2));
        assert_eq!(times.to_first_write, Some(Duration::from_millis(3500)));
    }

    #[test]
    fn mirroring_is_restored_at_the_first_streaming_sync_standby_after_that() {
        let times = measure(&history()).unwrap();
        assert_eq!(times.to_mirroring, Some(Duration::from_secs(8)));
    }

    #[test]
    fn a_run_whose_new_coordinator_never_took_a_write_has_no_failover_time() {
        let events: Vec<Event> = history().into_iter().take(5).collect();
        let times = measure(&events).unwrap();
        assert_eq!(times.to_first_write, None);
        assert_eq!(times.to_mirroring, None);
        assert!(times.to_string().contains("never"), "{times}");
    }

    #[test]
    fn a_run_without_a_fault_has_nothing_to_measure() {
        assert_eq!(measure(&[write(0, 1.0, 1)]), None);
    }
}
