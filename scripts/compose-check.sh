#!/usr/bin/env bash
# The compose topology for real, on a machine whose Docker engine has no registry and no bridge
# network: docker-compose.yml with docker-compose.local.yml (host networking, 127.0.0.1 ports of
# its own, local stand-ins for MariaDB, Redis and Prometheus; see that file), brought up with
# Debian's docker-compose v1 under a project name of its own, then:
#   1. `up -d`: the four databases and Redis, migrate (exits 0), the three services, the server
#      and the workers, each started only after what it depends on (start times checked) and
#      each healthy (its health check); GRAFANA IS NOT STARTED (no image without a registry);
#   2. `docker-compose exec server sagaflow demo --check --api http://127.0.0.1:18080`: the
#      README's four cases;
#   3. `up -d --scale worker=3`: three workers, each on its own metrics port (19201-19203),
#      the new ones' time from the scale command to their first claim;
#   4. a load from a container (`sagaflow load`, light unless SAGAFLOW_COMPOSE_LOAD=heavy), after
#      which every one of the three workers must have journaled steps (the journal's worker
#      column, and each worker's own /metrics), no workflow left unfinished;
#   5. Prometheus' /api/v1/targets: every target up;
#   6. the image's size, each container's memory at idle and under the load (docker stats);
# and `down -v` (containers, network, volumes) whatever happens. Polls with bounded timeouts;
# traffic only to 127.0.0.1. Any failure fails the script, with the containers' last logs.
#
# Needs: a Docker engine, docker-compose (v1), the image sagaflow:latest (built here unless
# SAGAFLOW_SKIP_BUILD=1), the mysql client, curl, python3, a font for the load's charts
# (SAGAFLOW_FONT, default DejaVu Sans). scripts/docker-standins.sh starts dockerd and makes
# the base images; scripts/compose-standins.sh (run here) makes the stand-ins.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=sagaflow:latest
PROJECT=sagaflow-compose-check-$$
LOAD_PROFILE=${SAGAFLOW_COMPOSE_LOAD:-light}
FONT=${SAGAFLOW_FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
DC=(docker-compose -f docker-compose.yml -f docker-compose.local.yml -p "$PROJECT")
API=http://127.0.0.1:18080
PROM=http://127.0.0.1:19090
# Every port the local topology binds (docker-compose.local.yml).
PORTS=(3321 3322 3323 3324 6389 18080 18081 18082 18083 19090 $(seq 19201 19210))
LOGS=$(mktemp -d)
LOAD_NAME=$PROJECT-load
T0=$SECONDS
TIMES=()

say() { echo "compose-check: $*"; }
timed() { TIMES+=("$(printf '%-44s %5d s' "$1" "$2")"); }
fail() {
  echo "compose-check: ################################################################" >&2
  echo "compose-check: FAILED: $*" >&2
  echo "compose-check: ################################################################" >&2
  "${DC[@]}" ps >&2 2>/dev/null || true
  for c in $("${DC[@]}" ps -q 2>/dev/null); do
    echo "--- $(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c" 2>/dev/null) (last lines)" >&2
    docker logs --tail 15 "$c" 2>&1 | sed 's/^/    /' >&2 || true
  done
  exit 1
}
cleanup() {
  local rc=$?
  docker rm -f "$LOAD_NAME" >/dev/null 2>&1 || true
  [ -n "${SAMPLER:-}" ] && kill "$SAMPLER" 2>/dev/null || true
  say "cleanup: docker-compose down -v (project $PROJECT)"
  "${DC[@]}" down -v --remove-orphans >"$LOGS/down.log" 2>&1 || { cat "$LOGS/down.log" >&2; rc=1; }
  left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"; docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
  [ -z "$left" ] || { echo "compose-check: FAILED: left behind: $left" >&2; rc=1; }
  rm -rf "$LOGS"
  exit $rc
}
trap cleanup EXIT

# until_ok TIMEOUT_S WHAT CMD...: CMD (run anew each time) until it succeeds, every 0.2 s, at
# most TIMEOUT_S.
until_ok() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what: not within $timeout s"
    sleep 0.2
  done
}
# SERVICE's containers, by compose's labels (docker itself: far quicker than compose v1's ps).
cid() {
  docker ps -aq --no-trunc --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=$1"
}
# A Go template of SERVICE's container (the first one: workers have several).
state() { docker inspect -f "$2" "$(cid "$1" | head -n 1)"; }
epoch() { date -d "$1" +%s.%N; }
sql() { mysql --protocol=tcp -h 127.0.0.1 -P 3324 -usaga -psaga123 saga_orchestrator -N -e "$1"; }

