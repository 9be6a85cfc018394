//! The spinner `cbh run` and `cbh up` show on a terminal while they wait (the image, the
//! bring-up, each step), above the lines they print. Off the terminal (CI, pipes, tests) it
//! draws nothing, and the printed lines are the whole output.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message and the time spent on it, or nothing when stderr is no terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts spinning with `message`.
    pub fn start(message: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// What is being waited for now; the clock starts again.
    pub fn set(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.reset_elapsed();
            bar.set_message(message);
        }
    }

    /// Prints with the spinner out of the way.
    pub fn print(&self, print: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
