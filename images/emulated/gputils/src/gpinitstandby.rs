//! `gpinitstandby -s HOST [-P PORT] [-S DIR] [-a]` (create a standby), `-n` (start a configured
//! standby), `-r` (remove it): Cloudberry's steps, messages and rollback. Exit 0 or 2.
//!
//! EMULATION: after the standby starts, the utility waits (at most 60 s) until its WAL sender is
//! `streaming`, then sets `synchronous_standby_names = '*'` (ALTER SYSTEM + reload) and waits (at
//! most 30 s) for `sync_state = 'sync'`. Cloudberry's coordinator replicates synchronously to a
//! streaming standby by itself; plain PostgreSQL needs the setting, and waiting here makes a
//! `gpstate -f` right after the command show `streaming`/`sync` as it would on Cloudberry.
//! `gpsyncrepd` keeps the setting in step afterwards.

use std::fs;
use std::time::{Duration, Instant};

use crate::catalog::{Array, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::error::{bail, Error, Result};
use crate::log::{Level, Lines};
use crate::{cmd, env, instance, log, node, pg, prompt, remote};

const SPEC: &[Opt] = &[
    valued("s", &["-s", "--standby-host"]),
    valued("P", &["-P", "--standby-port"]),
    valued("S", &["-S", "--standby-datadir"]),
    flag("n", &["-n", "--no-update"]),
    flag("r", &["-r", "--remove"]),
    flag("a", &["-a"]),
    flag("q", &["-q", "--quiet"]),
    valued("l", &["-l", "--logfile"]),
    flag("D", &["-D", "--debug"]),
    flag("hba", &["--hba-hostnames"]),
    valued("M", &["-M", "--mode"]),
    valued("f", &["-f", "--fts-host"]),
];

/// The product name in the summary labels (a fork prints `CloudberryDB`).
const PRODUCT: &str = "Cloudberry";
/// Cloudberry's backup of the coordinator's `pg_hba.conf` during initialisation.
const PG_HBA_BACKUP: &str = "pg_hba.conf.gpinitstandby.bak";

/// How far creation got, for rollback (`g_init_standby_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    NotStarted,
    UpdateCatalog,
    UpdatePgHba,
    CopyFiles,
    StartingStandby,
}

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init("gpinitstandby", log::Options::default());
    let opts = match cli::parse_or_usage("gpinitstandby", SPEC, &args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(dir) = opts.value("l") {
        if !std::path::Path::new(dir).exists() {
            log::error(format!("Log directory {dir} does not exist."));
            return 2;
        }
    }
    log::set_options(cli::log_options(&opts, "D"));
    if let Some(msg) = argument_error(opts.has("s"), opts.has("S"), opts.has("n"), opts.has("r")) {
        log::error(msg);
        return 2;
    }
    if let Some(host) = opts.value("s") {
        if !ping(host) {
            log::error(format!("Unable to ping new standby host {host}"));
            return 2;
        }
    }
    let result = if opts.has("r") {
        delete_standby(&opts).map(|()| log::info("Successfully removed standby coordinator"))
    } else if opts.has("n") {
        check_and_start_standby()
    } else {
        create_standby(&opts).map(|host| {
            log::info(format!(
                "Successfully created standby coordinator on {host}"
            ))
        })
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            log::emit(&[failure_line(opts.has("r"), &e.0)]);
            2
        }
    }
}

/// The line every failure ends with (exit code 2): removal (`-r`) or initialization (`-s`, `-n`).
pub fn failure_line(remove: bool, msg: &str) -> (Level, String) {
    let what = if remove { "removing" } else { "initializing" };
    (
        Level::Error,
        format!("Error {what} standby coordinator: {msg}"),
    )
}

/// The first of `parseargs`' exclusivity checks that fails, given which of `-s`, `-S`, `-n` and
/// `-r` were given: the ERROR message before exit code 2.
pub fn argument_error(s: bool, big_s: bool, n: bool, r: bool) -> Option<&'static str> {
    [
        (s && n, "Options -s and -n cannot be specified together."),
        (
            big_s && n,
            "Options -S and -n cannot be specified together.",
        ),
        (s && r, "Options -s and -r cannot be specified together."),
        (!r && !s && !n, "No action provided in the options."),
    ]
    .into_iter()
    .find_map(|(bad, msg)| bad.then_some(msg))
}

