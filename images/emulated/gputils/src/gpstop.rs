//! `gpstop`: stop the coordinator (`-m`: only it), the standby and the segments, with Cloudberry's
//! messages. Exit codes: 0 success, 2 errors (bad options, coordinator not running, segments that
//! failed to stop), 4 when the user declines the prompt.

use std::time::{Duration, Instant};

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::coordinator::{CoordEnv, Failure};
use crate::error::{bail, Result};
use crate::log::{Level, Lines};
use crate::node::{self, Outcome};
use crate::table::Table;
use crate::{cmd, instance, log, pg, procfs, prompt, remote};

const SPEC: &[Opt] = &[
    flag("a", &["-a"]),
    flag("m", &["-m", "--master_only", "-c", "--coordinator_only"]),
    valued("M", &["-M", "--mode"]),
    flag("f", &["-f", "--fast"]),
    flag("i", &["-i", "--immediate"]),
    flag("s", &["-s", "--smart"]),
    flag("r", &["-r", "--restart"]),
    flag("y", &["-y"]),
    flag("u", &["-u"]),
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
];

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init("gpstop", log::Options::default());
    let opts = match cli::parse_or_usage("gpstop", SPEC, &args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    log::set_options(cli::log_options(&opts, "v"));
    if let Some(m) = opts
        .value("M")
        .filter(|m| !["smart", "fast", "immediate"].contains(m))
    {
        eprintln!(
            "Usage: gpstop [options]\n\ngpstop: error: option -M: invalid choice: '{m}' (choose from 'fast', 'immediate', 'smart')"
        );
        return 2;
    }
    log::info(format!("Starting gpstop with args: {}", args.join(" ")));
    match run(&opts) {
        Ok(code) => code,
        Err(f) => f.report("gpstop"),
    }
}

fn mode_of(opts: &cli::Parsed) -> std::result::Result<String, Failure> {
    let mut mode = opts.value("M").unwrap_or("smart").to_string();
    if mode != "smart" && (opts.has("f") || opts.has("i")) {
        return Err(Failure::Plain(
            "Can not mix --mode options with older deprecated '-f,-i,-s'".into(),
        ));
    }
    for (k, m) in [("f", "fast"), ("i", "immediate"), ("s", "smart")] {
        if opts.has(k) {
            mode = m.to_string();
        }
    }
    Ok(mode)
}

fn run(opts: &cli::Parsed) -> std::result::Result<i32, Failure> {
    let mut mode = mode_of(opts)?;
    if opts.has("u") || opts.has("r") {
        return Err(Failure::Plain(
            "options -u and -r are not supported by the Cloudberry emulation".into(),
        ));
    }
    log::info("Gathering information and validating the environment...");
    let env = CoordEnv::resolve(opts.value("d")).map_err(Failure::Plain)?;
    check_db_running(&env, &mut mode)?;
    log::info("Obtaining Cloudberry Coordinator catalog information");
    log::info("Obtaining Segment details from coordinator...");
    let array = Array::load(env.port)?;
    log::info(format!("Cloudberry Version: '{}'", pg::gp_version()));
    let (coordinator_only, question) = shutdown_scope(opts.has("m"), array.segments().is_empty());
    if !opts.has("a") && !prompt::ask_yesno(question, false) {
        return Err(Failure::UserAbort);
    }
    if coordinator_only {
        stop_coordinator(&env, &mode)?;
        return Ok(0);
    }
    stop_coordinator(&env, &mode)?;
    if !opts.has("y") {
        stop_standby(&array, &mode);
    }
    let ok = stop_segments(&array, &mode);
    Ok(if ok { 0 } else { 2 })
}

