//! The one redaction policy for snapshots of utility output.
//!
//! Snapshots compare what the Cloudberry utilities print, so everything that changes from run to
//! run must be replaced by a fixed placeholder first, and nothing else may be: hostnames, roles,
//! data directories, ports, WAL sender and sync states, the `Starting gpstate with args: -f`
//! line, the `0` of a standby whose process is not running and every error text stay literal,
//! because they are what the snapshot is about.
//!
//! [`normalize_gp_output`] applies these rules, for `gpstate` and any other utility:
//!
//! | Placeholder         | Replaces                                                               |
//! |---------------------|------------------------------------------------------------------------|
//! | `[TIMESTAMP]:[PID]` | the log prefix's `20230607:06:50:06:004205` (date, time, process id)   |
//! | `[PID]`             | a non-zero value of a `Standby PID = 4321` row                         |
//! | `[LSN]`             | a WAL position such as `0/14000000`                                    |
//! | `[VERSION]`         | the quoted text of `local … Version: '…'` and `coordinator … Version: '…'` |
//! | `[IP]`              | an IPv4 address (container addresses vary)                             |
//! | (line dropped)      | a line of progress dots only, e.g. `....` from `gpstate -b`            |
//!
//! [`normalize_general`] adds two rules for utilities that report times (gpinitstandby,
//! gpactivatestandby and whatever they relay from PostgreSQL tools):
//!
//! | Placeholder   | Replaces                                                                  |
//! |---------------|---------------------------------------------------------------------------|
//! | `[TIMESTAMP]` | an ISO date-time such as `2023-06-07 06:50:06.123 UTC`                    |
//! | `[ELAPSED]`   | a duration with a fraction (`1.23s`, `0.5 seconds`) or in ms (`123 ms`)   |
//!
//! [`normalize_parsed`] applies the same policy to the parsed state of a utility's output (the
//! [`crate::gp::gpstate`] types as JSON): every string goes through [`normalize_gp_output`],
//! so LSNs read `[LSN]`, and a non-zero number under a `pid` key becomes `"[PID]"`.
//!
//! A whole-number duration such as `120 s` is left alone: that is a configured timeout, not a
//! measurement.
//!
//! Tables stay aligned: when a replaced value is followed by the padding of a table column, the
//! padding is adjusted so that the next column starts where it did, because otherwise a PID with
//! one digit more would shift the error column after it and the snapshot would differ.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Progress dots alone on a line (`gpstate` prints one per second while it polls hosts).
static DOTS_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\.+\s*$").expect("the dots pattern is valid"));

/// Progress dots that lost their newline and now lead a log line.
static DOTS_BEFORE_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\.+(\d{8}:\d{2}:\d{2}:\d{2}:\d{6,} )").expect("the dots-prefix pattern is valid")
});

/// The date, time and process id that open every log line.
static LOG_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(\d{8}:\d{2}:\d{2}:\d{2}:\d{6,}) ")
        .expect("the prefix pattern is valid")
});

/// A non-zero standby pid; `0` means "not running" and stays.
static STANDBY_PID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Standby PID[ \t]+= ([1-9][0-9]*)\b").expect("the standby-pid pattern is valid")
});

/// PostgreSQL prints LSNs as two upper-case hex numbers, `%X/%X`.
static LSN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([0-9A-F]{1,8}/[0-9A-F]{1,8})\b").expect("the LSN pattern is valid")
});

/// The version lines of the gpstate preamble; the product word varies between forks.
static VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:local|coordinator|master) \S+ Version: '([^'\n]*)'")
        .expect("the version pattern is valid")
});

/// Candidate IPv4 addresses; octet range and surrounding dots are checked by [`is_ipv4`].
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\b").expect("the IPv4 pattern is valid")
});

/// ISO-8601-like date-times as PostgreSQL and most tools print them.
static ISO_TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?| UTC| GMT)?)",
    )
    .expect("the timestamp pattern is valid")
});

