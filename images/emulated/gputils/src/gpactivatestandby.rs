//! `gpactivatestandby [-d DIR] [-f] [-a]`: promote the standby on this host to coordinator, with
//! Cloudberry's checks, summary, messages and exit codes (0; 2 with
//! `[CRITICAL]:-Error activating standby coordinator: <msg>`).
//!
//! EMULATION: Cloudberry's server rewrites `gp_segment_configuration` while it promotes; here the
//! utility does it right after `pg_ctl promote` (delete the old coordinator's row, set role and
//! preferred role `p` on this standby's row, which keeps its dbid). Before that it clears
//! `synchronous_standby_names`: a coordinator without a standby must not block commits.

use std::time::{Duration, Instant};

use crate::catalog::Array;
use crate::cli::{self, flag, valued, Opt};
use crate::error::{bail, Error, Result};
use crate::{cmd, env, instance, log, pg, procfs, prompt, remote};

const SPEC: &[Opt] = &[
    valued(
        "d",
        &[
            "-d",
            "--master-data-directory",
            "--coordinator-data-directory",
        ],
    ),
    flag("f", &["-f", "--force"]),
    flag("a", &["-a"]),
    flag("q", &["-q", "--quiet"]),
    valued("l", &["-l", "--logfile"]),
    valued("ignore", &["--ignore"]),
];

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init(
        "gpactivatestandby",
        log::Options {
            verbose: true,
            ..log::Options::default()
        },
    );
    let opts = match cli::parse_or_usage("gpactivatestandby", SPEC, &args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let datadir = match opts.value("d") {
        Some(d) => d.to_string(),
        None => {
            log::info("Option -d or --master-data-directory not set. Checking environment variable COORDINATOR_DATA_DIRECTORY");
            match env::coordinator_data_dir() {
                Some(d) => d,
                None => {
                    log::critical("Both -d parameter and COORDINATOR_DATA_DIRECTORY environment variable are not set.");
                    log::critical("Required option coordinator data directory is missing.");
                    return 2;
                }
            }
        }
    };
    let datadir = absolute(&datadir);
    let Some(pgport) = env::pgport_raw() else {
        log::critical("PGPORT environment variable not set.");
        return 2;
    };
    if let Some(dir) = opts.value("l") {
        if !std::path::Path::new(dir).exists() {
            log::critical(format!("Log directory {dir} does not exist."));
            return 2;
        }
    }
    log::set_options(log::Options {
        dir: opts.value("l").map(Into::into),
        verbose: !opts.has("q"),
        quiet: opts.has("q"),
        no_file: false,
    });
    if !opts.args.is_empty() {
        log::error("Unknown arguments:");
        for a in &opts.args {
            log::error(format!("  {a}"));
        }
        return 2;
    }
    match run(&opts, &datadir, &pgport) {
        Ok(()) => 0,
        Err(e) => {
            log::critical(format!("Error activating standby coordinator: {e}"));
            2
        }
    }
}

/// `os.path.abspath`.
fn absolute(p: &str) -> String {
    let path = if p.starts_with('/') {
        std::path::PathBuf::from(p)
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().to_string()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

fn run(opts: &cli::Parsed, datadir: &str, pgport: &str) -> Result<()> {
    let running = standby_running_via_ssh(datadir);
    log::info("-----------------------------------------------------");
    log::info(format!("Standby data directory    = {datadir}"));
    log::info(format!("Standby port              = {pgport}"));
    if let Some(l) = opts.value("l") {
        log::info(format!("Log directory             = {l}"));
    }
    log::info(format!(
        "Standby running           = {}",
        if running { "yes" } else { "no" }
    ));
    log::info(format!(
        "Force standby activation  = {}",
        if opts.has("f") { "yes" } else { "no" }
    ));
    log::info("-----------------------------------------------------");
    check_original_coordinator(datadir)?;
    if !running && !opts.has("f") {
        log::warn("If you wish to continue you must use the -f option to force");
        log::warn("the activation process.");
        bail!("Force activation required");
    }
    if !opts.has("a")
        && !prompt::ask_yesno(
            "Do you want to continue with standby coordinator activation?",
            false,
        )
    {
        bail!("User canceled");
    }
    let port: u16 = pgport
        .parse()
        .map_err(|_| Error(format!("invalid PGPORT {pgport}")))?;
    check_or_start_standby(datadir, opts.has("f"))?;
    promote(datadir, port)?;
    log::info("Reading current configuration...");
    let array = Array::load(port)?;
    let coordinator_port = array.coordinator().map(|c| c.port).unwrap_or(port);
    print_results(&env::hostname(), datadir, coordinator_port);
    Ok(())
}

/// `check_standby_running`: `ps -ef | grep 'postgres -D <dir>'` over `ssh localhost`.
fn standby_running_via_ssh(datadir: &str) -> bool {
    let script = format!(
        "ps -eo pid=,args= | grep -F -- {} | grep -v grep",
        cmd::sh_quote(&format!("postgres -D {datadir}"))
    );
    let o = remote::ssh("localhost", &script, Duration::from_secs(30));
    o.ok()
        && o.stdout.lines().any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|p| p.parse::<i32>().is_ok())
        })
}

