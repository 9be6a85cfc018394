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
use crate::log::{Level, Lines};
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
    let (lines, checked) = check_environment(
        opts.value("d"),
        env::coordinator_data_dir(),
        env::pgport_raw(),
        absolute,
    );
    log::emit(&lines);
    let Some((datadir, pgport)) = checked else {
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
            log::emit(&[failure_line(&e.0)]);
            2
        }
    }
}

/// What `parseargs` checks before anything else, in its order: the data directory (`-d`, else
/// `COORDINATOR_DATA_DIRECTORY`, made absolute by `abspath`), then `PGPORT`. The lines to log,
/// and the data directory and port, or `None` when the utility must exit 2.
pub fn check_environment(
    d_opt: Option<&str>,
    env_dir: Option<String>,
    pgport: Option<String>,
    abspath: impl Fn(&str) -> String,
) -> (Lines, Option<(String, String)>) {
    let mut lines = Vec::new();
    let dir = match d_opt {
        Some(d) => d.to_string(),
        None => {
            lines.push((
                Level::Info,
                "Option -d or --master-data-directory not set. Checking environment variable \
                 COORDINATOR_DATA_DIRECTORY"
                    .to_string(),
            ));
            match env_dir {
                Some(d) => d,
                None => {
                    lines.push((
                        Level::Critical,
                        "Both -d parameter and COORDINATOR_DATA_DIRECTORY environment variable \
                         are not set."
                            .to_string(),
                    ));
                    lines.push((
                        Level::Critical,
                        "Required option coordinator data directory is missing.".to_string(),
                    ));
                    return (lines, None);
                }
            }
        }
    };
    let Some(port) = pgport else {
        lines.push((
            Level::Critical,
            "PGPORT environment variable not set.".to_string(),
        ));
        return (lines, None);
    };
    (lines, Some((abspath(&dir), port)))
}

/// The line every failure after the argument checks ends with (exit code 2).
pub fn failure_line(msg: &str) -> (Level, String) {
    (
        Level::Critical,
        format!("Error activating standby coordinator: {msg}"),
    )
}

/// A check that stops the activation: the warnings it logs first, then its message (which
/// [`failure_line`] prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub warnings: Vec<String>,
    pub error: String,
}

impl Refusal {
    /// Log the warnings and turn the refusal into the error that ends the utility.
    fn raise(self) -> Error {
        for w in &self.warnings {
            log::warn(w);
        }
        Error(self.error)
    }
}

/// The summary `print_summary` logs before any check can refuse.
pub fn summary_lines(
    datadir: &str,
    pgport: &str,
    logdir: Option<&str>,
    running: bool,
    force: bool,
) -> Lines {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut l = vec![
        DASHES_53.to_string(),
        format!("Standby data directory    = {datadir}"),
        format!("Standby port              = {pgport}"),
    ];
    if let Some(dir) = logdir {
        l.push(format!("Log directory             = {dir}"));
    }
    l.push(format!("Standby running           = {}", yes_no(running)));
    l.push(format!("Force standby activation  = {}", yes_no(force)));
    l.push(DASHES_53.to_string());
    l.into_iter().map(|m| (Level::Info, m)).collect()
}

/// `standby.signal` must exist in the data directory: activation runs on the standby.
pub fn check_standby_signal(datadir: &str, exists: bool) -> std::result::Result<(), Refusal> {
    if exists {
        return Ok(());
    }
    Err(Refusal {
        warnings: vec![
            "Please make sure the command gpactivatestandby is executed on current Standby host"
                .to_string(),
        ],
        error: format!(
            "Critical required file on standby \"{datadir}/standby.signal\" is not present."
        ),
    })
}

/// What reading the old coordinator's `/tmp/.s.PGSQL.<port>.lock` over ssh found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    /// The file is there: a postmaster runs, or one was killed and left it.
    Present,
    /// The host answered and the file is not there.
    Absent,
    /// ssh could not reach the host (or timed out).
    Unreachable,
}

impl LockProbe {
    /// Classify the result of `ssh <host> cat <lock file>`.
    pub fn from_ssh(o: &cmd::Out) -> LockProbe {
        if o.ok() {
            LockProbe::Present
        } else if remote::unreachable(o) {
            LockProbe::Unreachable
        } else {
            LockProbe::Absent
        }
    }
}

/// The old coordinator (from `primary_conninfo`) must not have its lock file: only a lock file
/// refuses; a host that cannot be reached passes, as on Cloudberry.
pub fn check_old_coordinator(
    host: &str,
    port: u16,
    probe: LockProbe,
) -> std::result::Result<(), Refusal> {
    if probe != LockProbe::Present {
        return Ok(());
    }
    Err(Refusal {
        warnings: vec![
            format!("Appears that there is an active postgres process on {host} port={port}"),
            "Need to stop current coordinator before activating the standby.".to_string(),
            format!(
                "Rare possibility is just /tmp/.s.PGSQL.{port} and /tmp/.s.PGSQL.{port}.* files \
                 exist on {host}."
            ),
            "Need to delete these files".to_string(),
            "Then call this utility again.".to_string(),
        ],
        error: "Active postgres process on coordinator".to_string(),
    })
}

