//! The progress dots of the Python utilities (`base.join_and_indicate_progress`): while parallel
//! work is running, one `.` per interval on stdout, and a newline at the end if any dot was
//! printed. Fast work prints nothing. The dots carry no log prefix, so log readers skip them.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// Run `work` on its own thread; every `interval` it is still running, write a dot to `out`.
/// Returns what `work` returned (a panic in `work` propagates).
pub fn with_dots<T: Send>(
    interval: Duration,
    out: &mut impl Write,
    work: impl FnOnce() -> T + Send,
) -> T {
    std::thread::scope(|s| {
        let (done, finished) = mpsc::channel::<()>();
        let worker = s.spawn(move || {
            let r = work();
            let _ = done.send(());
            r
        });
        let mut printed = false;
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(interval) {
            let _ = out.write_all(b".");
            let _ = out.flush();
            printed = true;
        }
        if printed {
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_work_prints_nothing() {
        let mut out = Vec::new();
        let r = with_dots(Duration::from_secs(5), &mut out, || 42);
        assert_eq!(r, 42);
        assert!(out.is_empty());
    }

    #[test]
    fn slow_work_prints_a_line_of_dots() {
        let mut out = Vec::new();
        let r = with_dots(Duration::from_millis(20), &mut out, || {
            std::thread::sleep(Duration::from_millis(150));
            "done"
        });
        assert_eq!(r, "done");
        let text = String::from_utf8(out).unwrap();
        let dots = text.strip_suffix('\n').expect("ends with a newline");
        assert!(dots.len() >= 2, "{text:?}");
        assert!(dots.chars().all(|c| c == '.'), "{text:?}");
    }
}
