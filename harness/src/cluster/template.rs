//! Cluster templates: the first bring-up of a topology on a node image is saved as one image
//! per host (`cbharness/template:<key>-<host>`, the key a hash of the node image's id and the
//! topology); later bring-ups start their containers from those images and skip
//! `gpinitsystem` and `gpinitstandby`.
//!
//! What a template holds is the initialized, cleanly stopped cluster and nothing of the run that
//! made it: before the commit every SSH key (gpadmin's pair, `authorized_keys`, the sshd host
//! keys), `gpAdminLogs` and the PostgreSQL logs are removed. A cluster made from a template gets
//! fresh keys like any other. Cloudberry writes host addresses into `pg_hba.conf` (the standby's
//! replication entry, for one); the template remembers each host's address, and the new cluster
//! rewrites those entries to its own addresses before `gpstart -a` brings the database up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptionsBuilder;

use super::error::ClusterError;
use super::handle::Cluster;
use super::topology::{Topology, GPADMIN};
use crate::docker::{is_not_found, DockerError, Engine};
use crate::gp;

/// Repository of template images.
pub const TEMPLATE_REPO: &str = "cbharness/template";
/// Label of a template image: its key.
pub const LABEL_TEMPLATE: &str = "cbharness.template";
/// Label of a template image: the host's address when the template was saved.
const LABEL_ADDRESS: &str = "cbharness.template.address";
/// Bumped whenever what a template holds or how it is adopted changes, so old ones go unused.
const FORMAT: u32 = 1;
/// How long the standby may take to stream synchronously after `gpstart`.
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// A saved cluster: one image per host, and each host's address at the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The key (node image and topology).
    pub key: String,
    /// Host → template image tag.
    pub images: BTreeMap<String, String>,
    /// Host → its address in the cluster that was saved.
    pub addresses: BTreeMap<String, String>,
}