/// `check_original_coordinator_status`.
fn check_original_coordinator(datadir: &str) -> Result<()> {
    let signal = format!("{datadir}/standby.signal");
    if !std::path::Path::new(&signal).exists() {
        log::warn(
            "Please make sure the command gpactivatestandby is executed on current Standby host",
        );
        bail!("Critical required file on standby \"{signal}\" is not present.");
    }
    let auto_path = format!("{datadir}/postgresql.auto.conf");
    let auto = std::fs::read_to_string(&auto_path).map_err(|e| {
        Error(format!(
            "[Errno {}] {}: '{auto_path}'",
            e.raw_os_error().unwrap_or(0),
            io_reason(&e)
        ))
    })?;
    let (host, port) = pg::primary_conninfo_target(&auto);
    if host.is_empty() {
        return Ok(());
    }
    let o = remote::ssh(
        &host,
        &format!("cat {}", pg::lock_file(port)),
        Duration::from_secs(30),
    );
    if o.ok() {
        log::warn(format!(
            "Appears that there is an active postgres process on {host} port={port}"
        ));
        log::warn("Need to stop current coordinator before activating the standby.");
        log::warn(format!(
            "Rare possibility is just /tmp/.s.PGSQL.{port} and /tmp/.s.PGSQL.{port}.* files exist on {host}."
        ));
        log::warn("Need to delete these files");
        log::warn("Then call this utility again.");
        bail!("Active postgres process on coordinator");
    }
    Ok(())
}

fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory",
        std::io::ErrorKind::PermissionDenied => "Permission denied",
        _ => "I/O error",
    }
}

/// `check_or_start_standby`.
fn check_or_start_standby(datadir: &str, force: bool) -> Result<()> {
    if procfs::find_postmaster(&procfs::list(), datadir).is_some() {
        log::info("found standby postmaster process");
        return Ok(());
    }
    if !force {
        log::error("Standby postmaster is not running.");
        log::error("Use -f option to bring the system anyway");
        bail!("postmaster is not running");
    }
    log::info("Starting standby coordinator database in utility mode...");
    let port = pg::conf_port(datadir).unwrap_or_else(env::pgport);
    instance::clear_stale_files(datadir, port);
    pg::start(datadir, true)
}

/// `promote_standby` plus the emulation's catalog update.
fn promote(datadir: &str, port: u16) -> Result<()> {
    log::info("Promoting standby...");
    let o = pg::pg_ctl(
        &["promote", "-D", datadir, "-t", "600"],
        Duration::from_secs(620),
    );
    if !o.ok() {
        bail!("pg_ctl promote failed: {}", o.first_error_line());
    }
    log::info("Standby coordinator is promoted");
    log::debug("forcing CHECKPOINT to reflect new TimeLineID...");
    let deadline = Instant::now() + Duration::from_secs(600);
    let reset = [
        "ALTER SYSTEM RESET synchronous_standby_names",
        "SELECT pg_reload_conf()",
        "CHECKPOINT",
    ];
    loop {
        match pg::query_multi(port, pg::DB, &reset, Duration::from_secs(60)) {
            Ok(_) => break,
            Err(e) if Instant::now() >= deadline => {
                log::debug(format!("last error: {e}"));
                bail!("Timed out waiting for promoted coordinator to accept database connections.");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    update_catalog(datadir, port)
}

/// EMULATION of the server's catalog change at promotion (`segment_config_activate_standby`).
fn update_catalog(datadir: &str, port: u16) -> Result<()> {
    let array = Array::load(port)?;
    let dbid = instance::read_dbid(datadir)
        .or_else(|| array.standby().map(|s| s.dbid))
        .ok_or_else(|| Error::msg("cannot find standby's dbid"))?;
    let Some(old) = array.coordinator().map(|c| c.dbid) else {
        bail!("cannot find old coordinator");
    };
    if old == dbid {
        return Ok(());
    }
    if !array.segs.iter().any(|s| s.dbid == dbid) {
        bail!("cannot find standby, dbid {dbid}");
    }
    pg::exec(
        port,
        &[&format!(
            "BEGIN; DELETE FROM gp_segment_configuration WHERE dbid = {old}; \
             UPDATE gp_segment_configuration SET role = 'p', preferred_role = 'p' WHERE dbid = {dbid}; COMMIT"
        )],
    )
}

/// `print_results`.
fn print_results(hostname: &str, datadir: &str, port: u16) {
    let lines = [
        "-----------------------------------------------------".to_string(),
        "The activation of the standby coordinator has completed successfully.".to_string(),
        format!("{hostname} is now the new primary coordinator."),
        "You will need to update your user access mechanism to reflect".to_string(),
        "the change of coordinator hostname.".to_string(),
        "Do not re-start the failed coordinator while the fail-over coordinator is".to_string(),
        "operational, this could result in database corruption!".to_string(),
        format!("COORDINATOR_DATA_DIRECTORY is now {datadir} if"),
        "this has changed as a result of the standby coordinator activation, remember".to_string(),
        "to change this in any startup scripts etc, that may be configured".to_string(),
        "to set this value.".to_string(),
        format!("COORDINATOR_PORT is now {port}, if this has changed, you"),
        "may need to make additional configuration changes to allow access".to_string(),
        "to the Cloudberry instance.".to_string(),
        "Refer to the Administrator Guide for instructions on how to re-activate".to_string(),
        "the coordinator to its previous state once it becomes available.".to_string(),
        "Query planner statistics must be updated on all databases".to_string(),
        "following standby coordinator activation.".to_string(),
        "When convenient, run ANALYZE against all user databases.".to_string(),
        "-----------------------------------------------------".to_string(),
    ];
    for l in lines {
        log::info(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abspath() {
        assert_eq!(absolute("/data0/x/../y/"), "/data0/y");
        assert_eq!(
            absolute("/data0/database/coordinator/gpseg-1"),
            "/data0/database/coordinator/gpseg-1"
        );
    }
}
