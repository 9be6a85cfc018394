//! Instance status as Cloudberry's `gpgetstatususingtransition.py` reports it: whether
//! `postmaster.pid` exists, the pid in it, whether `/tmp/.s.PGSQL.<port>.lock` exists, whether the
//! port's socket is listening, and the resulting pid error message.
//!
//! The probe runs on the instance's host (`gputil __status dir:port ...`, one ssh per host) and
//! prints one `CBHSTATUS` line per instance; the caller decodes them.

use std::path::Path;
use std::time::Duration;

use crate::pg;
use crate::procfs;
use crate::remote;

/// What the probe saw for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    pub datadir: String,
    pub port: u16,
    /// `postmaster.pid` exists.
    pub pid_file: bool,
    /// The pid from `postmaster.pid` (0 if none).
    pub pid: i32,
    /// `/tmp/.s.PGSQL.<port>.lock` exists.
    pub lock_file: bool,
    /// The port's unix socket is listening (`netstatPortActive`).
    pub port_active: bool,
}

impl InstanceStatus {
    /// Probe an instance on this host.
    pub fn probe(datadir: &str, port: u16) -> InstanceStatus {
        InstanceStatus {
            datadir: datadir.to_string(),
            port,
            pid_file: Path::new(datadir).join("postmaster.pid").exists(),
            pid: pg::pid_from_file(datadir),
            lock_file: Path::new(&pg::lock_file(port)).exists(),
            port_active: procfs::unix_socket_listening(&pg::socket_file(port)),
        }
    }

    /// The pid error of `getPidStatus` (None when lock file and listening port agree and a pid
    /// was found).
    pub fn pid_error(&self) -> Option<String> {
        let lock = pg::lock_file(self.port);
        match (self.lock_file, self.port_active) {
            (false, false) => Some(format!(
                "No socket connection or lock file ({lock}) found for port {}",
                self.port
            )),
            (false, true) => Some(format!(
                "No lock file {lock} but process running on port {}",
                self.port
            )),
            (true, false) => Some(format!(
                "Have lock file {lock} but no process running on port {}",
                self.port
            )),
            (true, true) if self.pid == 0 => Some(
                "Have lock file and process is active, but did not get a pid value".to_string(),
            ),
            (true, true) => None,
        }
    }

    /// The probe's output line.
    pub fn encode(&self) -> String {
        format!(
            "CBHSTATUS|{}|{}|{}|{}|{}|{}",
            self.datadir,
            self.port,
            u8::from(self.pid_file),
            self.pid,
            u8::from(self.lock_file),
            u8::from(self.port_active)
        )
    }

    /// Decode a probe line.
    pub fn decode(line: &str) -> Option<InstanceStatus> {
        let f: Vec<&str> = line.strip_prefix("CBHSTATUS|")?.split('|').collect();
        if f.len() != 6 {
            return None;
        }
        Some(InstanceStatus {
            datadir: f[0].to_string(),
            port: f[1].parse().ok()?,
            pid_file: f[2] == "1",
            pid: f[3].parse().ok()?,
            lock_file: f[4] == "1",
            port_active: f[5] == "1",
        })
    }
}

/// Parse `datadir:port` (the port after the last colon).
pub fn split_dir_port(s: &str) -> Option<(String, u16)> {
    let (d, p) = s.rsplit_once(':')?;
    Some((d.to_string(), p.parse().ok()?))
}

/// The statuses of `instances` (`datadir:port`) on `host`, fetched with one ssh; on failure the
/// warning Cloudberry prints (`Error getting status from host <host>`).
pub fn fetch(host: &str, instances: &[String]) -> Result<Vec<InstanceStatus>, String> {
    let o = remote::ssh(
        host,
        &remote::gputil("__status", instances),
        Duration::from_secs(30),
    );
    if !o.ok() {
        return Err(format!("Error getting status from host {host}"));
    }
    let found: Vec<InstanceStatus> = o
        .stdout
        .lines()
        .filter_map(InstanceStatus::decode)
        .collect();
    if found.len() != instances.len() {
        return Err(format!("No status output provided from host {host}"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid_file: bool, pid: i32, lock: bool, active: bool) -> InstanceStatus {
        InstanceStatus {
            datadir: "/d/gpseg-1".into(),
            port: 5432,
            pid_file,
            pid,
            lock_file: lock,
            port_active: active,
        }
    }

    #[test]
    fn pid_errors_match_cloudberry() {
        assert_eq!(st(true, 42, true, true).pid_error(), None);
        assert_eq!(
            st(true, 42, true, false).pid_error().unwrap(),
            "Have lock file /tmp/.s.PGSQL.5432.lock but no process running on port 5432"
        );
        assert_eq!(
            st(false, 0, false, false).pid_error().unwrap(),
            "No socket connection or lock file (/tmp/.s.PGSQL.5432.lock) found for port 5432"
        );
        assert_eq!(
            st(false, 0, false, true).pid_error().unwrap(),
            "No lock file /tmp/.s.PGSQL.5432.lock but process running on port 5432"
        );
    }

    #[test]
    fn round_trip() {
        let s = st(true, 4321, true, true);
        assert_eq!(InstanceStatus::decode(&s.encode()), Some(s));
        assert_eq!(
            split_dir_port("/a:b/c:40000"),
            Some(("/a:b/c".to_string(), 40000))
        );
    }
}