/// The template key of `topology` on `image`: the image's id (not its tag, which a rebuild can
/// move), the topology, and the template format.
pub async fn key(engine: &Engine, image: &str, topology: &Topology) -> Result<String, DockerError> {
    use sha2::Digest;
    let id = engine.image_id(image).await?;
    let digest = sha2::Sha256::digest(format!("{FORMAT}\n{id}\n{topology:?}"));
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// The image tag of `host` in template `key`.
pub fn tag(key: &str, host: &str) -> String {
    format!("{TEMPLATE_REPO}:{key}-{host}")
}

/// The template `key` of `topology`, when every host's image exists.
pub async fn find(
    engine: &Engine,
    key: &str,
    topology: &Topology,
) -> Result<Option<Template>, DockerError> {
    let mut template = Template {
        key: key.to_string(),
        images: BTreeMap::new(),
        addresses: BTreeMap::new(),
    };
    for host in topology.hosts() {
        let tag = tag(key, &host);
        let image = match engine.api().inspect_image(&tag).await {
            Ok(image) => image,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(source) => {
                return Err(DockerError::classify(
                    format!("inspect image {tag}"),
                    source,
                ))
            }
        };
        let address = image
            .config
            .and_then(|c| c.labels)
            .and_then(|mut l| l.remove(LABEL_ADDRESS));
        let Some(address) = address else {
            return Ok(None);
        };
        template.images.insert(host.clone(), tag);
        template.addresses.insert(host, address);
    }
    Ok(Some(template))
}

/// Removes every template image (for `cbh gc --all`); returns how many.
pub async fn remove_all(engine: &Engine) -> Result<usize, DockerError> {
    let images = engine.images_with_label(LABEL_TEMPLATE).await?;
    for (id, _) in &images {
        engine.remove_image(id).await?;
    }
    Ok(images.len())
}

/// `pg_hba.conf` with every address entry of a moved host (`<old>/32`) rewritten to its new
/// address; everything else, spacing included, as it was.
pub fn readdress(text: &str, moves: &BTreeMap<String, String>) -> String {
    text.split_inclusive(|c: char| c.is_whitespace())
        .map(|piece| {
            let token = piece.trim_end();
            let space = &piece[token.len()..];
            match token.strip_suffix("/32").and_then(|ip| moves.get(ip)) {
                Some(new) => format!("{new}/32{space}"),
                None => piece.to_string(),
            }
        })
        .collect()
}

impl Cluster {
    /// Saves this freshly initialized cluster as template `key`, then brings it back: the
    /// database is stopped cleanly, the run's keys and logs are removed, every container is
    /// committed, then the hosts get new keys and `gpstart -a` starts the database again.
    pub async fn save_template(&self, key: &str) -> Result<Template, ClusterError> {
        let t = self.topology().clone();
        let mut addresses = BTreeMap::new();
        for host in t.hosts() {
            addresses.insert(host.clone(), self.address(&host).await?);
        }
        gp::run(self, &t.coordinator, &["gpstop", "-a"], gp::LONG)
            .await
            .and_then(|r| r.ok())
            .map_err(|e| command_error("stop the database for the template", &t.coordinator, e))?;
        let scrubs = t.hosts().into_iter().map(|host| {
            let mut script = String::from(
                "set -e\n\
                 rm -f /home/gpadmin/.ssh/id_* /home/gpadmin/.ssh/authorized_keys \
                 /home/gpadmin/.ssh/known_hosts /etc/ssh/ssh_host_*\n\
                 rm -rf /home/gpadmin/gpAdminLogs/*\n",
            );
            for dir in t.datadirs_on(&host) {
                script.push_str(&format!("rm -rf '{dir}/log/'*\n"));
            }
            async move {
                let out = self
                    .sh(&host, "root", &script, Duration::from_secs(30))
                    .await?;
                ClusterError::unless_success(&out, "remove the run's keys and logs", &host, true)
            }
        });
        for result in futures_util::future::join_all(scrubs).await {
            result?;
        }
        let commits = t.hosts().into_iter().map(|host| {
            let address = addresses[&host].clone();
            async move {
                let container = self.container(&host)?;
                let tag = tag(key, &host);
                let (repo, version) = tag.split_once(':').expect("a tag has a colon");
                let options = CommitContainerOptionsBuilder::new()
                    .container(container)
                    .repo(repo)
                    .tag(version)
                    .pause(true)
                    .build();
                let config = ContainerConfig {
                    labels: Some(std::collections::HashMap::from([
                        (LABEL_TEMPLATE.to_string(), key.to_string()),
                        (LABEL_ADDRESS.to_string(), address),
                    ])),
                    ..Default::default()
                };
                self.engine()
                    .api()
                    .commit_container(options, config)
                    .await
                    .map_err(DockerError::api(format!("commit {container} as {tag}")))?;
                Ok::<_, ClusterError>((host, tag))
            }
        });
        let mut images = BTreeMap::new();
        for result in futures_util::future::join_all(commits).await {
            let (host, tag) = result?;
            images.insert(host, tag);
        }
        // The running cluster goes on as it was, with keys of its own.
        let rekeys = t.hosts().into_iter().map(|host| async move {
            let out = self
                .sh(
                    &host,
                    "root",
                    "ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key",
                    Duration::from_secs(30),
                )
                .await?;
            ClusterError::unless_success(&out, "make a new sshd host key", &host, true)
        });
        for result in futures_util::future::join_all(rekeys).await {
            result?;
        }
        self.install_ssh_keys().await?;
        self.start_database().await?;
        Ok(Template {
            key: key.to_string(),
            images,
            addresses,
        })
    }

    /// Makes a cluster created from `template`'s images its own: fresh SSH keys and its own
    /// addresses in every `pg_hba.conf` (the two at once: neither needs the other), then
    /// `gpstart -a` and a synchronous standby.
    pub async fn adopt_template(&self, template: &Template) -> Result<(), ClusterError> {
        let (keys, addresses) = tokio::join!(self.install_ssh_keys(), self.readdress(template));
        keys?;
        addresses?;
        self.start_database().await
    }

    /// Rewrites the saved hosts' addresses to this cluster's in every `pg_hba.conf`: one exec
    /// per host reads them all, one more writes those that changed, hosts in parallel.
    async fn readdress(&self, template: &Template) -> Result<(), ClusterError> {
        let t = self.topology().clone();
        let lookups = template.addresses.iter().map(|(host, old)| async move {
            Ok::<_, ClusterError>((old.clone(), self.address(host).await?))
        });
        let mut moves = BTreeMap::new();
        for result in futures_util::future::join_all(lookups).await {
            let (old, new) = result?;
            if old != new {
                moves.insert(old, new);
            }
        }
        if moves.is_empty() {
            return Ok(());
        }
        let fixes = t.hosts().into_iter().map(|host| {
            let paths: Vec<String> = t
                .datadirs_on(&host)
                .into_iter()
                .map(|dir| format!("{dir}/pg_hba.conf"))
                .collect();
            let moves = &moves;
            async move { self.readdress_host(&host, &paths, moves).await }
        });
        for result in futures_util::future::join_all(fixes).await {
            result?;
        }
        Ok(())
    }

    async fn readdress_host(
        &self,
        host: &str,
        paths: &[String],
        moves: &BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        if paths.is_empty() {
            return Ok(());
        }
        // Each existing file as a header line with its length in bytes, then its bytes.
        let mut read = String::new();
        for path in paths {
            read.push_str(&format!(
                "if [ -f '{path}' ]; then printf 'CBH-FILE %s {path}\\n' \"$(wc -c < '{path}')\"; \
                 cat '{path}'; fi\n"
            ));
        }
        let out = self
            .sh(host, GPADMIN, &read, Duration::from_secs(30))
            .await?;
        ClusterError::unless_success(&out, "read pg_hba.conf", host, true)?;
        let files = split_files(&out.stdout).ok_or_else(|| ClusterError::Command {
            what: "read pg_hba.conf".into(),
            host: host.into(),
            exit_code: out.exit_code,
            output: format!("unexpected output:\n{}", out.stdout),
        })?;
        let mut script = String::new();
        let mut env = Vec::new();
        for (path, text) in files {
            let new = readdress(text, moves);
            if new != text {
                let var = format!("CBH_HBA_{}", env.len());
                script.push_str(&format!("printf '%s' \"${var}\" > '{path}'\n"));
                env.push(format!("{var}={new}"));
            }
        }
        if env.is_empty() {
            return Ok(());
        }
        let write = vec!["bash".to_string(), "-c".into(), format!("set -e\n{script}")];
        let out = self
            .exec_quiet(host, GPADMIN, write, env, Duration::from_secs(30))
            .await?;
        ClusterError::unless_success(&out, "rewrite pg_hba.conf", host, true)
    }

    /// `gpstart -a` on the coordinator, then waits until the standby, if any, streams
    /// synchronously.
    async fn start_database(&self) -> Result<(), ClusterError> {
        let t = self.topology().clone();
        gp::run(self, &t.coordinator, &["gpstart", "-a"], gp::LONG)
            .await
            .and_then(|r| r.ok())
            .map_err(|e| command_error("start the database", &t.coordinator, e))?;
        if t.standby.is_none() {
            return Ok(());
        }
        let deadline = Instant::now() + SYNC_TIMEOUT;
        let probe = "SELECT count(*) FROM pg_stat_replication \
                     WHERE state = 'streaming' AND sync_state = 'sync'";
        loop {
            let argv = ["psql", "-XAtq", "-d", "postgres", "-c", probe].map(String::from);
            let out = self
                .gp_exec(&t.coordinator, &argv, Duration::from_secs(10))
                .await?;
            if out.success() && out.stdout.trim() == "1" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Command {
                    what: format!(
                        "see the standby stream synchronously within {SYNC_TIMEOUT:?} of gpstart"
                    ),
                    host: t.coordinator.clone(),
                    exit_code: out.exit_code,
                    output: format!("{}{}", out.stdout, out.stderr),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn command_error(what: &str, host: &str, e: gp::GpError) -> ClusterError {
    match e {
        gp::GpError::Cluster(e) => e,
        other => ClusterError::Command {
            what: what.into(),
            host: host.into(),
            exit_code: -1,
            output: other.to_string(),
        },
    }
}

/// The files of a read made by `readdress_host`: `CBH-FILE <bytes> <path>` lines, each followed
/// by that many bytes of the file; `None` when the output is not that.
fn split_files(mut out: &str) -> Option<Vec<(&str, &str)>> {
    let mut files = Vec::new();
    while !out.is_empty() {
        let (header, rest) = out.split_once('\n')?;
        let (len, path) = header.strip_prefix("CBH-FILE ")?.split_once(' ')?;
        let len: usize = len.trim().parse().ok()?;
        files.push((path, rest.get(..len)?));
        out = rest.get(len..)?;
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_hosts_address_entries_follow_it_and_nothing_else_changes() {
        let hba = "# standby coordinator host ip addresses\n\
                   host\tall\tgpadmin\t172.20.0.3/32\ttrust\n\
                   host\treplication\tgpadmin\t172.20.0.3/32\ttrust\n\
                   host    all          all      samenet    trust\n\
                   host\tall\tgpadmin\t172.20.0.30/32\ttrust\n";
        let moves = BTreeMap::from([("172.20.0.3".to_string(), "172.21.0.5".to_string())]);
        let got = readdress(hba, &moves);
        assert_eq!(
            got,
            "# standby coordinator host ip addresses\n\
             host\tall\tgpadmin\t172.21.0.5/32\ttrust\n\
             host\treplication\tgpadmin\t172.21.0.5/32\ttrust\n\
             host    all          all      samenet    trust\n\
             host\tall\tgpadmin\t172.20.0.30/32\ttrust\n"
        );
    }

    #[test]
    fn swapped_addresses_are_rewritten_in_one_pass() {
        let hba = "host all gpadmin 10.0.0.2/32 trust\nhost all gpadmin 10.0.0.3/32 trust\n";
        let moves = BTreeMap::from([
            ("10.0.0.2".to_string(), "10.0.0.3".to_string()),
            ("10.0.0.3".to_string(), "10.0.0.2".to_string()),
        ]);
        assert_eq!(
            readdress(hba, &moves),
            "host all gpadmin 10.0.0.3/32 trust\nhost all gpadmin 10.0.0.2/32 trust\n"
        );
    }

    #[test]
    fn a_read_of_several_files_splits_at_their_lengths() {
        let out = "CBH-FILE 6 /a/pg_hba.conf\nx\ny z\nCBH-FILE 3 /b/pg_hba.conf\nabc";
        assert_eq!(
            split_files(out),
            Some(vec![
                ("/a/pg_hba.conf", "x\ny z\n"),
                ("/b/pg_hba.conf", "abc")
            ])
        );
        assert_eq!(split_files(""), Some(vec![]));
        assert_eq!(split_files("CBH-FILE 9 /a\nshort"), None);
        assert_eq!(split_files("garbage\n"), None);
    }

    #[test]
    fn a_template_tag_names_its_key_and_host() {
        assert_eq!(tag("0123abcd", "scdw"), "cbharness/template:0123abcd-scdw");
    }
}
