//! Internal helpers that the utilities run on each host over ssh (`gputil __<name> ...`): the
//! emulation's `gpgetstatususingtransition.py`, `gpsegstart.py`, `gpsegstop.py` and
//! `gpconfigurenewsegment`. Each prints one machine-readable line per instance
//! (`CBHSTATUS|...` or `CBHRESULT|<datadir>|<0|1>|<message>`) and exits 1 if any instance failed.

use std::thread;
use std::time::Duration;

use crate::catalog::{Array, Seg};
use crate::error::{bail, Result};
use crate::instance;
use crate::log;
use crate::pg;
use crate::remote;
use crate::status::{split_dir_port, InstanceStatus};

/// A helper's outcome for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub datadir: String,
    pub ok: bool,
    pub message: String,
}

impl Outcome {
    /// The output line.
    pub fn encode(&self) -> String {
        format!(
            "CBHRESULT|{}|{}|{}",
            self.datadir,
            u8::from(self.ok),
            self.message.replace('\n', " ")
        )
    }

    /// Parse an output line.
    pub fn decode(line: &str) -> Option<Outcome> {
        let rest = line.strip_prefix("CBHRESULT|")?;
        let mut it = rest.splitn(3, '|');
        let datadir = it.next()?.to_string();
        let ok = it.next()? == "1";
        let message = it.next().unwrap_or("").to_string();
        Some(Outcome {
            datadir,
            ok,
            message,
        })
    }
}

