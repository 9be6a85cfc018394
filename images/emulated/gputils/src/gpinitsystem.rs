//! `gpinitsystem -a -c CONFIG -h HOSTFILE`: create the whole array.
//!
//! Run on the coordinator host. Work per host runs in parallel threads: the coordinator is
//! initialised locally while each segment host initialises and starts its primaries
//! (`gputil __initseg` over ssh); then every mirror host copies its primaries with
//! `pg_basebackup` (`gputil __mirror`) and starts the mirrors; finally the catalog table is filled.

use std::thread;
use std::time::{Duration, Instant};

use crate::catalog::{self, Seg};
use crate::cli::{self, flag, valued, Opt};
use crate::error::{bail, Result};
use crate::initconfig::{parse_hostfile, Config, Plan};
use crate::node;
use crate::{env, instance, log, pg, prompt, remote};

const SPEC: &[Opt] = &[
    flag("a", &["-a"]),
    valued("c", &["-c"]),
    valued("h", &["-h"]),
    valued("l", &["-l"]),
    flag("q", &["-q"]),
    flag("D", &["-D", "--debug"]),
];

/// Entry point.
pub fn main(args: Vec<String>) -> i32 {
    log::init("gpinitsystem", log::Options::default());
    let opts = match cli::parse(SPEC, &args) {
        Ok(o) => o,
        Err(e) => {
            log::log(log::Level::Fatal, &format!("gpinitsystem: error: {e}"));
            return 2;
        }
    };
    log::set_options(cli::log_options(&opts, "D"));
    match run(&opts) {
        Ok(()) => 0,
        Err(e) => {
            log::log(log::Level::Fatal, &e.0);
            2
        }
    }
}

fn run(opts: &cli::Parsed) -> Result<()> {
    let started = Instant::now();
    let cfg_path = opts
        .value("c")
        .ok_or("Configuration file not specified, use -c option")?;
    let host_path = opts
        .value("h")
        .ok_or("Host file not specified, use -h option")?;
    log::info("Checking configuration parameters, please wait...");
    log::info(format!("Reading Cloudberry configuration file {cfg_path}"));
    let cfg_text = std::fs::read_to_string(cfg_path)
        .map_err(|e| format!("Configuration file {cfg_path} not readable: {e}"))?;
    let cfg = Config::parse(&cfg_text)?;
    let hosts_text = std::fs::read_to_string(host_path)
        .map_err(|e| format!("Host file {host_path} not readable: {e}"))?;
    let hosts = parse_hostfile(&hosts_text);
    if cfg.trusted_shell != "ssh" {
        bail!(
            "TRUSTED_SHELL={} is not supported by this emulation, use ssh",
            cfg.trusted_shell
        );
    }
    if !env::is_local_host(&cfg.coordinator_host) {
        log::log(
            log::Level::Warn,
            &format!(
                "COORDINATOR_HOSTNAME={} differs from this host's name {}",
                cfg.coordinator_host,
                env::hostname()
            ),
        );
    }
    log::info("Checking configuration parameters, Completed");
    log::info("Commencing multi-home checks, please wait...");
    log::info("Configuring build for standard array");
    log::info("Commencing multi-home checks, Completed");
    log::info("Building primary segment instance array, please wait...");
    let plan = Plan::new(&cfg, &hosts)?;
    if !plan.mirrors.is_empty() {
        log::info("Building group mirror array type , please wait...");
    }
    log::info("Checking Coordinator host");
    if std::path::Path::new(&plan.coordinator.datadir).exists() {
        bail!(
            "Coordinator data directory {} already exists",
            plan.coordinator.datadir
        );
    }
    log::info("Checking new segment hosts, please wait...");
    check_hosts(&plan)?;
    log::info("Checking new segment hosts, Completed");
    print_parameters(&cfg, &plan, hosts.len());
    if !opts.has("a") && !prompt::ask_yesno("Continue with Cloudberry creation", false) {
        bail!("User abort requested, Script Exits!");
    }

    log::info("Building the Coordinator instance database, please wait...");
    // The coordinator is built locally while the segment hosts build their primaries and then
    // their mirrors: it is only needed for the catalog at the end.
    thread::scope(|s| -> Result<()> {
        let coord = s.spawn(|| build_coordinator(&plan.coordinator));
        log::info("Commencing parallel build of primary segment instances");
        log::info("Spawning parallel processes    batch [1], please wait...");
        let prim = node::per_host(&plan.primaries, |segs| {
            let args: Vec<String> = segs
                .iter()
                .map(|s| format!("{}:{}:{}", s.dir_port(), s.dbid, s.content))
                .collect();
            node::run_on(
                &segs[0].address,
                "__initseg",
                &args,
                Duration::from_secs(600),
            )
        });
        report_parallel(&prim, plan.primaries.len())?;
        if !plan.mirrors.is_empty() {
            log::info("Commencing parallel build of mirror segment instances");
            log::info("Spawning parallel processes    batch [1], please wait...");
            let mir = node::per_host(&plan.mirrors, |segs| {
                let args: Vec<String> = segs
                    .iter()
                    .map(|m| {
                        let p = plan
                            .primaries
                            .iter()
                            .find(|p| p.content == m.content)
                            .expect("primary of mirror");
                        format!(
                            "{}:{}:{}:{}:{}",
                            m.dir_port(),
                            m.dbid,
                            m.content,
                            p.hostname,
                            p.port
                        )
                    })
                    .collect();
                node::run_on(
                    &segs[0].address,
                    "__mirror",
                    &args,
                    Duration::from_secs(900),
                )
            });
            report_parallel(&mir, plan.mirrors.len())?;
        }
        coord
            .join()
            .unwrap_or_else(|_| Err("coordinator build panicked".into()))?;
        log::info("Starting the Coordinator in admin mode");
        Ok(())
    })?;

    load_catalog(&plan)?;
    if let Some(db) = &cfg.database_name {
        log::info(format!("Creating database {db}"));
        pg::exec(
            plan.coordinator.port,
            &[&format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\""))],
        )?;
    }
    log::info("Scanning utility log file for any warning messages");
    log::info("Log file scan check passed");
    log::info("Cloudberry instance successfully created");
    log::info("-------------------------------------------------------");
    log::info(format!(
        "Coordinator data directory = {}",
        plan.coordinator.datadir
    ));
    log::info(format!(
        "Coordinator port           = {}",
        plan.coordinator.port
    ));
    log::info(format!(
        "Elapsed time               = {:.1} seconds",
        started.elapsed().as_secs_f64()
    ));
    log::info("-------------------------------------------------------");
    Ok(())
}

