//! `gpstart`: start the coordinator, the segments (in parallel, one ssh per host) and the standby.
//! `-m`: coordinator only, with Cloudberry's split-brain banner. Like Cloudberry, it refuses to
//! run on a coordinator whose standby has been activated (the standby's timeline is ahead).
//! Exit codes: 0 success, 1 some segments failed to start, 2 errors, 4 user abort.

use std::time::Duration;

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::coordinator::{CoordEnv, Failure};
use crate::error::{Error, Result};
use crate::node;
use crate::table::Table;
use crate::{env, instance, log, pg, prompt, remote};

const SPEC: &[Opt] = &[
    flag("a", &["-a"]),
    flag("m", &["-m", "--master_only", "-c", "--coordinator_only"]),
    flag("y", &["-y"]),
    flag("R", &["-R"]),
    valued(
        "d",
        &[
            "-d",
            "--coordinator_data_directory",
            "--master_data_directory",
        ],
    ),
    valued("l", &["-l", "--logfile"]),
    valued("B", &["-B", "--parallel"]),
    valued("t", &["-t", "--timeout"]),
    flag("q", &["-q", "--quiet"]),
    flag("v", &["-v", "--verbose"]),
    flag("skip", &["--skip-heap-checksum-validation"]),
];

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init("gpstart", log::Options::default());
    let opts = match cli::parse_or_usage("gpstart", SPEC, &args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    log::set_options(cli::log_options(&opts, "v"));
    log::info(format!("Starting gpstart with args: {}", args.join(" ")));
    match run(&opts) {
        Ok(code) => code,
        Err(f) => f.report("gpstart"),
    }
}

fn run(opts: &cli::Parsed) -> std::result::Result<i32, Failure> {
    log::info("Gathering information and validating the environment...");
    let env = CoordEnv::resolve(opts.value("d")).map_err(Failure::Plain)?;
    log::info(format!("Cloudberry Binary Version: '{}'", pg::gp_version()));
    let control = pg::controldata(&env.datadir).map_err(Failure::Plain)?;
    let catversion = pg::controldata_value(&control, "Catalog version number").unwrap_or_default();
    log::info(format!("Cloudberry Catalog Version: '{catversion}'"));
    check_coordinator_running(&env)?;
    if opts.has("m") {
        log::warn("****************************************************************************");
        log::warn("Coordinator-only start requested. If a standby is configured, this command");
        log::warn("may lead to a split-brain condition and possible unrecoverable data loss.");
        log::warn("Maintenance mode should only be used with direction from Cloudberry Support.");
        log::warn("****************************************************************************");
        if !opts.has("a") && !prompt::ask_yesno("\nContinue with coordinator-only startup", false) {
            return Err(Failure::UserAbort);
        }
    }
    log::info("Starting Coordinator instance in admin mode");
    if let Err(e) = pg::start(&env.datadir, true) {
        log::critical("Failed to start Coordinator instance in admin mode");
        return Err(Failure::Unexpected(e));
    }
    log::info("Obtaining Cloudberry Coordinator catalog information");
    log::info("Obtaining Segment details from coordinator...");
    let array = Array::load(env.port)?;
    log::info("Setting new coordinator era");
    log::info("Coordinator Started...");
    if opts.has("m") {
        return Ok(0);
    }
    let mut start_standby = !opts.has("y");
    check_standby(&env, &array, &mut start_standby, opts.has("a"))?;
    let segs = array.segments();
    let (ok, failed) = start_segments(&segs);
    print_segment_start(&segs, ok, &failed);
    let coord = array
        .coordinator()
        .map(|c| c.hostname.clone())
        .unwrap_or_else(env::hostname);
    log::info(format!(
        "Starting Coordinator instance {coord} directory {} ",
        env.datadir
    ));
    log::info(format!(
        "Command pg_ctl reports Coordinator {coord} instance active"
    ));
    log::info("Connecting to db template1 on host localhost");
    let standby_ok = match array.standby() {
        Some(sb) if start_standby => node::start_standby_coordinator(sb),
        _ => true,
    };
    if failed.is_empty() && standby_ok {
        log::info("Database successfully started");
        Ok(0)
    } else {
        if !standby_ok {
            log::warn("Standby Coordinator could not be started");
        }
        log::warn("Database started with errors");
        Ok(1)
    }
}

