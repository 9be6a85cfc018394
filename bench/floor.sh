#!/usr/bin/env bash
# Floor for `cbh bench`: the seed procedure's steps (crash, activate, a new standby on the old
# coordinator host, then the original hosts restored) done with raw PostgreSQL, `docker` and
# `docker exec` on four fresh containers: no gp utilities, no harness, no check beyond the row
# counts. What the procedure costs at the least on this machine; bench/baseline.sh is the same
# procedure with the gp utilities, as a person would script it.
# Usage: bench/floor.sh IMAGE (any image with PostgreSQL 17 and the node contract, e.g. the
# emulated one). Prints "floor <seconds>" on success: from the first docker command to the last
# object removed, as `cbh bench` times a harness run (teardown included). The containers are
# the harness's, as in bench/baseline.sh. BENCH_VERBOSE=1 prints the time of each phase on stderr.
set -euo pipefail
image=${1:?usage: floor.sh IMAGE}
id="cbhfloor-$$-$RANDOM"
# Owner label as the harness writes it (pid@start ticks), so `cbh gc` reaps a killed run of this script.
owner="$$@$(awk '{print $22}' "/proc/$$/stat")"
labels=(--label "cbharness=$id" --label "cbharness.owner=$owner" --label "cbharness.scenario=floor")
C=/data0/database/coordinator
D=$C/gpseg-1
READY_DEADLINE=60 # seconds, for a node to be ready and for the standby to be sync

cleanup() {
  docker ps -aq --filter "label=cbharness=$id" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker network rm "cbh-$id" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { printf 'floor: %s\n' "$*" >&2; exit 1; }

pg() { # host, script: run as gpadmin with the PostgreSQL binaries on PATH
  docker exec -u gpadmin "cbh-$id-$1" bash -c "export PATH=/usr/lib/postgresql/17/bin:\$PATH PGHOST=/tmp; $2"
}
wait_ready() {
  local deadline=$((SECONDS + READY_DEADLINE))
  until docker exec "cbh-$id-$1" test -e /run/cbh-node-ready 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 not ready within ${READY_DEADLINE}s"
    sleep 0.05
  done
}
wait_sync() { # coordinator host
  local deadline=$((SECONDS + READY_DEADLINE))
  until [ "$(pg "$1" "psql -XAtq -d postgres -c \"select count(*) from pg_stat_replication where state='streaming' and sync_state='sync'\"")" = 1 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no sync standby of $1 within ${READY_DEADLINE}s"
    sleep 0.05
  done
}
new_instance() { # host, datadir, port (1 MB WAL segments, as the emulated image's instances)
  pg "$1" "initdb -D $2 -A trust --no-sync --wal-segsize=1 >/dev/null \
    && printf \"listen_addresses='*'\nunix_socket_directories='/tmp'\nport=$3\nshared_buffers=32MB\nmax_connections=50\n\" >> $2/postgresql.conf \
    && printf 'host all all samenet trust\nhost replication all samenet trust\n' >> $2/pg_hba.conf \
    && pg_ctl -D $2 -l $2/server.log -w start >/dev/null"
}
standby_of() { # host, primary host, datadir, primary port, [own port]
  pg "$1" "pg_basebackup -h $2 -p $4 -D $3 -R -X fetch -c fast --no-sync \
    && echo port=${5:-$4} >> $3/postgresql.conf \
    && pg_ctl -D $3 -l $3/server.log -w start >/dev/null"
}
phase() { [ -z "${BENCH_VERBOSE:-}" ] || echo "$(date +%s.%N) $*" >&2; }
sync_on() { pg "$1" "psql -XAtq -d postgres -c \"alter system set synchronous_standby_names='*'\" -c 'select pg_reload_conf()' >/dev/null"; }
sync_off() { pg "$1" "psql -XAtq -d postgres -c 'alter system reset synchronous_standby_names' -c 'select pg_reload_conf()' >/dev/null"; }
rows() { pg "$1" "psql -XAtq -d postgres -c 'select count(*) from t'"; }
write() { pg "$1" "psql -XAtq -d postgres -c 'insert into t select generate_series(1, $2)'"; }

wait_all() { # every background job must succeed
  local job
  for job in $(jobs -p); do wait "$job"; done
}

start=$(date +%s.%N)
docker network create --internal "${labels[@]}" "cbh-$id" >/dev/null
for h in cdw scdw sdw1 sdw2; do
  docker run -d --pull never --name "cbh-$id-$h" --hostname "$h" --network "cbh-$id" --network-alias "$h" \
    --dns-option timeout:1 --dns-option attempts:1 "${labels[@]}" \
    --mount "type=volume,dst=$C,volume-label=cbharness=$id,volume-label=cbharness.owner=$owner" \
    "$image" >/dev/null &
done
wait_all
for h in cdw scdw sdw1 sdw2; do wait_ready "$h"; done

phase "the cluster"
# The cluster: coordinator and standby, a primary on each segment host mirrored on the other.
new_instance cdw "$D" 5432 &
new_instance sdw1 /data0/database/primary/gpseg0 40000 &
new_instance sdw2 /data0/database/primary/gpseg1 40000 &
wait_all
standby_of sdw2 sdw1 /data0/database/mirror/gpseg0 40000 50000 &
standby_of sdw1 sdw2 /data0/database/mirror/gpseg1 40000 50000 &
standby_of scdw cdw "$D" 5432 &
wait_all
pg cdw "psql -XAtq -d postgres -c 'create table t (id int)'"
sync_on cdw
wait_sync cdw
write cdw 50 >/dev/null

phase "the coordinator host crashes"
# The coordinator host crashes; the standby is activated.
docker kill "cbh-$id-cdw" >/dev/null
pg scdw "pg_ctl -D $D -w promote >/dev/null"
sync_off scdw
[ "$(rows scdw)" = 50 ] || fail "rows lost after activation"

phase "restore mirroring on cdw"
# Restore mirroring on cdw: move gpseg-1 aside, new standby from scdw.
docker start "cbh-$id-cdw" >/dev/null
wait_ready cdw
pg cdw "mv -T $D $C/backup_gpseg-1"
standby_of cdw scdw "$D" 5432
sync_on scdw
wait_sync scdw

phase "restore the original hosts"
# Restore the original hosts: stop scdw, activate cdw, new standby on scdw.
pg scdw "pg_ctl -D $D -m smart -w stop >/dev/null"
pg cdw "pg_ctl -D $D -w promote >/dev/null"
sync_off cdw
pg scdw "mv -T $D $C/backup_gpseg-1"
standby_of scdw cdw "$D" 5432
sync_on cdw
wait_sync cdw
[ "$(rows cdw)" = 50 ] || fail "rows lost after restore"

phase "cleanup"
cleanup
trap - EXIT
left=$(($(docker ps -aq --filter "label=cbharness=$id" | wc -l) + $(docker volume ls -q --filter "label=cbharness=$id" | wc -l)))
[ "$left" = 0 ] || fail "$left containers or volumes left behind (cbh gc removes them)"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "floor %.2f\n", e - s }'
