//! Running local programs: captured output, stdin closed, an optional deadline.
//!
//! Every external tool (psql, pg_ctl, initdb, pg_basebackup, ssh) goes through [`run`], so waits are
//! bounded in one place: a command past its deadline is killed and reported with exit code `None`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command left.
#[derive(Debug, Clone, Default)]
pub struct Out {
    /// The exit code; `None` when killed by a signal or by the deadline.
    pub code: Option<i32>,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error (or the spawn error).
    pub stderr: String,
    /// Whether the deadline killed it.
    pub timed_out: bool,
}

impl Out {
    /// Exit code 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The first non-empty line of stderr, else of stdout: what an error message should quote.
    pub fn first_error_line(&self) -> String {
        let pick = |s: &str| {
            s.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        };
        pick(&self.stderr)
            .or_else(|| pick(&self.stdout))
            .unwrap_or_else(|| match self.code {
                Some(c) => format!("exit code {c}"),
                None if self.timed_out => "timed out".to_string(),
                None => "killed by a signal".to_string(),
            })
    }
}

/// Run `cmd` with stdin from `/dev/null`, capturing stdout and stderr, killing it after `timeout`.
pub fn run(mut cmd: Command, timeout: Option<Duration>) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let prog = cmd.get_program().to_string_lossy().to_string();
            return Out {
                code: Some(127),
                stderr: format!("{prog}: {e}"),
                ..Out::default()
            };
        }
    };
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = so.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = se.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(_) => break None,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            timed_out = true;
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).to_string();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).to_string();
    let code = if timed_out {
        None
    } else {
        status.and_then(|s| s.code())
    };
    Out {
        code,
        stdout,
        stderr,
        timed_out,
    }
}

/// Build a command from a program and its arguments.
pub fn command(prog: &str, args: &[&str]) -> Command {
    let mut c = Command::new(prog);
    c.args(args);
    c
}

/// Quote a string for a POSIX shell (single quotes).
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Send `signal` (a number or name `kill` understands) to a process; whether it was delivered.
pub fn kill(pid: i32, signal: &str) -> bool {
    run(
        command("kill", &[&format!("-{signal}"), &pid.to_string()]),
        Some(Duration::from_secs(5)),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("/data0/x"), "/data0/x");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn runs_and_times_out() {
        let o = run(
            command("sh", &["-c", "echo hi; echo err >&2; exit 3"]),
            None,
        );
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout, "hi\n");
        assert_eq!(o.first_error_line(), "err");
        let o = run(command("sleep", &["5"]), Some(Duration::from_millis(100)));
        assert!(o.timed_out && o.code.is_none());
    }
}
