//! A host's logs for a person (`cbh logs`): the end of its container's log, and the end of
//! every file in its `gpAdminLogs` and in the `log/` directory of every data directory the
//! topology can place there (the paths [`super::Cluster::collect_logs`] copies into a bundle).
//! Files are read through the engine's archive API, so a stopped or crashed host's logs can be
//! read too. The main function is [`host_logs`]; [`tails`] is its pure part.

use std::path::Path;

use super::found::{FindError, FoundCluster};
use super::topology::GPADMIN;
use crate::docker::Engine;

/// One file's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTail {
    /// Its path in the node.
    pub path: String,
    /// Its modification time, seconds since the Unix epoch.
    pub modified: u64,
    /// Its last lines.
    pub tail: String,
}

/// The last `lines` lines of `text` (all of it for 0).
pub fn last_lines(text: &str, lines: usize) -> String {
    if lines == 0 {
        return text.to_string();
    }
    let all: Vec<&str> = text.lines().collect();
    let mut tail = all[all.len().saturating_sub(lines)..].join("\n");
    if !tail.is_empty() {
        tail.push('\n');
    }
    tail
}

/// The regular files of `tar` (an archive the engine made of node path `path`) with the last
/// `lines` lines of each, oldest first.
pub fn tails(tar: &[u8], path: &str, lines: usize) -> Vec<LogTail> {
    // The archive of /a/b/log holds log/... : entries are relative to the path's parent.
    let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
    let mut found = Vec::new();
    let mut archive = tar::Archive::new(tar);
    let Ok(entries) = archive.entries() else {
        return found;
    };
    for mut entry in entries.flatten() {
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Ok(name) = entry.path().map(|p| parent.join(p)) else {
            continue;
        };
        let modified = entry.header().mtime().unwrap_or(0);
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut entry, &mut bytes).is_err() {
            continue;
        }
        found.push(LogTail {
            path: name.display().to_string(),
            modified,
            tail: last_lines(&String::from_utf8_lossy(&bytes), lines),
        });
    }
    found.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    found
}

/// The logs of `host` as one text: its container log, then each log file, oldest first, each
/// under a `==> what <==` header, `lines` lines of each (all for 0).
pub async fn host_logs(
    engine: &Engine,
    cluster: &FoundCluster,
    host: &str,
    lines: usize,
) -> Result<String, FindError> {
    let container = cluster.host(host)?.container.clone();
    let which = match lines {
        0 => String::new(),
        1 => ", last line".to_string(),
        n => format!(", last {n} lines"),
    };
    let log = engine
        .container_log(&container, (lines > 0).then_some(lines), true)
        .await;
    let mut text = format!("==> container log of {host} ({container}{which}) <==\n");
    text.push_str(&String::from_utf8_lossy(&log));
    let mut paths = vec![format!("/home/{GPADMIN}/gpAdminLogs")];
    paths.extend(
        cluster
            .topology
            .datadirs_on(host)
            .into_iter()
            .map(|d| format!("{d}/log")),
    );
    let mut files = Vec::new();
    for path in &paths {
        if let Some(tar) = engine.download(&container, path).await {
            files.extend(tails(&tar, path, lines));
        }
    }
    if files.is_empty() {
        text.push_str(&format!(
            "\n(no log files on {host} under {})\n",
            paths.join(", ")
        ));
    }
    for file in files {
        text.push_str(&format!("\n==> {}{which} <==\n{}", file.path, file.tail));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, u64, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, mtime, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(*mtime);
            header.set_cksum();
            tar.append_data(&mut header, path, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn each_file_keeps_its_node_path_and_last_lines_oldest_first() {
        let tar = archive(&[
            ("log/postgresql-1.log", 20, "a\nb\nc\n"),
            ("log/postgresql-0.log", 10, "x\n"),
        ]);
        let found = tails(&tar, "/data0/database/coordinator/gpseg-1/log", 2);
        assert_eq!(
            found,
            [
                LogTail {
                    path: "/data0/database/coordinator/gpseg-1/log/postgresql-0.log".into(),
                    modified: 10,
                    tail: "x\n".into(),
                },
                LogTail {
                    path: "/data0/database/coordinator/gpseg-1/log/postgresql-1.log".into(),
                    modified: 20,
                    tail: "b\nc\n".into(),
                },
            ]
        );
    }

    #[test]
    fn zero_lines_means_the_whole_text() {
        assert_eq!(last_lines("a\nb\n", 0), "a\nb\n");
        assert_eq!(last_lines("a\nb\nc", 1), "c\n");
        assert_eq!(last_lines("", 5), "");
    }

    #[test]
    fn a_broken_archive_has_no_files() {
        assert!(tails(b"not a tar archive", "/x/log", 5).is_empty());
    }
}
