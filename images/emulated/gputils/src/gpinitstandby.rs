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
enum Stage {
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
    let checks = [
        (
            opts.has("s") && opts.has("n"),
            "Options -s and -n cannot be specified together.",
        ),
        (
            opts.has("S") && opts.has("n"),
            "Options -S and -n cannot be specified together.",
        ),
        (
            opts.has("s") && opts.has("r"),
            "Options -s and -r cannot be specified together.",
        ),
        (
            !opts.has("r") && !opts.has("s") && !opts.has("n"),
            "No action provided in the options.",
        ),
    ];
    if let Some((_, msg)) = checks.iter().find(|(bad, _)| *bad) {
        log::error(*msg);
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
            if opts.has("r") {
                log::error(format!("Error removing standby coordinator: {e}"));
            } else {
                log::error(format!("Error initializing standby coordinator: {e}"));
            }
            2
        }
    }
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
struct HostCheck {
    parent_exists: bool,
    datadir_exists: bool,
    addresses: Vec<String>,
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

/// `validate_standby_init`.
fn validate(array: &Array, host: &str, port: Option<u16>, datadir: &str) -> Result<HostCheck> {
    log::info("Validating environment and parameters for standby initialization...");
    if array.standby().is_some() {
        log::error("Standby coordinator already configured");
        log::info("If you want to start the stopped standby coordinator, use the -n option");
        bail!("standby coordinator already configured");
    }
    let c = coordinator(array)?;
    let check = check_standby_host(host, datadir)?;
    if !check.parent_exists {
        let base = std::path::Path::new(datadir)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        log::error(format!(
            "Parent directory {base} does not exist on host {host}"
        ));
        log::error("This directory must be created before running gpactivatestandby");
        bail!("Parent directory {base} does not exist");
    }
    log::info(format!("Checking for data directory {datadir} on {host}"));
    if check.datadir_exists {
        log::error(format!("Data directory already exists on host {host}"));
        if host == c.hostname {
            log::error(
                "If you want to initialize a new standby on the same host as the coordinator (not recommended), use -S and -P to specify a new data directory and port",
            );
        }
        bail!("coordinator data directory exists");
    }
    if host == c.hostname && port.is_none_or(|p| p == c.port) {
        bail!("cannot create standby on the same host and port");
    }
    Ok(check)
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
    log::info("-----------------------------------------------------");
    if remove {
        log::info("Warm coordinator standby removal parameters");
    } else {
        log::info(format!(
            "{PRODUCT} standby coordinator initialization parameters"
        ));
    }
    log::info("-----------------------------------------------------");
    log::info(format!(
        "{PRODUCT} coordinator hostname               = {}",
        c.hostname
    ));
    log::info(format!(
        "{PRODUCT} coordinator data directory         = {}",
        c.datadir
    ));
    log::info(format!(
        "{PRODUCT} coordinator port                   = {}",
        c.port
    ));
    log::info(format!(
        "{PRODUCT} standby coordinator hostname       = {standby_host}"
    ));
    log::info(format!(
        "{PRODUCT} standby coordinator port           = {port}"
    ));
    log::info(format!(
        "{PRODUCT} standby coordinator data directory = {standby_dir}"
    ));
    if !remove {
        log::info(format!("{PRODUCT} update system catalog         = On"));
    }
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
    let check = validate(&array, host, port_opt, &datadir)?;
    print_summary(&array, opts, host, &datadir, port)?;
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
            std::thread::sleep(Duration::from_millis(100));
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

/// Undo what `create_steps` did up to `stage`.
fn rollback(stage: Stage, array: &Array, coord_dir: &str) {
    if stage == Stage::NotStarted {
        return;
    }
    log::warn("Trying to rollback changes that have been made...");
    let port = array
        .coordinator()
        .map(|c| c.port)
        .unwrap_or_else(env::pgport);
    if stage == Stage::StartingStandby {
        if let Ok(a) = Array::load(port) {
            if let Some(sb) = a.standby() {
                stop_standby(sb);
            }
        }
    }
    log::info("Rolling back catalog change...");
    let _ = remove_standby_from_catalog(port);
    if stage >= Stage::UpdatePgHba {
        log::info("Restoring pg_hba.conf file...");
        let _ = fs::rename(
            format!("{coord_dir}/{PG_HBA_BACKUP}"),
            format!("{coord_dir}/pg_hba.conf"),
        );
        let _ = reload(coord_dir);
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

/// `check_and_start_standby` (`-n`).
fn check_and_start_standby() -> Result<()> {
    let array = load_array()?;
    let Some(sb) = array.standby().cloned() else {
        log::error("Cannot use -n option when standby coordinator has not yet been configured");
        bail!("Standby coordinator not configured");
    };
    let port = coordinator(&array)?.port;
    if !pg::query(port, "SELECT * FROM pg_stat_replication")?.is_empty() {
        log::info("Standy coordinator is already up and running.");
        return Ok(());
    }
    if !node::start_standby_coordinator(&sb) {
        bail!("failed to start standby");
    }
    log::info("Successfully started standby coordinator");
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