docker info >/dev/null 2>&1 || fail "no Docker engine answers (scripts/docker-standins.sh starts one)"
command -v docker-compose >/dev/null || fail "no docker-compose (Debian: apt-get install docker-compose)"
[ -f "$FONT" ] || fail "no font at $FONT for the load's charts (apt-get install fonts-dejavu-core, or set SAGAFLOW_FONT)"
for p in "${PORTS[@]}"; do
  python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null \
    || fail "port 127.0.0.1:$p is taken: the local topology needs ${PORTS[*]}"
done

# --- images -----------------------------------------------------------------------------
if [ "${SAGAFLOW_SKIP_BUILD:-}" != 1 ]; then
  say "docker build --network host -t $IMAGE ."
  t=$SECONDS
  docker build --network host -t "$IMAGE" . >"$LOGS/build.log" 2>&1 || { tail -n 40 "$LOGS/build.log" >&2; fail "docker build"; }
  timed "image build" $((SECONDS - t))
fi
docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE (build it, or drop SAGAFLOW_SKIP_BUILD)"
t=$SECONDS
bash scripts/compose-standins.sh || fail "the stand-in images"
timed "stand-in images (built or up to date)" $((SECONDS - t))
SIZE_MB=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.1f", $1 / 1e6 }')
say "image $IMAGE: $SIZE_MB MB"
"${DC[@]}" config -q || fail "docker-compose config of docker-compose.yml + docker-compose.local.yml"
say "NOTE: MariaDB, Redis and Prometheus are LOCAL STAND-INS (sagaflow-standin/*, Debian's packages)"
say "NOTE: GRAFANA IS NOT STARTED: it has no Debian package and no image without a registry (profile 'grafana')"

# --- 1. up, in order, healthy -------------------------------------------------------------
say "docker-compose -f docker-compose.yml -f docker-compose.local.yml -p $PROJECT up -d --no-build"
t=$SECONDS; t_up=$(date +%s.%N)
timeout 300 "${DC[@]}" up -d --no-build >"$LOGS/up.log" 2>&1 || { cat "$LOGS/up.log" >&2; fail "docker-compose up -d"; }
[ -z "$(cid grafana 2>/dev/null)" ] || fail "grafana was started"
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
for s in user-db payment-db order-db saga-db redis user payment order server worker; do
  [ -n "$(cid "$s")" ] || fail "$s has no container"
  for c in $(cid "$s"); do until_ok 60 "$s ($c) healthy" healthy "$c"; done
done
[ "$(state migrate '{{.State.Status}} {{.State.ExitCode}}')" = "exited 0" ] \
  || fail "migrate: $(state migrate '{{.State.Status}} exit {{.State.ExitCode}}')"
