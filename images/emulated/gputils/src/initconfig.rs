//! `gpinitsystem`'s input: the bash-style configuration file, the host file, and the array layout
//! planned from them (content ids, dbids, ports, data directories, group mirroring).

use crate::catalog::Seg;
use crate::error::{bail, Result};

/// The parsed configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub array_name: String,
    pub seg_prefix: String,
    pub port_base: u16,
    /// One entry per primary per host.
    pub data_dirs: Vec<String>,
    pub coordinator_host: String,
    pub coordinator_dir: String,
    pub coordinator_port: u16,
    pub trusted_shell: String,
    pub mirror_port_base: Option<u16>,
    /// Empty when there are no mirrors.
    pub mirror_dirs: Vec<String>,
    /// `DATABASE_NAME`: a database to create at the end (optional).
    pub database_name: Option<String>,
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// Parse `KEY=value` lines and `declare -a KEY=(a b c)` arrays (arrays may span lines).
pub fn parse_assignments(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(raw) = lines.next() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("declare -a ").unwrap_or(line).trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_string();
        let value = value.trim();
        if let Some(rest) = value.strip_prefix('(') {
            let mut body = rest.to_string();
            while !body.contains(')') {
                match lines.next() {
                    Some(l) => {
                        body.push(' ');
                        body.push_str(l.trim());
                    }
                    None => break,
                }
            }
            let body = body.split(')').next().unwrap_or("");
            out.push((key, body.split_whitespace().map(unquote).collect()));
        } else {
            let v = value.split(" #").next().unwrap_or(value);
            out.push((key, vec![unquote(v)]));
        }
    }
    out
}

impl Config {
    /// Parse and validate the configuration file's text.
    pub fn parse(text: &str) -> Result<Config> {
        let a = parse_assignments(text);
        let get = |k: &str| {
            a.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let one = |k: &str| {
            get(k)
                .and_then(|v| v.into_iter().next())
                .filter(|s| !s.is_empty())
        };
        let port = |k: &str| -> Result<Option<u16>> {
            match one(k) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{k} is not a valid port: {v}").into()),
            }
        };
        let need = |k: &str| {
            one(k).ok_or_else(|| {
                crate::error::Error(format!("Parameter {k} not set in configuration file"))
            })
        };
        let data_dirs = get("DATA_DIRECTORY").unwrap_or_default();
        if data_dirs.is_empty() {
            bail!("Parameter DATA_DIRECTORY not set in configuration file");
        }
        let mirror_dirs = get("MIRROR_DATA_DIRECTORY").unwrap_or_default();
        let mirror_port_base = port("MIRROR_PORT_BASE")?;
        if !mirror_dirs.is_empty() {
            if mirror_dirs.len() != data_dirs.len() {
                bail!(
                    "Number of primary directories ({}) does not match number of mirror directories ({})",
                    data_dirs.len(),
                    mirror_dirs.len()
                );
            }
            if mirror_port_base.is_none() {
                bail!("Parameter MIRROR_PORT_BASE not set in configuration file");
            }
        }
        for d in data_dirs
            .iter()
            .chain(&mirror_dirs)
            .chain(std::iter::once(&need("COORDINATOR_DIRECTORY")?))
        {
            if !d.starts_with('/') {
                bail!("Path entered is invalid; it must be a full path.  Path: '{d}'");
            }
        }
        Ok(Config {
            array_name: one("ARRAY_NAME").unwrap_or_else(|| "Cloudberry".to_string()),
            seg_prefix: one("SEG_PREFIX").unwrap_or_else(|| "gpseg".to_string()),
            port_base: port("PORT_BASE")?
                .ok_or("Parameter PORT_BASE not set in configuration file")?,
            data_dirs,
            coordinator_host: need("COORDINATOR_HOSTNAME")?,
            coordinator_dir: need("COORDINATOR_DIRECTORY")?,
            coordinator_port: port("COORDINATOR_PORT")?.unwrap_or(5432),
            trusted_shell: one("TRUSTED_SHELL").unwrap_or_else(|| "ssh".to_string()),
            mirror_port_base: if mirror_dirs.is_empty() {
                None
            } else {
                mirror_port_base
            },
            mirror_dirs,
            database_name: one("DATABASE_NAME"),
        })
    }
}

/// Parse a host file: one host per line, blank lines and `#` comments ignored.
pub fn parse_hostfile(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The planned array: every instance as its catalog row, in dbid order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub coordinator: Seg,
    pub primaries: Vec<Seg>,
    pub mirrors: Vec<Seg>,
}

