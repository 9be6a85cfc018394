//! Creating and copying PostgreSQL instances laid out as Cloudberry lays them out.
//!
//! Every instance gets the same small-memory settings, its `cluster_name` (`gpseg-1` for the
//! coordinator and its standby, `gpseg<content>` for segments, which is what PostgreSQL puts in
//! its process titles), a `pg_hba.conf`, a `log/` directory for the logging collector, and
//! `internal.auto.conf` with `gp_dbid` (Cloudberry's file, which the emulation reads back in
//! `gpactivatestandby`).
//!
//! A new instance is a copy of `$GPHOME/share/cbh/initdb-template`, a cluster made at image build
//! time by `initdb -E UTF8 --locale=C --auth=trust` (plain `initdb` runs when the template is
//! absent). Copying takes a fraction of a second where `initdb` takes about two, most of it CPU
//! that the parallel segment builds would share; the only visible difference is that unrelated
//! instances share a database system identifier (mirrors and standbys share it anyway).
//!
//! `initdb` and `pg_basebackup` run with `--no-sync` (the servers keep `fsync = on`): the files
//! they write sit in the kernel's page cache, which a killed or restarted container does not lose
//! (only a crash of the Docker host would), and skipping their final sync saves about half a
//! second per instance on the cluster's critical path.
//!
//! Instances have 1 MB WAL segments (`initdb --wal-segsize=1`, in the image's template too)
//! instead of 16 MB: every `pg_basebackup` carries at least one whole segment, every WAL switch
//! (one per base backup) starts a new one, and a data directory renamed on a copy-on-write
//! container filesystem is copied whole; with 16 MB segments WAL was two thirds of each copy.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmd::{self, sh_quote};
use crate::error::{bail, Result};
use crate::pg;

/// The cluster name of an instance with `content` (`gpseg-1`, `gpseg0`, ...).
pub fn cluster_name(content: i16) -> String {
    format!("gpseg{content}")
}

/// The settings appended to every new instance's `postgresql.conf`.
pub fn settings(port: u16, content: i16) -> String {
    format!(
        "\n# ---- Apache Cloudberry emulation (cbharness) ----\n\
listen_addresses = '*'\n\
port = {port}\n\
unix_socket_directories = '{sock}'\n\
max_connections = 50\n\
shared_buffers = 32MB\n\
max_wal_senders = 10\n\
max_replication_slots = 10\n\
wal_level = replica\n\
wal_log_hints = on\n\
hot_standby = on\n\
wal_keep_size = 256MB\n\
logging_collector = on\n\
log_directory = 'log'\n\
log_filename = 'postgresql-%Y-%m-%d_%H%M%S.log'\n\
log_line_prefix = '%m [%p] %q%u@%d '\n\
cluster_name = '{name}'\n",
        sock = pg::SOCKET_DIR,
        name = cluster_name(content)
    )
}

/// `pg_hba.conf` for a new instance. Everything on the cluster's networks is trusted (the harness
/// connects from the Docker host's bridge address, which is on the same subnet); segments also
/// accept replication from their mirrors' hosts. The coordinator accepts replication from its
/// standby only once `gpinitstandby` adds the standby's address, as in Cloudberry.
pub fn hba(content: i16) -> String {
    let mut s = String::from(
        "# Apache Cloudberry emulation (cbharness)\n\
# TYPE  DATABASE     USER     ADDRESS    METHOD\n\
local   all          all                 trust\n\
host    all          all      samehost   trust\n\
host    all          all      samenet    trust\n\
host    replication  gpadmin  samehost   trust\n",
    );
    if content >= 0 {
        s.push_str("host    replication  gpadmin  samenet    trust\n");
    }
    s
}

/// Write `internal.auto.conf` with the instance's dbid.
pub fn write_dbid(datadir: &str, dbid: i16) -> Result<()> {
    fs::write(
        Path::new(datadir).join("internal.auto.conf"),
        format!("gp_dbid = {dbid}\n"),
    )?;
    Ok(())
}

/// The dbid recorded in `internal.auto.conf`.
pub fn read_dbid(datadir: &str) -> Option<i16> {
    pg::conf_get(&format!("{datadir}/internal.auto.conf"), "gp_dbid")?
        .parse()
        .ok()
}

/// Where the image keeps the cluster that new instances are copied from.
pub fn template_dir() -> String {
    format!("{}/share/cbh/initdb-template", crate::env::gphome())
}

