//! Building images: the Debian base and the emulated node image.
//!
//! The base is the first of: a local `debian:trixie-slim`, a local [`BASE_TAG`], a pull of
//! `debian:trixie-slim`, a `debootstrap --variant=minbase trixie` imported through the Docker API.
//! The emulated image (`images/emulated`) is tagged by a hash of its sources (the build context,
//! the utilities' crate included) and the base image id, so an unchanged image is never rebuilt;
//! the utilities are compiled on the host (`gputil.rs`) only when the image has to be built, and
//! the binary joins the context that is sent. Builds are serialized across processes with
//! a file lock: nextest runs every test in its own process, so nothing in-process could share
//! the work.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::error::{io, ImageError};
use super::gputil;
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

/// Fails with [`ImageError::NoContext`] unless `context` holds the emulated image's sources:
/// an installed `cbh` has no checkout to build from.
pub fn check_emulated_context(context: &Path) -> Result<(), ImageError> {
    let crate_manifest = context.join(gputil::CRATE_DIR).join("Cargo.toml");
    if context.join("Dockerfile").is_file() && crate_manifest.is_file() {
        Ok(())
    } else {
        Err(ImageError::NoContext {
            context: context.to_path_buf(),
        })
    }
}

/// Builds (or finds) the emulated image for `context` and returns its tag. Cargo runs only when
/// the tag is missing: the tag hashes the sources, never the compiled binary.
pub async fn ensure_emulated(engine: &Engine, context: &Path) -> Result<String, ImageError> {
    check_emulated_context(context)?;
    let base = ensure_base(engine).await?;
    let base_id = engine.image_id(&base).await?;
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
    let binary = gputil::compile(&gputil::Cargo::from_env(), context).await?;
    let spec = BuildSpec {
        tag: &tag,
        base: &base,
        no_cache: false,
        labels: HashMap::from([("cbharness.image".to_string(), "emulated".to_string())]),
    };
    build(engine, context, &files, &binary.bytes, &spec).await?;
    Ok(tag)
}

/// What a cold build of the emulated image took.
#[derive(Debug, Clone, Copy)]
pub struct ColdBuild {
    /// Compiling the node utilities in an empty target directory.
    pub compile: Duration,
    /// The image build without the engine's cache.
    pub image: Duration,
}

/// Builds the emulated image from nothing but its base, as on a fresh machine: the utilities
/// compiled in an empty target directory (removed afterwards), the image built without the
/// engine's cache, tagged `tag` with `labels`. The caller removes the image.
pub async fn cold_build(
    engine: &Engine,
    context: &Path,
    tag: &str,
    labels: HashMap<String, String>,
) -> Result<ColdBuild, ImageError> {
    check_emulated_context(context)?;
    let base = ensure_base(engine).await?;
    let files = context_files(context)?;
    let target_dir = std::env::temp_dir().join(format!("cbharness-cold-{}", std::process::id()));
    let cargo = gputil::Cargo {
        target_dir: Some(target_dir.clone()),
        ..gputil::Cargo::from_env()
    };
    let compiled = gputil::compile(&cargo, context).await;
    let _ = std::fs::remove_dir_all(&target_dir);
    let compiled = compiled?;
    let started = Instant::now();
    let spec = BuildSpec {
        tag,
        base: &base,
        no_cache: true,
        labels,
    };
    build(engine, context, &files, &compiled.bytes, &spec).await?;
    Ok(ColdBuild {
        compile: compiled.elapsed,
        image: started.elapsed(),
    })
}

/// One build of the emulated image.
struct BuildSpec<'a> {
    tag: &'a str,
    base: &'a str,
    no_cache: bool,
    labels: HashMap<String, String>,
}

