//! `scenario`: the TOML model of a scenario, how a file is read and checked, and the runner
//! that executes it.
//!
//! `model.rs` holds the schema as types; `load.rs` reads a file into them with every error at
//! its line, column and field; `validate.rs` checks the steps against the topology and each
//! other; `error.rs` is [`ScenarioError`]; `suggest.rs` finds the nearest valid name for a
//! misspelt one; `duration.rs` reads `"30s"`; `choice.rs` makes a file's `[choose]` choices
//! from a seed; `runner.rs` runs a scenario, or only brings up
//! its cluster and keeps it (`up`); `step.rs` runs one step; `gpstate.rs` runs its `gpstate` steps and `check.rs` its
//! `check` steps.

mod check;
pub mod choice;
mod duration;
mod error;
mod gpstate;
mod load;
mod model;
mod runner;
mod step;
mod suggest;
mod validate;

pub use error::{Place, ScenarioError};
pub use model::{
    ActivateStep, CheckStep, FaultKind, FaultStep, GpstateExpect, GpstateMode, GpstateStep,
    InitStandbyStep, Invariant, MoveStep, Scenario, SqlStep, StaleFilesStep, Step, StopStep,
    WorkloadStartStep, WorkloadStopStep, WriteStep,
};
pub use runner::{run, up, RunError, RunEvent, RunOptions, RunOutcome, StepOutcome, UpOutcome};