/// `gp.Ping`: one ICMP echo.
fn ping(host: &str) -> bool {
    cmd::run(
        cmd::command("ping", &["-c", "1", "-W", "3", host]),
        Some(Duration::from_secs(10)),
    )
    .ok()
}

fn load_array() -> Result<Array> {
    Array::load(env::pgport()).inspect_err(|_| {
        log::error("Failed to retrieve configuration information from the coordinator.");
    })
}

fn coordinator(array: &Array) -> Result<&Seg> {
    array
        .coordinator()
        .ok_or_else(|| Error::msg("no coordinator in gp_segment_configuration"))
}

/// What the standby host reported during validation.
#[derive(Debug, Clone, Default)]
pub struct HostCheck {
    pub parent_exists: bool,
    pub datadir_exists: bool,
    pub addresses: Vec<String>,
}

fn check_standby_host(host: &str, datadir: &str) -> Result<HostCheck> {
    let script = format!(
        "{}; ip -o addr show scope global",
        instance::dir_check_script(datadir)
    );
    let o = remote::ssh(host, &script, Duration::from_secs(30));
    if !o.ok() {
        bail!(
            "Unable to run commands on host {host}: {}",
            o.first_error_line()
        );
    }
    Ok(HostCheck {
        parent_exists: o.stdout.lines().any(|l| l == "PARENT=1"),
        datadir_exists: o.stdout.lines().any(|l| l == "EXISTS=1"),
        addresses: parse_ip_addrs(&o.stdout),
    })
}

/// Global addresses from `ip -o addr show scope global` (`2: eth0    inet 172.18.0.3/16 ...`).
pub fn parse_ip_addrs(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|w| *w == "inet" || *w == "inet6")?;
            Some(f.get(i + 1)?.split('/').next()?.to_string())
        })
        .collect()
}

/// Lines to log and the outcome of a check: `Err` carries the message of
/// `Error initializing standby coordinator: <msg>`.
pub type Verdict = (Lines, std::result::Result<(), String>);

/// `validate_standby_init`, then `get_unreachable_segment_hosts`: the segment hosts that did not
/// answer. The ssh calls of both run at once (they are independent); what they found is logged
/// in Cloudberry's order.
fn validate(
    array: &Array,
    host: &str,
    port: Option<u16>,
    datadir: &str,
) -> Result<(HostCheck, Vec<String>)> {
    let (lines, r) = check_no_standby(array.standby().is_some());
    log::emit(&lines);
    r.map_err(Error)?;
    let c = coordinator(array)?;
    let (check, down) = std::thread::scope(|s| {
        let down = s.spawn(|| segment_hosts_down(array));
        let check = check_standby_host(host, datadir);
        (check, down.join().expect("reachability probe panicked"))
    });
    let check = check?;
    let (lines, r) = check_standby_target(&c.hostname, c.port, host, port, datadir, &check);
    log::emit(&lines);
    r.map_err(Error)?;
    log::emit(&unreachable_lines(&down));
    Ok((check, down))
}

/// The first validation step: there must be no standby in the catalog yet.
pub fn check_no_standby(configured: bool) -> Verdict {
    let mut lines = vec![(
        Level::Info,
        "Validating environment and parameters for standby initialization...".to_string(),
    )];
    if !configured {
        return (lines, Ok(()));
    }
    lines.push((
        Level::Error,
        "Standby coordinator already configured".to_string(),
    ));
    lines.push((
        Level::Info,
        "If you want to start the stopped standby coordinator, use the -n option".to_string(),
    ));
    (
        lines,
        Err("standby coordinator already configured".to_string()),
    )
}

/// The rest of the validation, from what the standby host reported: the data directory's parent
/// must exist and the data directory must not; the standby must not take the coordinator's host
/// and port (`port` is `-P`, defaulting to the coordinator's).
pub fn check_standby_target(
    coord_host: &str,
    coord_port: u16,
    host: &str,
    port: Option<u16>,
    datadir: &str,
    check: &HostCheck,
) -> Verdict {
    let mut lines = Vec::new();
    let err = |lines: &mut Lines, m: String| lines.push((Level::Error, m));
    if !check.parent_exists {
        let base = std::path::Path::new(datadir)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        err(
            &mut lines,
            format!("Parent directory {base} does not exist on host {host}"),
        );
        err(
            &mut lines,
            "This directory must be created before running gpactivatestandby".to_string(),
        );
        return (
            lines,
            Err(format!("Parent directory {base} does not exist")),
        );
    }
    lines.push((
        Level::Info,
        format!("Checking for data directory {datadir} on {host}"),
    ));
    if check.datadir_exists {
        err(
            &mut lines,
            format!("Data directory already exists on host {host}"),
        );
        if host == coord_host {
            err(
                &mut lines,
                "If you want to initialize a new standby on the same host as the coordinator \
                 (not recommended), use -S and -P to specify a new data directory and port"
                    .to_string(),
            );
        }
        return (lines, Err("coordinator data directory exists".to_string()));
    }
    if host == coord_host && port.is_none_or(|p| p == coord_port) {
        return (
            lines,
            Err("cannot create standby on the same host and port".to_string()),
        );
    }
    (lines, Ok(()))
}

