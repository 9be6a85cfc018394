#!/usr/bin/env bash
# Baseline for `cbh bench`: the seed procedure (shared/seed/restore-coordinator-mirroring.md, both
# sections) done the way a person would script it without the harness: four fresh containers of
# the node image, passwordless ssh, `gpinitsystem` and `gpinitstandby`, then the procedure's own
# commands by `docker exec`, each "should be" checked with grep, the rows counted with psql.
# No cluster template, no history, no invariants beyond those greps. The harness runs the same
# commands (scenarios/restore-original-hosts.toml) and should not be slower than this.
#
# The containers are the harness's (harness/src/cluster/handle.rs): the cluster network, a host
# name and alias per host, the coordinator directory on a volume of its own, and Docker DNS
# options that make the name of a stopped host fail in 1 s instead of 20 s. Commands run with the
# environment the harness gives them (topology.rs: gp_env, env_prelude), not a login shell's.
#
# Usage: bench/baseline.sh IMAGE. Prints "baseline <seconds>" on success: from the first docker
# command to the last object removed, as `cbh bench` times a harness run (teardown included).
# BENCH_VERBOSE=1 prints the time of each phase on stderr.
set -euo pipefail
image=${1:?usage: baseline.sh IMAGE}
id="cbhbase-$$-$RANDOM"
# Owner label as the harness writes it (pid@start ticks), so `cbh gc` reaps a killed run of this script.
owner="$$@$(awk '{print $22}' "/proc/$$/stat")"
labels=(--label "cbharness=$id" --label "cbharness.owner=$owner" --label "cbharness.scenario=baseline")
hosts=(cdw scdw sdw1 sdw2)
C=/data0/database/coordinator
D=$C/gpseg-1
GPHOME=/usr/local/cloudberry-db
READY_DEADLINE=60 # seconds, as the harness's default ready timeout

cleanup() {
  docker ps -aq --filter "label=cbharness=$id" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker network rm "cbh-$id" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { printf 'baseline: %s\n' "$*" >&2; exit 1; }

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
wait_ready() {
  local deadline=$((SECONDS + READY_DEADLINE))
  until docker exec "cbh-$id-$1" test -e /run/cbh-node-ready 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 not ready within ${READY_DEADLINE}s"
    sleep 0.05
  done
}
expect() { # what, pattern, text: the text must have a line matching the pattern
  grep -Eq "$2" <<<"$3" || fail "$1: no line matches $2 in:"$'\n'"$3"
}
rows() { gp "$1" "psql -XAtq -d postgres -c 'select count(*) from t'"; }
phase() { [ -z "${BENCH_VERBOSE:-}" ] || echo "$(date +%s.%N) $*" >&2; }
wait_all() { # every background job must succeed
  local job
  for job in $(jobs -p); do wait "$job"; done
}

start=$(date +%s.%N)
docker network create --internal "${labels[@]}" "cbh-$id" >/dev/null
for h in "${hosts[@]}"; do
  docker run -d --pull never --name "cbh-$id-$h" --hostname "$h" --network "cbh-$id" --network-alias "$h" \
    --dns-option timeout:1 --dns-option attempts:1 "${labels[@]}" \
    --mount "type=volume,dst=$C,volume-label=cbharness=$id,volume-label=cbharness.owner=$owner" \
    "$image" >/dev/null &
done
wait_all
for h in "${hosts[@]}"; do wait_ready "$h"; done

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

phase "cleanup"
cleanup
trap - EXIT
left=$(($(docker ps -aq --filter "label=cbharness=$id" | wc -l) + $(docker volume ls -q --filter "label=cbharness=$id" | wc -l)))
[ "$left" = 0 ] || fail "$left containers or volumes left behind (cbh gc removes them)"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "baseline %.2f\n", e - s }'
