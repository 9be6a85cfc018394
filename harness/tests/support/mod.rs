//! Helpers shared by the Docker test binaries: the engine, counting labelled objects, and
//! throwaway images built through the API.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptionsBuilder};
use cbharness::docker::Engine;
use futures_util::StreamExt;

/// The engine, or a panic that says these tests need one.
pub async fn engine() -> Engine {
    Engine::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need Docker: {e}"))
}

/// Containers, networks and volumes carrying `label` (`key` or `key=value`).
pub async fn objects_with(label: &str) -> (usize, usize, usize) {
    let engine = engine().await;
    (
        engine.containers_with_label(label).await.unwrap().len(),
        engine.networks_with_label(label).await.unwrap().len(),
        engine.volumes_with_label(label).await.unwrap().len(),
    )
}

/// Builds `tag` from a one-file context holding `dockerfile`, through the Docker API.
pub async fn build_image(engine: &Engine, tag: &str, dockerfile: &str) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .expect("pack the build context");
    let context = tar.into_inner().expect("pack the build context");
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .dockerfile("Dockerfile")
        .rm(true)
        .forcerm(true)
        .labels(&HashMap::from([("cbharness.image", "test")]))
        .build();
    let mut stream =
        engine
            .api()
            .build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(item) = stream.next().await {
        let info = item.unwrap_or_else(|e| panic!("build {tag}: {e}"));
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            panic!("build {tag}: {message}");
        }
    }
}

/// Removes a test image.
pub async fn remove_image(engine: &Engine, tag: &str) {
    let options = RemoveImageOptionsBuilder::new().force(true).build();
    engine
        .api()
        .remove_image(tag, Some(options), None)
        .await
        .unwrap_or_else(|e| panic!("remove image {tag}: {e}"));
}
