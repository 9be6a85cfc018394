//! PostgreSQL helpers: `psql` over the `/tmp` socket, `pg_ctl`, configuration files, pid and lock
//! files, and the version strings the utilities print.
//!
//! Every SQL statement runs through a short-lived `psql -X -A -t -q` process: the utilities never
//! keep a connection open (a `gpstop -m` smart shutdown waits for sessions).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::{self, Out};
use crate::error::{bail, Error, Result};

/// The database the utilities connect to (Cloudberry uses `template1` in utility mode).
pub const DB: &str = "template1";
/// The socket directory (Cloudberry's libpq default; Debian's is `/var/run/postgresql`).
pub const SOCKET_DIR: &str = "/tmp";
/// psql's field separator: the ASCII unit separator, never inside our values.
const SEP: char = '\u{1f}';

/// `/tmp/.s.PGSQL.<port>.lock`.
pub fn lock_file(port: u16) -> String {
    format!("{SOCKET_DIR}/.s.PGSQL.{port}.lock")
}

/// `/tmp/.s.PGSQL.<port>`.
pub fn socket_file(port: u16) -> String {
    format!("{SOCKET_DIR}/.s.PGSQL.{port}")
}

fn psql_cmd(port: u16, db: &str, sqls: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("psql");
    c.args([
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        SOCKET_DIR,
    ])
    .arg("-p")
    .arg(port.to_string())
    .arg("-d")
    .arg(db)
    .arg("-F")
    .arg(SEP.to_string());
    for s in sqls {
        c.arg("-c").arg(s);
    }
    c.env("PGCONNECT_TIMEOUT", "5").env("PGAPPNAME", "gputil");
    c
}

/// The error text of a failed psql run, without psql's own prefixes.
fn psql_error(o: &Out) -> Error {
    let msg = o.first_error_line();
    let msg = msg.strip_prefix("psql: ").unwrap_or(&msg);
    let msg = msg.strip_prefix("error: ").unwrap_or(msg);
    Error::msg(msg.strip_prefix("ERROR:  ").unwrap_or(msg))
}

/// Run each statement (one `-c` each, so `ALTER SYSTEM` is not inside a transaction block) and
/// return the rows of the output, fields split.
pub fn query_multi(
    port: u16,
    db: &str,
    sqls: &[&str],
    timeout: Duration,
) -> Result<Vec<Vec<String>>> {
    let o = cmd::run(psql_cmd(port, db, sqls), Some(timeout));
    if !o.ok() {
        return Err(psql_error(&o));
    }
    Ok(o.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(SEP).map(str::to_string).collect())
        .collect())
}

/// Run one query on the local instance at `port` (database `template1`).
pub fn query(port: u16, sql: &str) -> Result<Vec<Vec<String>>> {
    query_multi(port, DB, &[sql], Duration::from_secs(60))
}

/// Run statements for their effect.
pub fn exec(port: u16, sqls: &[&str]) -> Result<()> {
    query_multi(port, DB, sqls, Duration::from_secs(60)).map(|_| ())
}

/// Quote an SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `pg_ctl <args>` with a deadline.
pub fn pg_ctl(args: &[&str], timeout: Duration) -> Out {
    cmd::run(cmd::command("pg_ctl", args), Some(timeout))
}

/// Start the instance in `datadir` and wait until it accepts connections (or `wait` is false).
pub fn start(datadir: &str, wait: bool) -> Result<()> {
    let logfile = format!("{datadir}/log/startup.log");
    let _ = fs::create_dir_all(format!("{datadir}/log"));
    let mut args = vec!["start", "-D", datadir, "-l", &logfile];
    if wait {
        args.extend(["-w", "-t", "120"]);
    } else {
        args.push("-W");
    }
    let o = pg_ctl(&args, Duration::from_secs(150));
    if !o.ok() {
        bail!(
            "pg_ctl start failed for {datadir}: {}",
            o.first_error_line()
        );
    }
    Ok(())
}

/// Stop the instance in `datadir` with `mode`, waiting up to `secs`.
pub fn stop(datadir: &str, mode: &str, secs: u64) -> Out {
    let t = secs.to_string();
    pg_ctl(
        &["stop", "-D", datadir, "-m", mode, "-w", "-t", &t],
        Duration::from_secs(secs + 10),
    )
}

/// The pid in the first line of `<datadir>/postmaster.pid`, 0 when missing or unreadable.
pub fn pid_from_file(datadir: &str) -> i32 {
    fs::read_to_string(Path::new(datadir).join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0)
}

/// The port recorded in `<datadir>/postmaster.pid` (line 4).
pub fn port_from_pid_file(datadir: &str) -> Option<u16> {
    let s = fs::read_to_string(Path::new(datadir).join("postmaster.pid")).ok()?;
    s.lines().nth(3)?.trim().parse().ok()
}

/// The postmaster status in `<datadir>/postmaster.pid` (line 8: `starting`, `stopping`, `ready`,
/// `standby`).
pub fn status_from_pid_file(datadir: &str) -> Option<String> {
    let s = fs::read_to_string(Path::new(datadir).join("postmaster.pid")).ok()?;
    Some(s.lines().nth(7)?.trim().to_string())
}

