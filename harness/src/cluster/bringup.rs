//! Bring-up as an operator does it: passwordless ssh for gpadmin everywhere, `gpinitsystem`
//! with a generated config and host file, then `gpinitstandby -s <standby> -a`.

use std::time::Duration;

use super::error::ClusterError;
use super::handle::Cluster;
use super::topology::GPADMIN;
use crate::gp;

const SHORT: Duration = Duration::from_secs(30);

impl Cluster {
    /// Makes a fresh SSH key pair for this cluster on the coordinator and installs it on every
    /// host, so gpadmin reaches every host, itself and `localhost` without a password. The
    /// private key never leaves the nodes' exec channel: it is not recorded in any artifact.
    pub async fn install_ssh_keys(&self) -> Result<(), ClusterError> {
        let first = self.topology().coordinator.clone();
        let keygen = format!(
            "set -e; umask 077; mkdir -p ~/.ssh; rm -f ~/.ssh/id_ed25519 ~/.ssh/id_ed25519.pub; \
             ssh-keygen -q -t ed25519 -N '' -C 'cbharness-{}' -f ~/.ssh/id_ed25519; \
             cat ~/.ssh/id_ed25519.pub ~/.ssh/id_ed25519",
            self.run_id()
        );
        let out = self
            .exec_quiet(&first, GPADMIN, sh(&keygen), Vec::new(), SHORT)
            .await?;
        ClusterError::unless_success(&out, "generate the cluster's SSH key", &first, false)?;
        let (public, private) =
            out.stdout
                .split_once('\n')
                .ok_or_else(|| ClusterError::Command {
                    what: "read the generated SSH key".into(),
                    host: first.clone(),
                    exit_code: out.exit_code,
                    output: String::new(),
                })?;
        let install = "set -e; umask 077; mkdir -p ~/.ssh; \
             printf '%s\\n' \"$CBH_SSH_PUBLIC\" > ~/.ssh/authorized_keys; \
             printf '%s\\n' \"$CBH_SSH_PUBLIC\" > ~/.ssh/id_ed25519.pub; \
             printf '%s' \"$CBH_SSH_PRIVATE\" > ~/.ssh/id_ed25519";
        let env = vec![
            format!("CBH_SSH_PUBLIC={}", public.trim()),
            format!("CBH_SSH_PRIVATE={private}"),
        ];
        let jobs = self.topology().hosts().into_iter().map(|host| {
            let env = env.clone();
            async move {
                let out = self
                    .exec_quiet(&host, GPADMIN, sh(install), env, SHORT)
                    .await?;
                ClusterError::unless_success(&out, "install the cluster's SSH key", &host, false)
            }
        });
        for result in futures_util::future::join_all(jobs).await {
            result?;
        }
        Ok(())
    }

    /// Initializes the database: writes the gpinitsystem config and host file on the
    /// coordinator, runs `gpinitsystem -a -c ... -h ...`, then `gpinitstandby -s <standby> -a`
    /// when the topology has a standby.
    pub async fn initialize(&self) -> Result<(), gp::GpError> {
        let t = self.topology().clone();
        let config = "/home/gpadmin/gpinitsystem_config";
        let hostfile = "/home/gpadmin/hostfile_gpinitsystem";
        let write = format!(
            "set -e; cat > {config} <<'CBH_EOF'\n{}CBH_EOF\ncat > {hostfile} <<'CBH_EOF'\n{}CBH_EOF\n",
            t.gpinitsystem_config(&format!("cbharness {}", self.run_id())),
            t.hostfile()
        );
        let out = self.sh(&t.coordinator, GPADMIN, &write, SHORT).await?;
        ClusterError::unless_success(&out, "write the gpinitsystem config", &t.coordinator, true)?;
        gp::gpinitsystem(self, &t.coordinator, config, hostfile)
            .await?
            .ok()?;
        if let Some(standby) = &t.standby {
            gp::gpinitstandby(self, &t.coordinator, standby, gp::LONG)
                .await?
                .ok()?;
        }
        Ok(())
    }
}

fn sh(script: &str) -> Vec<String> {
    vec!["bash".into(), "-c".into(), script.into()]
}
