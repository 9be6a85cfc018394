//! The cluster (Jepsen's "db"): topology, bring-up of node containers on a per-cluster Docker
//! network, exec as gpadmin, host-level faults' primitives (kill, stop, pause, disconnect), log
//! collection, teardown, garbage collection by label, and templates of initialized clusters.

mod bringup;
mod gc;
mod handle;
pub mod template;
mod topology;

pub use gc::{gc, remove_run, GcReport};
pub use handle::{
    Cluster, ClusterError, ClusterSpec, CommandRecord, Publish, DEFAULT_READY_TIMEOUT,
};
pub(crate) use topology::env_prelude;
pub use topology::{Topology, TopologyError, GPADMIN, GPHOME};
