//! The node contract as data: what every node image must provide (`images/README.md`), one
//! [`Probe`] per item, and the [`ContractReport`] that [`super::check`] fills in.
//!
//! A probe is a command run in a container of the image through `docker::Engine::exec`. Scripted
//! probes print `found: ...` and `missing: ...` lines and exit 0 when the item holds; turning
//! that output into a [`Check`] is a pure function ([`interpret`]), tested without Docker.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::cluster::{env_prelude, Topology, GPADMIN, GPHOME};
use crate::docker::ExecOutput;

/// Whether one item of the contract holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The item holds.
    Passed,
    /// The item does not hold; [`Check::missing`] and [`Check::fix`] say why and what to do.
    Failed,
    /// The item could not be probed because an item it needs failed (named in [`Check::found`]).
    NotChecked,
}

/// The outcome of one item of the node contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short name of the item (`gpadmin`, `sshd`, `utilities`, ...).
    pub name: String,
    /// Whether it holds.
    pub status: Status,
    /// What the probe found (for a check that was not run: why not).
    pub found: String,
    /// For a failure: what is missing.
    pub missing: Option<String>,
    /// For a failure: how to fix the image.
    pub fix: Option<String>,
}

impl Check {
    /// True when the item holds.
    pub fn passed(&self) -> bool {
        self.status == Status::Passed
    }
}

/// The result of checking one image against the node contract: one [`Check`] per item, in the
/// order of `images/README.md`.
#[derive(Debug, Clone, Serialize)]
pub struct ContractReport {
    /// The image checked.
    pub image: String,
    /// One entry per item of the contract.
    pub checks: Vec<Check>,
    /// Wall time of the whole check (container start and removal included).
    #[serde(serialize_with = "crate::history::ser_duration")]
    pub duration: Duration,
}

impl ContractReport {
    /// True when every item holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    /// The check named `name`.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Names of the checks with `status`, in report order.
    pub fn names_with(&self, status: Status) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The mark that starts a report line.
fn mark(status: Status) -> &'static str {
    match status {
        Status::Passed => "✓",
        Status::Failed => "✗",
        Status::NotChecked => "–",
    }
}

impl fmt::Display for ContractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WIDTH: usize = 15;
        let pad = " ".repeat(WIDTH + 3);
        writeln!(f, "node contract of {}", self.image)?;
        for c in &self.checks {
            let found = match c.status {
                Status::NotChecked => format!("not checked: {}", c.found),
                _ if c.found.is_empty() => "nothing found".to_string(),
                _ => c.found.clone(),
            };
            writeln!(f, "{} {:<WIDTH$} {found}", mark(c.status), c.name)?;
            if let Some(missing) = &c.missing {
                writeln!(f, "{pad}missing: {missing}")?;
            }
            if let Some(fix) = &c.fix {
                writeln!(f, "{pad}fix: {fix}")?;
            }
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        write!(
            f,
            "{} checks in {:.1}s: {} passed, {} failed, {} not checked",
            self.checks.len(),
            self.duration.as_secs_f64(),
            count(Status::Passed),
            count(Status::Failed),
            count(Status::NotChecked)
        )?;
        if !self.passed() {
            write!(
                f,
                "\n{} does not satisfy the node contract (images/README.md)",
                self.image
            )?;
        }
        Ok(())
    }
}

/// Who runs a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunAs {
    Root,
    Gpadmin,
}

impl RunAs {
    pub(crate) fn user(self) -> &'static str {
        match self {
            RunAs::Root => "root",
            RunAs::Gpadmin => GPADMIN,
        }
    }
}

/// How a probe runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    /// A command run directly (for the items that scripts themselves need).
    Argv(&'static [&'static str]),
    /// A bash script (`bash -c`).
    Script(&'static str),
    /// Waiting for the readiness file, done by the checker itself.
    Ready,
}

/// One item of the node contract and how to probe it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub(crate) name: &'static str,
    pub(crate) user: RunAs,
    /// Items that must hold before this one can be probed.
    pub(crate) needs: &'static [&'static str],
    pub(crate) kind: ProbeKind,
    /// What is missing when the probe fails without saying.
    pub(crate) missing: &'static str,
    pub(crate) fix: &'static str,
}

