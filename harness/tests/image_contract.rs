//! `cbh image check` on real images: the node image (the emulated one, or `CBH_IMAGE`) satisfies
//! the node contract; deliberately broken images fail it with the right checks and a report that
//! says what is missing; nothing is left behind.
//!
//! Each test starts one container; they take a file lock so that one runs at a time, and
//! `.config/nextest.toml` counts them in the `clusters` test group.

use std::time::Duration;

use cbharness::docker::{owner_id, Engine, LABEL_OWNER};
use cbharness::image::{self, ContractCheck, ContractReport, ImageError, Status};

mod support;
use support::{engine, remove_image};

/// Every item of the contract, in report order.
const ALL: [&str; 15] = [
    "timeout",
    "ready",
    "bash",
    "gpadmin",
    "gphome",
    "env-script",
    "utilities",
    "postgres-tools",
    "data-dirs",
    "ssh-dir",
    "sshd",
    "ssh-login",
    "iptables",
    "tc",
    "ps",
];

/// At most one contract container of these tests at a time, across test processes.
async fn one_at_a_time() -> image::LockGuard {
    image::lock("image-contract-test")
        .await
        .expect("take the test lock")
}

/// Containers of this process left behind by a check.
async fn leftovers(engine: &Engine) -> Vec<String> {
    engine
        .containers_with_label(&format!("{LABEL_OWNER}={}", owner_id()))
        .await
        .expect("list containers")
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Builds a tiny image from `base` with `cmd` as its command (a JSON array), through the Docker
/// API, and returns its tag: Debian and nothing else of the node contract.
async fn build_broken(engine: &Engine, base: &str, name: &str, cmd: &str) -> String {
    let tag = format!("cbharness/broken-node:{name}-{}", std::process::id());
    let dockerfile = format!(
        "# cbharness test: an image that lacks the node contract\nFROM {base}\nCMD {cmd}\n"
    );
    support::build_image(engine, &tag, &dockerfile).await;
    tag
}

/// Checks a broken image built from the base with `cmd`, then removes the image.
async fn check_broken(name: &str, cmd: &str) -> ContractReport {
    let _one = one_at_a_time().await;
    let engine = engine().await;
    let base = image::ensure_base(&engine)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = build_broken(&engine, &base, name, cmd).await;
    let result = ContractCheck::new(&tag)
        .with_ready_timeout(Duration::from_secs(3))
        .run(&engine)
        .await;
    remove_image(&engine, &tag).await;
    assert_eq!(leftovers(&engine).await, Vec::<String>::new());
    let report = result.unwrap_or_else(|e| panic!("check {tag}: {e}"));
    eprintln!("{report}");
    report
}

/// What a Debian image without anything of the contract passes, fails, and cannot check.
fn assert_debian_only(report: &ContractReport) {
    assert!(!report.passed(), "{report}");
    assert_eq!(
        report
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ALL
    );
    assert_eq!(report.names_with(Status::Passed), ["timeout", "bash"]);
    assert_eq!(
        report.names_with(Status::Failed),
        ["ready", "gpadmin", "gphome", "sshd", "iptables", "tc", "ps"],
        "{report}"
    );
    assert_eq!(
        report.names_with(Status::NotChecked),
        [
            "env-script",
            "utilities",
            "postgres-tools",
            "data-dirs",
            "ssh-dir",
            "ssh-login"
        ]
    );
    let gpadmin = report.get("gpadmin").expect("a gpadmin check");
    assert_eq!(gpadmin.missing.as_deref(), Some("user gpadmin"));
    assert!(gpadmin
        .fix
        .as_deref()
        .is_some_and(|f| f.contains("useradd")));
    let env = report.get("env-script").expect("an env-script check");
    assert_eq!(env.found, "needs gpadmin, gphome");
    let text = report.to_string();
    assert!(text.contains("✗ gpadmin"), "{text}");
    assert!(
        text.contains("missing: directory /usr/local/cloudberry-db"),
        "{text}"
    );
    assert!(
        text.contains("– ssh-login       not checked: needs sshd, ssh-dir"),
        "{text}"
    );
    assert!(
        text.contains("does not satisfy the node contract"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_image_satisfies_the_contract() {
    let _one = one_at_a_time().await;
    let engine = engine().await;
    let image = match std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()) {
        Some(requested) => requested,
        None => image::ensure_emulated(&engine, &image::emulated_context())
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    };
    let report = image::check(&engine, &image)
        .await
        .unwrap_or_else(|e| panic!("check {image}: {e}"));
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
    assert_eq!(
        report
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ALL
    );
    assert!(report
        .get("ready")
        .unwrap()
        .found
        .starts_with("/run/cbh-node-ready after"));
    assert_eq!(leftovers(&engine).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_without_the_contract_fails_with_what_is_missing() {
    let report = check_broken("test", r#"["sleep", "infinity"]"#).await;
    assert_debian_only(&report);
    let ready = report.get("ready").expect("a ready check");
    assert_eq!(
        ready.found,
        "the container runs, but no /run/cbh-node-ready after 3s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_whose_entrypoint_exits_is_still_checked() {
    let report = check_broken("exits", r#"["sh", "-c", "echo no sshd here; exit 3"]"#).await;
    assert_debian_only(&report);
    let ready = report.get("ready").expect("a ready check");
    assert!(
        ready
            .found
            .starts_with("the entrypoint exited with code 3 after"),
        "{}",
        ready.found
    );
    assert!(
        ready.found.contains("its last output: no sshd here"),
        "{}",
        ready.found
    );
    assert_eq!(
        ready.missing.as_deref(),
        Some("an entrypoint that keeps running")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_an_error_that_says_how_to_build_one() {
    let engine = engine().await;
    let error = image::check(&engine, "cbharness/no-such-node:image")
        .await
        .expect_err("no such image");
    assert!(matches!(error, ImageError::Missing(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("cargo run -p cbharness -- image build"),
        "{message}"
    );
    assert!(
        message.contains("images/cloudberry/Dockerfile"),
        "{message}"
    );
}
