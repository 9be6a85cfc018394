//! `gpstart`: start the coordinator, the segments (in parallel, one ssh per host) and the standby.
//! `-m`: coordinator only, with Cloudberry's split-brain banner. Like Cloudberry, it refuses to
//! run on a coordinator whose standby has been activated (the standby's timeline is ahead).
//! Exit codes: 0 success, 1 some segments failed to start, 2 errors, 4 user abort.

use std::time::Duration;

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::coordinator::{CoordEnv, Failure};
use crate::error::{Error, Result};
use crate::log::{Level, Lines};
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
        log::emit(&coordinator_only_banner());
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
    // The standby needs only the coordinator: it starts while the segments do, and is
    // reported after them, in Cloudberry's order.
    let standby = array.standby().filter(|_| start_standby);
    let (ok, failed, standby_run) = std::thread::scope(|s| {
        let standby_run = standby.map(|sb| s.spawn(move || node::start_standby_on_host(sb)));
        let (ok, failed) = start_segments(&segs);
        let standby_run = standby_run.map(|h| h.join().expect("standby start panicked"));
        (ok, failed, standby_run)
    });
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
    let standby_ok = match (standby, standby_run) {
        (Some(sb), Some(run)) => {
            node::announce_standby_start(sb);
            node::judge_standby_start(run)
        }
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
    let socket = pg::socket_file(env.port);
    let socket_exists = std::path::Path::new(&socket).exists();
    let active = crate::procfs::unix_socket_listening(&socket);
    let (lines, verdict) = recovery_check(socket_exists, active, env.port);
    log::emit(&lines);
    verdict.map_err(|e| Failure::Plain(Error(e)))?;
    log::info("No Coordinator instance process, entering recovery startup mode");
    if socket_exists {
        log::info("Clearing Coordinator instance lock files");
    }
    log::info("Clearing Coordinator instance pid file");
    instance::clear_stale_files(&env.datadir, env.port);
    Ok(())
}

/// The warning banner of `gpstart -m`.
pub fn coordinator_only_banner() -> Lines {
    let stars = "*".repeat(76);
    [
        stars.as_str(),
        "Coordinator-only start requested. If a standby is configured, this command",
        "may lead to a split-brain condition and possible unrecoverable data loss.",
        "Maintenance mode should only be used with direction from Cloudberry Support.",
        stars.as_str(),
    ]
    .iter()
    .map(|m| (Level::Warning, m.to_string()))
    .collect()
}

/// `_recovery_startup` for a coordinator that left a `postmaster.pid`, from whether its socket
/// file `/tmp/.s.PGSQL.<port>` exists and whether something listens on it: a live coordinator or
/// a foreign process on the port refuses (`Err` is the `gpstart error:` message); otherwise the
/// stale files are cleared and the start goes on.
pub fn recovery_check(
    socket_exists: bool,
    active: bool,
    port: u16,
) -> (Lines, std::result::Result<(), String>) {
    let socket = pg::socket_file(port);
    let (line, verdict) = match (socket_exists, active) {
        (true, true) => (
            format!("Have lock file {socket} and a process running on port {port}"),
            Err("Coordinator instance process running".to_string()),
        ),
        (true, false) => (
            format!("Have lock file {socket} but no process running on port {port}"),
            Ok(()),
        ),
        (false, true) => (
            format!("No lock file {socket} but a process running on port {port}"),
            Err(format!("Port {port} is already in use")),
        ),
        (false, false) => (
            format!("No socket connection or lock file in /tmp found for port={port}"),
            Ok(()),
        ),
    };
    (vec![(Level::Info, line)], verdict)
}

/// What `check_standby` concludes from the timelines of this coordinator and of its standby.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StandbyCheck {
    /// The standby is behind or level: start as coordinator.
    Proceed,
    /// The standby is on a later timeline: it has been activated, this node must not start.
    Activated,
    /// The standby's timeline could not be read (the error): ask, or abort with `-a`.
    Unreachable(String),
}

/// Compare timelines as `_standby_activated` does (`primary < standby` means activated).
pub fn judge_standby(
    primary_tli: u32,
    standby_tli: std::result::Result<u32, String>,
) -> StandbyCheck {
    match standby_tli {
        Err(e) => StandbyCheck::Unreachable(e),
        Ok(s) if primary_tli < s => StandbyCheck::Activated,
        Ok(_) => StandbyCheck::Proceed,
    }
}

/// The message `gpstart` fails with when its standby has been activated.
pub const ACTIVATED: &str = "Standby activated, this node no more can act as coordinator.";

