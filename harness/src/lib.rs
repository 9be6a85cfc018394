//! cbharness: a chaos and integration test harness for Apache Cloudberry coordinator failover.
//!
//! A [`scenario`] names a topology and steps. The runner brings up a [`cluster`] of node
//! containers (the db), drives the Cloudberry utilities through [`gp`], injects faults with the
//! [`nemesis`], writes through the client [`workload`], records everything in the [`history`],
//! judges it with the [`checker`] and compares `gpstate` output with [`snapshot`]s, leaving a
//! [`report`] bundle. See `ARCHITECTURE.md` at the repository root for the map.
#![warn(missing_docs)]

pub mod bench;
pub mod checker;
pub mod client;
pub mod cluster;
pub mod docker;
pub mod failover;
pub mod gp;
pub mod history;
pub mod image;
pub mod nemesis;
pub mod normalize;
pub mod report;
pub mod scenario;
pub mod snapshot;
pub mod workload;