/// Run `f` once per host for `segs` (grouped by hostname, in first-seen order), all hosts in
/// parallel threads; each group with its result.
pub fn per_host<'a, T: Send>(
    segs: impl IntoIterator<Item = &'a Seg>,
    f: impl Fn(&[&'a Seg]) -> T + Sync,
) -> Vec<(Vec<&'a Seg>, T)> {
    let groups = Array::by_host(segs);
    thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|(_, segs)| {
                let f = &f;
                let mine = segs.clone();
                (segs, s.spawn(move || f(&mine)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(segs, h)| (segs, h.join().expect("per-host worker panicked")))
            .collect()
    })
}

/// A helper run on one host: the outcomes it printed, or why the host gave none.
pub type HostRun = std::result::Result<Vec<Outcome>, String>;

/// Run helper `sub` on `host` over ssh: the per-instance outcomes it printed, or why the host
/// gave none (unreachable, helper crashed).
pub fn run_on(host: &str, sub: &str, args: &[String], timeout: Duration) -> HostRun {
    let o = remote::ssh(host, &remote::gputil(sub, args), timeout);
    let outs: Vec<Outcome> = o.stdout.lines().filter_map(Outcome::decode).collect();
    if outs.is_empty() && !o.ok() {
        return Err(o.first_error_line());
    }
    Ok(outs)
}

/// Each instance's outcome (by dbid) from a helper run for `segs`; a host failure or a missing
/// line counts as that instance failing.
pub fn outcomes_for(segs: &[&Seg], r: &HostRun) -> Vec<(i16, Outcome)> {
    segs.iter()
        .map(|seg| {
            let failed = |m: &str| Outcome {
                datadir: seg.datadir.clone(),
                ok: false,
                message: m.to_string(),
            };
            let o = match r {
                Err(e) => failed(e),
                Ok(v) => v
                    .iter()
                    .find(|o| o.datadir == seg.datadir)
                    .cloned()
                    .unwrap_or_else(|| failed("no result")),
            };
            (seg.dbid, o)
        })
        .collect()
}

/// `gp.start_standbycoordinator`: start the standby on its host (over ssh) and report.
pub fn start_standby_coordinator(sb: &Seg) -> bool {
    announce_standby_start(sb);
    judge_standby_start(start_standby_on_host(sb))
}

/// The ssh part of [`start_standby_coordinator`], for callers that start the standby while
/// doing something else and log it afterwards ([`announce_standby_start`], then
/// [`judge_standby_start`]).
pub fn start_standby_on_host(sb: &Seg) -> HostRun {
    run_on(
        &sb.address,
        "__startsegs",
        &[sb.dir_port()],
        Duration::from_secs(180),
    )
}

/// The lines [`start_standby_coordinator`] logs before it starts the standby.
pub fn announce_standby_start(sb: &Seg) {
    log::info("Starting standby coordinator");
    log::info(format!(
        "Checking if standby coordinator is running on host: {}  in directory: {}",
        sb.hostname, sb.datadir
    ));
}

/// Whether starting the standby worked; a warning when it did not.
pub fn judge_standby_start(started: HostRun) -> bool {
    match started {
        Ok(v) if !v.is_empty() && v.iter().all(|o| o.ok) => true,
        Ok(v) => {
            let msg = v
                .iter()
                .map(|o| o.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            log::warn(format!("Could not start standby coordinator: {msg}"));
            false
        }
        Err(e) => {
            log::warn(format!("Could not start standby coordinator: {e}"));
            false
        }
    }
}

/// Split `spec` into `n` fields separated by `:`, splitting from the right so the data directory
/// (the first field) may itself contain colons.
fn fields(spec: &str, n: usize) -> Result<Vec<String>> {
    let mut v: Vec<String> = spec.rsplitn(n, ':').map(str::to_string).collect();
    if v.len() != n {
        bail!("bad instance spec {spec:?}");
    }
    v.reverse();
    Ok(v)
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse().map_err(|_| format!("bad {what} {s:?}").into())
}

fn report(results: Vec<Outcome>) -> i32 {
    let mut code = 0;
    for r in &results {
        println!("{}", r.encode());
        if !r.ok {
            code = 1;
        }
    }
    code
}

fn outcome(datadir: &str, r: Result<String>) -> Outcome {
    match r {
        Ok(m) => Outcome {
            datadir: datadir.to_string(),
            ok: true,
            message: m,
        },
        Err(e) => Outcome {
            datadir: datadir.to_string(),
            ok: false,
            message: e.0,
        },
    }
}

/// `__status dir:port ...`: probe instances on this host.
pub fn status_main(args: Vec<String>) -> i32 {
    for a in &args {
        match split_dir_port(a) {
            Some((d, p)) => println!("{}", InstanceStatus::probe(&d, p).encode()),
            None => {
                eprintln!("bad instance spec {a:?}");
                return 2;
            }
        }
    }
    0
}

/// `__initseg dir:port:dbid:content ...`: initdb, configure and start new primaries.
pub fn initseg_main(args: Vec<String>) -> i32 {
    let results = args
        .iter()
        .map(|a| {
            let f = match fields(a, 4) {
                Ok(f) => f,
                Err(e) => return outcome(a, Err(e)),
            };
            outcome(&f[0], init_segment(&f))
        })
        .collect();
    report(results)
}

fn init_segment(f: &[String]) -> Result<String> {
    let (dir, port, dbid, content) = (
        &f[0],
        num(&f[1], "port")?,
        num(&f[2], "dbid")?,
        num(&f[3], "content")?,
    );
    instance::create(dir, port, dbid, content)?;
    pg::start(dir, true)?;
    Ok("started".into())
}

/// `__mirror dir:port:dbid:content:srchost:srcport ...`: copy primaries into mirrors and start them.
pub fn mirror_main(args: Vec<String>) -> i32 {
    let results = args
        .iter()
        .map(|a| {
            let f = match fields(a, 6) {
                Ok(f) => f,
                Err(e) => return outcome(a, Err(e)),
            };
            outcome(&f[0], init_mirror(&f))
        })
        .collect();
    report(results)
}

fn init_mirror(f: &[String]) -> Result<String> {
    let (dir, port, dbid) = (&f[0], num(&f[1], "port")?, num(&f[2], "dbid")?);
    instance::basebackup(dir, &f[4], num(&f[5], "port")?, "stream")?;
    instance::adopt_copy(dir, port, dbid)?;
    pg::start(dir, true)?;
    Ok("started".into())
}

/// `__standby dir port dbid srchost srcport`: copy the coordinator into a standby (not started).
pub fn standby_main(args: Vec<String>) -> i32 {
    if args.len() != 5 {
        eprintln!("usage: __standby <datadir> <port> <dbid> <coordinator host> <coordinator port>");
        return 2;
    }
    let r = (|| -> Result<String> {
        instance::basebackup(&args[0], &args[3], num(&args[4], "port")?, "fetch")?;
        instance::adopt_copy(&args[0], num(&args[1], "port")?, num(&args[2], "dbid")?)?;
        Ok("copied".into())
    })();
    report(vec![outcome(&args[0], r)])
}

/// `__startsegs dir:port ...`: start instances that are not running, all at once (as
/// `gpsegstart.py` does with its worker pool); one line each, in the order given.
pub fn startsegs_main(args: Vec<String>) -> i32 {
    let results = thread::scope(|s| {
        let starts: Vec<_> = args.iter().map(|a| s.spawn(move || start_one(a))).collect();
        starts
            .into_iter()
            .map(|h| h.join().expect("instance start panicked"))
            .collect()
    });
    report(results)
}

fn start_one(spec: &str) -> Outcome {
    let Some((d, p)) = split_dir_port(spec) else {
        return outcome(spec, Err("bad instance spec".into()));
    };
    let r = if instance::running(&d) {
        Ok("already running".to_string())
    } else if !std::path::Path::new(&d).join("PG_VERSION").exists() {
        Err(format!("Segment data directory does not exist for: '{d}'").into())
    } else {
        instance::clear_stale_files(&d, p);
        pg::start(&d, true).map(|_| "started".to_string())
    };
    outcome(&d, r)
}

/// `__stopsegs mode dir:port ...`: stop running instances with `pg_ctl stop -m <mode>`.
pub fn stopsegs_main(args: Vec<String>) -> i32 {
    let Some((mode, rest)) = args.split_first() else {
        eprintln!("usage: __stopsegs <mode> <datadir:port>...");
        return 2;
    };
    let results = rest
        .iter()
        .map(|a| match split_dir_port(a) {
            None => outcome(a, Err("bad instance spec".into())),
            Some((d, _)) => {
                let r = if !instance::running(&d) {
                    Ok("not running".to_string())
                } else {
                    let o = pg::stop(&d, mode, 120);
                    if o.ok() {
                        Ok("stopped".to_string())
                    } else {
                        Err(format!("pg_ctl stop failed: {}", o.first_error_line()).into())
                    }
                };
                outcome(&d, r)
            }
        })
        .collect();
    report(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_fields() {
        assert_eq!(
            fields("/d/gpseg0:40000:2:0", 4).unwrap(),
            ["/d/gpseg0", "40000", "2", "0"]
        );
        assert_eq!(
            fields("/a:b/gpseg0:50000:4:0:sdw1:40000", 6).unwrap()[0],
            "/a:b/gpseg0"
        );
        assert!(fields("/d:1", 4).is_err());
    }

    #[test]
    fn outcome_lines() {
        let o = Outcome {
            datadir: "/d".into(),
            ok: false,
            message: "a|b\nc".into(),
        };
        assert_eq!(Outcome::decode(&o.encode()).unwrap().message, "a|b c");
    }
}
