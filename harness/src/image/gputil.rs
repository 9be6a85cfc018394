//! The node utilities (`images/emulated/gputils`, one binary `gputil`) compiled on the host.
//!
//! The emulated image used to compile them in a build stage, after installing Debian's rustc
//! and cargo: most of a cold image build. The host has a toolchain already (it builds `cbh`),
//! so `cargo` compiles the crate here and the binary joins the build context as [`BINARY`].
//! It is linked statically (`+crt-static`), so it never depends on the image's glibc: the
//! host's may be older or newer. Cargo is run only when the image has to be built; an
//! unchanged image is found by its tag, a hash of the sources, without compiling anything.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::{io, ImageError};

/// Where the binary sits in the build context: in `rootfs/`, which the Dockerfile copies in one
/// step.
pub const BINARY: &str = "rootfs/usr/local/cloudberry-db/bin/gputil";

/// The name of the binary target.
const TARGET_NAME: &str = "gputil";

/// The optimization level of the release profile, set through cargo's environment so that it
/// holds wherever the crate sits (in the workspace or a copy of the context): none, which
/// compiles in a third of the time and is as fast for programs that mostly wait on ssh, psql and
/// pg_ctl.
const OPT_LEVEL: &str = "0";

/// Directory of the crate inside the emulated image's build context.
pub const CRATE_DIR: &str = "gputils";

/// The compiled binary and what compiling it took.
#[derive(Debug)]
pub struct Compiled {
    /// The executable's bytes.
    pub bytes: Vec<u8>,
    /// Wall time of the cargo run.
    pub elapsed: Duration,
}

/// How to run cargo: the program (`CARGO`, which cargo sets for what it runs, else `cargo`
/// on `PATH`) and the target directory (`None`: the workspace's, or `CARGO_TARGET_DIR`).
#[derive(Debug, Clone)]
pub struct Cargo {
    /// The cargo executable.
    pub program: OsString,
    /// A target directory of its own (the bench's cold compile uses an empty one).
    pub target_dir: Option<PathBuf>,
}

impl Cargo {
    /// Cargo as the environment names it, with the workspace's target directory.
    pub fn from_env() -> Cargo {
        Cargo {
            program: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            target_dir: None,
        }
    }
}

/// The Rust target the binary is built for: this machine's architecture, Linux with glibc
/// (linked in statically).
pub fn target_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// The environment of the compile. `CARGO_ENCODED_RUSTFLAGS` takes precedence over RUSTFLAGS
/// and cargo configuration; with an explicit `--target` it reaches only this crate's objects,
/// never build scripts or the host's other builds.
fn environment() -> [(&'static str, &'static str); 2] {
    [
        ("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static"),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", OPT_LEVEL),
    ]
}

/// The arguments of the compile, after `cargo`.
fn arguments(cargo: &Cargo, manifest: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        "--release".into(),
        "--target".into(),
        target_triple().into(),
        "--manifest-path".into(),
        manifest.into(),
    ];
    if let Some(dir) = &cargo.target_dir {
        args.push("--target-dir".into());
        args.push(dir.into());
    }
    args
}

/// The command line, as a person would type it to reproduce a failure.
fn command_line(cargo: &Cargo, manifest: &Path) -> String {
    let mut words: Vec<String> = environment()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    words.push(cargo.program.to_string_lossy().into_owned());
    words.extend(
        arguments(cargo, manifest)
            .iter()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

/// Compiles the crate in `context/gputils` and returns the binary.
pub async fn compile(cargo: &Cargo, context: &Path) -> Result<Compiled, ImageError> {
    let manifest = context.join(CRATE_DIR).join("Cargo.toml");
    let command = command_line(cargo, &manifest);
    let mut cmd = tokio::process::Command::new(&cargo.program);
    cmd.args(arguments(cargo, &manifest))
        // Machine-readable, so the executable's path is read, not guessed.
        .arg("--message-format=json-render-diagnostics")
        .envs(environment())
        .kill_on_drop(true);
    tracing::info!(%command, "compiling the node utilities");
    let started = Instant::now();
    let output = cmd.output().await.map_err(|source| ImageError::NoCargo {
        program: cargo.program.to_string_lossy().into_owned(),
        source,
    })?;
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(ImageError::Compile {
            command,
            message: tail(&String::from_utf8_lossy(&output.stderr), 20),
        });
    }
    let path = executable(&stdout).ok_or_else(|| ImageError::Compile {
        command: command.clone(),
        message: format!("cargo reported no `{TARGET_NAME}` executable"),
    })?;
    let bytes = std::fs::read(&path).map_err(io(format!("read {}", path.display())))?;
    Ok(Compiled { bytes, elapsed })
}

/// The path of the `gputil` executable in cargo's JSON messages (the target directory may be the
/// workspace's, `CARGO_TARGET_DIR` or the bench's).
fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == TARGET_NAME)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The last `n` lines of `text`: cargo's error is at the end of its output.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_executable_is_read_from_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"other"},"executable":null}
not json
{"reason":"compiler-artifact","target":{"name":"gputil"},"executable":"/t/x86_64-unknown-linux-gnu/release/gputil"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable(messages),
            Some(PathBuf::from("/t/x86_64-unknown-linux-gnu/release/gputil"))
        );
        assert_eq!(executable(r#"{"reason":"build-finished"}"#), None);
    }

    #[tokio::test]
    async fn a_missing_cargo_is_named_with_what_installs_it() {
        let cargo = Cargo {
            program: "/nonexistent/cargo".into(),
            target_dir: None,
        };
        let err = compile(&cargo, Path::new("/nonexistent"))
            .await
            .expect_err("no cargo");
        let message = err.to_string();
        assert!(message.contains("/nonexistent/cargo"), "{message}");
        assert!(message.contains("rustup"), "{message}");
    }

    #[test]
    fn the_printed_command_is_the_one_run() {
        let cargo = Cargo {
            program: "cargo".into(),
            target_dir: Some("/tmp/t".into()),
        };
        assert_eq!(
            command_line(&cargo, Path::new("/c/gputils/Cargo.toml")),
            format!(
                "CARGO_ENCODED_RUSTFLAGS=-Ctarget-feature=+crt-static \
                 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo build --release --target {} \
                 --manifest-path /c/gputils/Cargo.toml --target-dir /tmp/t",
                target_triple()
            )
        );
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