impl Plan {
    /// Lay out the array: content ids host-major (host 1 gets 0..k-1), primary ports
    /// `PORT_BASE+i`, group mirroring (host i's primaries mirrored on host i+1 mod n, ports
    /// `MIRROR_PORT_BASE+i`), dbids coordinator 1, then primaries, then mirrors.
    pub fn new(cfg: &Config, hosts: &[String]) -> Result<Plan> {
        if hosts.is_empty() {
            bail!("No segment hosts in the host file");
        }
        if !cfg.mirror_dirs.is_empty() && hosts.len() < 2 {
            bail!("Group mirroring needs at least 2 segment hosts");
        }
        let k = cfg.data_dirs.len();
        let mirrored = !cfg.mirror_dirs.is_empty();
        let seg = |dbid: i16, content: i16, role: char, host: &str, port: u16, dir: &str| Seg {
            dbid,
            content,
            role,
            preferred_role: role,
            mode: if mirrored { 's' } else { 'n' },
            status: 'u',
            hostname: host.to_string(),
            address: host.to_string(),
            port,
            datadir: format!("{dir}/{}{content}", cfg.seg_prefix),
        };
        let coordinator = Seg {
            mode: 'n',
            datadir: format!("{}/{}-1", cfg.coordinator_dir, cfg.seg_prefix),
            ..seg(1, -1, 'p', &cfg.coordinator_host, cfg.coordinator_port, "")
        };
        let mut primaries = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            for (i, dir) in cfg.data_dirs.iter().enumerate() {
                let content = (h * k + i) as i16;
                primaries.push(seg(
                    content + 2,
                    content,
                    'p',
                    host,
                    cfg.port_base + i as u16,
                    dir,
                ));
            }
        }
        let mut mirrors = Vec::new();
        if let Some(mbase) = cfg.mirror_port_base.filter(|_| mirrored) {
            let first = primaries.len() as i16 + 2;
            for p in &primaries {
                let h = p.content as usize / k;
                let i = p.content as usize % k;
                let host = &hosts[(h + 1) % hosts.len()];
                mirrors.push(seg(
                    first + p.content,
                    p.content,
                    'm',
                    host,
                    mbase + i as u16,
                    &cfg.mirror_dirs[i],
                ));
            }
        }
        Ok(Plan {
            coordinator,
            primaries,
            mirrors,
        })
    }

    /// Every row.
    pub fn all(&self) -> impl Iterator<Item = &Seg> {
        std::iter::once(&self.coordinator)
            .chain(&self.primaries)
            .chain(&self.mirrors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "\
# sandbox configuration
ARRAY_NAME=\"Sandbox Cloudberry Cluster\"
SEG_PREFIX=gpseg
PORT_BASE=40000
declare -a DATA_DIRECTORY=(/data0/database/primary /data0/database/primary)
COORDINATOR_HOSTNAME=cdw
COORDINATOR_DIRECTORY=/data0/database/coordinator
COORDINATOR_PORT=5432
TRUSTED_SHELL=ssh
MIRROR_PORT_BASE=50000
declare -a MIRROR_DATA_DIRECTORY=(/data0/database/mirror
  /data0/database/mirror)
";

    #[test]
    fn parses_sandbox_config() {
        let c = Config::parse(CFG).unwrap();
        assert_eq!(c.array_name, "Sandbox Cloudberry Cluster");
        assert_eq!(c.data_dirs.len(), 2);
        assert_eq!(c.mirror_dirs, vec!["/data0/database/mirror"; 2]);
        assert_eq!(c.mirror_port_base, Some(50000));
        assert_eq!(c.coordinator_host, "cdw");
    }

    #[test]
    fn plans_group_mirroring() {
        let c = Config::parse(CFG).unwrap();
        let hosts = parse_hostfile("sdw1\n# comment\n\nsdw2\n");
        let p = Plan::new(&c, &hosts).unwrap();
        assert_eq!(p.coordinator.datadir, "/data0/database/coordinator/gpseg-1");
        let prim: Vec<(i16, i16, &str, u16)> = p
            .primaries
            .iter()
            .map(|s| (s.dbid, s.content, s.hostname.as_str(), s.port))
            .collect();
        assert_eq!(
            prim,
            [
                (2, 0, "sdw1", 40000),
                (3, 1, "sdw1", 40001),
                (4, 2, "sdw2", 40000),
                (5, 3, "sdw2", 40001)
            ]
        );
        let mir: Vec<(i16, i16, &str, u16)> = p
            .mirrors
            .iter()
            .map(|s| (s.dbid, s.content, s.hostname.as_str(), s.port))
            .collect();
        assert_eq!(
            mir,
            [
                (6, 0, "sdw2", 50000),
                (7, 1, "sdw2", 50001),
                (8, 2, "sdw1", 50000),
                (9, 3, "sdw1", 50001)
            ]
        );
        assert_eq!(p.mirrors[0].datadir, "/data0/database/mirror/gpseg0");
        assert!(p.all().skip(1).all(|s| s.mode == 's'));
    }

    #[test]
    fn no_mirrors_without_mirror_dirs() {
        let c = Config::parse(
            "PORT_BASE=40000\ndeclare -a DATA_DIRECTORY=(/d)\nCOORDINATOR_HOSTNAME=cdw\nCOORDINATOR_DIRECTORY=/c\n",
        )
        .unwrap();
        let p = Plan::new(&c, &["sdw1".to_string()]).unwrap();
        assert!(p.mirrors.is_empty());
        assert_eq!(p.primaries[0].mode, 'n');
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(Config::parse("PORT_BASE=x\n").is_err());
        let e = Config::parse(
            "PORT_BASE=40000\ndeclare -a DATA_DIRECTORY=(/d)\nCOORDINATOR_DIRECTORY=/c\n",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "Parameter COORDINATOR_HOSTNAME not set in configuration file"
        );
    }
}