timed "up -d: migrate ran, all healthy" $((SECONDS - t))
# Start order: each container started after what it depends on (migrate: after it finished).
started() { epoch "$(state "$1" '{{.State.StartedAt}}')"; }
before() { # A_TIME B_NAME B_TIME: A happened before B started
  awk -v a="$1" -v b="$3" 'BEGIN { exit !(a < b) }' || fail "start order: $2 started before what it depends on"
}
MIGRATED=$(epoch "$(state migrate '{{.State.FinishedAt}}')")
before "$(started saga-db)" migrate "$(started migrate)"
for pair in user-db:user payment-db:payment order-db:order redis:server; do
  before "$(started "${pair%%:*}")" "${pair#*:}" "$(started "${pair#*:}")"
done
for s in server worker; do before "$MIGRATED" "$s" "$(started "$s")"; done
for s in user payment order; do
  for c in $(cid worker); do
    before "$(started "$s")" worker "$(epoch "$(docker inspect -f '{{.State.StartedAt}}' "$c")")"
  done
done
say "start order (s after up):"
for s in saga-db redis migrate user payment order server worker; do
  at=$(started "$s"); printf '  %-9s started +%5.1f s\n' "$s" "$(awk -v a="$at" -v b="$t_up" 'BEGIN { print a - b }')"
done
printf '  %-9s exited  +%5.1f s (exit 0)\n' migrate "$(awk -v a="$MIGRATED" -v b="$t_up" 'BEGIN { print a - b }')"
WORKERS_BEFORE=$(cid worker | wc -l)
say "migrate -> services -> server -> workers in order; all healthy ($WORKERS_BEFORE worker(s) from up)"

# --- 2. the README's cases -------------------------------------------------------------------
t=$SECONDS
"${DC[@]}" exec -T server sagaflow demo --check --api "$API" >"$LOGS/demo.log" 2>&1 \
  || { cat "$LOGS/demo.log" >&2; fail "docker-compose exec server sagaflow demo --check"; }
timed "exec server sagaflow demo --check" $((SECONDS - t))
say "demo --check passed in the server container (the README's four cases):"
sed 's/^/  /' "$LOGS/demo.log"

# Memory per container: docker stats' figure (the cgroup's usage less its page cache) and the
# resident set of the container's main process (VmRSS of its pid 1, read from the host).
mem_table() { # NAME STATS_MIB RSS_MIB per running container of the project
  local c pid rss
  docker stats --no-stream --format '{{.ID}} {{.Name}} {{.MemUsage}}' \
    $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT") | while read -r c name use _; do
    pid=$(docker inspect -f '{{.State.Pid}}' "$c" 2>/dev/null || echo 0)
    rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    echo "${name#"$PROJECT"_} $(mib "$use") ${rss:-0}" # name: SERVICE_N
  done
}
mib() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; gsub(/[0-9.]/, "", u);
  printf "%.1f", (u == "GiB") ? n * 1024 : (u == "KiB" || u == "kB") ? n / 1024 : (u == "B") ? n / 1048576 : n }'; }
mem_print() { sort | awk '{ printf "  %-14s docker stats %7.1f MiB   RSS %7.1f MiB\n", $1, $2, $3 }'; }
say "idle memory per container:"
mem_table | mem_print

# --- 3. three workers ----------------------------------------------------------------------
say "docker-compose ... up -d --no-build --scale worker=3"
t=$SECONDS; t_scale=$(date +%s.%N)
OLD_WORKERS=$(cid worker | sort)
timeout 120 "${DC[@]}" up -d --no-build --no-recreate --scale worker=3 >"$LOGS/scale.log" 2>&1 \
  || { cat "$LOGS/scale.log" >&2; fail "up --scale worker=3"; }
WORKERS=$(cid worker | sort)
[ "$(echo "$WORKERS" | wc -l)" = 3 ] || fail "--scale worker=3 left $(echo "$WORKERS" | wc -l) workers"
NEW_WORKERS=$(comm -13 <(echo "$OLD_WORKERS") <(echo "$WORKERS"))
declare -A PORT WID
for c in $WORKERS; do
  until_ok 60 "worker $c healthy" healthy "$c"
  PORT[$c]=$(docker exec "$c" cat /tmp/sagaflow-metrics.addr | cut -d: -f2)
  WID[$c]=$(docker logs "$c" 2>&1 | grep -o '"worker":"[^"]*"' | head -n 1 | cut -d'"' -f4)
  [ -n "${WID[$c]}" ] || fail "worker $c logged no 'worker started' line with its id"
done
[ "$(printf '%s\n' "${PORT[@]}" | sort | tr '\n' ' ')" = "19201 19202 19203 " ] \
  || fail "the three workers' metrics ports are ${PORT[*]}, not 19201 19202 19203"