/// The warnings for a standby whose timeline could not be read; with `-a` the start aborts.
pub fn unreachable_standby_lines(err: &str, noninteractive: bool) -> Lines {
    let mut l = vec![
        format!(
            "Standby host is unreachable, cannot determine whether the standby is currently \
             acting as the coordinator. Received error: {err}"
        ),
        "Continue only if you are certain that the standby is not acting as the coordinator."
            .to_string(),
    ];
    if noninteractive {
        l.push(
            "Non interactive mode detected. Not starting the cluster. Start the cluster in \
             interactive mode."
                .to_string(),
        );
    }
    l.into_iter().map(|m| (Level::Warning, m)).collect()
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
    let standby_tli = timeline(&sb.datadir, Some(&sb.hostname)).map_err(|e| e.0);
    match judge_standby(primary_tli, standby_tli) {
        StandbyCheck::Unreachable(e) => {
            let lines = unreachable_standby_lines(&e, noninteractive);
            log::emit(&lines[..2]);
            if noninteractive || !prompt::ask_yesno("\nContinue with startup", false) {
                log::emit(&lines[2..]);
                let _ = pg::stop(&env.datadir, "fast", 120);
                return Err(Failure::UserAbort);
            }
            *start_standby = false;
            Ok(())
        }
        StandbyCheck::Activated => {
            let _ = pg::stop(&env.datadir, "fast", 120);
            log::info("Coordinator Stopped...");
            Err(Failure::Plain(ACTIVATED.into()))
        }
        StandbyCheck::Proceed => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Lines) -> Vec<String> {
        l.iter()
            .map(|(lvl, m)| format!("[{}]:-{m}", lvl.name()))
            .collect()
    }

    #[test]
    fn utility_mode_banner() {
        let stars = format!("[WARNING]:-{}", "*".repeat(76));
        assert_eq!(
            text(&coordinator_only_banner()),
            [
                stars.as_str(),
                "[WARNING]:-Coordinator-only start requested. If a standby is configured, this command",
                "[WARNING]:-may lead to a split-brain condition and possible unrecoverable data loss.",
                "[WARNING]:-Maintenance mode should only be used with direction from Cloudberry Support.",
                stars.as_str(),
            ]
        );
    }

    #[test]
    fn recovery_startup_refuses_a_live_port_only() {
        let (l, r) = recovery_check(true, true, 5432);
        assert_eq!(
            text(&l),
            ["[INFO]:-Have lock file /tmp/.s.PGSQL.5432 and a process running on port 5432"]
        );
        assert_eq!(r, Err("Coordinator instance process running".to_string()));
        // kill -9 leaves the socket file; nothing listens: recover.
        let (l, r) = recovery_check(true, false, 5432);
        assert_eq!(
            text(&l),
            ["[INFO]:-Have lock file /tmp/.s.PGSQL.5432 but no process running on port 5432"]
        );
        assert_eq!(r, Ok(()));
        let (_, r) = recovery_check(false, true, 5432);
        assert_eq!(r, Err("Port 5432 is already in use".to_string()));
        let (l, r) = recovery_check(false, false, 5432);
        assert_eq!(
            text(&l),
            ["[INFO]:-No socket connection or lock file in /tmp found for port=5432"]
        );
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn an_old_coordinator_behind_its_standby_refuses() {
        // After gpactivatestandby the standby is on timeline 2, the old coordinator on 1.
        assert_eq!(judge_standby(1, Ok(2)), StandbyCheck::Activated);
        assert_eq!(judge_standby(2, Ok(2)), StandbyCheck::Proceed);
        assert_eq!(judge_standby(3, Ok(2)), StandbyCheck::Proceed);
        assert_eq!(
            judge_standby(1, Err("ssh: connect to host scdw port 22: No route".into())),
            StandbyCheck::Unreachable("ssh: connect to host scdw port 22: No route".into())
        );
        assert_eq!(
            ACTIVATED,
            "Standby activated, this node no more can act as coordinator."
        );
    }

    #[test]
    fn an_unreachable_standby_stops_a_noninteractive_start() {
        let l = text(&unreachable_standby_lines("timed out", true));
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[0],
            "[WARNING]:-Standby host is unreachable, cannot determine whether the standby is currently acting as the coordinator. Received error: timed out"
        );
        assert_eq!(
            l[2],
            "[WARNING]:-Non interactive mode detected. Not starting the cluster. Start the cluster in interactive mode."
        );
        assert_eq!(unreachable_standby_lines("timed out", false).len(), 2);
    }
}
