//! The SVG timeline of `report.html`: lanes for steps, the nemesis (fault windows and failover
//! brackets), checks and client writes (ticks and a histogram), over a time axis in seconds.
//!
//! Fault windows are also drawn as bands across every lane, so what happened during a fault
//! reads at a glance. Labels that would overlap are moved to another row or left out (every
//! mark keeps its `<title>` tooltip, and the tables below the timeline hold everything).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{esc, fmt_s, verdict_text, Check, Model, Outcome, AMBER, BLUE, PURPLE};

const WIDTH: f64 = 1200.0;
const GUTTER: f64 = 112.0;
// Vertical layout (user units): lanes, then the axis.
const LANES: [(f64, f64); 5] = [
    (4.0, 70.0),
    (72.0, 136.0),
    (138.0, 190.0),
    (192.0, 244.0),
    (246.0, AXIS),
];
const STEP_BAR: f64 = 44.0;
const FAULT_BAR: f64 = 86.0;
const FAILOVER_LINE: f64 = 124.0;
const CHECK_MARK: f64 = 150.0;
const WRITE_ROWS: f64 = 196.0;
const HIST_TOP: f64 = 248.0;
const HIST_BOTTOM: f64 = 300.0;
const AXIS: f64 = 306.0;
const HEIGHT: f64 = 348.0;
const OUTCOMES: [Outcome; 3] = [Outcome::Ok, Outcome::Fail, Outcome::Unknown];

/// The time axis.
struct Scale {
    left: f64,
    width: f64,
    /// Seconds at the right edge: the last event (at least 1 s), or the tick just after it.
    end: f64,
    tick: f64,
}

impl Scale {
    fn new(last_event: f64) -> Scale {
        let last = last_event.max(1.0);
        let tick = nice_step(last);
        // End on a tick when that adds little room, else at the last event.
        let rounded = (last / tick).ceil() * tick;
        Scale {
            left: GUTTER,
            width: WIDTH - GUTTER - 20.0,
            end: if rounded <= last * 1.08 {
                rounded
            } else {
                last
            },
            tick,
        }
    }

    fn x(&self, t: f64) -> f64 {
        self.left + t.clamp(0.0, self.end) / self.end * self.width
    }

    fn right(&self) -> f64 {
        self.left + self.width
    }
}

/// A round tick interval (1, 2 or 5 × 10ⁿ) giving about ten ticks over `span`.
pub(super) fn nice_step(span: f64) -> f64 {
    let raw = span / 10.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

/// Histogram bin width: the smallest round number of seconds giving at most 150 bins.
pub(super) fn bin_width(end: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|b| end / b <= 150.0)
        .unwrap_or((end / 150.0).ceil())
}

/// Rows of labels that must not overlap: each row keeps the spans it holds.
struct Rows(Vec<Vec<(f64, f64)>>);

impl Rows {
    fn new(n: usize) -> Rows {
        Rows(vec![Vec::new(); n])
    }

    /// The first row where `x0..x1` is free (keeping a small gap), now taken.
    fn take(&mut self, x0: f64, x1: f64) -> Option<usize> {
        let free = |row: &Vec<(f64, f64)>| row.iter().all(|&(a, b)| x1 + 4.0 <= a || x0 >= b + 4.0);
        let row = self.0.iter().position(free)?;
        self.0[row].push((x0, x1));
        Some(row)
    }
}

/// Rough width of a label in user units (system sans-serif).
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.58
}

/// `s` cut to fit `width` at `size`, with an ellipsis, or `None` when not even `min` chars fit.
fn fit(s: &str, width: f64, size: f64, min: usize) -> Option<String> {
    let room = (width / (size * 0.58)).floor() as usize;
    match s.chars().count() {
        n if n <= room => Some(s.to_string()),
        _ if room > min => Some(s.chars().take(room - 1).collect::<String>() + "…"),
        _ => None,
    }
}

/// A `<text>` styled by `class` (font size, anchor and color are in the page's CSS).
fn txt(s: &mut String, x: f64, y: f64, class: &str, body: &str) {
    let _ = write!(
        s,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" class=\"{class}\">{}</text>",
        esc(body)
    );
}