/// Cloudberry's `_check_db_running`: a `postmaster.pid` must exist; a dead pid means the files are
/// cleared and the shutdown becomes `fast`.
fn check_db_running(env: &CoordEnv, mode: &mut String) -> std::result::Result<(), Failure> {
    let pidfile = format!("{}/postmaster.pid", env.datadir);
    if !std::path::Path::new(&pidfile).exists() {
        return Err(Failure::Plain(
            "postmaster.pid file does not exist.  is Cloudberry instance already stopped?".into(),
        ));
    }
    let pid = pg::pid_from_file(&env.datadir);
    if !procfs::alive(pid) {
        log::warn("Have a postmaster.pid file but no Coordinator segment process running");
        log::info("Clearing postmaster.pid file and /tmp lock files");
        log::info("Clearing Coordinator instance lock files");
        let _ = std::fs::remove_file(pg::lock_file(env.port));
        log::info("Clearing Coordinator instance pid file");
        let _ = std::fs::remove_file(&pidfile);
        log::info("Setting recovery parameters");
        *mode = "fast".to_string();
        log::info("Commencing forced shutdown");
    }
    Ok(())
}

/// What `_stop_coordinator` logs before it stops the coordinator in `mode`; a smart shutdown
/// also says it waits for the sessions.
pub fn commencing_lines(mode: &str, datadir: &str) -> Lines {
    let mut l = vec![
        format!("Commencing Coordinator instance shutdown with mode='{mode}'"),
        format!("Coordinator segment instance directory={datadir}"),
    ];
    if mode == "smart" {
        l.push(
            "Stopping coordinator segment and waiting for user connections to finish ..."
                .to_string(),
        );
    }
    l.into_iter().map(|m| (Level::Info, m)).collect()
}

/// Whether only the coordinator is stopped (`-m`, or an array without segments), and the
/// question asked first unless `-a`.
pub fn shutdown_scope(coordinator_only: bool, no_segments: bool) -> (bool, &'static str) {
    if coordinator_only || no_segments {
        (true, "\nContinue with coordinator-only shutdown")
    } else {
        (false, "\nContinue with Cloudberry instance shutdown")
    }
}

/// The postmaster of `datadir` and its children (what `get_postgres_segment_processes` lists).
fn instance_pids(datadir: &str) -> Vec<i32> {
    let procs = procfs::list();
    let Some(pm) = procfs::find_postmaster(&procs, datadir) else {
        return Vec::new();
    };
    std::iter::once(pm)
        .chain(procfs::children(&procs, pm).map(|p| p.pid))
        .collect()
}

/// Stop the local coordinator (`_stop_coordinator`).
fn stop_coordinator(env: &CoordEnv, mode: &str) -> Result<()> {
    log::emit(&commencing_lines(mode, &env.datadir));
    let pids = instance_pids(&env.datadir);
    let mut mode = mode.to_string();
    if mode == "smart" && !stop_smart(&env.datadir)? {
        mode = "fast".to_string();
    }
    if mode != "smart" {
        let o = pg::stop(&env.datadir, &mode, 120);
        if !o.ok() && instance::running(&env.datadir) {
            log::info("Failed to shutdown coordinator with pg_ctl.");
            let pid = pg::pid_from_file(&env.datadir);
            if procfs::alive(pid) {
                log::info("Sending SIGQUIT signal...");
                cmd::kill(pid, "QUIT");
                std::thread::sleep(Duration::from_secs(5));
            }
        }
    }
    log::info("Attempting forceful termination of any leftover coordinator process");
    for pid in pids.into_iter().filter(|p| procfs::alive(*p)) {
        log::info(format!("Terminating processes for segment {}", env.datadir));
        cmd::kill(pid, "KILL");
    }
    log::debug("Successfully shutdown the Coordinator instance in admin mode");
    Ok(())
}

