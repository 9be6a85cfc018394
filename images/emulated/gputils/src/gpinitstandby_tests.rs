//! Tests of `gpinitstandby`: its output and decisions, without a cluster.

use super::*;

#[test]
fn ip_addrs() {
    let out = "2: eth0    inet 172.18.0.3/16 brd 172.18.255.255 scope global eth0\\       valid_lft forever\n\
               2: eth0    inet6 fd00::3/64 scope global \\       valid_lft forever\n";
    assert_eq!(parse_ip_addrs(out), ["172.18.0.3", "fd00::3"]);
}

#[test]
fn hba_section_goes_after_leading_comments() {
    let text = "# header\n# TYPE\nlocal all all trust\n";
    let out = hba_with_standby(text, "gpadmin", "scdw", &["172.18.0.3".to_string()], false);
    assert_eq!(
        out,
        "# header\n# TYPE\n# standby coordinator host ip addresses\n\
         host\tall\tgpadmin\t172.18.0.3/32\ttrust\n\
         host\treplication\tgpadmin\tsamehost\ttrust\n\
         host\treplication\tgpadmin\t172.18.0.3/32\ttrust\n\
         local all all trust\n"
    );
    // Lines already present are not added twice.
    let again = hba_with_standby(&out, "gpadmin", "scdw", &["172.18.0.3".to_string()], false);
    assert_eq!(again.matches("172.18.0.3/32").count(), 2);
}

fn text(l: &Lines) -> Vec<String> {
    l.iter()
        .map(|(lvl, m)| format!("[{}]:-{m}", lvl.name()))
        .collect()
}

#[test]
fn argument_errors_in_cloudberrys_order() {
    // (-s, -S, -n, -r)
    assert_eq!(argument_error(true, false, false, false), None);
    assert_eq!(argument_error(true, true, false, false), None);
    assert_eq!(argument_error(false, false, true, false), None);
    assert_eq!(argument_error(false, false, false, true), None);
    assert_eq!(
        argument_error(true, true, true, false),
        Some("Options -s and -n cannot be specified together.")
    );
    assert_eq!(
        argument_error(false, true, true, false),
        Some("Options -S and -n cannot be specified together.")
    );
    assert_eq!(
        argument_error(true, false, false, true),
        Some("Options -s and -r cannot be specified together.")
    );
    assert_eq!(
        argument_error(false, true, false, false),
        Some("No action provided in the options.")
    );
}

#[test]
fn an_existing_standby_refuses_first() {
    let (l, r) = check_no_standby(false);
    assert_eq!(
        text(&l),
        ["[INFO]:-Validating environment and parameters for standby initialization..."]
    );
    assert_eq!(r, Ok(()));
    let (l, r) = check_no_standby(true);
    assert_eq!(
        text(&l)[1..],
        [
            "[ERROR]:-Standby coordinator already configured",
            "[INFO]:-If you want to start the stopped standby coordinator, use the -n option",
        ]
    );
    assert_eq!(r, Err("standby coordinator already configured".to_string()));
}

const DIR: &str = "/data0/database/coordinator/gpseg-1";

fn host(parent: bool, exists: bool) -> HostCheck {
    HostCheck {
        parent_exists: parent,
        datadir_exists: exists,
        addresses: vec![],
    }
}

#[test]
fn a_fresh_directory_on_another_host_passes() {
    let (l, r) = check_standby_target("cdw", 5432, "scdw", None, DIR, &host(true, false));
    assert_eq!(
        text(&l),
        ["[INFO]:-Checking for data directory /data0/database/coordinator/gpseg-1 on scdw"]
    );
    assert_eq!(r, Ok(()));
}

#[test]
fn the_parent_directory_must_exist() {
    let (l, r) = check_standby_target("cdw", 5432, "scdw", None, DIR, &host(false, false));
    assert_eq!(
        text(&l),
        [
            "[ERROR]:-Parent directory /data0/database/coordinator does not exist on host scdw",
            "[ERROR]:-This directory must be created before running gpactivatestandby",
        ]
    );
    assert_eq!(
        r,
        Err("Parent directory /data0/database/coordinator does not exist".to_string())
    );
}

#[test]
fn an_existing_data_directory_refuses() {
    let (l, r) = check_standby_target("cdw", 5432, "scdw", None, DIR, &host(true, true));
    assert_eq!(
        text(&l)[1..],
        ["[ERROR]:-Data directory already exists on host scdw"]
    );
    assert_eq!(r, Err("coordinator data directory exists".to_string()));
    // On the coordinator's own host, with a hint.
    let (l, _) = check_standby_target("cdw", 5432, "cdw", None, DIR, &host(true, true));
    assert_eq!(l.len(), 3);
    assert!(l[2]
        .1
        .starts_with("If you want to initialize a new standby on the same host"));
}

