//! [`ScenarioError`]: what is wrong with a scenario file, and exactly where.
//!
//! Every error but [`ScenarioError::Read`] reads `path:line:column: <place>: <message>`, where
//! the place is `step N (`field`)`, `[topology] (`field`)` or, at the top of the file, the
//! field alone; the message says what was expected and, for a misspelt name, suggests the
//! nearest valid one.

use std::fmt;
use std::path::PathBuf;

use crate::cluster::TopologyError;

/// The part of a scenario file an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The top level: `name`, `description`, or TOML that does not parse.
    File,
    /// The `[topology]` table.
    Topology,
    /// The `[[step]]` table with this 1-based number.
    Step(usize),
}

/// `place (`field`): `, as the prefix of a message.
struct At<'a>(Place, Option<&'a str>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Place::File, None) => Ok(()),
            (Place::File, Some(field)) => write!(f, "`{field}`: "),
            (Place::Topology, None) => write!(f, "[topology]: "),
            (Place::Topology, Some(field)) => write!(f, "[topology] (`{field}`): "),
            (Place::Step(n), None) => write!(f, "step {n}: "),
            (Place::Step(n), Some(field)) => write!(f, "step {n} (`{field}`): "),
        }
    }
}

/// Errors loading a scenario; each names the file, the line and column, and the field.
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
    /// The text is not TOML, or does not fit the schema: an unknown field or action, a value of
    /// the wrong type, a missing field.
    #[error("{path}:{line}:{column}: {}{message}", At(*.place, .field.as_deref()))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The part of the file.
        place: Place,
        /// The field whose value is wrong (dotted below a step, e.g. `expect.sync_state`);
        /// `None` when the message names it (an unknown or missing field).
        field: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A step that does not fit the topology or the steps before it.
    #[error("{path}:{line}:{column}: {}{message}", At(Place::Step(*.step), Some(.field)))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value, else of the step's `[[step]]` header.
        line: usize,
        /// 1-based column of the offending value, else of the step's `[[step]]` header.
        column: usize,
        /// 1-based step number.
        step: usize,
        /// The offending field, dotted below the step (e.g. `expect.sync_state`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The topology cannot be built.
    #[error("{path}:{line}:{column}: {}{reason}", At(Place::Topology, Some(.field)))]
    Topology {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending value, else of `[topology]`.
        line: usize,
        /// 1-based column of the offending value, else of `[topology]`.
        column: usize,
        /// The field to change.
        field: String,
        /// Why the topology cannot be built; part of the message, not a cause underneath it.
        reason: TopologyError,
    },
}