/// `print_summary`, with the prompt unless `-a`.
fn print_summary(
    array: &Array,
    opts: &cli::Parsed,
    standby_host: &str,
    standby_dir: &str,
    port: u16,
) -> Result<()> {
    let c = coordinator(array)?;
    let remove = opts.has("r");
    log::emit(&summary_lines(remove, c, standby_host, port, standby_dir));
    if !opts.has("a") {
        let q = if remove {
            "Do you want to continue with deleting the standby coordinator?"
        } else {
            "Do you want to continue with standby coordinator initialization?"
        };
        if !prompt::ask_yesno(q, false) {
            bail!("User canceled");
        }
    }
    Ok(())
}

/// The parameter summary of `-s` (and of `-r`, without the catalog line).
pub fn summary_lines(
    remove: bool,
    c: &Seg,
    standby_host: &str,
    standby_port: u16,
    standby_dir: &str,
) -> Lines {
    let heading = if remove {
        "Warm coordinator standby removal parameters".to_string()
    } else {
        format!("{PRODUCT} standby coordinator initialization parameters")
    };
    let mut l = vec![
        DASHES_53.to_string(),
        heading,
        DASHES_53.to_string(),
        format!(
            "{PRODUCT} coordinator hostname               = {}",
            c.hostname
        ),
        format!(
            "{PRODUCT} coordinator data directory         = {}",
            c.datadir
        ),
        format!("{PRODUCT} coordinator port                   = {}", c.port),
        format!("{PRODUCT} standby coordinator hostname       = {standby_host}"),
        format!("{PRODUCT} standby coordinator port           = {standby_port}"),
        format!("{PRODUCT} standby coordinator data directory = {standby_dir}"),
    ];
    if !remove {
        l.push(format!("{PRODUCT} update system catalog         = On"));
    }
    l.into_iter().map(|m| (Level::Info, m)).collect()
}

/// `get_unreachable_segment_hosts`: every segment host answers `ssh <host> 'echo <host>'` (in
/// parallel); the ones that do not, sorted.
fn segment_hosts_down(array: &Array) -> Vec<String> {
    let mut hosts: Vec<String> = array
        .segments()
        .iter()
        .map(|s| s.hostname.clone())
        .collect();
    hosts.sort();
    hosts.dedup();
    let answered: Vec<(String, bool)> = std::thread::scope(|sc| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                sc.spawn(move || {
                    let o = remote::ssh(
                        h,
                        &format!("echo {}", cmd::sh_quote(h)),
                        Duration::from_secs(30),
                    );
                    let ok = o.ok() && o.stdout.trim().lines().last() == Some(h.as_str());
                    (h.clone(), ok)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reachability worker panicked"))
            .collect()
    });
    answered
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(h, _)| h)
        .collect()
}

/// The warnings of `get_unreachable_segment_hosts` for the hosts that did not answer.
pub fn unreachable_lines(down: &[String]) -> Lines {
    if down.is_empty() {
        return vec![];
    }
    std::iter::once("One or more hosts are not reachable via SSH.".to_string())
        .chain(down.iter().map(|h| format!("Host {h} is unreachable")))
        .map(|m| (Level::Warning, m))
        .collect()
}

