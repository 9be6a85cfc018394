//! The artifact bundle: the folder a run leaves behind, and its main type [`Bundle`].
//!
//! `<root>/<run id>/` holds `scenario.toml`, `timeline.json` (the history), `summary.txt`
//! (verdict and failures), `report.html` (see [`super::render_html`]), `steps/NN-<title>/` (each
//! command with exit code, stdout and stderr, and `gpstate` output raw and normalized),
//! `bringup/` (the same for bring-up) and `hosts/<host>/` (container log, `gpAdminLogs`,
//! PostgreSQL logs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cluster::CommandRecord;
use crate::history::Event;

/// An artifact bundle being written.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    /// Files that could not be written, and the first error: a bundle that lost files must
    /// say so rather than look complete.
    lost: std::sync::Arc<std::sync::Mutex<(usize, Option<String>)>>,
}

/// Default root of bundles: `CBH_ARTIFACTS`, else `target/cbh` at the workspace root.
pub fn default_root() -> PathBuf {
    std::env::var_os("CBH_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/cbh"))
}

impl Bundle {
    /// Creates `<root>/<run_id>/`.
    pub fn create(root: &Path, run_id: &str) -> std::io::Result<Bundle> {
        let dir = root.join(run_id);
        std::fs::create_dir_all(&dir)?;
        Ok(Bundle {
            dir,
            lost: Default::default(),
        })
    }

    /// The bundle's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a file under the bundle (creating folders); errors are logged, not returned, so
    /// reporting never hides the failure being reported.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&path, contents) {
            let mut lost = self.lost.lock().expect("bundle lock");
            if lost.1.is_none() {
                tracing::warn!(path = %path.display(), error = %e, "cannot write artifact");
                lost.1 = Some(format!("{}: {e}", path.display()));
            }
            lost.0 += 1;
        }
    }

    /// When files could not be written: how many, and the first error, with what to do.
    pub fn write_problem(&self) -> Option<String> {
        let lost = self.lost.lock().expect("bundle lock");
        lost.1.as_ref().map(|first| {
            format!(
                "the artifact bundle {} is incomplete: {} files could not be written (first: \
                 {first}); free space there or choose another folder with --artifacts",
                self.dir.display(),
                lost.0
            )
        })
    }

    /// Folder name of step `index` (0-based).
    pub fn step_folder(index: usize, title: &str) -> String {
        let slug: String = title
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .take(8)
            .collect::<Vec<_>>()
            .join("-");
        format!("steps/{:02}-{slug}", index + 1)
    }

    /// Writes every command under `folder` as `NN-command.txt` (readable) and `commands.json`.
    pub fn write_commands(&self, folder: &str, commands: &[CommandRecord]) {
        for (i, c) in commands.iter().enumerate() {
            let mut text = String::new();
            let _ = writeln!(text, "host:      {}", c.host);
            let _ = writeln!(text, "user:      {}", c.user);
            let _ = writeln!(text, "command:   {}", shell_words(&c.argv));
            let _ = writeln!(text, "exit code: {}", c.output.exit_code);
            let _ = writeln!(text, "duration:  {:.3}s", c.output.duration.as_secs_f64());
            let _ = writeln!(text, "\n--- stdout ---\n{}", c.output.stdout);
            let _ = writeln!(text, "--- stderr ---\n{}", c.output.stderr);
            self.write(format!("{folder}/{:02}-command.txt", i + 1), text);
        }
        if let Ok(json) = serde_json::to_string_pretty(commands) {
            self.write(format!("{folder}/commands.json"), json);
        }
    }

    /// Writes the history as `timeline.json`.
    pub fn write_history(&self, events: &[Event]) {
        if let Ok(json) = serde_json::to_string_pretty(events) {
            self.write("timeline.json", json);
        }
    }
}

/// A command line as a person would type it.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:$@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_folders_sort_and_read_well() {
        assert_eq!(
            Bundle::step_folder(
                0,
                "gpactivatestandby -d $COORDINATOR_DATA_DIRECTORY on scdw"
            ),
            "steps/01-gpactivatestandby-d-coordinator-data-directory-on-scdw"
        );
    }

    #[test]
    fn commands_are_shown_as_they_would_be_typed() {
        let argv = ["bash", "-c", "mv a b"].map(String::from);
        assert_eq!(shell_words(&argv), "bash -c 'mv a b'");
    }

    #[test]
    fn a_file_that_cannot_be_written_makes_the_bundle_say_it_is_incomplete() {
        let root = std::env::temp_dir().join(format!("cbh-bundle-test-{}", std::process::id()));
        let bundle = Bundle::create(&root, "run").unwrap();
        assert_eq!(bundle.write_problem(), None);
        bundle.write("ok.txt", "fine");
        assert_eq!(bundle.write_problem(), None);
        // A file where a folder must go: the write fails as it would on a full disk.
        bundle.write("blocker", "x");
        bundle.write("blocker/inside.txt", "lost");
        bundle.write("blocker/again.txt", "lost");
        let problem = bundle.write_problem().expect("the loss is reported");
        assert!(
            problem.contains("2 files could not be written"),
            "{problem}"
        );
        assert!(problem.contains("blocker/inside.txt"), "{problem}");
        assert!(problem.contains("--artifacts"), "{problem}");
        std::fs::remove_dir_all(root).unwrap();
    }
}
