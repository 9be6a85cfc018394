//! [`ImageError`]: what can go wrong while finding, building or checking node images.

use std::path::PathBuf;

use super::build::{BASE_TAG, UPSTREAM_BASE};
use crate::docker::DockerError;

/// Errors while finding or building images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A Docker call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// No base image could be found or made.
    #[error(
        "failed to get a Debian trixie base image: none of `{UPSTREAM_BASE}` or `{BASE_TAG}` is \
         local, pulling failed, and debootstrap could not make one ({reason}); install it with \
         `apt-get install -y debootstrap` and run as root, or load a base image with \
         `docker load`/`docker tag <image> {BASE_TAG}`"
    )]
    NoBase {
        /// Why debootstrap did not work.
        reason: String,
    },
    /// The image build failed.
    #[error("failed to build {tag} from {context}: {message} (full build log: {log})")]
    Build {
        /// Target tag.
        tag: String,
        /// Build context directory.
        context: PathBuf,
        /// The builder's error.
        message: String,
        /// Where the whole build output is.
        log: PathBuf,
    },
    /// The emulated image's build context is not where `cbh` looks for it (an installed `cbh`
    /// without a checkout of the repository).
    #[error(
        "failed to find the emulated image's build context at {context} (its Dockerfile, and \
         the gputils crate that cbh compiles with cargo): run cbh from a checkout of the \
         cbharness repository (`cargo run -p cbharness -- image build`), or set \
         CBH_EMULATED_CONTEXT to a checkout's images/emulated"
    )]
    NoContext {
        /// Where it was looked for.
        context: PathBuf,
    },
    /// Cargo could not be started to compile the node utilities.
    #[error(
        "failed to run `{program}`, which compiles the node utilities of the emulated image: \
         install Rust with rustup (https://rustup.rs) so that `cargo` is on PATH, or name it \
         with CARGO=/path/to/cargo"
    )]
    NoCargo {
        /// The program that was run.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Cargo failed to compile the node utilities.
    #[error("failed to compile the node utilities with `{command}`:\n{message}")]
    Compile {
        /// The command, to run by hand.
        command: String,
        /// The end of cargo's output.
        message: String,
    },
    /// A user-named image does not exist.
    #[error(
        "failed to find image `{0}` in the local Docker engine; build it first (the emulated \
         image: `cargo run -p cbharness -- image build`; a Cloudberry node image: \
         `docker build -f images/cloudberry/Dockerfile --build-arg CLOUDBERRY_BASE=<image> \
         -t <tag> images`, see images/README.md) or check the name"
    )]
    Missing(String),
    /// Local file trouble (context, lock, logs).
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let what = what.into();
    move |source| ImageError::Io { what, source }
}