/// Create a new instance (copy of the template, else `initdb`) and configure it (not started).
pub fn create(datadir: &str, port: u16, dbid: i16, content: i16) -> Result<()> {
    if Path::new(datadir).exists() {
        bail!("data directory {datadir} already exists");
    }
    let template = template_dir();
    let o = if Path::new(&template).join("PG_VERSION").exists() {
        cmd::run(
            cmd::command("cp", &["-a", &template, datadir]),
            Some(Duration::from_secs(300)),
        )
    } else {
        // --no-sync: see the module documentation.
        cmd::run(
            cmd::command(
                "initdb",
                &[
                    "-D",
                    datadir,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth=trust",
                    "--no-sync",
                    "--wal-segsize=1",
                ],
            ),
            Some(Duration::from_secs(300)),
        )
    };
    if !o.ok() {
        bail!("initdb failed for {datadir}: {}", o.first_error_line());
    }
    let conf = format!("{datadir}/postgresql.conf");
    let mut text = fs::read_to_string(&conf)?;
    text.push_str(&settings(port, content));
    fs::write(&conf, text)?;
    fs::write(format!("{datadir}/pg_hba.conf"), hba(content))?;
    fs::create_dir_all(format!("{datadir}/log"))?;
    write_dbid(datadir, dbid)
}

/// Copy a running instance with `pg_basebackup` into `datadir` (which must not exist) and make it
/// a standby of `src_host:src_port` (`standby.signal` plus `primary_conninfo` with
/// `application_name=gp_walreceiver`, as Cloudberry's walreceiver names itself).
pub fn basebackup(datadir: &str, src_host: &str, src_port: u16, wal_method: &str) -> Result<()> {
    let conn =
        format!("host={src_host} port={src_port} user=gpadmin application_name=gp_walreceiver");
    let o = cmd::run(
        cmd::command(
            "pg_basebackup",
            &[
                "-c",
                "fast",
                "-D",
                datadir,
                "-d",
                &conn,
                "-X",
                wal_method,
                "--write-recovery-conf",
                "--no-sync",
            ],
        ),
        Some(Duration::from_secs(600)),
    );
    if !o.ok() {
        bail!("pg_basebackup failed: {}", o.first_error_line());
    }
    Ok(())
}

/// Turn a fresh copy into its own instance: its port, its dbid, and no log files of the source
/// (Cloudberry's `pg_basebackup` excludes `log/`; PostgreSQL's copies it, so it is emptied here).
pub fn adopt_copy(datadir: &str, port: u16, dbid: i16) -> Result<()> {
    let log = Path::new(datadir).join("log");
    if log.exists() {
        fs::remove_dir_all(&log)?;
    }
    fs::create_dir_all(&log)?;
    let conf = format!("{datadir}/postgresql.conf");
    if pg::conf_get(&conf, "port").and_then(|p| p.parse::<u16>().ok()) != Some(port) {
        pg::conf_set(&conf, "port", &port.to_string())?;
    }
    write_dbid(datadir, dbid)
}

/// Whether a postmaster for `datadir` is running on this host.
pub fn running(datadir: &str) -> bool {
    let pid = pg::pid_from_file(datadir);
    pid > 0
        && crate::procfs::read(pid)
            .is_some_and(|p| p.state != 'Z' && crate::procfs::postmaster_datadir(&p).is_some())
}

/// Remove a stale `postmaster.pid` and `/tmp` socket lock of a dead instance (Cloudberry's
/// "recovery startup" clean-up) so that `pg_ctl start` does not trip over them.
pub fn clear_stale_files(datadir: &str, port: u16) {
    if running(datadir) {
        return;
    }
    let _ = fs::remove_file(Path::new(datadir).join("postmaster.pid"));
    if !crate::procfs::unix_socket_listening(&pg::socket_file(port)) {
        let _ = fs::remove_file(pg::lock_file(port));
    }
}

/// Shell snippet: fail unless the parent of `datadir` exists; report whether `datadir` exists.
pub fn dir_check_script(datadir: &str) -> String {
    let parent = Path::new(datadir)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/".into());
    format!(
        "if [ -d {p} ]; then echo PARENT=1; else echo PARENT=0; fi; if [ -e {d} ]; then echo EXISTS=1; else echo EXISTS=0; fi",
        p = sh_quote(&parent),
        d = sh_quote(datadir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_settings() {
        assert_eq!(cluster_name(-1), "gpseg-1");
        assert_eq!(cluster_name(3), "gpseg3");
        let s = settings(40000, 0);
        assert!(s.contains("port = 40000\n"));
        assert!(s.contains("cluster_name = 'gpseg0'\n"));
        assert!(s.contains("unix_socket_directories = '/tmp'\n"));
        assert!(!hba(-1).contains("replication  gpadmin  samenet"));
        assert!(hba(0).contains("host    replication  gpadmin  samenet    trust"));
    }
}