#[test]
fn the_coordinators_host_and_port_are_refused() {
    let fresh = host(true, false);
    for port in [None, Some(5432)] {
        let (_, r) = check_standby_target("cdw", 5432, "cdw", port, "/other", &fresh);
        assert_eq!(
            r,
            Err("cannot create standby on the same host and port".to_string())
        );
    }
    let (_, r) = check_standby_target("cdw", 5432, "cdw", Some(6432), "/other", &fresh);
    assert_eq!(r, Ok(()));
}

fn coord() -> Seg {
    Seg {
        dbid: 1,
        content: -1,
        role: 'p',
        preferred_role: 'p',
        mode: 'n',
        status: 'u',
        hostname: "cdw".into(),
        address: "cdw".into(),
        port: 5432,
        datadir: DIR.into(),
    }
}

#[test]
fn summary_matches_the_reference() {
    let dashes = format!("[INFO]:-{}", "-".repeat(53));
    assert_eq!(
        text(&summary_lines(false, &coord(), "scdw", 5432, DIR)),
        [
            dashes.as_str(),
            "[INFO]:-Cloudberry standby coordinator initialization parameters",
            dashes.as_str(),
            "[INFO]:-Cloudberry coordinator hostname               = cdw",
            "[INFO]:-Cloudberry coordinator data directory         = /data0/database/coordinator/gpseg-1",
            "[INFO]:-Cloudberry coordinator port                   = 5432",
            "[INFO]:-Cloudberry standby coordinator hostname       = scdw",
            "[INFO]:-Cloudberry standby coordinator port           = 5432",
            "[INFO]:-Cloudberry standby coordinator data directory = /data0/database/coordinator/gpseg-1",
            "[INFO]:-Cloudberry update system catalog         = On",
        ]
    );
    let removal = text(&summary_lines(true, &coord(), "scdw", 5433, "/s"));
    assert_eq!(
        removal[1],
        "[INFO]:-Warm coordinator standby removal parameters"
    );
    assert_eq!(
        removal[7],
        "[INFO]:-Cloudberry standby coordinator port           = 5433"
    );
    assert_eq!(removal.len(), 9);
}

#[test]
fn rollback_undoes_what_was_done() {
    assert_eq!(undo_plan(Stage::NotStarted), []);
    assert_eq!(undo_plan(Stage::UpdateCatalog), [Undo::Catalog]);
    assert_eq!(undo_plan(Stage::UpdatePgHba), [Undo::Catalog, Undo::PgHba]);
    assert_eq!(undo_plan(Stage::CopyFiles), [Undo::Catalog, Undo::PgHba]);
    assert_eq!(
        undo_plan(Stage::StartingStandby),
        [Undo::StopStandby, Undo::Catalog, Undo::PgHba]
    );
}

#[test]
fn unreachable_segment_hosts_refuse_with_a() {
    assert!(unreachable_lines(&[]).is_empty());
    let down = ["sdw1".to_string(), "sdw2".to_string()];
    assert_eq!(
        text(&unreachable_lines(&down)),
        [
            "[WARNING]:-One or more hosts are not reachable via SSH.",
            "[WARNING]:-Host sdw1 is unreachable",
            "[WARNING]:-Host sdw2 is unreachable",
        ]
    );
    assert_eq!(check_unreachable(&[], false), (vec![], Ok(())));
    let (l, r) = check_unreachable(&down, false);
    assert_eq!(
        text(&l),
        [
            "[WARNING]:-One or more segment hosts are not currently reachable: sdw1 sdw2",
            "[WARNING]:-Proceeding will leave the cluster in an inconsistent state.",
            "[WARNING]:-If you want to continue with initialization, re-run gpinitstandby without the -a option.",
        ]
    );
    assert_eq!(
        r,
        Err("Unable to proceed while one or more hosts are unreachable".to_string())
    );
    // Interactive: warned, then asked.
    let (l, r) = check_unreachable(&down, true);
    assert_eq!(l.len(), 3);
    assert!(l[1].1.starts_with("If you continue with initialization"));
    assert_eq!(r, Ok(()));
}

#[test]
fn failures_end_with_one_error_line() {
    assert_eq!(
        text(&vec![failure_line(
            false,
            "coordinator data directory exists"
        )]),
        ["[ERROR]:-Error initializing standby coordinator: coordinator data directory exists"]
    );
    assert_eq!(
        text(&vec![failure_line(true, "no standby configured")]),
        ["[ERROR]:-Error removing standby coordinator: no standby configured"]
    );
}

#[test]
fn start_only_a_standby_without_wal_sender() {
    assert_eq!(already_running(0), None);
    assert_eq!(
        already_running(1),
        Some((
            Level::Info,
            "Standy coordinator is already up and running.".to_string()
        ))
    );
    assert!(already_running(2).is_some());
}
