//! Running commands on other hosts over ssh, as the real utilities do (`base.REMOTE`).
//!
//! Non-interactive ssh does not reliably read `~/.bashrc`, so every remote command first sources
//! `$GPHOME/cloudberry-env.sh`. An unreachable host shows as exit code 255 (ssh's own failure).

use std::time::Duration;

use crate::cmd::{self, sh_quote, Out};
use crate::env;

/// Options passed to every ssh call (the image's `ssh_config.d` says the same; repeating them here
/// keeps the utilities independent of a user's own ssh configuration).
const SSH_OPTS: &[&str] = &[
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
];

/// The shell command that runs `script` with the Cloudberry environment.
pub fn with_env(script: &str) -> String {
    format!(
        ". {}/cloudberry-env.sh && {}",
        sh_quote(&env::gphome()),
        script
    )
}

/// Run a shell `script` on `host` over ssh.
pub fn ssh(host: &str, script: &str, timeout: Duration) -> Out {
    let mut c = std::process::Command::new("ssh");
    c.args(SSH_OPTS).arg(host).arg(with_env(script));
    cmd::run(c, Some(timeout))
}

/// The shell command running one of `gputil`'s internal helpers with quoted arguments.
pub fn gputil(sub: &str, args: &[String]) -> String {
    let mut s = format!("gputil {sub}");
    for a in args {
        s.push(' ');
        s.push_str(&sh_quote(a));
    }
    s
}

/// Whether an ssh result means the host could not be reached (rather than the command failing).
pub fn unreachable(o: &Out) -> bool {
    o.code == Some(255) || o.timed_out
}
