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