/// The timeline of `m` as an `<svg>` element.
pub(super) fn svg(m: &Model) -> String {
    let sc = Scale::new(m.end);
    let bin = bin_width(sc.end);
    let mut s = format!(
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"timeline of the run\">"
    );
    let hist_name = format!("writes / {bin} s");
    let names = ["steps", "nemesis", "checks", "writes", &hist_name];
    for (i, ((y0, y1), name)) in LANES.iter().zip(names).enumerate() {
        let fill = if i % 2 == 0 { "#f7f8fa" } else { "#eef0f3" };
        let _ = write!(
            s,
            "<rect x=\"0\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"/>",
            sc.right(),
            y1 - y0
        );
        let y = if i == 3 {
            y0 + 14.0
        } else {
            (y0 + y1) / 2.0 + 4.0
        };
        txt(&mut s, 8.0, y, "lane", name);
    }
    txt(&mut s, 8.0, FAILOVER_LINE + 4.0, "small fo", "failover");
    for (i, o) in OUTCOMES.iter().enumerate() {
        let n = m.writes.iter().filter(|w| w.outcome == *o).count();
        let y = WRITE_ROWS + 16.0 * i as f64 + 10.0;
        txt(
            &mut s,
            GUTTER - 8.0,
            y,
            &format!("small end {}", o.class()),
            &format!("{} {n}", o.class()),
        );
    }
    // Grid and axis.
    let _ = write!(
        s,
        "<path d=\"M{} {AXIS}H{}\" stroke=\"#555\"/>",
        sc.left,
        sc.right()
    );
    let decimals = if sc.tick >= 1.0 { 0 } else { 1 };
    for i in 0..=(sc.end / sc.tick + 1e-9).floor() as usize {
        let t = i as f64 * sc.tick;
        let x = sc.x(t);
        let _ = write!(
            s,
            "<path d=\"M{x:.1} 4V{AXIS}\" stroke=\"#d5d8dd\" stroke-width=\"0.8\"/>\
             <path d=\"M{x:.1} {AXIS}v5\" stroke=\"#555\"/>"
        );
        txt(&mut s, x, AXIS + 18.0, "mid", &format!("{t:.decimals$}"));
    }
    let middle = sc.left + sc.width / 2.0;
    txt(
        &mut s,
        middle,
        AXIS + 36.0,
        "mid muted",
        "seconds since the run started",
    );
    // Fault bands across every lane, under everything else.
    for w in m.faults.iter().filter(|w| w.injected) {
        let (x0, x1) = (sc.x(w.start), sc.x(w.end.unwrap_or(m.end)));
        let _ = write!(
            s,
            "<rect class=\"fault-band\" x=\"{x0:.1}\" y=\"4\" width=\"{:.1}\" height=\"{}\" \
             fill=\"{PURPLE}\" fill-opacity=\"0.09\"/>",
            (x1 - x0).max(2.0),
            AXIS - 4.0
        );
    }
    let empty = [
        (m.steps.is_empty(), STEP_BAR + 15.0, "no step"),
        (m.faults.is_empty(), FAULT_BAR + 14.0, "no fault injected"),
        (m.checks.is_empty(), CHECK_MARK + 4.0, "no check"),
        (m.writes.is_empty(), WRITE_ROWS + 20.0, "no write"),
    ];
    for (_, y, text) in empty.iter().filter(|e| e.0) {
        txt(&mut s, sc.left + 8.0, *y, "muted", text);
    }
    steps_lane(&mut s, m, &sc);
    faults_lane(&mut s, m, &sc);
    failover_lane(&mut s, m, &sc);
    checks_lane(&mut s, m, &sc);
    writes_lane(&mut s, m, &sc, bin);
    s.push_str("</svg>\n");
    s
}

fn steps_lane(s: &mut String, m: &Model, sc: &Scale) {
    let mut rows = Rows::new(3);
    for b in &m.steps {
        let (x0, x1) = (sc.x(b.start), sc.x(b.end.unwrap_or(m.end)));
        let w = (x1 - x0).max(2.0);
        let color = if b.end.is_none() {
            AMBER
        } else {
            b.outcome.color()
        };
        let duration = fmt_s(b.duration.unwrap_or(m.end - b.start));
        let tip = format!(
            "step {}: {}\n{}, {duration} s (from {} s)",
            b.number,
            b.title,
            b.outcome_text(),
            fmt_s(b.start)
        );
        let _ = write!(
            s,
            "<rect class=\"step\" x=\"{x0:.1}\" y=\"{STEP_BAR}\" width=\"{w:.1}\" height=\"22\" \
             rx=\"2\" fill=\"{color}\" stroke=\"#fff\" stroke-width=\"0.8\"><title>{}</title></rect>",
            esc(&tip)
        );
        // The number and as much of the title as fits inside, else the number above the bar.
        let number = b.number.to_string();
        let inside = fit(
            &format!("{number} {}", b.title),
            w - 8.0,
            12.0,
            number.len() + 5,
        )
        .or_else(|| (text_width(&number, 12.0) + 6.0 <= w).then(|| number.clone()));
        if let Some(t) = inside {
            txt(s, x0 + w / 2.0, STEP_BAR + 15.5, "mid in", &t);
            continue;
        }
        let half = text_width(&number, 11.0) / 2.0;
        let cx = (x0 + w / 2.0).clamp(sc.left + half, sc.right() - half);
        if let Some(row) = rows.take(cx - half, cx + half) {
            txt(
                s,
                cx,
                STEP_BAR - 5.0 - 12.0 * row as f64,
                "small mid",
                &number,
            );
        }
    }
}