/// Check every segment host in parallel: reachable, parent directories there, data directories
/// not there yet.
fn check_hosts(plan: &Plan) -> Result<()> {
    let segs: Vec<Seg> = plan
        .primaries
        .iter()
        .chain(&plan.mirrors)
        .cloned()
        .collect();
    let results = node::per_host(&segs, |segs| {
        let host = segs[0].address.as_str();
        let script: Vec<String> = segs
            .iter()
            .map(|s| {
                format!(
                    "echo DIR={}; {}",
                    crate::cmd::sh_quote(&s.datadir),
                    instance::dir_check_script(&s.datadir)
                )
            })
            .collect();
        let o = remote::ssh(host, &script.join("; "), Duration::from_secs(30));
        if !o.ok() {
            return Err(format!(
                "Host {host} is unreachable: {}",
                o.first_error_line()
            ));
        }
        let mut problems = Vec::new();
        let mut dir = String::new();
        for l in o.stdout.lines() {
            if let Some(d) = l.strip_prefix("DIR=") {
                dir = d.to_string();
            } else if l == "PARENT=0" {
                problems.push(format!(
                    "Parent directory of {dir} does not exist on host {host}"
                ));
            } else if l == "EXISTS=1" {
                problems.push(format!(
                    "Data directory {dir} already exists on host {host}"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    });
    let errors: Vec<String> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

fn print_parameters(cfg: &Config, plan: &Plan, nhosts: usize) {
    log::info("---------------------------------------");
    log::info("Cloudberry Creation Parameters");
    log::info("---------------------------------------");
    log::info("Coordinator Configuration");
    log::info("---------------------------------------");
    let mut t = crate::table::Table::new();
    t.info([
        "Coordinator hostname",
        &format!("= {}", cfg.coordinator_host),
    ]);
    t.info(["Coordinator port", &format!("= {}", cfg.coordinator_port)]);
    t.info([
        "Coordinator instance dir",
        &format!("= {}", plan.coordinator.datadir),
    ]);
    t.info(["Array name", &format!("= {}", cfg.array_name)]);
    t.info(["Segment hosts", &format!("= {nhosts}")]);
    t.info([
        "Primary segments per host",
        &format!("= {}", cfg.data_dirs.len()),
    ]);
    t.info([
        "Mirroring config",
        &format!("= {}", if plan.mirrors.is_empty() { "OFF" } else { "ON" }),
    ]);
    if !plan.mirrors.is_empty() {
        t.info(["Mirroring type", "= Group"]);
    }
    t.output();
    log::info("---------------------------------------");
}

/// Initialise the coordinator on this host and create the catalog table.
fn build_coordinator(c: &Seg) -> Result<()> {
    instance::create(&c.datadir, c.port, c.dbid, c.content)?;
    pg::start(&c.datadir, true)?;
    pg::exec(c.port, &[catalog::CREATE_TABLE])?;
    Ok(())
}

/// Insert every planned row.
fn load_catalog(plan: &Plan) -> Result<()> {
    let values: Vec<String> = plan.all().map(Seg::values_sql).collect();
    let sql = format!(
        "INSERT INTO gp_segment_configuration VALUES {}",
        values.join(", ")
    );
    pg::exec(plan.coordinator.port, &[&sql])
}

/// Log the outcome of a parallel build the way gpinitsystem summarises its batches.
fn report_parallel(results: &[(Vec<&Seg>, node::HostRun)], total: usize) -> Result<()> {
    let mut failed = Vec::new();
    let mut done = 0;
    for (segs, r) in results {
        for (_, o) in node::outcomes_for(segs, r) {
            if o.ok {
                done += 1;
            } else {
                failed.push(format!("{}:{}: {}", segs[0].hostname, o.datadir, o.message));
            }
        }
    }
    log::info("------------------------------------------------");
    log::info("Parallel process exit status");
    log::info("------------------------------------------------");
    log::info(format!(
        "Total processes marked as completed           = {done}"
    ));
    log::info("Total processes marked as killed              = 0");
    log::info(format!(
        "Total processes marked as failed              = {}",
        total - done
    ));
    log::info("------------------------------------------------");
    if !failed.is_empty() {
        for f in &failed {
            log::log(log::Level::Fatal, f);
        }
        bail!("Errors generated from parallel processes");
    }
    Ok(())
}
