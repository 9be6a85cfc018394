//! The history: every operation of a run, in order, as Jepsen records it.
//!
//! An operation is invoked, then completes as `ok`, `fail` or `info` (outcome unknown: a timeout
//! or a fault). The runner, the nemesis and the clients all append here; the checker and the
//! report read it. It is the single record of what happened.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Who performed an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    /// The scenario runner (steps, utilities).
    Runner,
    /// The fault injector.
    Nemesis,
    /// A client of the database, numbered.
    Client(u32),
}

/// The phase of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The operation started.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It completed and certainly did not take effect.
    Fail,
    /// Its outcome is unknown (timeout, connection lost mid-flight) or it is a fault marker.
    Info,
}

/// One entry of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the history.
    pub index: usize,
    /// Milliseconds since the run started.
    pub time_ms: f64,
    /// Who did it.
    pub process: Process,
    /// Invoke, ok, fail or info.
    pub kind: Kind,
    /// The operation, e.g. `step`, `fault`, `heal`, `write`.
    pub op: String,
    /// What it was about: a step title, a host, a row id.
    pub value: serde_json::Value,
}

/// A shared, append-only history.
#[derive(Clone)]
pub struct History {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

impl History {
    /// An empty history starting now.
    pub fn new() -> History {
        History {
            start: Instant::now(),
            events: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Appends an event and returns its index.
    pub fn record(
        &self,
        process: Process,
        kind: Kind,
        op: &str,
        value: impl Into<serde_json::Value>,
    ) -> usize {
        let mut events = self.events.lock().expect("history lock");
        let index = events.len();
        events.push(Event {
            index,
            time_ms: self.start.elapsed().as_secs_f64() * 1000.0,
            process,
            kind,
            op: op.to_string(),
            value: value.into(),
        });
        index
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("history lock").clone()
    }

    /// Builds a history from events, for checkers tested without a cluster.
    pub fn from_events(events: Vec<Event>) -> History {
        History {
            start: Instant::now(),
            events: Arc::new(Mutex::new(events)),
        }
    }
}

/// Serializes a duration as fractional seconds.
pub(crate) fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}