fn faults_lane(s: &mut String, m: &Model, sc: &Scale) {
    let spans: Vec<(f64, f64)> = m
        .faults
        .iter()
        .map(|w| {
            (
                sc.x(w.start),
                sc.x(w.end.unwrap_or(m.end)).max(sc.x(w.start) + 3.0),
            )
        })
        .collect();
    let mut rows = Rows(vec![spans.clone()]);
    for (w, &(x0, x1)) in m.faults.iter().zip(&spans) {
        let name = format!("{} {}", w.fault, w.host);
        let (name, style, tip_end) = match (w.injected, w.end) {
            (false, _) => (
                format!("{name} (injection failed)"),
                format!("fill=\"none\" stroke=\"{PURPLE}\" stroke-dasharray=\"3 2\""),
                "the injection failed".to_string(),
            ),
            (true, Some(end)) => (
                name,
                format!("fill=\"{PURPLE}\""),
                format!("healed at {} s", fmt_s(end)),
            ),
            (true, None) => (
                format!("{name} (never healed)"),
                format!("fill=\"{PURPLE}\""),
                "never healed".into(),
            ),
        };
        let tip = format!(
            "{} of {} from {} s, {tip_end}",
            w.fault,
            w.host,
            fmt_s(w.start)
        );
        let _ = write!(
            s,
            "<rect class=\"fault\" x=\"{x0:.1}\" y=\"{FAULT_BAR}\" width=\"{:.1}\" height=\"20\" \
             rx=\"2\" {style}><title>{}</title></rect>",
            x1 - x0,
            esc(&tip)
        );
        let class = if w.injected { "in" } else { "fault" };
        match fit(&name, x1 - x0 - 10.0, 12.0, 8) {
            Some(t) => txt(s, x0 + 6.0, FAULT_BAR + 14.5, class, &t),
            None => {
                let x2 = x1 + 4.0 + text_width(&name, 12.0);
                if x2 <= sc.right() && rows.take(x1 + 1.0, x2).is_some() {
                    txt(s, x1 + 4.0, FAULT_BAR + 14.5, "fault", &name);
                }
            }
        }
    }
}

/// A bracket from each fault to the first write acknowledged elsewhere, with a guide line down
/// to the writes.
fn failover_lane(s: &mut String, m: &Model, sc: &Scale) {
    let mut rows = Rows::new(1);
    let y = FAILOVER_LINE;
    for f in &m.failovers {
        let x0 = sc.x(f.fault_s);
        let (x1, text, tip, dash) = match &f.recovery {
            Some(r) => (
                sc.x(r.at_s),
                format!("failover {} s → {}", fmt_s(r.at_s - f.fault_s), r.host),
                format!(
                    "from the {} of {} at {} s to the first write acknowledged on {} at {} s",
                    f.fault,
                    f.host,
                    fmt_s(f.fault_s),
                    r.host,
                    fmt_s(r.at_s)
                ),
                "",
            ),
            None => (
                sc.right(),
                "no write acknowledged elsewhere".to_string(),
                format!(
                    "no write acknowledged by another host after the {}",
                    f.fault
                ),
                " stroke-dasharray=\"4 3\"",
            ),
        };
        let _ = write!(
            s,
            "<g class=\"failover\"><title>{}</title><path d=\"M{x0:.1} {a}V{b}M{x0:.1} {y}H{x1:.1}\
             M{x1:.1} {a}V{b}M{c:.1} {d}L{x1:.1} {y}L{c:.1} {e}\" stroke=\"{BLUE}\" \
             stroke-width=\"1.8\" fill=\"none\"{dash}/></g>",
            esc(&tip),
            a = y - 6.0,
            b = y + 6.0,
            c = x1 - 6.0,
            d = y - 4.0,
            e = y + 4.0,
        );
        if f.recovery.is_some() {
            let _ = write!(
                s,
                "<path d=\"M{x1:.1} {}V{HIST_BOTTOM}\" stroke=\"{BLUE}\" stroke-dasharray=\"3 3\"/>",
                y + 6.0
            );
        }
        // Above the bracket when it fits, else beside it.
        let width = text_width(&text, 12.0);
        let (lx, ly, class, x2) = if width + 8.0 <= x1 - x0 {
            ((x0 + x1) / 2.0, y - 5.0, "fo mid", (x0 + x1 + width) / 2.0)
        } else if x1 + 6.0 + width <= sc.right() {
            (x1 + 6.0, y + 4.0, "fo", x1 + 6.0 + width)
        } else {
            (x0 - 6.0, y + 4.0, "fo end", x0 - 6.0)
        };
        if x2 - width >= sc.left && rows.take(x2 - width, x2).is_some() {
            txt(s, lx, ly, class, &text);
        }
    }
}

