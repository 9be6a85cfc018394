//! Building images: the Debian base and the emulated node image.
//!
//! The base is the first of: a local `debian:trixie-slim`, a local [`BASE_TAG`], a pull of
//! `debian:trixie-slim`, a `debootstrap --variant=minbase trixie` imported through the Docker API.
//! The emulated image (`images/emulated`) is tagged by a hash of its build context and the base
//! image id, so an unchanged image is never rebuilt. Builds are serialized across processes with
//! a file lock: nextest runs every test in its own process, so nothing in-process could share
//! the work.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::error::{io, ImageError};
use crate::docker::{is_not_found, DockerError, Engine};

/// Tag of the base image made by debootstrap.
pub const BASE_TAG: &str = "cbharness/base:trixie";
/// Upstream base image, used when present locally or pullable.
pub const UPSTREAM_BASE: &str = "debian:trixie-slim";
/// Repository of the emulated node image; the tag is the context hash.
pub const EMULATED_REPO: &str = "cbharness/emulated";

/// Where the emulated image's build context lives in this repository.
pub fn emulated_context() -> PathBuf {
    std::env::var_os("CBH_EMULATED_CONTEXT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/emulated"))
}

/// Returns the image to run nodes from: `requested` when given (it must exist locally),
/// else the emulated image, built when its context changed.
pub async fn resolve(engine: &Engine, requested: Option<&str>) -> Result<String, ImageError> {
    match requested {
        Some(image) => {
            if exists(engine, image).await? {
                Ok(image.to_string())
            } else {
                Err(ImageError::Missing(image.to_string()))
            }
        }
        None => ensure_emulated(engine, &emulated_context()).await,
    }
}

/// True when the engine has `image` locally.
pub async fn exists(engine: &Engine, image: &str) -> Result<bool, ImageError> {
    match engine.api().inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(source) => Err(DockerError::classify(format!("inspect image {image}"), source).into()),
    }
}

/// Builds (or finds) the emulated image for `context` and returns its tag.
pub async fn ensure_emulated(engine: &Engine, context: &Path) -> Result<String, ImageError> {
    let base = ensure_base(engine).await?;
    let base_id = engine
        .api()
        .inspect_image(&base)
        .await
        .map_err(DockerError::api(format!("inspect image {base}")))?
        .id
        .unwrap_or_default();
    let files = context_files(context)?;
    let hash = context_hash(&files, &base_id);
    let tag = format!("{EMULATED_REPO}:{hash}");
    if exists(engine, &tag).await? {
        return Ok(tag);
    }
    let _lock = lock(&format!("image-{hash}")).await?;
    // Another process may have built it while this one waited for the lock.
    if exists(engine, &tag).await? {
        return Ok(tag);
    }
    tracing::info!(%tag, context = %context.display(), "building the emulated node image");
    let body = context_tar(&files)?;
    let log_path = std::env::temp_dir().join(format!("cbharness-build-{hash}.log"));
    let mut log = File::create(&log_path).map_err(io("create the build log"))?;
    let options = BuildImageOptionsBuilder::new()
        .t(&tag)
        .dockerfile("Dockerfile")
        .rm(true)
        .forcerm(true)
        .buildargs(&HashMap::from([("BASE", base.as_str())]))
        .labels(&HashMap::from([("cbharness.image", "emulated")]))
        .build();
    let mut stream = engine
        .api()
        .build_image(options, None, Some(bollard::body_full(body.into())));
    let fail = |mut message: String| {
        if crate::docker::is_disk_full(&message) {
            message.push_str(
                "; the Docker engine's disk is full: free space (`cbh gc --all`, \
                 `docker system prune`) and build again",
            );
        }
        ImageError::Build {
            tag: tag.clone(),
            context: context.to_path_buf(),
            message,
            log: log_path.clone(),
        }
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(line) = info.stream {
                    let _ = log.write_all(line.as_bytes());
                }
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    let _ = writeln!(log, "ERROR: {err}");
                    return Err(fail(err));
                }
            }
            Err(e) => {
                let _ = writeln!(log, "ERROR: {e}");
                return Err(fail(e.to_string()));
            }
        }
    }
    if !exists(engine, &tag).await? {
        return Err(fail("the build ended without producing the image".into()));
    }
    Ok(tag)
}

/// Finds or makes the Debian trixie base image and returns its tag.
pub async fn ensure_base(engine: &Engine) -> Result<String, ImageError> {
    for candidate in [UPSTREAM_BASE, BASE_TAG] {
        if exists(engine, candidate).await? {
            return Ok(candidate.to_string());
        }
    }
    let _lock = lock("base").await?;
    if exists(engine, BASE_TAG).await? {
        return Ok(BASE_TAG.to_string());
    }
    if pull(engine, UPSTREAM_BASE).await {
        return Ok(UPSTREAM_BASE.to_string());
    }
    debootstrap_import(engine).await?;
    Ok(BASE_TAG.to_string())
}

async fn pull(engine: &Engine, image: &str) -> bool {
    let options = CreateImageOptionsBuilder::new().from_image(image).build();
    let mut stream = engine.api().create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            tracing::info!(%image, error = %e, "pull failed; falling back to debootstrap");
            return false;
        }
    }
    true
}

