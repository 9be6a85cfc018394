# shellcheck shell=bash
# name and image come from the script that sources this file, which uses C, D and hosts.
# shellcheck disable=SC2034,SC2154
# What bench/baseline.sh and bench/floor.sh share: four containers made as the harness makes its
# nodes (harness/src/cluster/handle.rs: the cluster network, a host name and alias per host, the
# coordinator directory on a volume of its own, Docker DNS options that make the name of a
# stopped host fail in 1 s instead of 20 s), labelled so that `cbh gc` reaps a killed run, and
# removed at the end. Sourced after setting `name` (the script's name, the first word of the
# line with its time) and `image`.
#
# Usage: start_nodes; ... (the procedure, `phase` marking its parts) ...; finish
# BENCH_VERBOSE=1 prints the time of each phase on stderr.
hosts=(cdw scdw sdw1 sdw2)
C=/data0/database/coordinator
D=$C/gpseg-1
READY_DEADLINE=60 # seconds, as the harness's default ready timeout
id="cbh$name-$$-$RANDOM"
# Owner label as the harness writes it (pid@start ticks), so `cbh gc` reaps a killed run.
owner="$$@$(awk '{print $22}' "/proc/$$/stat")"
labels=(--label "cbharness=$id" --label "cbharness.owner=$owner" --label "cbharness.scenario=$name")

cleanup() {
  docker ps -aq --filter "label=cbharness=$id" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
  docker network rm "cbh-$id" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { printf '%s: %s\n' "$name" "$*" >&2; exit 1; }
phase() { [ -z "${BENCH_VERBOSE:-}" ] || echo "$(date +%s.%N) $*" >&2; }
wait_all() { # every background job must succeed
  local job
  for job in $(jobs -p); do wait "$job"; done
}
wait_ready() {
  local deadline=$((SECONDS + READY_DEADLINE))
  until docker exec "cbh-$id-$1" test -e /run/cbh-node-ready 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 not ready within ${READY_DEADLINE}s"
    sleep 0.05
  done
}

# The clock starts here: the network, then the containers in parallel, until all are ready.
start_nodes() {
  start=$(date +%s.%N)
  docker network create --internal "${labels[@]}" "cbh-$id" >/dev/null
  local h
  for h in "${hosts[@]}"; do
    docker run -d --pull never --name "cbh-$id-$h" --hostname "$h" --network "cbh-$id" \
      --network-alias "$h" --dns-option timeout:1 --dns-option attempts:1 "${labels[@]}" \
      --mount "type=volume,dst=$C,volume-label=cbharness=$id,volume-label=cbharness.owner=$owner" \
      "$image" >/dev/null &
  done
  wait_all
  for h in "${hosts[@]}"; do wait_ready "$h"; done
}

# Everything removed (and checked), then the clock stops: prints "<name> <seconds>".
finish() {
  phase "cleanup"
  cleanup
  trap - EXIT
  local left
  left=$(($(docker ps -aq --filter "label=cbharness=$id" | wc -l) + $(docker volume ls -q --filter "label=cbharness=$id" | wc -l)))
  [ "$left" = 0 ] || fail "$left containers or volumes left behind (cbh gc removes them)"
  awk -v n="$name" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s %.2f\n", n, e - s }'
}
