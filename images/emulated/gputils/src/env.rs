//! The process environment as the utilities see it: `GPHOME`, `COORDINATOR_DATA_DIRECTORY`,
//! `PGPORT`, this host's name, the user and their home.

use std::path::PathBuf;

/// Where the emulated Cloudberry is "installed" (`$GPHOME`, default `/usr/local/cloudberry-db`).
pub fn gphome() -> String {
    std::env::var("GPHOME")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/local/cloudberry-db".to_string())
}

/// `COORDINATOR_DATA_DIRECTORY`, falling back to `MASTER_DATA_DIRECTORY` as Cloudberry does.
pub fn coordinator_data_dir() -> Option<String> {
    ["COORDINATOR_DATA_DIRECTORY", "MASTER_DATA_DIRECTORY"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
}

/// The raw `PGPORT` value, if set and non-empty.
pub fn pgport_raw() -> Option<String> {
    std::env::var("PGPORT").ok().filter(|s| !s.is_empty())
}

/// `PGPORT` as a number, default 5432.
pub fn pgport() -> u16 {
    pgport_raw().and_then(|p| p.parse().ok()).unwrap_or(5432)
}

/// This host's name (`socket.gethostname()` in the Python utilities).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The effective user's `/etc/passwd` entry fields (name, home), looked up by uid; `docker exec`
/// does not set `USER`, so the environment alone is not enough.
fn passwd_entry() -> Option<(String, String)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2] == uid).then(|| (f[0].to_string(), f[5].to_string()))
    })
}

/// The user name.
pub fn username() -> String {
    passwd_entry()
        .map(|(n, _)| n)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "gpadmin".to_string())
}

/// The user's home directory (`$HOME`, else the passwd entry).
pub fn home() -> PathBuf {
    std::env::var("HOME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| passwd_entry().map(|(_, h)| h))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Whether `host` names this host (its hostname or `localhost`).
pub fn is_local_host(host: &str) -> bool {
    host == "localhost" || host == hostname()
}
