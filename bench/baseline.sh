#!/usr/bin/env bash
# Baseline for `cbh bench`: the seed procedure (shared/seed/restore-coordinator-mirroring.md, both
# sections) done the way a person would script it without the harness: four fresh containers of
# the node image, passwordless ssh, `gpinitsystem` and `gpinitstandby`, then the procedure's own
# commands by `docker exec`, each "should be" checked with grep, the rows counted with psql.
# No cluster template, no history, no invariants beyond those greps. The harness runs the same
# commands (scenarios/restore-original-hosts.toml) and should not be slower than this.
#
# The containers are the harness's (bench/nodes.sh). Commands run with the environment the
# harness gives them (topology.rs: gp_env, env_prelude), not a login shell's.
#
# Usage: bench/baseline.sh IMAGE. Prints "baseline <seconds>" on success: from the first docker
# command to the last object removed, as `cbh bench` times a harness run (teardown included).
set -euo pipefail
name=baseline
image=${1:?usage: baseline.sh IMAGE}
# shellcheck source=bench/nodes.sh
. "$(dirname "$0")/nodes.sh"
GPHOME=/usr/local/cloudberry-db

gp() { # host, command line: as gpadmin with the Cloudberry environment
  docker exec -u gpadmin -e "GPHOME=$GPHOME" -e "COORDINATOR_DATA_DIRECTORY=$D" \
    -e "MASTER_DATA_DIRECTORY=$D" -e PGPORT=5432 -e USER=gpadmin -e LOGNAME=gpadmin \
    "cbh-$id-$1" bash -c ". $GPHOME/cloudberry-env.sh 2>/dev/null || . $GPHOME/greenplum_path.sh; $2"
}
run() { # host, command line: must succeed; its output is shown when it does not
  local out
  if ! out=$(gp "$1" "$2" 2>&1); then
    fail "\`$2\` on $1 failed:"$'\n'"$out"
  fi
}
expect() { # what, pattern, text: the text must have a line matching the pattern
  grep -Eq "$2" <<<"$3" || fail "$1: no line matches $2 in:"$'\n'"$3"
}
rows() { gp "$1" "psql -XAtq -d postgres -c 'select count(*) from t'"; }

start_nodes

phase "ssh keys"
# One key pair for the cluster; the private key goes through stdin, never a command line.
key=$(gp cdw "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 && cat ~/.ssh/id_ed25519")
public=$(gp cdw "cat ~/.ssh/id_ed25519.pub")
for h in "${hosts[@]}"; do
  printf '%s\n' "$key" | docker exec -i -u gpadmin -e "PUB=$public" "cbh-$id-$h" bash -c \
    'umask 077; cat > ~/.ssh/id_ed25519; printf "%s\n" "$PUB" > ~/.ssh/id_ed25519.pub; printf "%s\n" "$PUB" > ~/.ssh/authorized_keys' &
done
wait_all

phase "gpinitsystem"
run cdw "cat > ~/gpinitsystem_config <<'EOF'
ARRAY_NAME=\"baseline\"
SEG_PREFIX=gpseg
PORT_BASE=40000
declare -a DATA_DIRECTORY=(/data0/database/primary)
COORDINATOR_HOSTNAME=cdw
COORDINATOR_DIRECTORY=$C
COORDINATOR_PORT=5432
TRUSTED_SHELL=ssh
ENCODING=UNICODE
MIRROR_PORT_BASE=50000
declare -a MIRROR_DATA_DIRECTORY=(/data0/database/mirror)
EOF
printf 'sdw1\nsdw2\n' > ~/hostfile_gpinitsystem"
run cdw "gpinitsystem -a -c ~/gpinitsystem_config -h ~/hostfile_gpinitsystem"
run cdw "gpinitstandby -s scdw -a"

phase "healthy"
out=$(gp cdw "gpstate -f")
expect "healthy" 'Standby address += scdw' "$out"
expect "healthy" 'Standby status += Standby host passive' "$out"
expect "healthy" 'WAL Sender State: streaming' "$out"
expect "healthy" 'Sync state: sync' "$out"
run cdw "psql -XAtq -d postgres -c 'create table t (id int)' -c 'insert into t select generate_series(1, 50)'"

phase "the coordinator host crashes"
docker kill "cbh-$id-cdw" >/dev/null
run scdw "gpactivatestandby -d $D -a"
out=$(gp scdw "gpstate -b")
expect "after activation" 'Coordinator instance += Active' "$out"
expect "after activation" 'No coordinator standby configured' "$out"
[ "$(rows scdw)" = 50 ] || fail "rows lost after activation"

phase "restore mirroring on cdw"
docker start "cbh-$id-cdw" >/dev/null
wait_ready cdw
run cdw "mv -T $D $C/backup_gpseg-1"
run scdw "gpinitstandby -s cdw -a"
out=$(gp scdw "gpstate -f")
expect "after reinit on cdw" 'Standby address += cdw' "$out"
expect "after reinit on cdw" 'Standby status += Standby host passive' "$out"
expect "after reinit on cdw" 'WAL Sender State: streaming' "$out"
expect "after reinit on cdw" 'Sync state: sync' "$out"

phase "restore the original hosts"
run scdw "gpstop -m -a"
run cdw "gpactivatestandby -d $D -a"
out=$(gp cdw "gpstate -b")
expect "after restore activation" 'Coordinator instance += Active' "$out"
expect "after restore activation" 'No coordinator standby configured' "$out"
run scdw "mv -T $D $C/backup_gpseg-1"
run cdw "gpinitstandby -s scdw -a"
out=$(gp cdw "gpstate -f")
expect "restored" 'Standby address += scdw' "$out"
expect "restored" 'Standby status += Standby host passive' "$out"
expect "restored" 'WAL Sender State: streaming' "$out"
expect "restored" 'Sync state: sync' "$out"
[ "$(rows cdw)" = 50 ] || fail "rows lost after restore"

finish