/// Parse a `postgresql.conf`-style file into (key, value) pairs, values unquoted, in file order.
pub fn parse_conf(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = match l.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => match l.split_once(char::is_whitespace) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => continue,
            },
        };
        out.push((k.to_lowercase(), unquote_conf_value(v)));
    }
    out
}

/// A configuration value without quotes and trailing comment (`'a''b' # x` gives `a'b`).
pub fn unquote_conf_value(v: &str) -> String {
    if let Some(rest) = v.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    out.push('\'');
                    chars.next();
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                c => out.push(c),
            }
        }
        out
    } else {
        v.split('#').next().unwrap_or("").trim().to_string()
    }
}

/// The last value of `key` in the configuration file at `path`.
pub fn conf_get(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    parse_conf(&text)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Set `key = value` in the configuration file at `path`: active lines for the key are commented
/// out and the setting is appended (what `gpconfig_helper.py --add-parameter` does).
pub fn conf_set(path: &str, key: &str, value: &str) -> Result<()> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        let active_key = parse_conf(line).into_iter().next().map(|(k, _)| k);
        if active_key.as_deref() == Some(key) {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("{key} = {value}\n"));
    fs::write(path, out)?;
    Ok(())
}

/// The port of the instance in `datadir`, from its `postgresql.conf` (Cloudberry's `pgconf`).
pub fn conf_port(datadir: &str) -> Option<u16> {
    conf_get(&format!("{datadir}/postgresql.conf"), "port")?
        .parse()
        .ok()
}

/// The PostgreSQL version number of the installed binaries (`17.12`).
pub fn binary_version() -> String {
    let o = cmd::run(
        cmd::command("postgres", &["--version"]),
        Some(Duration::from_secs(10)),
    );
    // "postgres (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)"
    o.stdout
        .split_whitespace()
        .nth(2)
        .map(str::to_string)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The emulation's answer to `postgres --gp-version`, honest about what it is.
pub fn gp_version() -> String {
    format!(
        "postgres (Apache Cloudberry emulation on PostgreSQL) {}",
        binary_version()
    )
}

/// `select version()` on the instance at `port`, labelled as an emulation.
pub fn server_version(port: u16) -> Result<String> {
    let rows = query(port, "select version()")?;
    let v = rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_default();
    Ok(format!("{v} (Apache Cloudberry emulation)"))
}

/// The catalog version of the binaries (`postgres --catalog-version` is Cloudberry-only), taken
/// from `pg_controldata` of `datadir`.
pub fn controldata(datadir: &str) -> Result<Vec<(String, String)>> {
    let o = cmd::run(
        cmd::command("pg_controldata", &[datadir]),
        Some(Duration::from_secs(20)),
    );
    if !o.ok() {
        bail!("pg_controldata failed: {}", o.first_error_line());
    }
    Ok(o.stdout
        .lines()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect())
}

/// The value of `key` in `pg_controldata` output.
pub fn controldata_value(fields: &[(String, String)], key: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// Host and port of the primary in `<datadir>/postgresql.auto.conf`'s `primary_conninfo`, read the
/// way `gpactivatestandby` does (whitespace tokens `host=...` and `port=...`).
pub fn primary_conninfo_target(auto_conf: &str) -> (String, u16) {
    let mut host = String::new();
    let mut port = 0;
    for line in auto_conf.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.first() != Some(&"primary_conninfo") {
            continue;
        }
        for t in tokens {
            let t = t.trim_matches('\'');
            if let Some(h) = t.strip_prefix("host=") {
                host = h.to_string();
            } else if let Some(p) = t.strip_prefix("port=") {
                port = p.parse().unwrap_or(0);
            }
        }
    }
    (host, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_parsing() {
        let c = parse_conf(
            "# comment\nport = 5432 # the port\nsynchronous_standby_names = '*'\ncluster_name='gpseg-1'\nx 'it''s'\n",
        );
        assert_eq!(c[0], ("port".into(), "5432".into()));
        assert_eq!(c[1], ("synchronous_standby_names".into(), "*".into()));
        assert_eq!(c[2], ("cluster_name".into(), "gpseg-1".into()));
        assert_eq!(c[3], ("x".into(), "it's".into()));
    }

    #[test]
    fn conf_set_comments_out_old_lines() {
        let dir = std::env::temp_dir().join(format!("gputil-conf-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("postgresql.conf");
        fs::write(&p, "port = 40000\n#port = 1\nshared_buffers = 32MB\n").unwrap();
        conf_set(p.to_str().unwrap(), "port", "50000").unwrap();
        let t = fs::read_to_string(&p).unwrap();
        assert_eq!(
            t,
            "#port = 40000\n#port = 1\nshared_buffers = 32MB\nport = 50000\n"
        );
        assert_eq!(
            conf_get(p.to_str().unwrap(), "port").as_deref(),
            Some("50000")
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn conninfo() {
        let auto = "# Do not edit this file manually!\nprimary_conninfo = 'user=gpadmin passfile=''/home/gpadmin/.pgpass'' channel_binding=disable host=cdw port=5432 application_name=gp_walreceiver sslmode=disable'\n";
        assert_eq!(primary_conninfo_target(auto), ("cdw".to_string(), 5432));
        assert_eq!(primary_conninfo_target("x = 1\n"), (String::new(), 0));
    }
}
