//! `gp`: the Cloudberry management utilities as typed calls, and the `gpstate` parser.

pub mod gpstate;
mod utility;

pub use utility::{
    gpactivatestandby, gpinitstandby, gpinitsystem, gpstart, gpstate_brief, gpstate_full,
    gpstop_coordinator_only, run, tail, GpError, GpRun, LONG, SHORT,
};
