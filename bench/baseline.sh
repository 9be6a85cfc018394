#!/usr/bin/env bash
# Baseline for `cbh bench`: the seed procedure (shared/seed/restore-coordinator-mirroring.md, both
# sections) done the way a person would script it without the harness: four fresh containers of
# the node image, passwordless ssh, `gpinitsystem` and `gpinitstandby`, then the procedure's own
# commands by `docker exec`, each "should be" checked with grep, the rows counted with psql.
# No cluster template, no history, no invariants beyond those greps. The harness runs the same
# commands (scenarios/restore-original-hosts.toml) and should not be slower than this.
#
# The containers get what the harness gives its nodes and nothing else: the cluster network, a
# host name and alias per host, and Docker DNS options that make the name of a stopped host fail
# in 1 s instead of 20 s (see harness/src/cluster/handle.rs).
#
# Usage: bench/baseline.sh IMAGE. Prints "baseline <seconds>" on success: from the first docker
# command to the last container removed, as `cbh bench` times a harness run (teardown included).
set -euo pipefail
image=${1:?usage: baseline.sh IMAGE}
id="cbhbase-$$-$RANDOM"
# Owner label as the harness writes it (pid@start ticks), so `cbh gc` reaps a killed run of this script.
owner="$$@$(awk '{print $22}' "/proc/$$/stat")"
labels=(--label "cbharness=$id" --label "cbharness.owner=$owner" --label "cbharness.scenario=baseline")
hosts=(cdw scdw sdw1 sdw2)
D=/data0/database/coordinator/gpseg-1

cleanup() {
  docker ps -aq --filter "label=cbharness=$id" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker network rm "$id" >/dev/null 2>&1 || true
}
trap cleanup EXIT

gp() { # host, command line: as gpadmin, in a login shell (the image's ~/.bashrc sets the environment)
  docker exec -u gpadmin "$id-$1" bash -lc "$2"
}
wait_ready() {
  until docker exec "$id-$1" test -e /run/cbh-node-ready 2>/dev/null; do sleep 0.05; done
}
expect() { # what, pattern, text: the text must have a line matching the pattern
  grep -Eq "$2" <<<"$3" || { printf 'baseline: %s: no line matches %s in:\n%s\n' "$1" "$2" "$3" >&2; exit 1; }
}
rows() { gp "$1" "psql -XAtq -c 'select count(*) from t'"; }
phase() { [ -z "${BASELINE_VERBOSE:-}" ] || echo "$(date +%s.%N) $*" >&2; }
wait_all() { # every background job must succeed
  local job
  for job in $(jobs -p); do wait "$job"; done
}

start=$(date +%s.%N)
docker network create --internal "${labels[@]}" "$id" >/dev/null
for h in "${hosts[@]}"; do
  docker run -d --name "$id-$h" --hostname "$h" --network "$id" --network-alias "$h" \
    --dns-option timeout:1 --dns-option attempts:1 "${labels[@]}" "$image" >/dev/null &
done
wait_all
for h in "${hosts[@]}"; do wait_ready "$h"; done

phase "ssh keys"
keys=$(gp cdw "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 && cat ~/.ssh/id_ed25519.pub ~/.ssh/id_ed25519")
public=${keys%%$'\n'*}
private=${keys#*$'\n'}
for h in "${hosts[@]}"; do
  docker exec -u gpadmin -e "PUB=$public" -e "KEY=$private" "$id-$h" bash -c \
    'umask 077; printf "%s\n" "$PUB" > ~/.ssh/authorized_keys; printf "%s\n" "$PUB" > ~/.ssh/id_ed25519.pub; printf "%s\n" "$KEY" > ~/.ssh/id_ed25519' &
done
wait_all

phase "gpinitsystem"
gp cdw "cat > ~/gpinitsystem_config <<'EOF'
ARRAY_NAME=\"baseline\"
SEG_PREFIX=gpseg
PORT_BASE=40000
declare -a DATA_DIRECTORY=(/data0/database/primary)
COORDINATOR_HOSTNAME=cdw
COORDINATOR_DIRECTORY=/data0/database/coordinator
COORDINATOR_PORT=5432
TRUSTED_SHELL=ssh
ENCODING=UNICODE
MIRROR_PORT_BASE=50000
declare -a MIRROR_DATA_DIRECTORY=(/data0/database/mirror)
EOF
printf 'sdw1\nsdw2\n' > ~/hostfile_gpinitsystem"
gp cdw "gpinitsystem -a -c ~/gpinitsystem_config -h ~/hostfile_gpinitsystem" >/dev/null
gp cdw "gpinitstandby -s scdw -a" >/dev/null

phase "healthy"
out=$(gp cdw "gpstate -f")
expect "healthy" 'Standby address += scdw' "$out"
expect "healthy" 'Standby status += Standby host passive' "$out"
expect "healthy" 'WAL Sender State: streaming' "$out"
expect "healthy" 'Sync state: sync' "$out"
gp cdw "psql -XAtq -c 'create table t (id int)' -c 'insert into t select generate_series(1, 50)'" >/dev/null

phase "the coordinator host crashes"
docker kill "$id-cdw" >/dev/null
gp scdw "gpactivatestandby -d $D -a" >/dev/null
out=$(gp scdw "gpstate -b")
expect "after activation" 'Coordinator instance += Active' "$out"
expect "after activation" 'No coordinator standby configured' "$out"
[ "$(rows scdw)" = 50 ] || { echo "baseline: rows lost after activation" >&2; exit 1; }

phase "restore mirroring on cdw"
docker start "$id-cdw" >/dev/null && wait_ready cdw
gp cdw "mv $D /data0/database/coordinator/backup_gpseg-1"
gp scdw "gpinitstandby -s cdw -a" >/dev/null
out=$(gp scdw "gpstate -f")
expect "after reinit on cdw" 'Standby address += cdw' "$out"
expect "after reinit on cdw" 'Standby status += Standby host passive' "$out"
expect "after reinit on cdw" 'WAL Sender State: streaming' "$out"
expect "after reinit on cdw" 'Sync state: sync' "$out"

phase "restore the original hosts"
gp scdw "gpstop -m -a" >/dev/null
gp cdw "gpactivatestandby -d $D -a" >/dev/null
out=$(gp cdw "gpstate -b")
expect "after restore activation" 'Coordinator instance += Active' "$out"
expect "after restore activation" 'No coordinator standby configured' "$out"
gp scdw "mv $D /data0/database/coordinator/backup_gpseg-1"
gp cdw "gpinitstandby -s scdw -a" >/dev/null
out=$(gp cdw "gpstate -f")
expect "restored" 'Standby address += scdw' "$out"
expect "restored" 'Standby status += Standby host passive' "$out"
expect "restored" 'WAL Sender State: streaming' "$out"
expect "restored" 'Sync state: sync' "$out"
[ "$(rows cdw)" = 50 ] || { echo "baseline: rows lost after restore" >&2; exit 1; }

phase "cleanup"
cleanup
trap - EXIT
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "baseline %.2f\n", e - s }'
