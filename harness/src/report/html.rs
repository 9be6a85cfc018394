//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no external URLs) that
//! shows a run to a person. Its main type is [`ReportInput`]; [`render`] turns it into the page.
//!
//! The page holds the verdict and failures, an SVG timeline (steps, fault windows, checks, client
//! writes with a per-bin histogram, and the failover time as a bracket), a faults and failover
//! table, and the steps table; the SVG is drawn by `html/timeline.rs`. Everything drawn is
//! derived from the history by pure functions (the failover computation is public as
//! [`failover_times`]); nothing reads a clock, so the same input renders the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::history::{Event, Kind};

/// What the report shows: the run's identity, its verdict and its history.
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// Scenario name.
    pub scenario: String,
    /// What the scenario shows.
    pub description: String,
    /// The run id.
    pub run_id: String,
    /// The node image tag.
    pub image: String,
    /// True when every step passed.
    pub passed: bool,
    /// `(step number, message)` of every failure; step 0 is the run itself (e.g. a panic).
    pub failures: Vec<(usize, String)>,
    /// The history of the run.
    pub events: Vec<Event>,
}

/// The failover after one injected fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    /// The fault, e.g. `crash`.
    pub fault: String,
    /// The host it hit.
    pub host: String,
    /// When the fault was invoked, in seconds since the run started.
    pub fault_s: f64,
    /// The first write acknowledged by another host after the fault, if any.
    pub recovery: Option<Recovery>,
}

/// The first acknowledged write on another host after a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// The host that acknowledged it.
    pub host: String,
    /// When it was acknowledged, in seconds since the run started.
    pub at_s: f64,
}

impl Failover {
    /// Seconds from the fault to the first acknowledged write elsewhere, if there was one.
    pub fn seconds(&self) -> Option<f64> {
        self.recovery.as_ref().map(|r| r.at_s - self.fault_s)
    }
}

/// For every fault that was injected (its injection did not fail), the time from its invocation
/// to the first write acknowledged on a later WAL timeline: the promoted coordinator's first
/// (the rule of [`crate::failover`], which `cbh run` prints).
pub fn failover_times(events: &[Event]) -> Vec<Failover> {
    fault_windows(events)
        .into_iter()
        .filter(|w| w.injected)
        .map(|w| {
            let (_, first) =
                crate::failover::first_write_on_a_later_timeline(events, w.start * 1000.0);
            let recovery = first.map(|e| Recovery {
                host: text(&e.value["host"]),
                at_s: event_s(e),
            });
            Failover {
                fault: w.fault,
                host: w.host,
                fault_s: w.start,
                recovery,
            }
        })
        .collect()
}

/// Renders the page.
pub fn render(input: &ReportInput) -> String {
    let m = Model::new(&input.events);
    let mut h = String::with_capacity(64 * 1024);
    let verdict = if input.passed { "PASS" } else { "FAIL" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <title>{verdict} · {} · {}</title>\n<style>{CSS}</style></head>\n<body><main>\n",
        esc(&input.scenario),
        esc(&input.run_id)
    );
    header(&mut h, input, &m);
    if input.events.is_empty() {
        h.push_str("<p class=\"empty\">The history has no events: no step ran.</p>\n");
    } else {
        h.push_str("<section><h2>Timeline</h2>\n");
        h.push_str(&timeline::svg(&m));
        h.push_str(KEY);
        h.push_str("</section>\n");
        faults_table(&mut h, &m);
        steps_table(&mut h, &m, &input.failures);
        checks_table(&mut h, &m);
    }
    h.push_str("</main></body></html>\n");
    h
}

