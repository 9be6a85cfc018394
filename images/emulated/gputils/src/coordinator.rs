//! The coordinator environment the management utilities start from (Cloudberry's
//! `GpCoordinatorEnvironment`): the coordinator data directory (`-d`, else
//! `COORDINATOR_DATA_DIRECTORY`) and its port (from its `postgresql.conf`, else `PGPORT`).

use crate::error::{Error, Result};
use crate::{env, pg};

/// Where the coordinator lives on this host.
#[derive(Debug, Clone)]
pub struct CoordEnv {
    pub datadir: String,
    pub port: u16,
}

impl CoordEnv {
    /// Resolve from an optional `-d` value and the environment.
    pub fn resolve(dir_opt: Option<&str>) -> Result<CoordEnv> {
        let datadir = dir_opt
            .map(str::to_string)
            .or_else(env::coordinator_data_dir)
            .ok_or_else(|| Error::msg("Environment Variable COORDINATOR_DATA_DIRECTORY not set!"))?;
        let datadir = datadir.trim_end_matches('/').to_string();
        let port = pg::conf_port(&datadir).unwrap_or_else(env::pgport);
        Ok(CoordEnv { datadir, port })
    }
}

/// How the Python utilities' `simple_main` reports an unexpected failure.
pub fn failed_line(prog: &str, e: &Error) -> String {
    format!("{prog} failed. (Reason='{e}') exiting...")
}
