//! The shape of a cluster: hosts, roles, ports and data directories, as plain data.
//!
//! Names and paths follow Apache Cloudberry's sandbox (`devops/sandbox`): coordinator `cdw`,
//! standby `scdw`, segment hosts `sdw1..N`, coordinator data under
//! `/data0/database/coordinator/gpseg-1`, primaries from port 40000, mirrors from port 50000.

use serde::{Deserialize, Serialize};

/// Where the Cloudberry installation lives in every node image.
pub const GPHOME: &str = "/usr/local/cloudberry-db";
/// The operating-system user that owns and runs the database.
pub const GPADMIN: &str = "gpadmin";

/// The shell line that loads the Cloudberry environment: `$GPHOME/cloudberry-env.sh`, else the
/// older `greenplum_path.sh`. Every utility the harness runs, and the node contract check, start
/// with it.
pub(crate) fn env_prelude() -> String {
    format!(". {GPHOME}/cloudberry-env.sh 2>/dev/null || . {GPHOME}/greenplum_path.sh")
}

/// `argv` wrapped to run with the Cloudberry environment loaded (see [`env_prelude`]).
pub(crate) fn gp_argv(argv: &[String]) -> Vec<String> {
    let mut full = vec![
        "bash".to_string(),
        "-c".into(),
        format!("{}; exec \"$@\"", env_prelude()),
        "cbh".into(),
    ];
    full.extend(argv.iter().cloned());
    full
}

/// A cluster's layout. `Default` is the seed procedure's cluster: `cdw`, `scdw`, `sdw1`, `sdw2`,
/// one primary and one mirror per segment host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// Host name of the coordinator. Default `cdw`.
    pub coordinator: String,
    /// Host name of the standby coordinator, made with `gpinitstandby` at bring-up; `None` for a
    /// cluster without one, written `standby = false`. Default `scdw`.
    #[serde(with = "standby_host")]
    pub standby: Option<String>,
    /// Number of segment hosts, named `sdw1..N`. Default 2.
    pub segment_hosts: u32,
    /// Primaries per segment host. Default 1.
    pub primaries_per_host: u32,
    /// Whether segments have mirrors (group mirroring: host i's primaries mirrored on host i+1).
    /// Default true.
    pub mirrors: bool,
    /// Coordinator (and standby) port. Default 5432.
    pub coordinator_port: u16,
    /// Parent of the coordinator data directory `gpseg-1`. Default `/data0/database/coordinator`.
    pub coordinator_directory: String,
    /// First primary port. Default 40000.
    pub port_base: u16,
    /// First mirror port. Default 50000.
    pub mirror_port_base: u16,
    /// Parent of the primaries' data directories. Default `/data0/database/primary`.
    pub primary_directory: String,
    /// Parent of the mirrors' data directories. Default `/data0/database/mirror`.
    pub mirror_directory: String,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            coordinator: "cdw".into(),
            standby: Some("scdw".into()),
            segment_hosts: 2,
            primaries_per_host: 1,
            mirrors: true,
            coordinator_port: 5432,
            coordinator_directory: "/data0/database/coordinator".into(),
            port_base: 40000,
            mirror_port_base: 50000,
            primary_directory: "/data0/database/primary".into(),
            mirror_directory: "/data0/database/mirror".into(),
        }
    }
}

/// `standby`: a host name, or `false` for none (TOML has no null).
mod standby_host {
    use serde::de::{self, Deserializer, Unexpected, Visitor};
    use serde::Serializer;

    pub(super) fn serialize<S: Serializer>(
        standby: &Option<String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match standby {
            Some(host) => serializer.serialize_str(host),
            None => serializer.serialize_bool(false),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(StandbyVisitor)
    }

    struct StandbyVisitor;

    impl Visitor<'_> for StandbyVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a host name, or false for no standby")
        }

        fn visit_str<E: de::Error>(self, host: &str) -> Result<Self::Value, E> {
            Ok(Some(host.to_string()))
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            if value {
                Err(E::invalid_value(Unexpected::Bool(true), &self))
            } else {
                Ok(None)
            }
        }
    }
}