const CSS: &str = "\
body{margin:0;background:#f4f5f7;color:#1d2125;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}
main{max-width:1280px;margin:0 auto;padding:24px}
header{display:flex;gap:24px;align-items:center;background:#fff;border-radius:8px;padding:20px 24px;border-left:10px solid}
header.pass{border-color:#2e7d32}header.fail{border-color:#c62828}
.verdict{font-size:56px;font-weight:800;letter-spacing:2px;padding:4px 22px;border-radius:6px;color:#fff}
.pass .verdict{background:#2e7d32}.fail .verdict{background:#c62828}
h1{margin:0 0 4px;font-size:26px}h2{font-size:19px;margin:0 0 10px}
.desc{margin:0 0 10px;color:#444}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0;font-size:14px}
dt{color:#666}dd{margin:0;font-family:ui-monospace,'DejaVu Sans Mono',monospace}
section{background:#fff;border-radius:8px;padding:18px 24px;margin-top:18px}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;font:13px/1.4 ui-monospace,'DejaVu Sans Mono',monospace}
.failures li{margin-bottom:8px}.failures pre{background:#fdecea;border-left:4px solid #c62828;padding:6px 10px}
table{border-collapse:collapse;width:100%;font-size:14px}
th{white-space:nowrap;text-align:left;color:#555;font-weight:600;border-bottom:2px solid #ddd;padding:6px 8px}
td{border-bottom:1px solid #eee;padding:5px 8px;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.fail td{background:#fdf1f0}tr.unknown td{background:#fff8e6}
span.ok{color:#2e7d32;font-weight:600}span.fail{color:#c62828;font-weight:600}span.unknown{color:#a86b00;font-weight:600}
.lead{font-size:17px;margin:0 0 10px}
svg{display:block;width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;font-size:12px;fill:#333}
svg text.lane{font-size:13px}svg text.small{font-size:11px}svg text.tiny{font-size:10px;fill:#666}
svg text.mid{text-anchor:middle}svg text.end{text-anchor:end}svg text.muted{fill:#777}
svg text.in{fill:#fff}svg text.fault{fill:#6a1b9a}svg text.fo{fill:#1565c0;font-weight:600}
svg text.ok{fill:#2e7d32}svg text.fail{fill:#c62828}svg text.unknown{fill:#a86b00}
.key{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px;color:#444;margin-top:8px}
.key i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.empty{font-size:18px;background:#fff;padding:18px 24px;border-radius:8px;margin-top:18px}
";

const KEY: &str = "<div class=\"key\">\
<span><i style=\"background:#2e7d32\"></i>step passed / write ok / check valid</span>\
<span><i style=\"background:#c62828\"></i>failed / invalid</span>\
<span><i style=\"background:#ef9f00\"></i>unknown outcome (info) / unfinished</span>\
<span><i style=\"background:#6a1b9a\"></i>fault (band: while it lasts)</span>\
<span><i style=\"background:#1565c0\"></i>failover: fault → first write acknowledged on the new timeline</span>\
<span>hover a bar or marker for details</span></div>\n";

const GREEN: &str = "#2e7d32";
const RED: &str = "#c62828";
const AMBER: &str = "#ef9f00";
const PURPLE: &str = "#6a1b9a";
const BLUE: &str = "#1565c0";

/// Outcome of a step, write or check; the discriminant indexes histogram counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok = 0,
    Fail = 1,
    Unknown = 2,
}

impl Outcome {
    fn color(self) -> &'static str {
        match self {
            Outcome::Ok => GREEN,
            Outcome::Fail => RED,
            Outcome::Unknown => AMBER,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Unknown => "unknown",
        }
    }
}

struct StepBar {
    number: u64,
    title: String,
    start: f64,
    /// `None` while unfinished (the run stopped inside the step).
    end: Option<f64>,
    duration: Option<f64>,
    outcome: Outcome,
    detail: String,
}

impl StepBar {
    fn outcome_text(&self) -> &'static str {
        match (self.end, self.outcome) {
            (None, _) => "unfinished",
            (_, Outcome::Ok) => "passed",
            _ if self.detail.starts_with("Error") => "error: the scenario stopped",
            _ => "failed",
        }
    }
}

struct FaultWindow {
    fault: String,
    host: String,
    start: f64,
    /// `None` while never healed.
    end: Option<f64>,
    /// False when the injection itself failed.
    injected: bool,
}

struct WriteTick {
    at: f64,
    outcome: Outcome,
}

struct Check {
    at: f64,
    name: String,
    verdict: Outcome,
    reasons: Vec<String>,
}

/// The history as the page shows it.
struct Model {
    steps: Vec<StepBar>,
    faults: Vec<FaultWindow>,
    writes: Vec<WriteTick>,
    checks: Vec<Check>,
    failovers: Vec<Failover>,
    /// Time of the last event, seconds.
    end: f64,
}

/// An event's time in seconds since the run started (0 when not a finite number).
fn event_s(e: &Event) -> f64 {
    let t = e.time_ms / 1000.0;
    if t.is_finite() {
        t.max(0.0)
    } else {
        0.0
    }
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn fault_windows(events: &[Event]) -> Vec<FaultWindow> {
    let mut windows: Vec<FaultWindow> = Vec::new();
    for e in events {
        let host = text(&e.value["host"]);
        let fault = text(&e.value["fault"]);
        let matches = |w: &FaultWindow| {
            w.host == host && (fault.is_empty() || w.fault == fault) && w.injected
        };
        match (e.op.as_str(), e.kind) {
            ("fault", Kind::Invoke) => windows.push(FaultWindow {
                fault: if fault.is_empty() {
                    "fault".into()
                } else {
                    fault
                },
                host,
                start: event_s(e),
                end: None,
                injected: true,
            }),
            ("fault", Kind::Fail) => {
                if let Some(w) = windows
                    .iter_mut()
                    .rev()
                    .find(|w| matches(w) && w.end.is_none())
                {
                    w.injected = false;
                    w.end = Some(event_s(e));
                }
            }
            ("heal", Kind::Ok | Kind::Info) => {
                for w in windows.iter_mut().filter(|w| matches(w) && w.end.is_none()) {
                    w.end = Some(event_s(e));
                }
            }
            _ => {}
        }
    }
    windows
}

impl Model {
    fn new(events: &[Event]) -> Model {
        let mut steps: Vec<StepBar> = Vec::new();
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        let mut writes = Vec::new();
        let mut checks = Vec::new();
        for e in events {
            let t = event_s(e);
            match (e.op.as_str(), e.kind) {
                ("step", Kind::Invoke) => {
                    let number = e.value["index"].as_u64().unwrap_or(0);
                    open.insert(number, steps.len());
                    steps.push(StepBar {
                        number,
                        title: text(&e.value["title"]),
                        start: t,
                        end: None,
                        duration: None,
                        outcome: Outcome::Unknown,
                        detail: String::new(),
                    });
                }
                ("step", kind) => {
                    let number = e.value["index"].as_u64().unwrap_or(0);
                    let duration = e.value["duration_s"].as_f64().filter(|d| d.is_finite());
                    let at = match open.remove(&number) {
                        Some(at) => at,
                        None => {
                            let start = (t - duration.unwrap_or(0.0)).max(0.0);
                            steps.push(StepBar {
                                number,
                                title: text(&e.value["title"]),
                                start,
                                end: None,
                                duration: None,
                                outcome: Outcome::Unknown,
                                detail: String::new(),
                            });
                            steps.len() - 1
                        }
                    };
                    let bar = &mut steps[at];
                    bar.end = Some(t.max(bar.start));
                    bar.duration = duration.or(Some(t - bar.start));
                    bar.outcome = match kind {
                        Kind::Ok => Outcome::Ok,
                        Kind::Fail => Outcome::Fail,
                        _ => Outcome::Unknown,
                    };
                    bar.detail = text(&e.value["outcome"]);
                }
                ("write", Kind::Ok | Kind::Fail | Kind::Info) => writes.push(WriteTick {
                    at: t,
                    outcome: match e.kind {
                        Kind::Ok => Outcome::Ok,
                        Kind::Fail => Outcome::Fail,
                        _ => Outcome::Unknown,
                    },
                }),
                ("check", Kind::Ok | Kind::Fail | Kind::Info) => {
                    let v = &e.value["verdict"];
                    let verdict = match (v["verdict"].as_str(), e.kind) {
                        (Some("valid"), _) => Outcome::Ok,
                        (Some("invalid"), _) => Outcome::Fail,
                        (Some(_), _) | (None, Kind::Info) => Outcome::Unknown,
                        (None, Kind::Ok) => Outcome::Ok,
                        (None, _) => Outcome::Fail,
                    };
                    let mut reasons: Vec<String> = v["reasons"]
                        .as_array()
                        .map(|r| r.iter().map(text).collect())
                        .unwrap_or_default();
                    reasons.extend(v["reason"].as_str().map(String::from));
                    checks.push(Check {
                        at: t,
                        name: humanize(&text(&e.value["invariant"])),
                        verdict,
                        reasons,
                    });
                }
                _ => {}
            }
        }
        Model {
            steps,
            faults: fault_windows(events),
            writes,
            checks,
            failovers: failover_times(events),
            end: events.iter().map(event_s).fold(0.0, f64::max),
        }
    }
}

/// `AcknowledgedWritesPresent` → `acknowledged writes present`.
fn humanize(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out.replace('_', " ")
}

/// Escapes text for HTML content and attribute values (and SVG inside HTML).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds as shown: two decimals below 1 s, one above.
fn fmt_s(t: f64) -> String {
    if t.abs() < 1.0 {
        format!("{t:.2}")
    } else {
        format!("{t:.1}")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn header(h: &mut String, input: &ReportInput, m: &Model) {
    let (class, verdict) = if input.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let count = |o: Outcome| m.writes.iter().filter(|w| w.outcome == o).count();
    let failed_steps = m.steps.iter().filter(|s| s.outcome != Outcome::Ok).count();
    let invalid = m.checks.iter().filter(|c| c.verdict != Outcome::Ok).count();
    let not = |n: usize, what: &str| {
        if n == 0 {
            String::new()
        } else {
            format!(" ({n} {what})")
        }
    };
    let _ = writeln!(
        h,
        "<header class=\"{class}\"><div class=\"verdict\">{verdict}</div><div>\
         <h1>{}</h1><p class=\"desc\">{}</p><dl>\
         <dt>run id</dt><dd>{}</dd><dt>image</dt><dd>{}</dd>\
         <dt>history</dt><dd>{} s · {}{} · {} · {}{} · \
         {}: {} ok, {} failed, {} unknown</dd></dl></div></header>",
        esc(&input.scenario),
        esc(&input.description),
        esc(&input.run_id),
        esc(&input.image),
        fmt_s(m.end),
        plural(m.steps.len(), "step", "steps"),
        not(failed_steps, "not passed"),
        plural(m.faults.len(), "fault", "faults"),
        plural(m.checks.len(), "check", "checks"),
        not(invalid, "not valid"),
        plural(m.writes.len(), "write", "writes"),
        count(Outcome::Ok),
        count(Outcome::Fail),
        count(Outcome::Unknown),
    );
    if !input.failures.is_empty() {
        h.push_str("<section class=\"failures\"><h2>Failures</h2><ol>\n");
        for (step, message) in &input.failures {
            let place = match *step {
                0 => "the run".to_string(),
                n => format!("step {n}"),
            };
            let _ = writeln!(h, "<li><b>{place}</b><pre>{}</pre></li>", esc(message));
        }
        h.push_str("</ol></section>\n");
    }
}

fn faults_table(h: &mut String, m: &Model) {
    h.push_str("<section><h2>Faults and failover</h2>\n");
    if m.faults.is_empty() {
        h.push_str("<p>No fault was injected.</p></section>\n");
        return;
    }
    for f in &m.failovers {
        let sentence = match (&f.recovery, f.seconds()) {
            (Some(r), Some(s)) => format!(
                "Time from {} of {} to first acknowledged write on {}: <b>{} s</b>",
                esc(&f.fault),
                esc(&f.host),
                esc(&r.host),
                fmt_s(s)
            ),
            _ => format!(
                "After the {} of {}, no write was acknowledged by another host.",
                esc(&f.fault),
                esc(&f.host)
            ),
        };
        let _ = writeln!(h, "<p class=\"lead\">{sentence}</p>");
    }
    h.push_str(
        "<table><tr><th>fault</th><th>host</th><th>started (s)</th><th>ended (s)</th>\
         <th>first acknowledged write elsewhere</th><th>failover time</th></tr>\n",
    );
    let mut failovers = m.failovers.iter();
    for w in &m.faults {
        let (first, time) = match w.injected.then(|| failovers.next()).flatten() {
            Some(Failover {
                recovery: Some(r),
                fault_s,
                ..
            }) => (
                format!("{} s on {}", fmt_s(r.at_s), esc(&r.host)),
                format!("{} s", fmt_s(r.at_s - fault_s)),
            ),
            _ => ("none".into(), "–".into()),
        };
        let ended = match (w.injected, w.end) {
            (false, _) => "injection failed".to_string(),
            (true, Some(end)) => format!("{} (healed)", fmt_s(end)),
            (true, None) => "never healed".to_string(),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{ended}</td><td>{first}</td>\
             <td class=\"n\"><b>{time}</b></td></tr>",
            esc(&w.fault),
            esc(&w.host),
            fmt_s(w.start)
        );
    }
    h.push_str("</table></section>\n");
}

fn steps_table(h: &mut String, m: &Model, failures: &[(usize, String)]) {
    h.push_str(
        "<section><h2>Steps</h2><table><tr><th>#</th><th>title</th><th>start (s)</th>\
         <th>duration (s)</th><th>outcome</th></tr>\n",
    );
    for s in &m.steps {
        let class = if s.end.is_none() {
            "unknown"
        } else {
            s.outcome.class()
        };
        let mut outcome = format!("<span class=\"{class}\">{}</span>", s.outcome_text());
        let texts: Vec<&String> = failures
            .iter()
            .filter(|(n, _)| *n as u64 == s.number)
            .map(|(_, text)| text)
            .collect();
        if !texts.is_empty() {
            for t in texts {
                let _ = write!(outcome, "<pre>{}</pre>", esc(t));
            }
        } else if s.outcome == Outcome::Fail && !s.detail.is_empty() {
            let _ = write!(outcome, "<pre>{}</pre>", esc(&s.detail));
        }
        let duration = s.duration.map(fmt_s).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{duration}</td><td>{outcome}</td></tr>",
            s.number,
            esc(&s.title),
            fmt_s(s.start)
        );
    }
    h.push_str("</table></section>\n");
}

fn verdict_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "valid",
        Outcome::Fail => "invalid",
        Outcome::Unknown => "unknown",
    }
}

fn checks_table(h: &mut String, m: &Model) {
    if m.checks.is_empty() {
        return;
    }
    h.push_str(
        "<section><h2>Checks</h2><table><tr><th>at (s)</th><th>invariant</th>\
         <th>verdict</th></tr>\n",
    );
    for c in &m.checks {
        let verdict = verdict_text(c.verdict);
        let reasons: String = c
            .reasons
            .iter()
            .map(|r| format!("<pre>{}</pre>", esc(r)))
            .collect();
        let _ = writeln!(
            h,
            "<tr class=\"{0}\"><td class=\"n\">{1}</td><td>{2}</td>\
             <td><span class=\"{0}\">{verdict}</span>{reasons}</td></tr>",
            c.verdict.class(),
            fmt_s(c.at),
            esc(&c.name)
        );
    }
    h.push_str("</table></section>\n");
}

mod timeline;

#[cfg(test)]
mod tests;