/// The file the entrypoint creates once sshd runs.
pub(crate) const READY_FILE: &str = "/run/cbh-node-ready";

/// The utilities the harness runs, which must be on `PATH` after the env script.
const UTILITIES: &str = "gpinitsystem gpstart gpstop gpstate gpinitstandby gpactivatestandby";
/// The PostgreSQL programs the utilities and the harness use.
const PG_TOOLS: &str = "pg_ctl pg_basebackup psql postgres";

/// The environment every probe gets: the paths of the contract, so that the scripts below hold
/// no path of their own.
pub(crate) fn probe_env() -> Vec<String> {
    let t = Topology::default();
    vec![
        format!("GPHOME={GPHOME}"),
        format!("USER={GPADMIN}"),
        format!("LOGNAME={GPADMIN}"),
        format!("CBH_GPHOME={GPHOME}"),
        format!("CBH_USER={GPADMIN}"),
        format!("CBH_ENV_PRELUDE={}", env_prelude()),
        format!("CBH_UTILITIES={UTILITIES}"),
        format!("CBH_PG_TOOLS={PG_TOOLS}"),
        format!(
            "CBH_DATA_DIRS={} {} {}",
            t.coordinator_directory, t.primary_directory, t.mirror_directory
        ),
    ]
}

/// The node contract, in report order. `timeout` comes first because every probe runs under it;
/// `ready` is decided before the others run.
pub(crate) const PROBES: &[Probe] = &[
    Probe {
        name: "timeout",
        user: RunAs::Root,
        needs: &[],
        kind: ProbeKind::Argv(&["timeout", "--version"]),
        missing: "coreutils `timeout`: every command the harness runs in a node runs under it",
        fix: "install GNU coreutils (Debian: coreutils; Rocky/RHEL: coreutils or coreutils-single)",
    },
    Probe {
        name: "ready",
        user: RunAs::Root,
        needs: &["timeout"],
        kind: ProbeKind::Ready,
        missing: "/run/cbh-node-ready",
        fix: "the image's entrypoint must start sshd, then `touch /run/cbh-node-ready`, and stay \
              in the foreground (see images/cloudberry/cbh-node-entrypoint)",
    },
    Probe {
        name: "bash",
        user: RunAs::Root,
        needs: &["timeout"],
        kind: ProbeKind::Argv(&["bash", "-c", "echo \"bash $BASH_VERSION\""]),
        missing: "bash: the harness and the utilities run bash scripts",
        fix: "install bash",
    },
    Probe {
        name: "gpadmin",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
if ! entry=$(getent passwd "$CBH_USER"); then echo "missing: user $CBH_USER"; exit 1; fi
IFS=: read -r _ _ uid gid _ home shell <<<"$entry"
echo "found: uid $uid, gid $gid, home $home, shell $shell"
rc=0
[[ -d $home ]] || { echo "missing: home directory $home"; rc=1; }
[[ $shell == */bash ]] || { echo "missing: bash as login shell"; rc=1; }
exit $rc
"#,
        ),
        missing: "user gpadmin",
        fix: "`useradd -m -s /bin/bash gpadmin && usermod -p '*' gpadmin` (no password, not \
              locked: sshd without PAM refuses locked accounts)",
    },
    Probe {
        name: "gphome",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
g=$CBH_GPHOME
if [[ ! -d $g ]]; then echo "missing: directory $g"; exit 1; fi
real=$(readlink -f "$g")
where=$g; [[ $real == "$g" ]] || where="$g -> $real"
if [[ ! -d $g/bin ]]; then echo "found: $where"; echo "missing: $g/bin"; exit 1; fi
echo "found: $where"
"#,
        ),
        missing: "/usr/local/cloudberry-db",
        fix: "install Cloudberry in /usr/local/cloudberry-db (or make it a symlink to the \
              installation)",
    },
    Probe {
        name: "env-script",
        user: RunAs::Gpadmin,
        needs: &["gpadmin", "gphome"],
        kind: ProbeKind::Script(
            r#"
g=$CBH_GPHOME
script=
for f in cloudberry-env.sh greenplum_path.sh; do
    if [[ -f $g/$f ]]; then script=$g/$f; break; fi
done
if [[ -z $script ]]; then
    echo "missing: $g/cloudberry-env.sh (or the older greenplum_path.sh)"; exit 1
fi
echo "found: $script"
if ! err=$(eval "$CBH_ENV_PRELUDE" 2>&1 >/dev/null); then
    echo "missing: an env script that bash sources without error (${err:-it returned non-zero})"
    exit 1
fi
eval "$CBH_ENV_PRELUDE" >/dev/null 2>&1
case ":$PATH:" in
    *":$g/bin:"*) ;;
    *) echo "missing: $g/bin on PATH after sourcing it"; exit 1 ;;