/// `_check_coordinator_running`: refuse when the coordinator is up; clear a dead one's files.
fn check_coordinator_running(env: &CoordEnv) -> std::result::Result<(), Failure> {
    if !std::path::Path::new(&format!("{}/postmaster.pid", env.datadir)).exists() {
        return Ok(());
    }
    log::warn("postmaster.pid file exists on Coordinator, checking if recovery startup required");
    log::info("Commencing recovery startup checks");
    let st = crate::status::InstanceStatus::probe(&env.datadir, env.port);
    let lock = pg::lock_file(env.port);
    match (st.lock_file, st.port_active) {
        (true, true) => {
            log::info(format!(
                "Have lock file {lock} and a process running on port {}",
                env.port
            ));
            return Err(Failure::Plain(
                "Coordinator instance process running".into(),
            ));
        }
        (true, false) => log::info(format!(
            "Have lock file {lock} but no process running on port {}",
            env.port
        )),
        (false, true) => {
            log::info(format!(
                "No lock file {lock} but a process running on port {}",
                env.port
            ));
            return Err(Failure::Plain(Error(format!(
                "Port {} is already in use",
                env.port
            ))));
        }
        (false, false) => log::info(format!(
            "No socket connection or lock file in /tmp found for port={}",
            env.port
        )),
    }
    log::info("No Coordinator instance process, entering recovery startup mode");
    if st.lock_file {
        log::info("Clearing Coordinator instance lock files");
    }
    log::info("Clearing Coordinator instance pid file");
    instance::clear_stale_files(&env.datadir, env.port);
    Ok(())
}

/// The latest checkpoint's timeline of a data directory on `host` (local when `None`).
fn timeline(datadir: &str, host: Option<&str>) -> Result<u32> {
    let out = match host {
        None => pg::controldata(datadir)?,
        Some(h) => {
            let o = remote::ssh(
                h,
                &format!("pg_controldata {}", crate::cmd::sh_quote(datadir)),
                Duration::from_secs(30),
            );
            if !o.ok() {
                return Err(Error(o.first_error_line()));
            }
            o.stdout
                .lines()
                .filter_map(|l| {
                    l.split_once(':')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                })
                .collect()
        }
    };
    pg::controldata_value(&out, "Latest checkpoint's TimeLineID")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::msg("no TimeLineID in pg_controldata output"))
}

/// `check_standby`: a standby on a later timeline has been activated, so this node must not act
/// as coordinator; an unreachable standby stops a non-interactive start.
fn check_standby(
    env: &CoordEnv,
    array: &Array,
    start_standby: &mut bool,
    noninteractive: bool,
) -> std::result::Result<(), Failure> {
    let Some(sb) = array.standby() else {
        return Ok(());
    };
    let primary_tli = timeline(&env.datadir, None)?;
    match timeline(&sb.datadir, Some(&sb.hostname)) {
        Err(e) => {
            log::warn(format!(
                "Standby host is unreachable, cannot determine whether the standby is currently acting as the coordinator. Received error: {e}"
            ));
            log::warn("Continue only if you are certain that the standby is not acting as the coordinator.");
            if noninteractive || !prompt::ask_yesno("\nContinue with startup", false) {
                if noninteractive {
                    log::warn("Non interactive mode detected. Not starting the cluster. Start the cluster in interactive mode.");
                }
                let _ = pg::stop(&env.datadir, "fast", 120);
                return Err(Failure::UserAbort);
            }
            *start_standby = false;
            Ok(())
        }
        Ok(standby_tli) if primary_tli < standby_tli => {
            let _ = pg::stop(&env.datadir, "fast", 120);
            log::info("Coordinator Stopped...");
            Err(Failure::Plain(
                "Standby activated, this node no more can act as coordinator.".into(),
            ))
        }
        Ok(_) => Ok(()),
    }
}

/// Start every segment, one helper call per host in parallel; (started, failed) outcomes.
fn start_segments(segs: &[&Seg]) -> (usize, Vec<(Seg, String)>) {
    log::info("Commencing parallel primary and mirror segment instance startup, please wait...");
    let results = node::per_host(segs.iter().copied(), |segs| {
        let args: Vec<String> = segs.iter().map(|x| x.dir_port()).collect();
        node::run_on(
            &segs[0].address,
            "__startsegs",
            &args,
            Duration::from_secs(600),
        )
    });
    log::info("Process results...");
    let mut ok = 0;
    let mut failed = Vec::new();
    for (segs, r) in &results {
        for (dbid, o) in node::outcomes_for(segs, r) {
            if o.ok {
                ok += 1;
            } else {
                let seg = segs
                    .iter()
                    .find(|s| s.dbid == dbid)
                    .expect("segment of outcome");
                failed.push(((*seg).clone(), o.message));
            }
        }
    }
    (ok, failed)
}

fn print_segment_start(segs: &[&Seg], started: usize, failed: &[(Seg, String)]) {
    if !failed.is_empty() {
        log::info("----------------------------------------------------");
        for (s, reason) in failed {
            log::info(format!(
                "DBID:{}  FAILED  host:'{}' datadir:'{}' with reason:'{reason}'",
                s.dbid, s.hostname, s.datadir
            ));
        }
        log::info("----------------------------------------------------");
    }
    let mut t = Table::new();
    t.separator();
    t.info(["Successful segment starts", &format!("= {started}")]);
    t.info_or_warn(
        !failed.is_empty(),
        ["Failed segment starts", &format!("= {}", failed.len())],
    );
    t.info([
        "Skipped segment starts (segments are marked down in configuration)",
        "= 0",
    ]);
    t.separator();
    t.output();
    let flag = if failed.is_empty() { "" } else { "<<<<<<<<" };
    log::info(format!(
        "Successfully started {started} of {} segment instances {flag}",
        segs.len()
    ));
}