/// After the summary: with unreachable segment hosts their `pg_hba.conf` cannot be updated, so
/// `-a` refuses; interactively the user is warned and then asked `Do you want to continue?`.
pub fn check_unreachable(down: &[String], interactive: bool) -> Verdict {
    if down.is_empty() {
        return (vec![], Ok(()));
    }
    let mut l = vec![format!(
        "One or more segment hosts are not currently reachable: {}",
        down.join(" ")
    )];
    let r = if interactive {
        l.push(
            "If you continue with initialization, pg_hba.conf files on these hosts will not be \
             updated."
                .to_string(),
        );
        l.push(
            "Manual effort will be required to update these files once all hosts are reachable \
             again."
                .to_string(),
        );
        Ok(())
    } else {
        l.push("Proceeding will leave the cluster in an inconsistent state.".to_string());
        l.push(
            "If you want to continue with initialization, re-run gpinitstandby without the -a \
             option."
                .to_string(),
        );
        Err("Unable to proceed while one or more hosts are unreachable".to_string())
    };
    (l.into_iter().map(|m| (Level::Warning, m)).collect(), r)
}

/// The dash line around the summary (53 dashes).
const DASHES_53: &str = "-----------------------------------------------------";

fn parse_port(opts: &cli::Parsed) -> Result<Option<u16>> {
    match opts.value("P") {
        None => Ok(None),
        Some(p) => p
            .parse()
            .map(Some)
            .map_err(|_| Error(format!("option -P: invalid integer value: '{p}'"))),
    }
}

/// `create_standby`; returns the standby host.
fn create_standby(opts: &cli::Parsed) -> Result<String> {
    let host = opts.value("s").unwrap_or_default().to_string();
    let mut stage = Stage::NotStarted;
    let mut ctx: Option<(Array, String)> = None;
    let r = create_steps(opts, &host, &mut stage, &mut ctx);
    if r.is_err() {
        log::error("Failed to create standby");
        if let Some((array, coord_dir)) = &ctx {
            rollback(stage, array, coord_dir);
        }
    }
    if stage >= Stage::UpdatePgHba {
        if let Some((_, coord_dir)) = &ctx {
            log::info("Cleaning up pg_hba.conf backup files...");
            let _ = fs::remove_file(format!("{coord_dir}/{PG_HBA_BACKUP}"));
            log::info("Backup files of pg_hba.conf cleaned up successfully.");
        }
    }
    r.map(|()| host)
}