/// Sends `files` and the compiled `binary` as the build context and builds `spec.tag`, the
/// whole build output going to a log file that an error names.
async fn build(
    engine: &Engine,
    context: &Path,
    files: &[ContextFile],
    binary: &[u8],
    spec: &BuildSpec<'_>,
) -> Result<(), ImageError> {
    let tag = spec.tag;
    let body = context_tar(files, binary)?;
    let log_name = tag.replace(['/', ':'], "-");
    let log_path = std::env::temp_dir().join(format!("cbharness-build-{log_name}.log"));
    let mut log = File::create(&log_path).map_err(io("create the build log"))?;
    let labels: HashMap<&str, &str> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .dockerfile("Dockerfile")
        .rm(true)
        .forcerm(true)
        .nocache(spec.no_cache)
        .buildargs(&HashMap::from([("BASE", spec.base)]))
        .labels(&labels)
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
            tag: tag.to_string(),
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
    if !exists(engine, tag).await? {
        return Err(fail("the build ended without producing the image".into()));
    }
    Ok(())
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
    debootstrap_import(engine, BASE_TAG, Vec::new()).await?;
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

/// Makes a base image with debootstrap as `tag`, whatever is local, and returns the time it
/// took: how long a machine without a base image waits before its first image build. `labels`
/// go on the image (the bench marks it scratch).
pub async fn debootstrap_base(
    engine: &Engine,
    tag: &str,
    labels: &HashMap<String, String>,
) -> Result<Duration, ImageError> {
    let changes = labels
        .iter()
        .map(|(k, v)| format!("LABEL {k}={v:?}"))
        .collect();
    let started = Instant::now();
    debootstrap_import(engine, tag, changes).await?;
    Ok(started.elapsed())
}

/// Runs debootstrap into a temporary directory and imports it as `tag`, with Dockerfile
/// `changes` applied.
async fn debootstrap_import(
    engine: &Engine,
    tag: &str,
    changes: Vec<String>,
) -> Result<(), ImageError> {
    let no_base = |reason: String| ImageError::NoBase { reason };
    let dir = std::env::temp_dir().join(format!(
        "cbharness-rootfs-{}-{}",
        std::process::id(),
        tag.replace(['/', ':'], "-")
    ));
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
    // The packages debootstrap downloaded are installed: nothing reads them again.
    if let Ok(entries) = std::fs::read_dir(dir.join("var/cache/apt/archives")) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "deb") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
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
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(changes)
        .build();
    let mut stream = engine.api().create_image(
        Some(options),
        Some(bollard::body_full(output.stdout.into())),
        None,
    );
    while let Some(item) = stream.next().await {
        item.map_err(DockerError::api(format!(
            "import the debootstrap rootfs as {tag}"
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
            // A binary compiled by hand (see the Dockerfile) is not a source: the harness adds
            // its own to the context, at the same path.
            if entry.file_name() == "target" || rel == gputil::BINARY || ignored(patterns, &rel) {
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

/// The build context: the source files and the compiled utilities as [`gputil::BINARY`].
fn context_tar(files: &[ContextFile], binary: &[u8]) -> Result<Vec<u8>, ImageError> {
    let mut builder = tar::Builder::new(Vec::new());
    let compiled = ContextFile {
        rel: gputil::BINARY.to_string(),
        mode: 0o755,
        bytes: binary.to_vec(),
    };
    for f in files.iter().chain([&compiled]) {
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
    fn the_compiled_utilities_join_the_context_but_not_the_tag() {
        let files = [file("Dockerfile", b"FROM x")];
        let tar = context_tar(&files, b"\x7fELF").expect("packed");
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                (path, e.header().mode().unwrap())
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("Dockerfile".to_string(), 0o644),
                (gputil::BINARY.to_string(), 0o755)
            ]
        );

        // A binary compiled by hand into the context (as the Dockerfile's header shows) is
        // neither hashed nor sent twice.
        let dir = std::env::temp_dir().join(format!("cbharness-ctx-{}", std::process::id()));
        let bin = dir.join(gputil::BINARY);
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(dir.join("Dockerfile"), "FROM x").unwrap();
        let before = context_hash(&context_files(&dir).unwrap(), "base");
        std::fs::write(&bin, "binary").unwrap();
        let listed = context_files(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(listed.iter().all(|f| f.rel != gputil::BINARY));
        assert_eq!(context_hash(&listed, "base"), before);
    }

    #[test]
    fn the_emulated_context_is_in_the_repository() {
        let files = context_files(&emulated_context()).expect("context readable");
        assert!(files.iter().any(|f| f.rel == "Dockerfile"));
        assert!(files.iter().all(|f| !f.rel.contains("target/")));
        check_emulated_context(&emulated_context()).expect("the checkout's context");
        let missing = check_emulated_context(Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(missing, ImageError::NoContext { .. }));
    }
}