[ "$(printf '%s\n' "${WID[@]}" | sort -u | wc -l)" = 3 ] || fail "worker ids are not distinct: ${WID[*]}"
claims() { curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^sagaflow_claim_duration_seconds_count/ { print $2 }'; }
# Cold start: from the scale command, and from the container's start (docker's StartedAt), to
# the new worker's first claim transaction (its claim histogram's count leaves zero).
for c in $NEW_WORKERS; do
  deadline=$((SECONDS + 30))
  until curl -fsS "http://127.0.0.1:${PORT[$c]}/metrics" 2>/dev/null | grep -Eq '^sagaflow_claim_duration_seconds_count [1-9]'; do
    [ $SECONDS -lt $deadline ] || fail "new worker ${WID[$c]} made no claim within 30 s"
    sleep 0.05
  done
  now=$(date +%s.%N); began=$(epoch "$(docker inspect -f '{{.State.StartedAt}}' "$c")")
  say "new worker ${WID[$c]} (metrics :${PORT[$c]}): first claim $(awk -v a="$t_scale" -v b="$now" 'BEGIN { printf "%.2f", b - a }') s after the scale command, $(awk -v a="$began" -v b="$now" 'BEGIN { printf "%.2f", b - a }') s after its container started"
done
timed "scale to 3 workers, healthy, first claims" $((SECONDS - t))

# --- 4. load, every worker claims ---------------------------------------------------------------
before_rows=$(sql "SELECT COUNT(*) FROM activities")
say "load --profile $LOAD_PROFILE from a container against $API"
t=$SECONDS
docker run -d --name "$LOAD_NAME" --network host -v "$FONT:/usr/share/fonts/load.ttf:ro" \
  -e SAGAFLOW_FONT=/usr/share/fonts/load.ttf "$IMAGE" load --api "$API" \
  --services user=http://127.0.0.1:18081,payment=http://127.0.0.1:18082,order=http://127.0.0.1:18083 \
  --profile "$LOAD_PROFILE" --out /tmp/load-results >/dev/null || fail "docker run load"
# Memory under load: docker stats sampled while the load runs; the highest figure per container.
( while docker inspect -f '{{.State.Running}}' "$LOAD_NAME" 2>/dev/null | grep -q true; do
    mem_table >>"$LOGS/load.mem" 2>/dev/null || true
  done ) & SAMPLER=$!
code=$(timeout 600 docker wait "$LOAD_NAME") || fail "the load did not end within 600 s"
wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
docker logs "$LOAD_NAME" >"$LOGS/load.log" 2>&1 || true
[ "$code" = 0 ] || { tail -n 30 "$LOGS/load.log" >&2; fail "load exited $code"; }
line=$(grep -E "^ *$LOAD_PROFILE: [0-9]+ submitted" "$LOGS/load.log" | tail -n 1 || true)
[ -n "$line" ] || { tail -n 30 "$LOGS/load.log" >&2; fail "no summary line in the load's output"; }
say "load: ${line# }"
echo "$line" | grep -q ' 0 unfinished, 0 refused' || fail "workflows left unfinished or submits refused"
timed "load ($LOAD_PROFILE) from a container" $((SECONDS - t))
say "steps journaled per worker during the run (activities.worker) and each one's claims (/metrics):"
for c in $WORKERS; do
  n=$(sql "SELECT COUNT(*) FROM activities WHERE worker = '${WID[$c]}'")
  wf=$(sql "SELECT COUNT(DISTINCT workflow_id) FROM activities WHERE worker = '${WID[$c]}'")
  printf '  %-40s :%s  %6s steps of %5s workflows, %6s claim transactions\n' "${WID[$c]}" "${PORT[$c]}" "$n" "$wf" "$(claims "${PORT[$c]}")"
  [ "$n" -gt 0 ] || fail "worker ${WID[$c]} journaled no step: it claimed no work"
done
say "journal: $before_rows steps before the load, $(sql "SELECT COUNT(*) FROM activities") after"
say "memory under the load (the highest of $(grep -c '^server_' "$LOGS/load.mem" || true) docker stats --no-stream rounds):"
awk '{ if ($2 > s[$1]) s[$1] = $2; if ($3 > r[$1]) r[$1] = $3 } END { for (k in s) print k, s[k], r[k] }' "$LOGS/load.mem" | mem_print

# --- 5. Prometheus: every target up ------------------------------------------------------------
t=$SECONDS
targets() { curl -fsS "$PROM/api/v1/targets" | python3 -c '
import json, sys
ts = json.load(sys.stdin)["data"]["activeTargets"]
for t in ts: print(t["labels"]["job"], t["scrapeUrl"], t["health"], t.get("lastError", ""))
'; }
all_up() { local out; out=$(targets) && [ "$(echo "$out" | wc -l)" = 8 ] && ! echo "$out" | grep -qv ' up '; }
deadline=$((SECONDS + 60))
until all_up; do
  [ $SECONDS -lt $deadline ] || { targets >&2 || true; fail "Prometheus: not every target up within 60 s (above)"; }
  sleep 0.5
done
say "Prometheus $PROM/api/v1/targets: all 8 up"
targets | sed 's/^/  /'
timed "Prometheus: every target up" $((SECONDS - t))

timed "compose check in all" $((SECONDS - T0))
say "timings:"
for l in "${TIMES[@]}"; do echo "  $l"; done
say "passed (Grafana not started: no image here)"
