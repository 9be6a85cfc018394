//! Cluster templates: once a topology has been brought up on an image, the next bring-up
//! starts from the saved cluster instead of running gpinitsystem and gpinitstandby, gets keys
//! of its own, and passes the same scenario; a template image holds no key and no log of the
//! run that made it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use cbharness::cluster::template;
use cbharness::docker::{owner_id, LABEL, LABEL_OWNER};
use cbharness::image;
use cbharness::scenario::{run, RunOptions, Scenario};
use futures_util::StreamExt;

mod support;
use support::{engine, objects_with};

fn small() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/small-passing.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn options(test: &str) -> RunOptions {
    let root = std::env::temp_dir().join(format!("cbh-templates-{test}-{}", std::process::id()));
    RunOptions {
        image: std::env::var("CBH_IMAGE").ok().filter(|s| !s.is_empty()),
        artifacts_root: root,
        keep_artifacts: true,
        templates: true,
        ..RunOptions::default()
    }
}

/// The commands a run's bring-up ran, from its bundle.
fn bringup_commands(bundle: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(bundle.join("bringup/commands.json")).unwrap();
    let commands: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    commands
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The small topology's template, made by a run when missing.
async fn small_template(options: &RunOptions) -> template::Template {
    let engine = engine().await;
    let scenario = small();
    let node = image::resolve(&engine, options.image.as_deref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let key = template::key(&engine, &node, &scenario.topology)
        .await
        .unwrap();
    if let Some(found) = template::find(&engine, &key, &scenario.topology)
        .await
        .unwrap()
    {
        return found;
    }
    let outcome = run(&scenario, options, &mut |_| {}).await.unwrap();
    assert!(outcome.passed, "{:?}", outcome.failures);
    template::find(&engine, &key, &scenario.topology)
        .await
        .unwrap()
        .expect("a run saves the template of its topology")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bring_up_from_a_template_skips_initialization_and_passes() {
    let options = options("adopt");
    small_template(&options).await;
    let outcome = run(&small(), &options, &mut |_| {}).await.unwrap();
    assert!(outcome.passed, "{:?}", outcome.failures);
    let commands = bringup_commands(outcome.bundle.as_deref().unwrap());
    assert!(
        !commands.iter().any(|c| c.contains("gpinitsystem")),
        "no gpinitsystem from a template: {commands:#?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("gpstart -a")),
        "the database is started with gpstart: {commands:#?}"
    );
    assert_eq!(
        objects_with(&format!("{LABEL}={}", outcome.run_id)).await,
        (0, 0, 0)
    );
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_holds_no_key_and_no_log_of_the_run_that_made_it() {
    let options = options("scrubbed");
    let template = small_template(&options).await;
    let engine = engine().await;
    let look = "ls /home/gpadmin/.ssh /etc/ssh/ssh_host_* /home/gpadmin/gpAdminLogs 2>/dev/null; \
                find /data0 -path '*/log/*' -type f";
    for (host, tag) in &template.images {
        let name = format!("cbh-template-look-{}-{host}", std::process::id());
        let body = ContainerCreateBody {
            image: Some(tag.clone()),
            entrypoint: Some(vec!["bash".into(), "-c".into(), look.into()]),
            cmd: Some(vec![]),
            labels: Some(HashMap::from([
                (LABEL.to_string(), "template-test".to_string()),
                (LABEL_OWNER.to_string(), owner_id()),
            ])),
            ..Default::default()
        };
        let create = CreateContainerOptionsBuilder::new().name(&name).build();
        engine
            .api()
            .create_container(Some(create), body)
            .await
            .unwrap();
        engine.api().start_container(&name, None).await.unwrap();
        let mut wait = engine.api().wait_container(&name, None);
        let _ = tokio::time::timeout(Duration::from_secs(30), wait.next()).await;
        let mut logs = engine.api().logs(
            &name,
            Some(LogsOptionsBuilder::new().stdout(true).stderr(true).build()),
        );
        let mut seen = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        engine.remove_container(&name).await.unwrap();
        let listed: Vec<&str> = seen
            .lines()
            .filter(|l| !l.is_empty() && !l.ends_with(':'))
            .collect();
        assert!(
            listed.is_empty(),
            "the template of {host} holds files of the run that made it: {listed:?}"
        );
    }
    assert_eq!(
        objects_with(&format!("{LABEL_OWNER}={}", owner_id())).await,
        (0, 0, 0)
    );
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}

/// A cluster from a template keeps its coordinator directory on volumes of its own, filled from
/// the template (so moving gpseg-1 aside is a rename, not a copy of an image layer), labelled
/// with the run, and gone when the run is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adopted_cluster_keeps_its_coordinator_directory_on_volumes_of_its_own() {
    let options = RunOptions {
        keep_cluster: true,
        ..options("volumes")
    };
    small_template(&options).await;
    let up = cbharness::scenario::up(&small(), &options, &mut |_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = engine().await;
    let label = format!("{LABEL}={}", up.run_id);
    let containers = engine.containers_with_label(&label).await.unwrap();
    assert!(!containers.is_empty());
    let mut mounted = Vec::new();
    for (id, _) in &containers {
        let inspect = engine.api().inspect_container(id, None).await.unwrap();
        for m in inspect.mounts.unwrap_or_default() {
            if m.destination.as_deref() == Some("/data0/database/coordinator") {
                mounted.push((m.typ, m.name));
            }
        }
    }
    let volumes = engine.volumes_with_label(&label).await.unwrap();
    let removed = cbharness::cluster::remove_run(&engine, &up.run_id).await;
    assert_eq!(mounted.len(), containers.len(), "{mounted:?}");
    for (typ, name) in &mounted {
        assert_eq!(typ.as_deref(), Some("volume"));
        let name = name.as_deref().unwrap_or_default();
        assert!(
            volumes.iter().any(|(v, _)| v == name),
            "volume {name} carries the run's label"
        );
    }
    removed.unwrap();
    assert_eq!(objects_with(&label).await, (0, 0, 0));
    let _ = std::fs::remove_dir_all(options.artifacts_root);
}