fn create_steps(
    opts: &cli::Parsed,
    host: &str,
    stage: &mut Stage,
    ctx: &mut Option<(Array, String)>,
) -> Result<()> {
    let array = load_array()?;
    let c = coordinator(&array)?.clone();
    let datadir = opts
        .value("S")
        .unwrap_or(&c.datadir)
        .trim_end_matches('/')
        .to_string();
    let port_opt = parse_port(opts)?;
    let port = port_opt.unwrap_or(c.port);
    let (check, unreachable) = validate(&array, host, port_opt, &datadir)?;
    print_summary(&array, opts, host, &datadir, port)?;
    let (lines, r) = check_unreachable(&unreachable, !opts.has("a"));
    log::emit(&lines);
    r.map_err(Error)?;
    if !unreachable.is_empty()
        && !opts.has("a")
        && !prompt::ask_yesno("Do you want to continue?", false)
    {
        bail!("User canceled");
    }
    log::info("Syncing Apache Cloudberry extensions to standby");
    *ctx = Some((array.clone(), c.datadir.clone()));

    *stage = Stage::UpdateCatalog;
    log::info("Adding standby coordinator to catalog...");
    let standby = Seg {
        dbid: array.max_dbid() + 1,
        content: -1,
        role: 'm',
        preferred_role: 'm',
        mode: 's',
        status: 'u',
        hostname: host.to_string(),
        address: host.to_string(),
        port,
        datadir: datadir.clone(),
    };
    let insert = format!(
        "INSERT INTO gp_segment_configuration VALUES {}",
        standby.values_sql()
    );
    pg::exec(c.port, &[&insert]).inspect_err(|_| {
        log::error("Failed to add standby to coordinator catalog.");
    })?;
    log::info("Database catalog updated successfully.");

    *stage = Stage::UpdatePgHba;
    log::info("Updating pg_hba.conf file...");
    let mut addrs = check.addresses.clone();
    if host == c.hostname {
        addrs.push("127.0.0.1".to_string());
    }
    update_pg_hba(&c, host, &addrs, opts.has("hba")).inspect_err(|_| {
        log::error("Failed to update pg_hba.conf file on coordinator.");
    })?;
    log::info("pg_hba.conf files updated successfully.");

    *stage = Stage::CopyFiles;
    let args = [
        datadir.clone(),
        port.to_string(),
        standby.dbid.to_string(),
        c.hostname.clone(),
        c.port.to_string(),
    ];
    let copied = node::run_on(host, "__standby", &args, Duration::from_secs(900));
    match copied {
        Ok(v) if v.iter().all(|o| o.ok) && !v.is_empty() => {}
        Ok(v) => {
            log::error("Failed to copy data directory from coordinator to standby.");
            bail!(
                "{}",
                v.iter()
                    .map(|o| o.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        Err(e) => {
            log::error("Failed to copy data directory from coordinator to standby.");
            bail!("{e}");
        }
    }

    *stage = Stage::StartingStandby;
    if !node::start_standby_coordinator(&standby) {
        bail!("failed to start standby");
    }
    wait_for_sync(c.port);
    Ok(())
}

/// `update_pg_hba_conf`: back up, insert the standby's trust lines after the leading comments,
/// reload.
fn update_pg_hba(c: &Seg, host: &str, addrs: &[String], hostnames: bool) -> Result<()> {
    let path = format!("{}/pg_hba.conf", c.datadir);
    fs::copy(&path, format!("{}/{PG_HBA_BACKUP}", c.datadir))?;
    let text = fs::read_to_string(&path)?;
    let new = hba_with_standby(&text, &env::username(), host, addrs, hostnames);
    fs::write(&path, new)?;
    reload(&c.datadir)
}

/// The text of `pg_hba.conf` with the standby section inserted (pure, for tests).
pub fn hba_with_standby(
    text: &str,
    user: &str,
    host: &str,
    addrs: &[String],
    hostnames: bool,
) -> String {
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    let index = lines
        .iter()
        .position(|l| !l.trim().starts_with('#'))
        .unwrap_or(lines.len());
    let mut section = vec!["# standby coordinator host ip addresses\n".to_string()];
    let mut add = |fields: &[&str]| {
        let l = format!("{}\n", fields.join("\t"));
        if !lines.contains(&l) && !section.contains(&l) {
            section.push(l);
        }
    };
    let cidr = |ip: &str| format!("{ip}{}", if ip.contains(':') { "/128" } else { "/32" });
    if hostnames {
        add(&["host", "all", user, host, "trust"]);
    } else {
        for ip in addrs {
            add(&["host", "all", user, &cidr(ip), "trust"]);
        }
    }
    add(&["host", "replication", user, "samehost", "trust"]);
    if hostnames {
        add(&["host", "replication", user, host, "trust"]);
    } else {
        for ip in addrs.iter().filter(|ip| *ip != "127.0.0.1") {
            add(&["host", "replication", user, &cidr(ip), "trust"]);
        }
    }
    lines.splice(index..index, section);
    lines.concat()
}

fn reload(datadir: &str) -> Result<()> {
    let o = pg::pg_ctl(&["reload", "-D", datadir], Duration::from_secs(30));
    if !o.ok() {
        bail!("pg_ctl reload failed: {}", o.first_error_line());
    }
    Ok(())
}

/// EMULATION (see the module doc): wait for `streaming`, require sync, wait for `sync`.
fn wait_for_sync(port: u16) {
    let poll = |sql: &str, secs: u64| -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if pg::query(port, sql).is_ok_and(|r| !r.is_empty()) {
                return true;
            }
            // Each poll is one short psql; the standby streams within a fraction of a second.
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    };
    if !poll(
        "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'",
        60,
    ) {
        log::warn("Standby WAL sender is not streaming yet (emulation waited 60 seconds)");
        return;
    }
    let set = pg::exec(
        port,
        &[
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ],
    );
    if let Err(e) = set {
        log::warn(format!(
            "Could not enable synchronous replication to the standby: {e}"
        ));
        return;
    }
    if !poll(
        "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'",
        30,
    ) {
        log::warn("Standby is not synchronous yet (emulation waited 30 seconds)");
    }
}

/// One step of undoing a failed creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Stop the standby's postmaster if it runs.
    StopStandby,
    /// Delete the standby's catalog row.
    Catalog,
    /// Put the backed-up `pg_hba.conf` back and reload.
    PgHba,
}

/// What to undo when creation failed after reaching `stage` (Cloudberry's rollback by
/// `g_init_standby_state`): nothing before the catalog changed; the catalog row once it was
/// added; `pg_hba.conf` too once it was being edited; a started standby is stopped first.
pub fn undo_plan(stage: Stage) -> Vec<Undo> {
    match stage {
        Stage::NotStarted => vec![],
        Stage::UpdateCatalog => vec![Undo::Catalog],
        Stage::UpdatePgHba | Stage::CopyFiles => vec![Undo::Catalog, Undo::PgHba],
        Stage::StartingStandby => vec![Undo::StopStandby, Undo::Catalog, Undo::PgHba],
    }
}

/// Undo what `create_steps` did up to `stage`.
fn rollback(stage: Stage, array: &Array, coord_dir: &str) {
    let plan = undo_plan(stage);
    if plan.is_empty() {
        return;
    }
    log::warn("Trying to rollback changes that have been made...");
    let port = array
        .coordinator()
        .map(|c| c.port)
        .unwrap_or_else(env::pgport);
    for step in plan {
        match step {
            Undo::StopStandby => {
                if let Ok(a) = Array::load(port) {
                    if let Some(sb) = a.standby() {
                        stop_standby(sb);
                    }
                }
            }
            Undo::Catalog => {
                log::info("Rolling back catalog change...");
                let _ = remove_standby_from_catalog(port);
            }
            Undo::PgHba => {
                log::info("Restoring pg_hba.conf file...");
                let _ = fs::rename(
                    format!("{coord_dir}/{PG_HBA_BACKUP}"),
                    format!("{coord_dir}/pg_hba.conf"),
                );
                let _ = reload(coord_dir);
            }
        }
    }
}

fn remove_standby_from_catalog(port: u16) -> Result<()> {
    log::info("Removing standby coordinator from catalog...");
    pg::exec(
        port,
        &["DELETE FROM gp_segment_configuration WHERE content = -1 AND role = 'm'"],
    )
    .inspect_err(|_| {
        log::error("Failed to remove standby from coordinator catalog.");
    })?;
    log::info("Database catalog updated successfully.");
    Ok(())
}

/// `stop_standby`: stop the standby's postmaster if it runs.
fn stop_standby(sb: &Seg) {
    let st = crate::status::fetch(&sb.address, &[sb.dir_port()]);
    if st.is_ok_and(|v| v.first().is_some_and(|s| s.pid > 0)) {
        log::info(format!("Stopping standby coordinator on {}", sb.hostname));
        let _ = node::run_on(
            &sb.address,
            "__stopsegs",
            &["smart".to_string(), sb.dir_port()],
            Duration::from_secs(150),
        );
    }
}

/// `delete_standby` (`-r`).
fn delete_standby(opts: &cli::Parsed) -> Result<()> {
    let array = load_array()?;
    let Some(sb) = array.standby().cloned() else {
        log::error("Request made to remove warm coordinator standby, but no standby located.");
        bail!("no standby configured");
    };
    print_summary(&array, opts, &sb.hostname, &sb.datadir, sb.port)?;
    let port = coordinator(&array)?.port;
    remove_standby_from_catalog(port)?;
    stop_standby(&sb);
    log::info("Removing data directory on standby coordinator...");
    let o = remote::ssh(
        &sb.address,
        &format!("rm -rf {}", cmd::sh_quote(&sb.datadir)),
        Duration::from_secs(120),
    );
    if !o.ok() {
        log::error("Failed to remove data directory on standby coordinator.");
        bail!("{}", o.first_error_line());
    }
    Ok(())
}

/// `-n` starts nothing when the coordinator has any WAL sender; the message keeps Cloudberry's typo.
pub fn already_running(wal_senders: usize) -> Option<(Level, String)> {
    (wal_senders >= 1).then(|| {
        (
            Level::Info,
            "Standy coordinator is already up and running.".to_string(),
        )
    })
}

/// `check_and_start_standby` (`-n`).
fn check_and_start_standby() -> Result<()> {
    let array = load_array()?;
    let Some(sb) = array.standby().cloned() else {
        log::error("Cannot use -n option when standby coordinator has not yet been configured");
        bail!("Standby coordinator not configured");
    };
    let port = coordinator(&array)?.port;
    let senders = pg::query(port, "SELECT * FROM pg_stat_replication")?.len();
    if let Some(line) = already_running(senders) {
        log::emit(&[line]);
        return Ok(());
    }
    if !node::start_standby_coordinator(&sb) {
        bail!("failed to start standby");
    }
    log::info("Successfully started standby coordinator");
    Ok(())
}

#[cfg(test)]
#[path = "gpinitstandby_tests.rs"]
mod tests;