/// `_stop_coordinator_smart`: `pg_ctl stop -W -m smart`, then poll `pg_ctl status` until the
/// coordinator is gone. Cloudberry asks interactively after the timeout; the emulation switches
/// to fast mode (false).
fn stop_smart(datadir: &str) -> Result<bool> {
    let o = pg::pg_ctl(
        &["stop", "-W", "-m", "smart", "-D", datadir],
        Duration::from_secs(30),
    );
    print!("{}", o.stdout);
    if !o.ok() {
        bail!("pg_ctl stop smart failed");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = pg::pg_ctl(&["status", "-D", datadir], Duration::from_secs(10));
        match st.code {
            Some(3) => return Ok(true),
            Some(0) => {}
            c => bail!("pg_ctl status failed with return code {}", c.unwrap_or(-1)),
        }
        if Instant::now() >= deadline {
            log::warn("Smart mode failed to shutdown the coordinator.");
            log::info("Continuing in fast mode (non-interactive emulation).");
            return Ok(false);
        }
        // Cloudberry polls once a second; nothing shown depends on the interval, and an idle
        // coordinator is usually gone within a tenth of that.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `_stop_standby`.
fn stop_standby(array: &Array, mode: &str) {
    let Some(sb) = array.standby() else {
        log::info("No standby coordinator host configured");
        return;
    };
    let probe = remote::ssh(&sb.hostname, "true", Duration::from_secs(15));
    if remote::unreachable(&probe) {
        log::warn("Standby is unreachable, skipping shutdown on standby");
        return;
    }
    log::info(format!(
        "Stopping coordinator standby host {} mode={mode}",
        sb.hostname
    ));
    let outs = node::run_on(
        &sb.hostname,
        "__stopsegs",
        &[mode.to_string(), sb.dir_port()],
        Duration::from_secs(150),
    );
    match outs {
        Ok(o) if o.iter().all(|x| x.ok) => {
            log::info(format!(
                "Successfully shutdown standby process on {}",
                sb.hostname
            ));
        }
        Ok(o) => {
            let msg = o
                .iter()
                .map(|x| x.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            log::warn(format!(
                "Error occured while stopping the standby coordinator: {msg}"
            ));
        }
        Err(e) => log::warn(format!(
            "Error occured while stopping the standby coordinator: {e}"
        )),
    }
}

/// Stop `segs` host by host in parallel; every instance's outcome.
fn stop_on_hosts(segs: &[&Seg], mode: &str) -> Vec<(i16, Outcome)> {
    log::info("0.00% of jobs completed");
    let results = node::per_host(segs.iter().copied(), |segs| {
        let mut args = vec![mode.to_string()];
        args.extend(segs.iter().map(|x| x.dir_port()));
        node::run_on(
            &segs[0].address,
            "__stopsegs",
            &args,
            Duration::from_secs(300),
        )
    });
    log::info("100.00% of jobs completed");
    results
        .into_iter()
        .flat_map(|(segs, r)| node::outcomes_for(&segs, &r))
        .collect()
}

/// `_stop_segments`: primaries, then mirrors; returns whether all stopped.
fn stop_segments(array: &Array, mode: &str) -> bool {
    let segs = array.segments();
    let dbids: Vec<String> = segs.iter().map(|s| s.dbid.to_string()).collect();
    log::info(format!(
        "Targeting dbid [{}] for shutdown",
        dbids.join(", ")
    ));
    let mut results = Vec::new();
    if array.has_mirrors() {
        log::info("Commencing parallel primary segment instance shutdown, please wait...");
        let prim: Vec<&Seg> = segs
            .iter()
            .copied()
            .filter(|s| s.is_primary(true))
            .collect();
        results.extend(stop_on_hosts(&prim, mode));
        log::info("Commencing parallel mirror segment instance shutdown, please wait...");
        let mir: Vec<&Seg> = segs
            .iter()
            .copied()
            .filter(|s| !s.is_primary(true))
            .collect();
        results.extend(stop_on_hosts(&mir, mode));
    } else {
        log::info("Commencing parallel segment instance shutdown, please wait...");
        results.extend(stop_on_hosts(&segs, mode));
    }
    let failed: Vec<&(i16, Outcome)> = results.iter().filter(|(_, o)| !o.ok).collect();
    if !failed.is_empty() {
        log::info("------------------------------------------------");
        log::info("Failed Segment Stop Information ");
        log::info("------------------------------------------------");
        for (dbid, o) in &failed {
            let s = segs
                .iter()
                .find(|s| s.dbid == *dbid)
                .expect("dbid of a segment");
            log::info(format!(
                "DBID:{dbid}  FAILED  host:'{}' datadir:'{}' with reason:'{}'",
                s.hostname, s.datadir, o.message
            ));
        }
    }
    let stopped = segs.len() - failed.len();
    let mut t = Table::new();
    t.separator();
    t.info(["Segments stopped successfully", &format!("= {stopped}")]);
    t.info_or_warn(
        !failed.is_empty(),
        [
            "Segments with errors during stop",
            &format!("= {}", failed.len()),
        ],
    );
    t.separator();
    t.output();
    let flag = if failed.is_empty() { "" } else { "<<<<<<<<" };
    log::info(format!(
        "Successfully shutdown {stopped} of {} segment instances {flag}",
        segs.len()
    ));
    if failed.is_empty() {
        log::info("Database successfully shutdown with no errors reported");
        true
    } else {
        log::warn("------------------------------------------------");
        log::warn("Segment instance shutdown failures reported");
        log::warn(format!(
            "Failed to shutdown {} of {} segment instances <<<<<",
            failed.len(),
            segs.len()
        ));
        log::warn(format!(
            "A total of {} errors were encountered",
            failed.len()
        ));
        log::warn("------------------------------------------------");
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(args: &[&str]) -> std::result::Result<String, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let opts = cli::parse(SPEC, &args).unwrap();
        mode_of(&opts).map_err(|f| match f {
            Failure::Plain(e) => e.0,
            _ => "other failure".to_string(),
        })
    }

    #[test]
    fn shutdown_modes() {
        assert_eq!(mode(&["-a"]).unwrap(), "smart");
        assert_eq!(mode(&["-M", "immediate"]).unwrap(), "immediate");
        assert_eq!(mode(&["-m", "-Mfast"]).unwrap(), "fast");
        assert_eq!(
            mode(&["--mode=immediate", "-a", "-m"]).unwrap(),
            "immediate"
        );
        // The deprecated flags.
        assert_eq!(mode(&["-i"]).unwrap(), "immediate");
        assert_eq!(mode(&["-f"]).unwrap(), "fast");
        assert_eq!(
            mode(&["-M", "fast", "-i"]).unwrap_err(),
            "Can not mix --mode options with older deprecated '-f,-i,-s'"
        );
    }

    fn text(l: &Lines) -> Vec<String> {
        l.iter()
            .map(|(lvl, m)| format!("[{}]:-{m}", lvl.name()))
            .collect()
    }

    #[test]
    fn coordinator_shutdown_lines() {
        let dir = "/data0/database/coordinator/gpseg-1";
        assert_eq!(
            text(&commencing_lines("smart", dir)),
            [
                "[INFO]:-Commencing Coordinator instance shutdown with mode='smart'",
                "[INFO]:-Coordinator segment instance directory=/data0/database/coordinator/gpseg-1",
                "[INFO]:-Stopping coordinator segment and waiting for user connections to finish ...",
            ]
        );
        assert_eq!(
            text(&commencing_lines("immediate", dir)),
            [
                "[INFO]:-Commencing Coordinator instance shutdown with mode='immediate'",
                "[INFO]:-Coordinator segment instance directory=/data0/database/coordinator/gpseg-1",
            ]
        );
    }

    #[test]
    fn coordinator_only_shutdown_asks_its_own_question() {
        assert_eq!(
            shutdown_scope(true, false),
            (true, "\nContinue with coordinator-only shutdown")
        );
        assert_eq!(
            shutdown_scope(false, true),
            (true, "\nContinue with coordinator-only shutdown")
        );
        assert_eq!(
            shutdown_scope(false, false),
            (false, "\nContinue with Cloudberry instance shutdown")
        );
    }
}