/// A standby that is not running is activated only with `-f`.
pub fn check_force(running: bool, force: bool) -> std::result::Result<(), Refusal> {
    if running || force {
        return Ok(());
    }
    Err(Refusal {
        warnings: vec![
            "If you wish to continue you must use the -f option to force".to_string(),
            "the activation process.".to_string(),
        ],
        error: "Force activation required".to_string(),
    })
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
    // The two ssh probes are independent: the old coordinator's lock file is looked for while
    // the running check runs (a crashed host's name takes a second to fail), and its result is
    // used in Cloudberry's order, after the summary and the `standby.signal` check.
    let (running, lock) = std::thread::scope(|s| {
        let lock = s.spawn(|| probe_old_coordinator(datadir));
        let running = standby_running_via_ssh(datadir);
        (running, lock.join().expect("lock probe panicked"))
    });
    log::emit(&summary_lines(
        datadir,
        pgport,
        opts.value("l"),
        running,
        opts.has("f"),
    ));
    check_original_coordinator(datadir, lock)?;
    check_force(running, opts.has("f")).map_err(Refusal::raise)?;
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
    log::emit(&success_lines(&env::hostname(), datadir, coordinator_port));
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

/// The old coordinator (from `primary_conninfo`) and what `ssh <host> cat <lock file>` left;
/// `Ok(None)` when the standby names no primary host.
type LockLook = Result<Option<(String, u16, cmd::Out)>>;

/// Reads the old coordinator from `postgresql.auto.conf` and looks for its lock file over ssh.
fn probe_old_coordinator(datadir: &str) -> LockLook {
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
        return Ok(None);
    }
    let o = remote::ssh(
        &host,
        &format!("cat {}", pg::lock_file(port)),
        Duration::from_secs(30),
    );
    Ok(Some((host, port, o)))
}

