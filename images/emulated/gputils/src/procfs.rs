//! Reading `/proc`: processes, their parents and titles, and listening unix sockets.
//!
//! This is how the emulation answers "is a postmaster running for this data directory" (the
//! `ps -ef | grep 'postgres -D <dir>'` of the real utilities) and how `gpsyncrepd` sees WAL
//! senders without a database connection: PostgreSQL children set their process title
//! (`postgres: <cluster_name>: walsender <user> <addr>(<port>) streaming <lsn>`).

use std::fs;

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// State letter from `/proc/<pid>/stat` (`R`, `S`, `Z`, ...).
    pub state: char,
    /// The command line, split on NUL; a retitled PostgreSQL child has its whole title in `args[0]`.
    pub args: Vec<String>,
}

impl Proc {
    /// The command line joined with spaces (what `ps` shows).
    pub fn cmdline(&self) -> String {
        self.args.join(" ")
    }
}

/// Parse `/proc/<pid>/stat` into (comm, ppid, state); the command name may contain spaces and
/// parentheses.
pub fn parse_stat(stat: &str) -> Option<(&str, i32, char)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut it = stat[close + 1..].split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((comm, ppid, state))
}

/// Read one process; `None` if it vanished.
pub fn read(pid: i32) -> Option<Proc> {
    read_if(pid, |_| true)
}

/// Read one process if its command name (`comm`) passes `want`.
fn read_if(pid: i32, want: impl Fn(&str) -> bool) -> Option<Proc> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (comm, ppid, state) = parse_stat(&stat)?;
    if !want(comm) {
        return None;
    }
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args = raw
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).to_string())
        .collect();
    Some(Proc {
        pid,
        ppid,
        state,
        args,
    })
}

/// Every process visible in `/proc`.
pub fn list() -> Vec<Proc> {
    list_filtered(|_| true)
}

/// The PostgreSQL processes (command name `postgres`): only their command lines are read, which
/// keeps `gpsyncrepd`'s 100 ms scan cheap.
pub fn list_postgres() -> Vec<Proc> {
    list_filtered(|comm| comm == "postgres")
}

fn list_filtered(want: impl Fn(&str) -> bool) -> Vec<Proc> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| read_if(pid, &want))
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    pid > 0 && read(pid).is_some_and(|p| p.state != 'Z')
}

/// The data directory a postmaster was started with (`postgres -D <dir>`), if `p` is one.
pub fn postmaster_datadir(p: &Proc) -> Option<&str> {
    let prog = p.args.first()?;
    if prog.rsplit('/').next() != Some("postgres") {
        return None;
    }
    let i = p.args.iter().position(|a| a == "-D")?;
    p.args.get(i + 1).map(String::as_str)
}

/// The pid of the live postmaster started for `datadir`, among `procs`.
pub fn find_postmaster(procs: &[Proc], datadir: &str) -> Option<i32> {
    let want = datadir.trim_end_matches('/');
    procs
        .iter()
        .filter(|p| p.state != 'Z')
        .find(|p| postmaster_datadir(p).is_some_and(|d| d.trim_end_matches('/') == want))
        .map(|p| p.pid)
}

/// The live children of `ppid` among `procs`.
pub fn children(procs: &[Proc], ppid: i32) -> impl Iterator<Item = &Proc> {
    procs
        .iter()
        .filter(move |p| p.ppid == ppid && p.state != 'Z')
}

/// Whether a unix socket at `path` is listening (`ss -lx` without `ss`), from `/proc/net/unix`.
pub fn unix_socket_listening(path: &str) -> bool {
    let Ok(s) = fs::read_to_string("/proc/net/unix") else {
        return false;
    };
    listening_in(&s, path)
}

/// The parsing half of [`unix_socket_listening`].
pub fn listening_in(net_unix: &str, path: &str) -> bool {
    // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON.
    net_unix.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 8
            && f[7] == path
            && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & 0x0001_0000 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_names() {
        assert_eq!(
            parse_stat("42 (postgres) S 1 42 42 0"),
            Some(("postgres", 1, 'S'))
        );
        assert_eq!(parse_stat("43 (a) b) Z 7 1"), Some(("a) b", 7, 'Z')));
    }

    #[test]
    fn postmaster_detection() {
        let pm = Proc {
            pid: 10,
            ppid: 1,
            state: 'S',
            args: vec![
                "/usr/lib/postgresql/17/bin/postgres".into(),
                "-D".into(),
                "/data0/x/gpseg-1".into(),
            ],
        };
        let child = Proc {
            pid: 11,
            ppid: 10,
            state: 'S',
            args: vec![
                "postgres: gpseg-1: walsender gpadmin 172.18.0.3(4242) streaming 0/3000148".into(),
            ],
        };
        let procs = vec![pm.clone(), child];
        assert_eq!(postmaster_datadir(&pm), Some("/data0/x/gpseg-1"));
        assert_eq!(find_postmaster(&procs, "/data0/x/gpseg-1/"), Some(10));
        assert_eq!(find_postmaster(&procs, "/data0/x/gpseg-10"), None);
        assert_eq!(children(&procs, 10).count(), 1);
    }

    #[test]
    fn unix_sockets() {
        let s = "Num       RefCount Protocol Flags    Type St Inode Path\n\
                 0000000000000000: 00000002 00000000 00010000 0001 01 12345 /tmp/.s.PGSQL.5432\n\
                 0000000000000000: 00000003 00000000 00000000 0001 03 12346 /tmp/.s.PGSQL.40000\n";
        assert!(listening_in(s, "/tmp/.s.PGSQL.5432"));
        assert!(!listening_in(s, "/tmp/.s.PGSQL.40000"));
        assert!(!listening_in(s, "/tmp/.s.PGSQL.5433"));
    }
}
