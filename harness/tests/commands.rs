//! `cbh` for people, end to end on one cluster: `up` brings up a kept cluster, `ls` lists it,
//! `exec`, `psql` and `logs` work on it by run id, bad input exits 2 naming what exists, `gc`
//! without `--all` spares it, and `down` removes it and everything labelled with its run id.

mod support;

use std::path::Path;
use std::process::Output;

use support::objects_with;

fn cbh(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cbh"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("cbh runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Removes the cluster whatever happens to the test (`cbh down` by run id).
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = cbh(&["down", &self.0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_ls_exec_psql_logs_gc_and_down_work_on_a_kept_cluster_by_run_id() {
    let up = cbh(&["up", "harness/tests/scenarios/small-passing.toml"]);
    let out = stdout(&up);
    assert_eq!(up.status.code(), Some(0), "{out}\n{}", stderr(&up));
    // "cluster  <run id> kept running (...)"
    let run_id = out
        .lines()
        .find_map(|l| l.strip_prefix("cluster  ")?.split_once(" kept running"))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("no run id in:\n{out}"));
    let _down = Down(run_id.clone());
    assert!(
        out.contains(&format!("cbh exec {run_id} cdw -- gpstate -b")),
        "{out}"
    );
    assert!(out.contains(&format!("cbh down {run_id}")), "{out}");
    let label = format!("cbharness={run_id}");
    let objects = objects_with(&label).await;
    assert_eq!(
        objects,
        (3, 1, 4),
        "3 hosts, the network, a data volume per host and the kept mark"
    );

    let ls = cbh(&["ls"]);
    let line = stdout(&ls)
        .lines()
        .find(|l| l.starts_with(&run_id))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{run_id} not listed:\n{}", stdout(&ls)));
    for part in [
        "small-passing",
        "yes",
        "gone",
        "cdw running, scdw running, sdw1 running",
    ] {
        assert!(line.contains(part), "`{part}` not in: {line}");
    }

    let exec = cbh(&["exec", &run_id, "cdw", "--", "gpstate", "-b"]);
    assert_eq!(exec.status.code(), Some(0), "{}", stderr(&exec));
    assert!(
        stdout(&exec).contains("Coordinator instance"),
        "{}",
        stdout(&exec)
    );
    let failing = cbh(&["exec", &run_id, "sdw1", "--", "bash", "-c", "exit 7"]);
    assert_eq!(
        failing.status.code(),
        Some(7),
        "exec exits with the command's code"
    );

    let psql = cbh(&["psql", &run_id, "-c", "select 1"]);
    assert_eq!(psql.status.code(), Some(0), "{}", stderr(&psql));
    assert!(
        stdout(&psql).lines().any(|l| l.trim() == "1"),
        "{}",
        stdout(&psql)
    );
    let interactive = cbh(&["psql", &run_id]);
    assert_eq!(
        interactive.status.code(),
        Some(0),
        "{}",
        stderr(&interactive)
    );
    assert_eq!(
        stdout(&interactive),
        format!(
            "docker exec -it -u gpadmin cbh-{run_id}-cdw bash -lc 'psql -p 5432 -d postgres'\n"
        )
    );

    let logs = cbh(&["logs", &run_id, "cdw"]);
    assert_eq!(logs.status.code(), Some(0), "{}", stderr(&logs));
    let text = stdout(&logs);
    assert!(text.contains("cbh-node: cdw ready"), "{text}");
    assert!(text.contains("/home/gpadmin/gpAdminLogs/"), "{text}");
    assert!(
        text.contains("/data0/database/coordinator/gpseg-1/log/"),
        "{text}"
    );

    let unknown_run = cbh(&["exec", "nosuchrun", "cdw", "--", "true"]);
    assert_eq!(unknown_run.status.code(), Some(2));
    assert!(
        stderr(&unknown_run).contains(&format!("{run_id} (small-passing)")),
        "{}",
        stderr(&unknown_run)
    );
    let unknown_host = cbh(&["logs", &run_id, "sdw9"]);
    assert_eq!(unknown_host.status.code(), Some(2));
    assert!(
        stderr(&unknown_host).contains("its hosts are cdw, scdw, sdw1"),
        "{}",
        stderr(&unknown_host)
    );

    let gc = cbh(&["gc"]);
    assert_eq!(gc.status.code(), Some(0), "{}", stderr(&gc));
    assert_eq!(
        objects_with(&label).await,
        objects,
        "gc spares a kept cluster"
    );

    let down = cbh(&["down", &run_id]);
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    assert_eq!(objects_with(&label).await, (0, 0, 0));
    let again = cbh(&["down", &run_id]);
    assert_eq!(again.status.code(), Some(2), "a removed cluster is unknown");
}