/// `check_original_coordinator_status`: `standby.signal`, then the old coordinator's lock file
/// (looked for by [`probe_old_coordinator`]).
fn check_original_coordinator(datadir: &str, lock: LockLook) -> Result<()> {
    let signal = std::path::Path::new(datadir).join("standby.signal");
    check_standby_signal(datadir, signal.exists()).map_err(Refusal::raise)?;
    let Some((host, port, o)) = lock? else {
        return Ok(());
    };
    let probe = LockProbe::from_ssh(&o);
    if probe == LockProbe::Unreachable {
        log::debug(format!(
            "Could not reach {host} to look for its lock file: {}",
            o.first_error_line()
        ));
    }
    check_old_coordinator(&host, port, probe).map_err(Refusal::raise)
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
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
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

/// The dash line around the summary and the success block (53 dashes).
const DASHES_53: &str = "-----------------------------------------------------";

/// `print_results`: the success block.
pub fn success_lines(hostname: &str, datadir: &str, port: u16) -> Lines {
    [
        DASHES_53.to_string(),
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
        DASHES_53.to_string(),
    ]
    .into_iter()
    .map(|m| (Level::Info, m))
    .collect()
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

    fn text(l: &Lines) -> Vec<String> {
        l.iter()
            .map(|(lvl, m)| format!("[{}]:-{m}", lvl.name()))
            .collect()
    }

    const DIR: &str = "/data0/database/coordinator/gpseg-1";

    #[test]
    fn environment_checks_in_cloudberrys_order() {
        let abs = |d: &str| format!("/abs{d}");
        // -d given: no message, made absolute.
        let (l, r) = check_environment(Some("/d"), None, Some("5432".into()), abs);
        assert!(l.is_empty());
        assert_eq!(r, Some(("/abs/d".to_string(), "5432".to_string())));
        // No -d: the environment variable, announced.
        let (l, r) = check_environment(None, Some(DIR.into()), Some("5432".into()), abs);
        assert_eq!(
            text(&l),
            ["[INFO]:-Option -d or --master-data-directory not set. Checking environment variable COORDINATOR_DATA_DIRECTORY"]
        );
        assert_eq!(r.unwrap().0, format!("/abs{DIR}"));
        // Neither: two CRITICAL lines, exit 2, PGPORT not even looked at.
        let (l, r) = check_environment(None, None, None, abs);
        assert_eq!(r, None);
        assert_eq!(
            text(&l)[1..],
            [
                "[CRITICAL]:-Both -d parameter and COORDINATOR_DATA_DIRECTORY environment variable are not set.",
                "[CRITICAL]:-Required option coordinator data directory is missing.",
            ]
        );
        // PGPORT unset.
        let (l, r) = check_environment(Some(DIR), None, None, abs);
        assert_eq!(r, None);
        assert_eq!(
            text(&l),
            ["[CRITICAL]:-PGPORT environment variable not set."]
        );
    }

    #[test]
    fn failures_end_with_one_critical_line() {
        assert_eq!(
            text(&vec![failure_line("Force activation required")]),
            ["[CRITICAL]:-Error activating standby coordinator: Force activation required"]
        );
    }

    #[test]
    fn summary_reports_running_and_force() {
        let dashes = format!("[INFO]:-{}", "-".repeat(53));
        assert_eq!(
            text(&summary_lines(DIR, "5432", None, false, true)),
            [
                dashes.as_str(),
                "[INFO]:-Standby data directory    = /data0/database/coordinator/gpseg-1",
                "[INFO]:-Standby port              = 5432",
                "[INFO]:-Standby running           = no",
                "[INFO]:-Force standby activation  = yes",
                dashes.as_str(),
            ]
        );
        let l = text(&summary_lines(DIR, "5432", Some("/tmp/logs"), true, false));
        assert_eq!(l[3], "[INFO]:-Log directory             = /tmp/logs");
        assert_eq!(l[4], "[INFO]:-Standby running           = yes");
        assert_eq!(l[5], "[INFO]:-Force standby activation  = no");
    }

    #[test]
    fn standby_signal_is_required() {
        assert_eq!(check_standby_signal(DIR, true), Ok(()));
        let r = check_standby_signal(DIR, false).unwrap_err();
        assert_eq!(
            r.error,
            "Critical required file on standby \"/data0/database/coordinator/gpseg-1/standby.signal\" is not present."
        );
        assert_eq!(
            r.warnings,
            ["Please make sure the command gpactivatestandby is executed on current Standby host"]
        );
    }

    #[test]
    fn only_a_lock_file_on_the_old_coordinator_refuses() {
        assert_eq!(
            check_old_coordinator("cdw", 5432, LockProbe::Absent),
            Ok(())
        );
        assert_eq!(
            check_old_coordinator("cdw", 5432, LockProbe::Unreachable),
            Ok(())
        );
        let r = check_old_coordinator("cdw", 5432, LockProbe::Present).unwrap_err();
        assert_eq!(r.error, "Active postgres process on coordinator");
        assert_eq!(
            r.warnings[..2],
            [
                "Appears that there is an active postgres process on cdw port=5432",
                "Need to stop current coordinator before activating the standby."
            ]
        );
        assert_eq!(
            r.warnings[2],
            "Rare possibility is just /tmp/.s.PGSQL.5432 and /tmp/.s.PGSQL.5432.* files exist on cdw."
        );
    }

    #[test]
    fn lock_probe_reads_ssh_results() {
        let out = |code: Option<i32>, timed_out: bool| cmd::Out {
            code,
            timed_out,
            ..cmd::Out::default()
        };
        assert_eq!(
            LockProbe::from_ssh(&out(Some(0), false)),
            LockProbe::Present
        );
        // cat: No such file or directory.
        assert_eq!(LockProbe::from_ssh(&out(Some(1), false)), LockProbe::Absent);
        // ssh's own failure, or no answer in time.
        assert_eq!(
            LockProbe::from_ssh(&out(Some(255), false)),
            LockProbe::Unreachable
        );
        assert_eq!(
            LockProbe::from_ssh(&out(None, true)),
            LockProbe::Unreachable
        );
    }

    #[test]
    fn a_stopped_standby_needs_force() {
        assert_eq!(check_force(true, false), Ok(()));
        assert_eq!(check_force(false, true), Ok(()));
        assert_eq!(check_force(true, true), Ok(()));
        let r = check_force(false, false).unwrap_err();
        assert_eq!(r.error, "Force activation required");
        assert_eq!(
            r.warnings,
            [
                "If you wish to continue you must use the -f option to force",
                "the activation process."
            ]
        );
    }

    #[test]
    fn success_block() {
        let l = text(&success_lines("scdw", DIR, 5432));
        let dashes = format!("[INFO]:-{}", "-".repeat(53));
        assert_eq!(l.len(), 20);
        assert_eq!(l[0], dashes);
        assert_eq!(
            l[1],
            "[INFO]:-The activation of the standby coordinator has completed successfully."
        );
        assert_eq!(l[2], "[INFO]:-scdw is now the new primary coordinator.");
        assert_eq!(
            l[7],
            "[INFO]:-COORDINATOR_DATA_DIRECTORY is now /data0/database/coordinator/gpseg-1 if"
        );
        assert_eq!(
            l[11],
            "[INFO]:-COORDINATOR_PORT is now 5432, if this has changed, you"
        );
        assert_eq!(l[19], dashes);
    }
}
