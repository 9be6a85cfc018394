# shellcheck shell=bash
# Apache Cloudberry emulation (cbharness): what Cloudberry's cloudberry-env.sh provides.
# Source it; safe to source more than once.

GPHOME=/usr/local/cloudberry-db
export GPHOME

# The emulated utilities first, then the PostgreSQL 17 server binaries (initdb, pg_ctl, postgres,
# pg_basebackup, psql, ...), which Debian does not put on PATH.
case ":${PATH}:" in
    *":${GPHOME}/bin:/usr/lib/postgresql/17/bin:"*) ;;
    *) PATH="${GPHOME}/bin:/usr/lib/postgresql/17/bin:${PATH}" ;;
esac
export PATH

# Cloudberry's libpq looks for server sockets in /tmp (PostgreSQL's compiled-in default); Debian's
# libpq defaults to /var/run/postgresql. Every instance here listens in /tmp
# (unix_socket_directories = '/tmp'), so clients must be told to look there.
PGHOST=/tmp
export PGHOST
