//! Cloudberry's log line format (`gppylib/gplog.py`), to stdout and `~/gpAdminLogs`.
//!
//! `<YYYYMMDD>:<HH>:<MM>:<SS>:<pid %06d> <program>:<hostname>:<user>-[<LEVEL>]:-<message>`, local
//! time without milliseconds. Every line also goes to `<logdir>/<program>_<YYYYMMDD>.log`
//! (default `~/gpAdminLogs`). DEBUG goes to the file only unless verbose; `-q` keeps INFO off stdout.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// A log level, printed as Python's `logging` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warning,
    /// `[WARN]`, the bash utilities' (gpinitsystem's) spelling of a warning.
    Warn,
    Error,
    Critical,
    /// `[FATAL]`, the bash utilities' fatal error.
    Fatal,
}

impl Level {
    /// The name inside `-[...]`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
            Level::Fatal => "FATAL",
        }
    }
}

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// The civil time of `secs` seconds after the Unix epoch (already shifted to local time).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Days-to-date conversion for the proleptic Gregorian calendar (era-based).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `YYYYMMDD`.
    pub fn date_stamp(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// One formatted log line (without newline).
pub fn format_line(
    t: &Civil,
    pid: u32,
    prog: &str,
    host: &str,
    user: &str,
    lvl: Level,
    msg: &str,
) -> String {
    format!(
        "{}:{:02}:{:02}:{:02}:{:06} {}:{}:{}-[{}]:-{}",
        t.date_stamp(),
        t.hour,
        t.minute,
        t.second,
        pid,
        prog,
        host,
        user,
        lvl.name(),
        msg
    )
}

/// Logger settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Directory for the log file (default `~/gpAdminLogs`); `None` in `Options::default()`.
    pub dir: Option<PathBuf>,
    /// Print DEBUG lines to stdout too.
    pub verbose: bool,
    /// Keep INFO (and DEBUG) off stdout.
    pub quiet: bool,
    /// Do not write a log file (daemons whose stdout is already a log).
    pub no_file: bool,
}

struct Logger {
    prog: String,
    host: String,
    user: String,
    pid: u32,
    utc_offset: i64,
    opts: Mutex<Options>,
    file: Mutex<Option<File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// The local UTC offset in seconds, from `date +%z` (std has no time zone database).
fn utc_offset() -> i64 {
    let out = crate::cmd::run(
        crate::cmd::command("date", &["+%z"]),
        Some(std::time::Duration::from_secs(2)),
    );
    parse_offset(out.stdout.trim()).unwrap_or(0)
}

/// Parse `+hhmm` / `-hhmm` into seconds.
pub fn parse_offset(s: &str) -> Option<i64> {
    if s.len() != 5 {
        return None;
    }
    let sign = match &s[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let h: i64 = s[1..3].parse().ok()?;
    let m: i64 = s[3..5].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

fn now_local(offset: i64) -> Civil {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Civil::from_unix(secs + offset)
}

/// Set up logging for `prog`; the first call wins.
pub fn init(prog: &str, opts: Options) {
    let _ = LOGGER.set(Logger {
        prog: prog.to_string(),
        host: crate::env::hostname(),
        user: crate::env::username(),
        pid: std::process::id(),
        utc_offset: utc_offset(),
        opts: Mutex::new(opts),
        file: Mutex::new(None),
    });
}

/// Change the options after `init` (e.g. once `-l`/`-q` have been parsed).
pub fn set_options(opts: Options) {
    if let Some(l) = LOGGER.get() {
        if let Ok(mut o) = l.opts.lock() {
            *o = opts;
        }
        if let Ok(mut f) = l.file.lock() {
            *f = None;
        }
    }
}

fn open_file(l: &Logger, opts: &Options, t: &Civil) -> Option<File> {
    let dir = opts
        .dir
        .clone()
        .unwrap_or_else(|| crate::env::home().join("gpAdminLogs"));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{}_{}.log", l.prog, t.date_stamp()));
    OpenOptions::new().create(true).append(true).open(path).ok()
}

/// Log `msg` at `lvl`.
pub fn log(lvl: Level, msg: &str) {
    let Some(l) = LOGGER.get() else {
        println!("{msg}");
        return;
    };
    let opts = l.opts.lock().map(|o| o.clone()).unwrap_or_default();
    let t = now_local(l.utc_offset);
    let line = format_line(&t, l.pid, &l.prog, &l.host, &l.user, lvl, msg);
    let to_stdout = match lvl {
        Level::Debug => opts.verbose && !opts.quiet,
        Level::Info => !opts.quiet,
        _ => true,
    };
    if to_stdout {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    if opts.no_file {
        return;
    }
    if let Ok(mut f) = l.file.lock() {
        if f.is_none() {
            *f = open_file(l, &opts, &t);
        }
        if let Some(file) = f.as_mut() {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Lines a utility logs, each with its level: what the pure formatting functions return, so
/// that tests can read the output without a logger.
pub type Lines = Vec<(Level, String)>;

/// Log every line of `lines`, in order.
pub fn emit(lines: &[(Level, String)]) {
    for (lvl, msg) in lines {
        log(*lvl, msg);
    }
}

/// INFO line.
pub fn info(msg: impl AsRef<str>) {
    log(Level::Info, msg.as_ref());
}

/// WARNING line.
pub fn warn(msg: impl AsRef<str>) {
    log(Level::Warning, msg.as_ref());
}

/// ERROR line.
pub fn error(msg: impl AsRef<str>) {
    log(Level::Error, msg.as_ref());
}

/// CRITICAL line (`logger.fatal` in the Python utilities).
pub fn critical(msg: impl AsRef<str>) {
    log(Level::Critical, msg.as_ref());
}

/// DEBUG line.
pub fn debug(msg: impl AsRef<str>) {
    log(Level::Debug, msg.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(Civil::from_unix(0).date_stamp(), "19700101");
        // 2023-06-07 06:50:06 UTC
        let t = Civil::from_unix(1_686_120_606);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2023, 6, 7, 6, 50, 6)
        );
        // leap day
        assert_eq!(Civil::from_unix(951_782_400).date_stamp(), "20000229");
        assert_eq!(Civil::from_unix(-1).date_stamp(), "19691231");
    }

    #[test]
    fn line_format_matches_gplog() {
        let t = Civil::from_unix(1_686_120_606);
        let l = format_line(
            &t,
            4205,
            "gpstate",
            "test1-m",
            "gpadmin",
            Level::Info,
            "Starting gpstate with args: -f",
        );
        assert_eq!(l, "20230607:06:50:06:004205 gpstate:test1-m:gpadmin-[INFO]:-Starting gpstate with args: -f");
        let l = format_line(&t, 1234567, "g", "h", "u", Level::Warning, "x");
        assert_eq!(l, "20230607:06:50:06:1234567 g:h:u-[WARNING]:-x");
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+0000"), Some(0));
        assert_eq!(parse_offset("+0530"), Some(19_800));
        assert_eq!(parse_offset("-0700"), Some(-25_200));
        assert_eq!(parse_offset("junk"), None);
    }
}
