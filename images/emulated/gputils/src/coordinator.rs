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
            .ok_or_else(|| {
                Error::msg("Environment Variable COORDINATOR_DATA_DIRECTORY not set!")
            })?;
        let datadir = datadir.trim_end_matches('/').to_string();
        let port = pg::conf_port(&datadir).unwrap_or_else(env::pgport);
        Ok(CoordEnv { datadir, port })
    }
}

/// How the Python utilities' `simple_main` reports an unexpected failure.
pub fn failed_line(prog: &str, e: &Error) -> String {
    format!("{prog} failed. (Reason='{e}') exiting...")
}

/// The ways `simple_main` (gpstart, gpstop, gpstate) ends a utility that fails.
pub enum Failure {
    /// `ExceptionNoStackTraceNeeded`: `[ERROR]:-<prog> error: <msg>`, exit 2.
    Plain(Error),
    /// Anything else: `[CRITICAL]:-<prog> failed. (Reason='<msg>') exiting...`, exit 2.
    Unexpected(Error),
    /// The user declined a prompt: `User abort requested, Exiting...`, exit 4.
    UserAbort,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Unexpected(e)
    }
}

impl Failure {
    /// Log the failure as `prog` and return its exit code.
    pub fn report(self, prog: &str) -> i32 {
        match self {
            Failure::Plain(e) => {
                crate::log::error(format!("{prog} error: {e}"));
                2
            }
            Failure::Unexpected(e) => {
                crate::log::critical(failed_line(prog, &e));
                2
            }
            Failure::UserAbort => {
                crate::log::info("User abort requested, Exiting...");
                4
            }
        }
    }
}
