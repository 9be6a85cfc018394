//! `gputil`: one multi-call binary that emulates Apache Cloudberry's coordinator management
//! utilities on plain PostgreSQL 17.
//!
//! It dispatches on the basename of `argv[0]` (`gpstate`, `gpstop`, ... are symlinks to it) or on
//! its first argument (`gputil gpstate -f`). Names starting with `__` are internal helpers that the
//! utilities run on other hosts over ssh (the emulation's counterparts of Cloudberry's
//! `gpgetstatususingtransition.py`, `gpsegstart.py`, `gpsegstop.py`, ...).
//!
//! Architecture: one module per utility (`gpstate`, `gpstop`, ...), shared helpers for the log
//! format (`log`), tables (`table`), the catalog (`catalog`), PostgreSQL (`pg`), `/proc` (`procfs`),
//! ssh (`remote`) and instance layout (`instance`). No module prints log lines except through
//! `log`, so the format lives in one place.

mod catalog;
mod cli;
mod cmd;
mod coordinator;
mod env;
mod error;
#[cfg(test)]
mod fixtures;
mod gpactivatestandby;
mod gpinitstandby;
mod gpinitsystem;
mod gpstart;
mod gpstate;
mod gpstop;
mod gpsyncrepd;
mod initconfig;
mod instance;
mod log;
mod node;
mod pg;
mod procfs;
mod progress;
mod prompt;
mod remote;
mod status;
mod table;

use std::process::ExitCode;

/// A utility's entry point: its arguments (without the program name), returning the exit code.
type Main = fn(Vec<String>) -> i32;

/// Every program the binary answers to.
const PROGRAMS: &[(&str, Main)] = &[
    ("gpinitsystem", gpinitsystem::main),
    ("gpstart", gpstart::main),
    ("gpstop", gpstop::main),
    ("gpstate", gpstate::main),
    ("gpinitstandby", gpinitstandby::main),
    ("gpactivatestandby", gpactivatestandby::main),
    ("gpsyncrepd", gpsyncrepd::main),
    ("__status", node::status_main),
    ("__initseg", node::initseg_main),
    ("__mirror", node::mirror_main),
    ("__standby", node::standby_main),
    ("__startsegs", node::startsegs_main),
    ("__stopsegs", node::stopsegs_main),
];

fn lookup(name: &str) -> Option<Main> {
    PROGRAMS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = if args.is_empty() {
        String::from("gputil")
    } else {
        args.remove(0)
    };
    let base = argv0.rsplit('/').next().unwrap_or("gputil").to_string();
    let (name, rest) = match lookup(&base) {
        Some(_) => (base, args),
        None if !args.is_empty() => {
            let name = args.remove(0);
            (name, args)
        }
        None => (base, args),
    };
    let code = match lookup(&name) {
        Some(f) => f(rest),
        None => {
            eprintln!("gputil: unknown program {name:?}");
            eprintln!("usage: gputil <program> [args...]; programs:");
            for (n, _) in PROGRAMS.iter().filter(|(n, _)| !n.starts_with("__")) {
                eprintln!("  {n}");
            }
            2
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
