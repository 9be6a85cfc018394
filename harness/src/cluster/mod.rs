//! The cluster (Jepsen's "db"): topology, bring-up of node containers on a per-cluster Docker
//! network, exec as gpadmin, host-level faults' primitives (kill, start), log collection,
//! teardown and garbage collection by label.

mod bringup;
mod endpoints;
mod gc;
mod handle;
mod topology;

pub use endpoints::Endpoints;
pub use gc::{gc, remove_run, GcReport};
pub use handle::{
    Cluster, ClusterError, ClusterSpec, CommandRecord, Publish, DEFAULT_READY_TIMEOUT,
};
pub(crate) use topology::env_prelude;
pub use topology::{Topology, TopologyError, GPADMIN, GPHOME};
