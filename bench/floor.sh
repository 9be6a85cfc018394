#!/usr/bin/env bash
# Floor for `cbh bench`: the seed procedure's steps (crash, activate, a new standby on the old
# coordinator host, then the original hosts restored) done with raw PostgreSQL, `docker` and
# `docker exec` on four fresh containers: no gp utilities, no harness, no check beyond the row
# counts. What the procedure costs at the least on this machine; bench/baseline.sh is the same
# procedure with the gp utilities, as a person would script it.
# Usage: bench/floor.sh IMAGE (any image with PostgreSQL 17 and the node contract, e.g. the
# emulated one). Prints "floor <seconds>" on success: from the first docker command to the last
# object removed, as `cbh bench` times a harness run (teardown included). The containers are
# the harness's (bench/nodes.sh).
set -euo pipefail
name=floor
image=${1:?usage: floor.sh IMAGE}
# shellcheck source=bench/nodes.sh
. "$(dirname "$0")/nodes.sh"

pg() { # host, script: run as gpadmin with the PostgreSQL binaries on PATH
  docker exec -u gpadmin "cbh-$id-$1" bash -c "export PATH=/usr/lib/postgresql/17/bin:\$PATH PGHOST=/tmp; $2"
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
sync_on() { pg "$1" "psql -XAtq -d postgres -c \"alter system set synchronous_standby_names='*'\" -c 'select pg_reload_conf()' >/dev/null"; }
sync_off() { pg "$1" "psql -XAtq -d postgres -c 'alter system reset synchronous_standby_names' -c 'select pg_reload_conf()' >/dev/null"; }
rows() { pg "$1" "psql -XAtq -d postgres -c 'select count(*) from t'"; }
write() { pg "$1" "psql -XAtq -d postgres -c 'insert into t select generate_series(1, $2)'"; }

start_nodes

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

finish