fn checks_lane(s: &mut String, m: &Model, sc: &Scale) {
    // Checks that did not hold are drawn last (on top) and labelled first.
    let mut order: Vec<&Check> = m.checks.iter().collect();
    order.sort_by_key(|c| c.verdict != Outcome::Ok);
    let y = CHECK_MARK;
    for c in &order {
        let x = sc.x(c.at);
        let verdict = verdict_text(c.verdict);
        let mut tip = format!("check {}: {verdict} at {} s", c.name, fmt_s(c.at));
        for r in &c.reasons {
            let _ = write!(tip, "\n{r}");
        }
        let _ = write!(
            s,
            "<path class=\"check {verdict}\" d=\"M{x:.1} {}l8 8l-8 8l-8 -8Z\" fill=\"{}\" \
             stroke=\"#fff\"><title>{}</title></path>",
            y - 8.0,
            c.verdict.color(),
            esc(&tip)
        );
    }
    let mut rows = Rows::new(2);
    for c in order.iter().rev() {
        let name = format!("{} {}", c.name, verdict_text(c.verdict));
        let half = text_width(&name, 10.0) / 2.0;
        let cx = sc.x(c.at).clamp(sc.left + half, sc.right() - half);
        if let Some(row) = rows.take(cx - half, cx + half) {
            let class = format!("tiny mid {}", c.verdict.class());
            txt(s, cx, y + 21.0 + 13.0 * row as f64, &class, &name);
        }
    }
}

fn writes_lane(s: &mut String, m: &Model, sc: &Scale, bin: f64) {
    for (i, o) in OUTCOMES.iter().enumerate() {
        let y = WRITE_ROWS + 16.0 * i as f64;
        // One path per row; ticks closer than half a unit are drawn once.
        let xs: BTreeSet<i64> = m
            .writes
            .iter()
            .filter(|w| w.outcome == *o)
            .map(|w| (sc.x(w.at) * 2.0).round() as i64)
            .collect();
        let d: String = xs
            .iter()
            .map(|x| format!("M{:.1} {y}v12", *x as f64 / 2.0))
            .collect();
        if !d.is_empty() {
            let (class, color) = (o.class(), o.color());
            let _ = write!(s, "<path class=\"writes {class}\" d=\"{d}\" stroke=\"{color}\" stroke-width=\"1.2\"/>");
        }
    }
    let n = (sc.end / bin).ceil().max(1.0) as usize;
    let mut counts = vec![[0usize; 3]; n];
    for w in &m.writes {
        counts[((w.at / bin) as usize).min(n - 1)][w.outcome as usize] += 1;
    }
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<usize>())
        .max()
        .unwrap_or(0);
    if max == 0 {
        return;
    }
    let scale = (HIST_BOTTOM - HIST_TOP) / max as f64;
    txt(
        s,
        GUTTER - 8.0,
        HIST_TOP + 8.0,
        "tiny end",
        &max.to_string(),
    );
    txt(s, GUTTER - 8.0, HIST_BOTTOM, "tiny end", "0");
    for (i, c) in counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.iter().sum::<usize>() > 0)
    {
        let (t0, t1) = (i as f64 * bin, (i + 1) as f64 * bin);
        let x0 = sc.x(t0);
        let w = sc.x(t1) - x0;
        let w = if w > 4.0 { w - 1.0 } else { w };
        let _ = write!(
            s,
            "<g><title>{t0}–{t1} s: {} ok, {} failed, {} unknown</title>",
            c[0], c[1], c[2]
        );
        let mut top = HIST_BOTTOM;
        for o in OUTCOMES {
            let h = c[o as usize] as f64 * scale;
            if h > 0.0 {
                top -= h;
                let _ = write!(
                    s,
                    "<rect x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"/>",
                    o.color()
                );
            }
        }
        s.push_str("</g>");
    }
}