/// Measured durations: with a fraction of a second, or in milliseconds.
static ELAPSED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d+\.\d+ ?(?:ms|s|secs?|seconds)|\d+ ?ms)\b")
        .expect("the elapsed pattern is valid")
});

/// Normalizes the output of a Cloudberry management utility for a snapshot (rules in the
/// [module documentation](self)).
pub fn normalize_gp_output(text: &str) -> String {
    let text = drop_progress_dots(text);
    let text = redact(&text, &VERSION, "[VERSION]", any);
    let text = redact(&text, &LOG_PREFIX, "[TIMESTAMP]:[PID]", any);
    let text = redact(&text, &STANDBY_PID, "[PID]", any);
    // Addresses first, so that `172.18.0.3/32` is never read as the LSN `3/32`.
    let text = redact(&text, &IPV4, "[IP]", is_ipv4);
    redact(&text, &LSN, "[LSN]", is_lsn)
}

/// [`normalize_gp_output`] plus date-times and durations, for utilities other than gpstate.
pub fn normalize_general(text: &str) -> String {
    let text = normalize_gp_output(text);
    let text = redact(&text, &ISO_TIMESTAMP, "[TIMESTAMP]", any);
    redact(&text, &ELAPSED, "[ELAPSED]", any)
}

/// The parsed state `value` as pretty JSON, redacted by the same policy as the text (see the
/// [module documentation](self)), with a final newline.
pub fn normalize_parsed(value: &serde_json::Value) -> String {
    let mut value = value.clone();
    redact_value(&mut value);
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

fn redact_value(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(text) => *text = normalize_gp_output(text),
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                // `0` means "not running", as in the text, and stays.
                let nonzero_pid = key == "pid" && field.as_u64().is_some_and(|pid| pid != 0);
                if nonzero_pid {
                    *field = Value::String("[PID]".into());
                } else {
                    redact_value(field);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Removes lines of dots only and dots in front of a log prefix; keeps every other line,
/// including blank ones, and the final newline if there was one.
fn drop_progress_dots(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if !content.trim().is_empty() && DOTS_LINE.is_match(content) {
            continue;
        }
        out.push_str(&DOTS_BEFORE_PREFIX.replace(line, "$1"));
    }
    out
}

/// Replaces capture group 1 of every match of `re` that `accept` agrees to with `placeholder`,
/// keeping the start of a following table column in place (see the module documentation).
fn redact(
    text: &str,
    re: &Regex,
    placeholder: &str,
    accept: fn(&str, Range<usize>) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for caps in re.captures_iter(text) {
        let value = caps.get(1).expect("every redaction pattern has one group");
        if !accept(text, value.range()) {
            continue;
        }
        out.push_str(&text[copied..value.start()]);
        out.push_str(placeholder);
        copied = value.end();
        let rest = &text[value.end()..];
        let pad = rest.bytes().take_while(|&b| b == b' ').count();
        let column_follows = rest[pad..]
            .chars()
            .next()
            .is_some_and(|c| c != '\n' && c != '\r');
        // Two or more spaces before more text is a column gap; one space is prose.
        if pad >= 2 && column_follows {
            let width = value.len() + pad;
            let new_pad = width.saturating_sub(placeholder.len()).max(pad.min(3));
            out.push_str(&" ".repeat(new_pad));
            copied += pad;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn any(_: &str, _: Range<usize>) -> bool {
    true
}

/// An `A/B` inside a path (`/x/1/2/`) or after a dotted number (`1.2.3.4/32`) is not an LSN.
fn is_lsn(text: &str, range: Range<usize>) -> bool {
    !text[..range.start].ends_with(['/', '.']) && !text[range.end..].starts_with('/')
}

/// Octets up to 255, and not part of a longer dotted sequence such as `1.2.3.4.5`.
fn is_ipv4(text: &str, range: Range<usize>) -> bool {
    let octets_ok = text[range.clone()]
        .split('.')
        .all(|o| o.parse::<u8>().is_ok());
    let before = text[..range.start].ends_with('.');
    let mut after = text[range.end..].chars();
    let dotted_after =
        after.next() == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit());
    octets_ok && !before && !dotted_after
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "20230607:06:50:06:004205 gpstate:test1-m:gpadmin-[INFO]:-";

    #[test]
    fn log_prefix_keeps_program_host_user_level() {
        assert_eq!(
            normalize_gp_output(&format!("{P}Starting gpstate with args: -f\n")),
            "[TIMESTAMP]:[PID] gpstate:test1-m:gpadmin-[INFO]:-Starting gpstate with args: -f\n"
        );
        let long = "20230607:06:50:06:1234567 gpactivatestandby:scdw:gpadmin-[CRITICAL]:-boom";
        assert_eq!(
            normalize_gp_output(long),
            "[TIMESTAMP]:[PID] gpactivatestandby:scdw:gpadmin-[CRITICAL]:-boom"
        );
    }

    #[test]
    fn standby_pid_but_not_zero_or_errors() {
        let running = "   Standby PID              = 4321";
        assert_eq!(
            normalize_gp_output(running),
            "   Standby PID              = [PID]"
        );
        for kept in [
            "Standby PID              = 0                                     <<<<<<<<",
            "Standby PID              = Error getting status from host scdw   <<<<<<<<",
            "   Standby port             = 5432",
        ] {
            assert_eq!(normalize_gp_output(kept), kept);
        }
    }

    #[test]
    fn standby_pid_keeps_the_error_column_in_place() {
        let row = |pid: &str| {
            let value = format!("= {pid}");
            format!(
                "Standby PID              {value:<40}No lock file /tmp/.s.PGSQL.5432.lock but process running \
                 on port 5432   <<<<<<<<"
            )
        };
        let short = normalize_gp_output(&row("98"));
        assert_eq!(short, normalize_gp_output(&row("1234567")));
        assert_eq!(short.find("No lock"), row("98").find("No lock"));
        assert!(
            short.starts_with("Standby PID              = [PID]   "),
            "{short}"
        );
    }

    #[test]
    fn lsns() {
        assert_eq!(
            normalize_gp_output(&format!("{P}-Sent Location: 0/14000000")),
            "[TIMESTAMP]:[PID] gpstate:test1-m:gpadmin-[INFO]:--Sent Location: [LSN]"
        );
        assert_eq!(
            normalize_gp_output("last replayed record at 1A/FFFFA8"),
            "last replayed record at [LSN]"
        );
        for kept in [
            "/data0/database/coordinator/gpseg-1",
            "/tmp/1/2/x",
            "Yy|Nn (default=N):",
        ] {
            assert_eq!(normalize_gp_output(kept), kept);
        }
    }

    #[test]
    fn versions() {
        let local =
            format!("{P}local Cloudberry Version: 'postgres (Apache Cloudberry) 2.0.0 build 1'");
        assert!(normalize_gp_output(&local).ends_with(":-local Cloudberry Version: '[VERSION]'"));
        let coordinator =
            "coordinator Cloudberry Version: 'PostgreSQL 14.4 (Apache Cloudberry 2.0.0) on \
                           x86_64-pc-linux-gnu, compiled on Jan  1 2025 00:00:00'";
        assert_eq!(
            normalize_gp_output(coordinator),
            "coordinator Cloudberry Version: '[VERSION]'"
        );
    }

    #[test]
    fn ipv4_addresses() {
        assert_eq!(
            normalize_gp_output("host replication gpadmin 172.18.0.3/32 trust"),
            "host replication gpadmin [IP]/32 trust"
        );
        assert_eq!(normalize_gp_output("from 10.0.0.1."), "from [IP].");
        for kept in [
            "1.2.3.4.5",
            "999.1.1.1",
            "gcc (GCC) 11.4.1 20231218",
            "v1.2.3",
        ] {
            assert_eq!(normalize_gp_output(kept), kept);
        }
    }

    #[test]
    fn progress_dots() {
        let text = format!(
            "{P}Gathering data from segments...\n....\n\n..{P}Cloudberry instance status summary\n"
        );
        assert_eq!(
            normalize_gp_output(&text),
            "[TIMESTAMP]:[PID] gpstate:test1-m:gpadmin-[INFO]:-Gathering data from segments...\n\n\
             [TIMESTAMP]:[PID] gpstate:test1-m:gpadmin-[INFO]:-Cloudberry instance status summary\n"
        );
    }

    #[test]
    fn what_stays_literal() {
        for kept in [
            "   Standby address          = scdw",
            "   Standby data directory   = /data0/database/coordinator/gpseg-1",
            "-WAL Sender State: streaming",
            "-Sync state: sync",
            "   Coordinator standby                                       = No coordinator standby configured",
            "Standby status           = Status could not be determined        <<<<<<<<",
            "Have lock file /tmp/.s.PGSQL.5432.lock but no process running on port 5432",
            "   Total number of postmaster.pid PIDs found                 = 4",
            "Starting gpstate with args: -f",
            "waiting at most 120 s",
        ] {
            assert_eq!(normalize_gp_output(kept), kept);
            assert_eq!(normalize_general(kept), kept);
        }
    }

    #[test]
    fn two_runs_normalize_alike() {
        let a = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gpstate/full_stale_no_lock_file.txt"
        ));
        let b = a
            .replace("06:50:07:004205", "11:02:59:1048576")
            .replace("= 4321", "= 77  ")
            .replace("0/14000000", "0/3A0001C8")
            .replace("2.0.0-incubating build 1", "2.1.0 build dev");
        assert_ne!(a, b);
        assert_eq!(normalize_gp_output(a), normalize_gp_output(&b));
        let normalized = normalize_gp_output(a);
        let pid_row = |text: &str| {
            let line = text.lines().find(|l| l.contains("Standby PID")).unwrap();
            line.split_once("]:-").unwrap().1.to_string()
        };
        let row = pid_row(&normalized);
        assert!(
            row.starts_with("Standby PID              = [PID]   "),
            "{row}"
        );
        assert_eq!(row.find("No lock file"), pid_row(a).find("No lock file"));
        assert!(normalized.contains(":--Replay Location: [LSN]\n"));
    }

    #[test]
    fn parsed_state() {
        let value = serde_json::json!({
            "standby": {"state": "configured", "address": "scdw", "port": 5432,
                        "pid": {"state": "stale", "pid": 4321, "error": "No lock file"}},
            "replication": [{"wal_sender_state": "streaming", "sync_state": "sync",
                             "sent_location": "0/14000000", "flush_location": null}],
            "other": {"pid": 0},
        });
        let text = normalize_parsed(&value);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["standby"]["pid"]["pid"], "[PID]");
        assert_eq!(back["standby"]["port"], 5432);
        assert_eq!(back["standby"]["pid"]["error"], "No lock file");
        assert_eq!(back["replication"][0]["sent_location"], "[LSN]");
        assert_eq!(back["replication"][0]["wal_sender_state"], "streaming");
        assert_eq!(back["other"]["pid"], 0);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn general_adds_timestamps_and_durations() {
        assert_eq!(
            normalize_general(
                "2023-06-07 06:50:06.123 UTC [42] LOG:  promote took 1.23s (345 ms idle)"
            ),
            "[TIMESTAMP] [42] LOG:  promote took [ELAPSED] ([ELAPSED] idle)"
        );
        assert_eq!(
            normalize_general("at 2023-06-07T06:50:06+02:00 done"),
            "at [TIMESTAMP] done"
        );
        assert_eq!(normalize_general("waited 0.5 seconds"), "waited [ELAPSED]");
        // The gpstate rules apply too.
        assert_eq!(
            normalize_general(&format!("{P}Standby PID = 4321 on 10.1.2.3")),
            "[TIMESTAMP]:[PID] gpstate:test1-m:gpadmin-[INFO]:-Standby PID = [PID] on [IP]"
        );
        // gpstate output itself has no such values; its rules stay as they are.
        assert_eq!(
            normalize_gp_output("promote took 1.23s"),
            "promote took 1.23s"
        );
    }
}
