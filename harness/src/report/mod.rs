//! The report: everything a person needs to understand a run.
//!
//! [`Bundle`] (in `bundle.rs`) is the artifact folder a run leaves behind; [`render_html`] (in
//! `html.rs`) turns a run's history into `report.html`, one self-contained page with the verdict
//! and an SVG timeline of steps, fault windows, checks and client writes. Like Jepsen's timeline,
//! the page is a view computed from the history alone, so it can be rendered again from
//! `timeline.json` without a cluster.

mod bundle;
mod html;

pub use bundle::{default_root, Bundle};
pub use html::{failover_times, render as render_html, Failover, Recovery, ReportInput};
