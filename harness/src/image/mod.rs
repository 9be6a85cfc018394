//! Node images: the base image, the emulated Cloudberry image built on it, and the node contract
//! that every node image must satisfy.
//!
//! [`resolve`] picks the image a run uses (a named one, else the emulated one, built when its
//! context changed; its utilities compiled on the host by cargo, see `gputil.rs`); [`check`] verifies an image against the node contract of `images/README.md`
//! and returns a [`ContractReport`].

mod build;
mod check;
mod contract;
mod error;
mod gputil;

pub use build::{
    check_emulated_context, cold_build, debootstrap_base, emulated_context, ensure_base,
    ensure_emulated, exists, resolve, ColdBuild, BASE_TAG, EMULATED_REPO, UPSTREAM_BASE,
};
pub use build::{lock, LockGuard};
pub use check::{check, ContractCheck, DEFAULT_READY_TIMEOUT};
pub use contract::{Check, ContractReport, Status};
pub use error::ImageError;