/// Why a topology cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Fewer than one segment host.
    #[error("a cluster needs at least one segment host (segment_hosts = {0})")]
    NoSegmentHosts(u32),
    /// Fewer than one primary per host.
    #[error("a segment host needs at least one primary (primaries_per_host = {0})")]
    NoPrimaries(u32),
    /// Mirrors with one segment host: group mirroring puts a mirror on another host.
    #[error("mirrors need at least two segment hosts (segment_hosts = 1); set mirrors = false")]
    MirrorsNeedTwoHosts,
    /// Two roles on one host name.
    #[error("host name `{0}` is used twice; the coordinator and the standby need their own hosts")]
    DuplicateHost(String),
    /// A host name Docker or ssh would not accept.
    #[error("host name `{0}` is not a valid host name (letters, digits and '-', not first)")]
    BadHostName(String),
    /// Ports of two instance kinds overlap.
    #[error("port ranges overlap: primaries {0}.., mirrors {1}.., coordinator {2}")]
    PortClash(u16, u16, u16),
}

impl Topology {
    /// Checks the topology can be built.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.segment_hosts < 1 {
            return Err(TopologyError::NoSegmentHosts(self.segment_hosts));
        }
        if self.primaries_per_host < 1 {
            return Err(TopologyError::NoPrimaries(self.primaries_per_host));
        }
        if self.mirrors && self.segment_hosts < 2 {
            return Err(TopologyError::MirrorsNeedTwoHosts);
        }
        let mut seen = std::collections::BTreeSet::new();
        for host in self.hosts() {
            let valid = !host.is_empty()
                && host.len() <= 63
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !host.starts_with('-');
            if !valid {
                return Err(TopologyError::BadHostName(host));
            }
            if !seen.insert(host.clone()) {
                return Err(TopologyError::DuplicateHost(host));
            }
        }
        let n = self.primaries_per_host;
        let range = |base: u16| (base as u32)..(base as u32 + n);
        let (p, m, c) = (
            range(self.port_base),
            range(self.mirror_port_base),
            self.coordinator_port as u32,
        );
        if p.contains(&c) || (self.mirrors && (m.contains(&c) || p.clone().any(|x| m.contains(&x))))
        {
            return Err(TopologyError::PortClash(
                self.port_base,
                self.mirror_port_base,
                self.coordinator_port,
            ));
        }
        Ok(())
    }

    /// Segment host names, `sdw1..N`.
    pub fn segment_host_names(&self) -> Vec<String> {
        (1..=self.segment_hosts)
            .map(|i| format!("sdw{i}"))
            .collect()
    }

    /// Every host: coordinator, standby (if any), segment hosts.
    pub fn hosts(&self) -> Vec<String> {
        let mut hosts = vec![self.coordinator.clone()];
        hosts.extend(self.standby.clone());
        hosts.extend(self.segment_host_names());
        hosts
    }

    /// True when `host` is part of the cluster.
    pub fn has_host(&self, host: &str) -> bool {
        self.hosts().iter().any(|h| h == host)
    }

    /// The coordinator data directory (`<coordinator_directory>/gpseg-1`), the same on the
    /// coordinator and the standby, as in Cloudberry's default layout.
    pub fn coordinator_datadir(&self) -> String {
        format!("{}/gpseg-1", self.coordinator_directory)
    }

    /// Number of segment instances (primaries and mirrors) in the catalog.
    pub fn segment_instances(&self) -> u32 {
        let primaries = self.segment_hosts * self.primaries_per_host;
        if self.mirrors {
            primaries * 2
        } else {
            primaries
        }
    }

    /// Data directories that may exist on `host`, for log collection: every instance that
    /// could live there, including a coordinator moved aside by the seed procedure.
    pub fn datadirs_on(&self, host: &str) -> Vec<String> {
        let mut dirs = Vec::new();
        if host == self.coordinator || self.standby.as_deref() == Some(host) {
            dirs.push(self.coordinator_datadir());
            dirs.push(format!("{}/backup_gpseg-1", self.coordinator_directory));
        }
        let hosts = self.segment_host_names();
        if let Some(i) = hosts.iter().position(|h| h == host) {
            let k = self.primaries_per_host;
            for j in 0..k {
                let content = i as u32 * k + j;
                dirs.push(format!("{}/gpseg{content}", self.primary_directory));
                if self.mirrors {
                    // Host i mirrors the primaries of host i-1 (group mirroring).
                    let from = (i + hosts.len() - 1) % hosts.len();
                    let content = from as u32 * k + j;
                    dirs.push(format!("{}/gpseg{content}", self.mirror_directory));
                }
            }
        }
        dirs
    }

    /// The `gpinitsystem` configuration file for this topology.
    pub fn gpinitsystem_config(&self, array_name: &str) -> String {
        let dirs = |d: &str| vec![d; self.primaries_per_host as usize].join(" ");
        let mut text = format!(
            "ARRAY_NAME=\"{array_name}\"\n\
             SEG_PREFIX=gpseg\n\
             PORT_BASE={}\n\
             declare -a DATA_DIRECTORY=({})\n\
             COORDINATOR_HOSTNAME={}\n\
             COORDINATOR_DIRECTORY={}\n\
             COORDINATOR_PORT={}\n\
             TRUSTED_SHELL=ssh\n\
             ENCODING=UNICODE\n",
            self.port_base,
            dirs(&self.primary_directory),
            self.coordinator,
            self.coordinator_directory,
            self.coordinator_port,
        );
        if self.mirrors {
            text.push_str(&format!(
                "MIRROR_PORT_BASE={}\ndeclare -a MIRROR_DATA_DIRECTORY=({})\n",
                self.mirror_port_base,
                dirs(&self.mirror_directory)
            ));
        }
        text
    }

    /// The environment of every command the harness runs in a node (`KEY=value`): what
    /// Cloudberry's utilities expect of gpadmin's login, for this layout.
    pub(crate) fn gp_env(&self) -> Vec<String> {
        vec![
            format!("GPHOME={GPHOME}"),
            format!("COORDINATOR_DATA_DIRECTORY={}", self.coordinator_datadir()),
            format!("MASTER_DATA_DIRECTORY={}", self.coordinator_datadir()),
            format!("PGPORT={}", self.coordinator_port),
            format!("USER={GPADMIN}"),
            format!("LOGNAME={GPADMIN}"),
        ]
    }

    /// The host file for `gpinitsystem -h`: one segment host per line.
    pub fn hostfile(&self) -> String {
        self.segment_host_names().join("\n") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_seed_procedures_cluster() {
        let t = Topology::default();
        assert_eq!(t.hosts(), ["cdw", "scdw", "sdw1", "sdw2"]);
        assert_eq!(
            t.coordinator_datadir(),
            "/data0/database/coordinator/gpseg-1"
        );
        assert_eq!(t.segment_instances(), 4);
        t.validate().unwrap();
    }

    #[test]
    fn group_mirroring_puts_each_mirror_on_the_next_host() {
        let t = Topology::default();
        assert_eq!(
            t.datadirs_on("sdw1"),
            [
                "/data0/database/primary/gpseg0",
                "/data0/database/mirror/gpseg1"
            ]
        );
        assert_eq!(
            t.datadirs_on("sdw2"),
            [
                "/data0/database/primary/gpseg1",
                "/data0/database/mirror/gpseg0"
            ]
        );
    }

    #[test]
    fn impossible_topologies_are_rejected() {
        let one_host = Topology {
            segment_hosts: 1,
            ..Topology::default()
        };
        assert_eq!(one_host.validate(), Err(TopologyError::MirrorsNeedTwoHosts));
        let same = Topology {
            standby: Some("cdw".into()),
            ..Topology::default()
        };
        assert_eq!(
            same.validate(),
            Err(TopologyError::DuplicateHost("cdw".into()))
        );
        let clash = Topology {
            primaries_per_host: 3,
            mirror_port_base: 40002,
            ..Topology::default()
        };
        assert!(matches!(
            clash.validate(),
            Err(TopologyError::PortClash(..))
        ));
    }

    #[test]
    fn standby_false_means_a_cluster_without_standby() {
        let t: Topology = toml::from_str("standby = false").unwrap();
        assert_eq!(t.standby, None);
        assert_eq!(t.hosts(), ["cdw", "sdw1", "sdw2"]);
        let t: Topology = toml::from_str("standby = \"sdw9\"").unwrap();
        assert_eq!(t.standby.as_deref(), Some("sdw9"));
        let err = toml::from_str::<Topology>("standby = true").unwrap_err();
        assert_eq!(
            err.message(),
            "invalid value: boolean `true`, expected a host name, or false for no standby"
        );
    }

    #[test]
    fn the_gpinitsystem_config_lists_one_directory_per_primary() {
        let t = Topology {
            primaries_per_host: 2,
            ..Topology::default()
        };
        let config = t.gpinitsystem_config("demo");
        assert!(config.contains(
            "declare -a DATA_DIRECTORY=(/data0/database/primary /data0/database/primary)"
        ));
        assert!(config.contains("MIRROR_PORT_BASE=50000"));
        assert!(config.contains("COORDINATOR_HOSTNAME=cdw"));
        assert_eq!(t.hostfile(), "sdw1\nsdw2\n");
    }
}