esac
"#,
        ),
        missing: "the Cloudberry environment script",
        fix: "ship $GPHOME/cloudberry-env.sh (Cloudberry 2.x) or greenplum_path.sh that exports \
              GPHOME and puts $GPHOME/bin on PATH, sourceable by gpadmin",
    },
    Probe {
        name: "utilities",
        user: RunAs::Gpadmin,
        needs: &["env-script"],
        kind: ProbeKind::Script(
            r#"
eval "$CBH_ENV_PRELUDE" >/dev/null 2>&1
found=() missing=() dirs=()
for u in $CBH_UTILITIES; do
    if p=$(command -v "$u") && [[ -x $p ]]; then found+=("$u"); dirs+=("${p%/*}")
    else missing+=("$u"); fi
done
where=$(printf '%s\n' "${dirs[@]}" | sort -u | paste -sd, -)
[[ ${#found[@]} == 0 ]] || echo "found: ${found[*]} (in $where)"
if [[ ${#missing[@]} != 0 ]]; then echo "missing: ${missing[*]}"; exit 1; fi
"#,
        ),
        missing: "the management utilities",
        fix: "install Cloudberry's management utilities (gpMgmt) in $GPHOME/bin, with the Python \
              packages they import",
    },
    Probe {
        name: "postgres-tools",
        user: RunAs::Gpadmin,
        needs: &["env-script"],
        kind: ProbeKind::Script(
            r#"
eval "$CBH_ENV_PRELUDE" >/dev/null 2>&1
missing=()
for t in $CBH_PG_TOOLS; do command -v "$t" >/dev/null || missing+=("$t"); done
if [[ ${#missing[@]} != 0 ]]; then echo "missing: ${missing[*]} on PATH"; exit 1; fi
dir=$(dirname "$(command -v postgres)")
if ! version=$(postgres --version 2>&1); then
    echo "found: $CBH_PG_TOOLS in $dir"
    echo "missing: a postgres that runs (postgres --version: $(head -n1 <<<"$version"))"
    exit 1
fi
echo "found: $CBH_PG_TOOLS in $dir; $(head -n1 <<<"$version")"
"#,
        ),
        missing: "the PostgreSQL programs",
        fix: "the env script must put the directory of pg_ctl, pg_basebackup, psql and postgres \
              on PATH (and their libraries on LD_LIBRARY_PATH)",
    },
    Probe {
        name: "data-dirs",
        user: RunAs::Gpadmin,
        needs: &["gpadmin"],
        kind: ProbeKind::Script(
            r#"
rc=0 ok=()
for d in $CBH_DATA_DIRS; do
    if [[ ! -d $d ]]; then echo "missing: $d"; rc=1; continue; fi
    owner=$(stat -c %U "$d")
    if [[ $owner != "$CBH_USER" ]]; then
        echo "missing: $d owned by $CBH_USER (its owner is $owner)"; rc=1
    elif ! t=$(mktemp -d "$d/.cbh-contract.XXXXXX" 2>/dev/null); then
        echo "missing: $d writable by $CBH_USER"; rc=1
    else
        rmdir "$t"; ok+=("$d")
    fi
done
[[ ${#ok[@]} == 0 ]] || echo "found: ${ok[*]} owned and writable by $CBH_USER"
exit $rc
"#,
        ),
        missing: "the data directories",
        fix: "`install -d -o gpadmin -g gpadmin /data0/database/{coordinator,primary,mirror}`",
    },
    Probe {
        name: "ssh-dir",
        user: RunAs::Gpadmin,
        needs: &["gpadmin"],
        kind: ProbeKind::Script(
            r#"
home=$(getent passwd "$CBH_USER" | cut -d: -f6)
d=$home/.ssh
rc=0
if [[ $(( 0$(stat -c %a "$home") & 022 )) != 0 ]]; then
    echo "missing: $home not writable by group or others (sshd's StrictModes)"; rc=1
fi
if [[ -e $d ]]; then
    if [[ ! -d $d || ! -O $d ]]; then echo "missing: $d as a directory owned by $CBH_USER"; exit 1; fi
elif ! mkdir -m 700 "$d" 2>/dev/null; then
    echo "missing: $d, or a home where $CBH_USER can create it"; exit 1
fi
if ! t=$(mktemp "$d/.cbh-contract.XXXXXX" 2>/dev/null); then
    echo "missing: $d writable by $CBH_USER"; exit 1
fi
rm -f "$t"
mode=$(stat -c %a "$d")
if [[ $(( 0$mode & 022 )) != 0 ]]; then
    echo "missing: $d not writable by group or others (sshd's StrictModes)"; rc=1
fi
shopt -s nullglob
baked=("$d"/id_* "$d"/authorized_keys*)
if [[ ${#baked[@]} != 0 ]]; then
    echo "found: $d writable"
    echo "missing: an $d without keys (baked into the image: ${baked[*]##*/})"
    exit 1
fi
echo "found: $d writable by $CBH_USER (mode $mode), no keys baked in"
exit $rc
"#,
        ),
        missing: "a writable ~gpadmin/.ssh",
        fix: "`install -d -m 0700 -o gpadmin -g gpadmin ~gpadmin/.ssh` and bake no keys into the \
              image: the harness installs a key pair per cluster at run time",
    },
    Probe {
        name: "sshd",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
pids=()
for p in /proc/[0-9]*; do
    [[ $(cat "$p/comm" 2>/dev/null) == sshd ]] && pids+=("${p#/proc/}")
done
if [[ ${#pids[@]} == 0 ]]; then echo "missing: a running sshd"; exit 1; fi
if ! { exec 3<>/dev/tcp/127.0.0.1/22; } 2>/dev/null; then
    echo "found: sshd (pid ${pids[*]})"; echo "missing: sshd listening on port 22"; exit 1
fi
read -r -t 5 banner <&3 || banner="no banner"
exec 3<&-
echo "found: sshd (pid ${pids[*]}) on port 22: ${banner%$'\r'}"
"#,
        ),
        missing: "a running sshd",
        fix: "install openssh-server and start `/usr/sbin/sshd` from the entrypoint (as root, \
              with a host key generated at start)",
    },
    Probe {
        name: "ssh-login",
        user: RunAs::Gpadmin,
        needs: &["sshd", "ssh-dir"],
        kind: ProbeKind::Script(
            r#"
for t in ssh ssh-keygen; do
    command -v "$t" >/dev/null || { echo "missing: $t (the OpenSSH client)"; exit 1; }
done
home=$(getent passwd "$CBH_USER" | cut -d: -f6)
keys=$home/.ssh/authorized_keys
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
ssh-keygen -q -t ed25519 -N '' -C cbh-contract-check -f "$tmp/key" || exit 1
had=0
if [[ -e $keys ]]; then had=1; cp -p "$keys" "$tmp/saved"; fi
(umask 077; cat "$tmp/key.pub" >> "$keys")
out=$(ssh -i "$tmp/key" -o BatchMode=yes -o ConnectTimeout=5 localhost 'echo "$USER"' \
    2>&1 </dev/null)
rc=$?
if [[ $had == 1 ]]; then cp -p "$tmp/saved" "$keys"; else rm -f "$keys" "$home/.ssh/known_hosts"; fi
if [[ $rc != 0 ]]; then
    echo "missing: a key login of $CBH_USER to localhost ($(tail -n1 <<<"$out"))"; exit 1
fi
echo "found: $CBH_USER logs in to localhost with a key, without prompts"
"#,
        ),
        missing: "a key login as gpadmin",
        fix: "sshd must accept public keys for gpadmin (PubkeyAuthentication yes; without PAM the \
              account must not be locked) and the ssh client must not stop at unknown host keys \
              (StrictHostKeyChecking no, UserKnownHostsFile /dev/null, BatchMode yes: see \
              images/emulated/rootfs/etc/ssh/ssh_config.d/cbh.conf)",
    },
    Probe {
        name: "iptables",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
command -v iptables >/dev/null || { echo "missing: iptables"; exit 1; }
echo "found: $(iptables --version 2>&1 | head -n1)"
"#,
        ),
        missing: "iptables",
        fix: "install iptables (Debian: iptables; Rocky/RHEL: iptables-nft): the nemesis drops \
              and rejects packets inside nodes",
    },
    Probe {
        name: "tc",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
command -v tc >/dev/null || { echo "missing: tc"; exit 1; }
echo "found: $(tc -V 2>&1 | head -n1)"
"#,
        ),
        missing: "tc",
        fix: "install iproute2 (Rocky/RHEL: iproute and iproute-tc): the nemesis slows links with \
              tc",
    },
    Probe {
        name: "ps",
        user: RunAs::Root,
        needs: &["bash"],
        kind: ProbeKind::Script(
            r#"
command -v ps >/dev/null || { echo "missing: ps"; exit 1; }
ps -e -o pid=,args= >/dev/null || { echo "missing: a ps that takes -e -o"; exit 1; }
echo "found: $(ps -V 2>&1 | head -n1)"
"#,
        ),
        missing: "ps",
        fix: "install procps (Rocky/RHEL: procps-ng): the harness and the utilities list \
              processes with ps",
    },
];

/// The probe named `name`.
pub(crate) fn probe(name: &str) -> &'static Probe {
    PROBES
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no probe named {name}"))
}

/// The first line of `text` that says something, trimmed and cut to a readable length.
fn first_line(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut line: String = line.chars().take(160).collect();
    if line.len() < text.trim().len() && line.chars().count() == 160 {
        line.push('…');
    }
    Some(line)
}

/// A passed check.
pub(crate) fn passed(probe: &Probe, found: impl Into<String>) -> Check {
    Check {
        name: probe.name.to_string(),
        status: Status::Passed,
        found: found.into(),
        missing: None,
        fix: None,
    }
}

/// A failed check; `missing` defaults to the probe's own words.
pub(crate) fn failed(probe: &Probe, found: impl Into<String>, missing: Option<String>) -> Check {
    Check {
        name: probe.name.to_string(),
        status: Status::Failed,
        found: found.into(),
        missing: Some(missing.unwrap_or_else(|| probe.missing.to_string())),
        fix: Some(probe.fix.to_string()),
    }
}

/// A check that was not run, and why.
pub(crate) fn not_checked(probe: &Probe, why: impl Into<String>) -> Check {
    Check {
        name: probe.name.to_string(),
        status: Status::NotChecked,
        found: why.into(),
        missing: None,
        fix: None,
    }
}

/// Turns a probe's output into a check: exit 0 passes; `found:` and `missing:` lines say what
/// was seen; a failure that printed no `missing:` line (the command itself could not run) is
/// described by the probe's own words and the first line of its output.
pub(crate) fn interpret(probe: &Probe, out: &ExecOutput) -> Check {
    let tagged = |tag: &str| -> Vec<String> {
        out.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let found = tagged("found:");
    let missing = tagged("missing:");
    if out.success() {
        let found = if found.is_empty() {
            first_line(&out.stdout).unwrap_or_else(|| "ok".to_string())
        } else {
            found.join("; ")
        };
        return passed(probe, found);
    }
    let missing = if missing.is_empty() {
        let detail = first_line(&out.stderr)
            .or_else(|| first_line(&out.stdout))
            .unwrap_or_else(|| format!("exit code {}", out.exit_code));
        format!("{} ({detail})", probe.missing)
    } else {
        missing.join("; ")
    };
    failed(probe, found.join("; "), Some(missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(exit_code: i64, stdout: &str, stderr: &str) -> ExecOutput {
        ExecOutput {
            exit_code,
            stdout: stdout.into(),
            stderr: stderr.into(),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn every_probe_needs_only_earlier_probes() {
        for (i, p) in PROBES.iter().enumerate() {
            for need in p.needs {
                let at = PROBES.iter().position(|q| q.name == *need);
                assert!(
                    at.is_some_and(|at| at < i),
                    "{} needs {need}, which is not an earlier probe",
                    p.name
                );
            }
        }
        assert_eq!(PROBES[0].name, "timeout");
    }

    #[test]
    fn the_contract_names_every_tool_of_the_brief() {
        let names: Vec<_> = PROBES.iter().map(|p| p.name).collect();
        for n in [
            "timeout",
            "ready",
            "bash",
            "gpadmin",
            "gphome",
            "env-script",
            "utilities",
            "postgres-tools",
            "data-dirs",
            "ssh-dir",
            "sshd",
            "ssh-login",
            "iptables",
            "tc",
            "ps",
        ] {
            assert!(names.contains(&n), "{n} is not probed");
        }
    }

    #[test]
    fn a_passing_probe_reports_its_found_lines() {
        let c = interpret(
            probe("gpadmin"),
            &out(0, "found: uid 1000, gid 1000\nnoise\n", ""),
        );
        assert_eq!(c.status, Status::Passed);
        assert_eq!(c.found, "uid 1000, gid 1000");
        assert_eq!(c.missing, None);
        assert_eq!(c.fix, None);
    }

    #[test]
    fn a_passing_command_without_found_lines_reports_its_first_line() {
        let c = interpret(
            probe("timeout"),
            &out(0, "\ntimeout (GNU coreutils) 9.7\nCopyright\n", ""),
        );
        assert_eq!(c.found, "timeout (GNU coreutils) 9.7");
    }

    #[test]
    fn a_failing_probe_reports_what_is_missing_and_the_fix() {
        let c = interpret(
            probe("utilities"),
            &out(
                1,
                "found: gpstart gpstop (in /x/bin)\nmissing: gpstate\n",
                "",
            ),
        );
        assert_eq!(c.status, Status::Failed);
        assert_eq!(c.found, "gpstart gpstop (in /x/bin)");
        assert_eq!(c.missing.as_deref(), Some("gpstate"));
        assert!(c.fix.unwrap().contains("gpMgmt"));
    }

    #[test]
    fn a_command_that_cannot_run_is_described_by_the_probe_and_the_engine() {
        let c = interpret(
            probe("timeout"),
            &out(
                126,
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \
                 \"timeout\": executable file not found in $PATH: unknown\n",
                "",
            ),
        );
        assert_eq!(c.status, Status::Failed);
        let missing = c.missing.unwrap();
        assert!(missing.starts_with("coreutils `timeout`"), "{missing}");
        assert!(missing.contains("executable file not found"), "{missing}");
    }

    #[test]
    fn the_report_has_one_line_per_check_and_a_summary() {
        let report = ContractReport {
            image: "x:1".into(),
            checks: vec![
                passed(probe("timeout"), "timeout 9.7"),
                failed(probe("gpadmin"), "", None),
                not_checked(probe("env-script"), "needs gpadmin"),
            ],
            duration: Duration::from_millis(1500),
        };
        assert!(!report.passed());
        assert_eq!(report.names_with(Status::Failed), ["gpadmin"]);
        let text = report.to_string();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "node contract of x:1");
        assert!(lines[1].starts_with("✓ timeout "), "{text}");
        assert!(lines[2].starts_with("✗ gpadmin ") && lines[2].ends_with("nothing found"));
        assert!(lines[3].trim_start().starts_with("missing: user gpadmin"));
        assert!(lines[4].trim_start().starts_with("fix: `useradd"));
        assert!(
            lines[5].starts_with("– env-script ")
                && lines[5].ends_with("not checked: needs gpadmin")
        );
        assert_eq!(
            lines[6],
            "3 checks in 1.5s: 1 passed, 1 failed, 1 not checked"
        );
        assert!(lines[7].contains("does not satisfy the node contract"));
    }

    #[test]
    fn the_probe_environment_names_the_contract_paths() {
        let env = probe_env();
        assert!(env.contains(&"CBH_GPHOME=/usr/local/cloudberry-db".to_string()));
        assert!(env.iter().any(|e| e
            == "CBH_DATA_DIRS=/data0/database/coordinator /data0/database/primary /data0/database/mirror"));
        assert!(
            env.iter()
                .any(|e| e
                    .starts_with("CBH_ENV_PRELUDE=. /usr/local/cloudberry-db/cloudberry-env.sh"))
        );
    }
}
