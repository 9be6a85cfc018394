//! The cluster (Jepsen's "db"): topology, bring-up of node containers on a per-cluster Docker
//! network, exec as gpadmin, host-level faults' primitives (kill, stop, pause, disconnect), the
//! delaying relays of latency faults (`relay.rs`), log collection, teardown, garbage collection by label, templates of initialized clusters, and
//! clusters found by their labels after the process that made them is gone (`found.rs`,
//! `logs.rs`: what `cbh ls`, `exec`, `psql`, `logs` and `down` work on).

mod bringup;
mod endpoints;
mod error;
mod found;
mod gc;
mod handle;
mod logs;
mod relay;
pub mod template;
mod topology;

pub use endpoints::Endpoints;
pub use error::{ClusterError, CommandRecord};
pub use found::{
    group, kept_guide, listing, FindError, FoundCluster, FoundHost, HostState, PSQL_DATABASE,
};
pub use gc::{gc, keep_run, kept_runs, remove_run, GcReport};
pub use handle::{Cluster, ClusterSpec, Publish, DEFAULT_READY_TIMEOUT};
pub use logs::{host_logs, last_lines, tails, LogTail};
pub use relay::DelayRelay;
pub(crate) use topology::env_prelude;
pub use topology::{Topology, TopologyError, GPADMIN, GPHOME};