async fn debootstrap_import(engine: &Engine) -> Result<(), ImageError> {
    let no_base = |reason: String| ImageError::NoBase { reason };
    let dir = std::env::temp_dir().join(format!("cbharness-rootfs-{}", std::process::id()));
    let mirror = std::env::var("CBH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    tracing::info!(dir = %dir.display(), %mirror, "making a base image with debootstrap");
    let status = tokio::process::Command::new("debootstrap")
        .args(["--variant=minbase", "trixie"])
        .arg(&dir)
        .arg(&mirror)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| no_base(format!("could not run debootstrap: {e}")))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(no_base(format!("debootstrap exited with {status}")));
    }
    // GNU tar keeps device nodes and symlinks exactly as debootstrap made them.
    let output = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .args(["-c", "."])
        .output()
        .await
        .map_err(|e| no_base(format!("could not run tar: {e}")))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !output.status.success() {
        return Err(no_base(format!(
            "tar of the rootfs exited with {}",
            output.status
        )));
    }
    let (repo, tag) = BASE_TAG.split_once(':').expect("BASE_TAG has a tag");
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .build();
    let mut stream = engine.api().create_image(
        Some(options),
        Some(bollard::body_full(output.stdout.into())),
        None,
    );
    while let Some(item) = stream.next().await {
        item.map_err(DockerError::api(format!(
            "import the debootstrap rootfs as {BASE_TAG}"
        )))?;
    }
    Ok(())
}

/// A file of a build context: its path relative to the context and its bytes.
struct ContextFile {
    rel: String,
    mode: u32,
    bytes: Vec<u8>,
}

/// Patterns of the context's `.dockerignore` that this harness understands: a plain relative
/// path, or `**/name` for a name at any depth. Others are left to Docker (which still applies
/// them to the build); they only make the tag change more often than needed.
fn ignore_patterns(context: &Path) -> Vec<String> {
    std::fs::read_to_string(context.join(".dockerignore"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn ignored(patterns: &[String], rel: &str) -> bool {
    patterns.iter().any(|p| match p.strip_prefix("**/") {
        Some(name) => rel.split('/').any(|part| part == name),
        None => {
            rel == p.trim_end_matches('/')
                || rel.starts_with(&format!("{}/", p.trim_end_matches('/')))
        }
    })
}

/// Every file of the context in a stable order, without what `.dockerignore` excludes and
/// without build outputs (`target/`): only what Docker would see decides the tag.
fn context_files(context: &Path) -> Result<Vec<ContextFile>, ImageError> {
    let patterns = ignore_patterns(context);
    fn walk(
        root: &Path,
        dir: &Path,
        patterns: &[String],
        out: &mut Vec<ContextFile>,
    ) -> Result<(), ImageError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io(format!("read the build context {}", dir.display())))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .expect("walked paths are under the root")
                .to_string_lossy()
                .into_owned();
            if entry.file_name() == "target" || ignored(patterns, &rel) {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(io(format!("read {}", path.display())))?;
            if meta.is_dir() {
                walk(root, &path, patterns, out)?;
            } else if meta.is_file() {
                use std::os::unix::fs::PermissionsExt;
                let bytes = std::fs::read(&path).map_err(io(format!("read {}", path.display())))?;
                out.push(ContextFile {
                    rel,
                    mode: meta.permissions().mode() & 0o777,
                    bytes,
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(context, context, &patterns, &mut out)?;
    Ok(out)
}

fn context_hash(files: &[ContextFile], base_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(base_id.as_bytes());
    for f in files {
        h.update(f.rel.as_bytes());
        h.update([0]);
        h.update(f.mode.to_le_bytes());
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(&f.bytes);
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn context_tar(files: &[ContextFile]) -> Result<Vec<u8>, ImageError> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.bytes.len() as u64);
        header.set_mode(f.mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, &f.rel, f.bytes.as_slice())
            .map_err(io("pack the build context"))?;
    }
    builder.into_inner().map_err(io("pack the build context"))
}

/// Holds an exclusive cross-process lock until dropped.
pub struct LockGuard(#[allow(dead_code)] File);

/// Takes the cross-process lock `name` (a file in the temp dir), waiting for it. nextest runs
/// every test in its own process, so work shared between tests (an image build, a container
/// budget) is serialized with this, never with an in-process static.
pub async fn lock(name: &str) -> Result<LockGuard, ImageError> {
    let path = std::env::temp_dir().join(format!("cbharness-{name}.lock"));
    tokio::task::spawn_blocking(move || {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(format!("open the lock file {}", path.display())))?;
        file.lock()
            .map_err(io(format!("lock {}", path.display())))?;
        Ok(LockGuard(file))
    })
    .await
    .expect("the lock task does not panic")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, bytes: &[u8]) -> ContextFile {
        ContextFile {
            rel: rel.into(),
            mode: 0o644,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn the_tag_changes_with_any_file_byte_name_or_base() {
        let a = context_hash(&[file("Dockerfile", b"FROM x")], "base1");
        assert_eq!(a, context_hash(&[file("Dockerfile", b"FROM x")], "base1"));
        assert_ne!(a, context_hash(&[file("Dockerfile", b"FROM y")], "base1"));
        assert_ne!(a, context_hash(&[file("Dockerfil", b"FROM x")], "base1"));
        assert_ne!(a, context_hash(&[file("Dockerfile", b"FROM x")], "base2"));
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn dockerignore_patterns_match_plain_paths_and_any_depth_names() {
        let patterns = [
            "**/target".to_string(),
            "README.md".to_string(),
            "docs/".to_string(),
        ];
        assert!(ignored(&patterns, "gputils/target/release/x"));
        assert!(ignored(&patterns, "README.md"));
        assert!(ignored(&patterns, "docs/a.md"));
        assert!(!ignored(&patterns, "gputils/README.md"));
        assert!(!ignored(&patterns, "Dockerfile"));
    }

    #[test]
    fn the_emulated_context_is_in_the_repository() {
        let files = context_files(&emulated_context()).expect("context readable");
        assert!(files.iter().any(|f| f.rel == "Dockerfile"));
        assert!(files.iter().all(|f| !f.rel.contains("target/")));
    }
}
