//! The emulated `gp_segment_configuration` catalog and Cloudberry's view of it (`GpArray`).
//!
//! EMULATION: real Cloudberry keeps `gp_segment_configuration` in `pg_catalog` as a shared
//! catalog. Here it is an ordinary table in the `public` schema of database `template1` on the
//! coordinator (so it replicates to the standby like any table and can be read there), with the
//! same columns and Cloudberry's values: coordinator `content -1, role p, mode n`; standby
//! `content -1, role m, mode s`; segments `mode s` when mirrored (`n` without mirrors); status `u`.

use crate::error::{bail, Result};
use crate::pg;

/// The table's DDL (types as in Cloudberry: `int2`, `"char"`, `int4`, `text`).
pub const CREATE_TABLE: &str = "CREATE TABLE public.gp_segment_configuration (\
    dbid int2 NOT NULL PRIMARY KEY, content int2 NOT NULL, role \"char\" NOT NULL, \
    preferred_role \"char\" NOT NULL, mode \"char\" NOT NULL, status \"char\" NOT NULL, \
    port int4 NOT NULL, hostname text, address text, datadir text NOT NULL)";

/// The query `gpstate` and friends read the configuration with.
pub const SELECT: &str =
    "SELECT dbid, content, role, preferred_role, mode, status, hostname, address, port, datadir \
    FROM gp_segment_configuration ORDER BY content, preferred_role DESC";

/// One row of `gp_segment_configuration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seg {
    pub dbid: i16,
    pub content: i16,
    pub role: char,
    pub preferred_role: char,
    pub mode: char,
    pub status: char,
    pub hostname: String,
    pub address: String,
    pub port: u16,
    pub datadir: String,
}

impl Seg {
    /// The row as `INSERT ... VALUES (...)` values.
    pub fn values_sql(&self) -> String {
        format!(
            "({}, {}, '{}', '{}', '{}', '{}', {}, {}, {}, {})",
            self.dbid,
            self.content,
            self.role,
            self.preferred_role,
            self.mode,
            self.status,
            self.port,
            pg::lit(&self.hostname),
            pg::lit(&self.address),
            pg::lit(&self.datadir)
        )
    }

    /// Whether the current (or preferred) role is primary.
    pub fn is_primary(&self, current: bool) -> bool {
        (if current {
            self.role
        } else {
            self.preferred_role
        }) == 'p'
    }

    /// Whether the current (or preferred) role is mirror.
    pub fn is_mirror(&self, current: bool) -> bool {
        (if current {
            self.role
        } else {
            self.preferred_role
        }) == 'm'
    }

    /// Status `u`.
    pub fn is_up(&self) -> bool {
        self.status == 'u'
    }

    /// `datadir:port`, the form the internal helpers take.
    pub fn dir_port(&self) -> String {
        format!("{}:{}", self.datadir, self.port)
    }
}

fn parse_char(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

/// Parse rows returned by [`SELECT`].
pub fn parse_rows(rows: &[Vec<String>]) -> Result<Vec<Seg>> {
    rows.iter()
        .map(|r| {
            if r.len() != 10 {
                bail!("unexpected gp_segment_configuration row: {r:?}");
            }
            Ok(Seg {
                dbid: r[0].parse().map_err(|_| format!("bad dbid {:?}", r[0]))?,
                content: r[1]
                    .parse()
                    .map_err(|_| format!("bad content {:?}", r[1]))?,
                role: parse_char(&r[2]),
                preferred_role: parse_char(&r[3]),
                mode: parse_char(&r[4]),
                status: parse_char(&r[5]),
                hostname: r[6].clone(),
                address: r[7].clone(),
                port: r[8].parse().map_err(|_| format!("bad port {:?}", r[8]))?,
                datadir: r[9].clone(),
            })
        })
        .collect()
}

/// The whole configuration (Cloudberry's `GpArray`).
#[derive(Debug, Clone, Default)]
pub struct Array {
    /// All rows, in [`SELECT`] order.
    pub segs: Vec<Seg>,
}

impl Array {
    /// Read the configuration from the coordinator listening on `port`.
    pub fn load(port: u16) -> Result<Array> {
        let rows = pg::query(port, SELECT)?;
        Ok(Array {
            segs: parse_rows(&rows)?,
        })
    }

    /// The coordinator row (content -1, role p).
    pub fn coordinator(&self) -> Option<&Seg> {
        self.segs.iter().find(|s| s.content == -1 && s.role == 'p')
    }

    /// The standby row (content -1, role m).
    pub fn standby(&self) -> Option<&Seg> {
        self.segs.iter().find(|s| s.content == -1 && s.role == 'm')
    }

    /// Segment rows (content >= 0), `getSegDbList()`.
    pub fn segments(&self) -> Vec<&Seg> {
        self.segs.iter().filter(|s| s.content >= 0).collect()
    }

    /// Whether any segment has a mirror.
    pub fn has_mirrors(&self) -> bool {
        self.segs
            .iter()
            .any(|s| s.content >= 0 && s.preferred_role == 'm')
    }

    /// The highest dbid.
    pub fn max_dbid(&self) -> i16 {
        self.segs.iter().map(|s| s.dbid).max().unwrap_or(0)
    }

    /// Rows grouped by host (by `hostname`), hosts in first-seen order.
    pub fn by_host<'a>(segs: impl IntoIterator<Item = &'a Seg>) -> Vec<(String, Vec<&'a Seg>)> {
        let mut out: Vec<(String, Vec<&Seg>)> = Vec::new();
        for s in segs {
            match out.iter_mut().find(|(h, _)| *h == s.hostname) {
                Some((_, v)) => v.push(s),
                None => out.push((s.hostname.clone(), vec![s])),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_and_classifies() {
        let rows = vec![
            row(&[
                "1",
                "-1",
                "p",
                "p",
                "n",
                "u",
                "cdw",
                "cdw",
                "5432",
                "/data0/database/coordinator/gpseg-1",
            ]),
            row(&[
                "6",
                "-1",
                "m",
                "m",
                "s",
                "u",
                "scdw",
                "scdw",
                "5432",
                "/data0/database/coordinator/gpseg-1",
            ]),
            row(&[
                "2",
                "0",
                "p",
                "p",
                "s",
                "u",
                "sdw1",
                "sdw1",
                "40000",
                "/data0/database/primary/gpseg0",
            ]),
            row(&[
                "4",
                "0",
                "m",
                "m",
                "s",
                "u",
                "sdw2",
                "sdw2",
                "50000",
                "/data0/database/mirror/gpseg0",
            ]),
        ];
        let a = Array {
            segs: parse_rows(&rows).unwrap(),
        };
        assert_eq!(a.coordinator().unwrap().dbid, 1);
        assert_eq!(a.standby().unwrap().hostname, "scdw");
        assert_eq!(a.segments().len(), 2);
        assert!(a.has_mirrors());
        assert_eq!(a.max_dbid(), 6);
        let hosts = Array::by_host(a.segs.iter());
        assert_eq!(
            hosts.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
            ["cdw", "scdw", "sdw1", "sdw2"]
        );
        assert_eq!(
            a.segs[2].values_sql(),
            "(2, 0, 'p', 'p', 's', 'u', 40000, 'sdw1', 'sdw1', '/data0/database/primary/gpseg0')"
        );
    }

    #[test]
    fn rejects_short_rows() {
        assert!(parse_rows(&[row(&["1", "-1"])]).is_err());
    }
}
