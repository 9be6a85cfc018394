//! `scenario`: the TOML model of a scenario and the runner that executes it.

mod duration;
mod model;
mod runner;

pub use model::{
    ActivateStep, CheckStep, FaultKind, FaultStep, GpstateExpect, GpstateMode, GpstateStep,
    InitStandbyStep, Invariant, MoveStep, Scenario, ScenarioError, SqlStep, Step, StopStep,
    WriteStep,
};
pub use runner::{run, RunError, RunEvent, RunOptions, RunOutcome, StepOutcome};
