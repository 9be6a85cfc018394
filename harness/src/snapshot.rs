//! Snapshot comparison through `insta`, with one settings helper for every caller.
//!
//! Snapshots live in the repository's `snapshots/` folder as
//! `<scenario>__<name>.snap`; the text compared is already normalized
//! ([`crate::normalize`]). Under CI insta never writes (`CI=true` implies `INSTA_UPDATE=no`);
//! locally a mismatch leaves a `.snap.new` beside the snapshot for review, and
//! `INSTA_UPDATE=always` accepts new output.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

/// Where the repository's snapshots are: `CBH_SNAPSHOTS`, else `snapshots/` at the workspace
/// root.
pub fn default_dir() -> PathBuf {
    std::env::var_os("CBH_SNAPSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots"))
}

/// Compares `text` with snapshot `name` in `dir`. On mismatch insta has printed the diff to
/// stderr; the error repeats where to look.
pub fn check(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
    }));
    result.map_err(|_| {
        format!(
            "snapshot `{name}` does not match {} (diff above; a .snap.new was left beside it \
             unless CI=true; accept a reviewed change with INSTA_UPDATE=always)",
            dir.join(format!("{name}.snap")).display()
        )
    })
}
