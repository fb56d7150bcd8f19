#!/usr/bin/env bash
# The image for real: builds it from this tree, checks its size, then runs every role of the
# compose topology from it as containers (host networking) against this machine's MariaDB and
# Redis — migrate, the three services, the server and two workers — waits for each one's
# HEALTHCHECK, runs `sagaflow demo --check` and a short load from containers, SIGKILLs a worker
# container mid-load (when the saga database shows it holding a lease) and starts a
# replacement; every workflow the killed worker held must end, the load must leave none
# unfinished, and `sagaflow reconcile` must be clean.
# Prints the timings, the image size, a worker's cold start to its first claim and each
# container's idle memory. Removes its containers, databases and users at the end.
#
# Needs a Docker engine; on a machine without a registry or network run
# scripts/docker-standins.sh first (it also starts dockerd). Environment:
# SAGAFLOW_IMAGE (default sagaflow:latest), SAGAFLOW_TEST_MYSQL_URL (default
# mysql://root@127.0.0.1:3306), SAGAFLOW_REDIS_URL (default redis://127.0.0.1:6379),
# SAGAFLOW_IMAGE_MAX_MB (default 120), SAGAFLOW_SKIP_BUILD=1 (use the image as it is),
# SAGAFLOW_BUILD_FLAGS (default --network host).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${SAGAFLOW_IMAGE:-sagaflow:latest}
ROOT=${SAGAFLOW_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}
HOSTPORT=${ROOT#mysql://*@}
REDIS=${SAGAFLOW_REDIS_URL:-redis://127.0.0.1:6379}
MAX_MB=${SAGAFLOW_IMAGE_MAX_MB:-120}
read -r -a BUILD_FLAGS <<<"${SAGAFLOW_BUILD_FLAGS:---network host}"
RUN_LABEL="org.sagaflow.container-check=$$"
LOGS=$(mktemp -d)
T0=$SECONDS
TIMES=()

say() { echo "container-check: $*"; }
fail() {
  echo "container-check: FAILED: $*" >&2
  for c in $(ours); do
    echo "--- $(docker inspect -f '{{.Name}}' "$c" 2>/dev/null) (last lines)" >&2
    docker logs --tail 15 "$c" >&2 2>&1 || true
  done
  exit 1
}
timed() { TIMES+=("$(printf '%-34s %5d s' "$1" "$2")"); }
sql() { mysql --protocol=tcp -h "${HOSTPORT%:*}" -P "${HOSTPORT#*:}" -uroot -N -e "$1"; }

# The containers this run started: its label carries this shell's process id.
ours() { docker ps -aq --filter "label=$RUN_LABEL" 2>/dev/null || true; }
cleanup() {
  local rc=$?
  for c in $(ours); do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for name in saga user payment order; do
    sql "DROP DATABASE IF EXISTS ctr_$name; DROP USER IF EXISTS 'ctr_$name'@'%'" 2>/dev/null || true
  done
  rm -rf "$LOGS"
  exit $rc
}
trap cleanup EXIT

docker info >/dev/null 2>&1 || fail "no Docker engine answers (scripts/docker-standins.sh starts one)"

# --- the Dockerfile names every workspace member (its dependency layer stubs each one) -----
members=$(sed -n '/^members/,/]/p' Cargo.toml | grep -o '"[^"]*"' | tr -d '"')
for m in $members; do
  grep -q "^COPY $m/Cargo.toml $m/Cargo.toml$" Dockerfile && grep -q "^COPY $m $m$" Dockerfile \
    || fail "workspace member $m is not copied by the Dockerfile (both its Cargo.toml and its sources)"
done

# --- build ------------------------------------------------------------------------------
for base in rust:1.95-slim-bookworm debian:bookworm-slim; do
  if [ "$(docker image inspect -f '{{index .Config.Labels "org.sagaflow.standin"}}' "$base" 2>/dev/null)" = true ]; then
    say "NOTE: $base is a LOCAL STAND-IN (scripts/docker-standins.sh), not the registry's image"
  fi
done
[ -f docker/offline/config.toml ] && say "NOTE: crates come from docker/offline/vendor (vendored, no network)"
if [ "${SAGAFLOW_SKIP_BUILD:-}" != 1 ]; then
  say "docker build ${BUILD_FLAGS[*]} -t $IMAGE ."
  t=$SECONDS
  docker build "${BUILD_FLAGS[@]}" -t "$IMAGE" . >"$LOGS/build.log" 2>&1 \
    || { tail -n 40 "$LOGS/build.log" >&2; fail "docker build"; }
  timed "image build" $((SECONDS - t))
fi
SIZE=$(docker image inspect -f '{{.Size}}' "$IMAGE")
SIZE_MB=$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1e6 }')
BIN_MB=$(docker run --rm --entrypoint stat "$IMAGE" -c %s /usr/local/bin/sagaflow | awk '{ printf "%.1f", $1 / 1e6 }')
say "image $IMAGE: $SIZE_MB MB uncompressed (binary $BIN_MB MB; target <= $MAX_MB MB)"
awk -v s="$SIZE" -v m="$MAX_MB" 'BEGIN { exit !(s <= m * 1e6) }' || fail "image is $SIZE_MB MB, over $MAX_MB MB"
[ "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")" = sagaflow ] || fail "the image does not run as user sagaflow"

# --- databases: one per service and one least-privilege user each, like topology-check.sh ---
for name in saga user payment order; do
  sql "DROP DATABASE IF EXISTS ctr_$name; CREATE DATABASE ctr_$name;
       CREATE OR REPLACE USER 'ctr_$name'@'%' IDENTIFIED BY '${name}123';
       GRANT ALL ON ctr_$name.* TO 'ctr_$name'@'%';"
done
url() { echo "mysql://ctr_$1:${1}123@$HOSTPORT/ctr_$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(free_port); USER_PORT=$(free_port); PAY_PORT=$(free_port); ORDER_PORT=$(free_port)
W1=$(free_port); W2=$(free_port); W3=$(free_port)
SERVICES="user=http://127.0.0.1:$USER_PORT,payment=http://127.0.0.1:$PAY_PORT,order=http://127.0.0.1:$ORDER_PORT"

# A short health-check interval (the image's command, checked every second rather than 5 s).
RUN=(docker run --network host --label "$RUN_LABEL" --health-interval 1s)
start() { # NAME ARGS... : a detached container (the cleanup finds it by its label); prints its id
  local name=$1; shift
  "${RUN[@]}" -d --name "sagaflow-check-$$-$name" "$@" || fail "docker run $name"
}
healthy() { # ID TIMEOUT_S
  local status
  for _ in $(seq 1 $(($2 * 5))); do
    status=$(docker inspect -f '{{.State.Health.Status}}' "$1")
    [ "$status" = healthy ] && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || return 1
    sleep 0.2
  done
  return 1
}

t=$SECONDS
"${RUN[@]}" --rm -e SAGAFLOW_DATABASE_URL="$(url saga)" "$IMAGE" migrate --for saga >"$LOGS/migrate.log" 2>&1 \
  || { cat "$LOGS/migrate.log" >&2; fail "migrate"; }
declare -A C
C[user]=$(start user -e SAGAFLOW_DATABASE_URL="$(url user)" -e SAGAFLOW_LISTEN="127.0.0.1:$USER_PORT" -e SAGAFLOW_ADMIN=true "$IMAGE" service user)
C[payment]=$(start payment -e SAGAFLOW_DATABASE_URL="$(url payment)" -e SAGAFLOW_LISTEN="127.0.0.1:$PAY_PORT" -e SAGAFLOW_ADMIN=true "$IMAGE" service payment)
C[order]=$(start order -e SAGAFLOW_DATABASE_URL="$(url order)" -e SAGAFLOW_LISTEN="127.0.0.1:$ORDER_PORT" -e SAGAFLOW_ADMIN=true "$IMAGE" service order)
C[server]=$(start server -e SAGAFLOW_DATABASE_URL="$(url saga)" -e SAGAFLOW_LISTEN="127.0.0.1:$API" -e SAGAFLOW_REDIS_URL="$REDIS" \
  -e SAGAFLOW_HEALTH_URL="http://127.0.0.1:$API/readyz" "$IMAGE" server)
worker() { # NAME METRICS_PORT
  start "$1" -e SAGAFLOW_DATABASE_URL="$(url saga)" -e SAGAFLOW_SERVICES="$SERVICES" -e SAGAFLOW_REDIS_URL="$REDIS" \
    -e SAGAFLOW_METRICS_LISTEN="127.0.0.1:$2" -e SAGAFLOW_WORKER_ID="$1" -e SAGAFLOW_CONCURRENCY=4 "$IMAGE" worker
}
C[worker1]=$(worker worker1 "$W1")
C[worker2]=$(worker worker2 "$W2")
for role in user payment order server worker1 worker2; do
  healthy "${C[$role]}" 60 || fail "$role did not become healthy ($(docker inspect -f '{{.State.Health.Status}}' "${C[$role]}"))"
done
timed "migrate + 6 containers healthy" $((SECONDS - t))
say "migrate ran; user, payment, order, server, worker1, worker2 healthy (the image's HEALTHCHECK)"

t=$SECONDS
"${RUN[@]}" --rm "$IMAGE" demo --check --api "http://127.0.0.1:$API" --services "$SERVICES" >"$LOGS/demo.log" 2>&1 \
  || { cat "$LOGS/demo.log" >&2; fail "demo --check"; }
timed "demo --check (container)" $((SECONDS - t))
say "demo --check passed from a container"

# Memory per container: docker stats' figure (the cgroup's usage less its page cache) and the
# process's resident set (VmRSS of the container's pid 1, read from the host).
memory() { # ROLE...
  local role pid rss
  for role in "$@"; do
    pid=$(docker inspect -f '{{.State.Pid}}' "${C[$role]}")
    rss=$(awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?")
    printf '  %-8s docker stats %-10s RSS %s\n' "$role" \
      "$(docker stats --no-stream --format '{{.MemUsage}}' "${C[$role]}" | cut -d' ' -f1)" "$rss"
  done
}
# Idle: after start-up and the demo's few workflows.
say "idle memory per container:"
memory user payment order server worker1 worker2

# --- load, a worker killed mid-load, a replacement -------------------------------------------
# The image has no font (the service roles need none); load's charts do: the host's DejaVu,
# mounted read-only (Debian: fonts-dejavu-core).
FONT=${SAGAFLOW_FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}
[ -f "$FONT" ] || fail "no font at $FONT for load's charts (apt-get install fonts-dejavu-core, or set SAGAFLOW_FONT)"
t=$SECONDS
LOAD=$("${RUN[@]}" -d --name "sagaflow-check-$$-load" -v "$FONT:/usr/share/fonts/load.ttf:ro" \
  -e SAGAFLOW_FONT=/usr/share/fonts/load.ttf "$IMAGE" load --api "http://127.0.0.1:$API" --services "$SERVICES" \
  --profile light --duration 20s --out /tmp/load-results)
# Workflows whose lease worker2 holds (the lease is on the workflow row: owner, expiry in run_at).
held_by_worker2() {
  sql "SELECT id FROM ctr_saga.workflows WHERE lease_owner = 'worker2' AND run_at IS NOT NULL" 2>/dev/null
}
# SIGKILL worker2 5 s or more into the load, at a moment it holds a lease (a purchase takes tens
# of milliseconds, so it is looked for up to 12 s; without one the kill strands nothing), so
# the other workers must take its workflows over.
sleep 5
deadline=$((SECONDS + 12))
while [ $SECONDS -lt $deadline ] && [ -z "$(held_by_worker2)" ]; do :; done
docker kill "${C[worker2]}" >/dev/null
STRANDED=$(held_by_worker2 | tr '\n' ' ')
say "killed worker2 (docker kill, SIGKILL); its leases: $(echo "$STRANDED" | wc -w) workflow(s) $STRANDED"
t_start=$(date +%s.%N)
C[worker3]=$(worker worker3 "$W3")
# Cold start: docker run to the replacement's first claim transaction (its claim histogram's
# count leaves zero on /metrics).
first_claim=""
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$W3/metrics" 2>/dev/null | grep -Eq '^sagaflow_claim_duration_seconds_count [1-9]'; then
    first_claim=$(date +%s.%N); break
  fi
  sleep 0.05
done
[ -n "$first_claim" ] || fail "worker3 made no claim within 15 s"
COLD=$(awk -v a="$t_start" -v b="$first_claim" 'BEGIN { printf "%.2f", b - a }')
say "replacement worker3: docker run to first claim in $COLD s"
healthy "${C[worker3]}" 30 || fail "worker3 did not become healthy"
code=$(docker wait "$LOAD")
LOAD_LOG="$LOGS/load.log"; docker logs "$LOAD" >"$LOAD_LOG" 2>&1 || true
[ "$code" = 0 ] || { tail -n 30 "$LOAD_LOG" >&2; fail "load exited $code"; }
line=$(grep -E '^ *light: [0-9]+ submitted' "$LOAD_LOG" | tail -1 || true)
[ -n "$line" ] || { tail -n 30 "$LOAD_LOG" >&2; fail "no summary line in the load's output"; }
say "load: ${line# }"
echo "$line" | grep -q ' 0 unfinished, 0 refused' || fail "workflows left unfinished or submits refused"
for id in $STRANDED; do
  row=$(sql "SELECT status FROM ctr_saga.workflows WHERE id = '$id'")
  by=$(sql "SELECT GROUP_CONCAT(DISTINCT worker ORDER BY worker) FROM ctr_saga.activities WHERE workflow_id = '$id'")
  case "$row" in
    completed|compensated|failed) say "  $id (leased by the killed worker2): $row; steps journaled by $by" ;;
    *) fail "workflow $id, leased by the killed worker2, is still '$row'" ;;
  esac
done
timed "load 20 s + kill + replacement" $((SECONDS - t))

t=$SECONDS
"${RUN[@]}" --rm "$IMAGE" reconcile --database-url "$(url saga)" --user-url "$(url user)" \
  --payment-url "$(url payment)" --order-url "$(url order)" >"$LOGS/reconcile.log" 2>&1 \
  || { cat "$LOGS/reconcile.log" >&2; fail "reconcile found a mismatch"; }
timed "reconcile (container)" $((SECONDS - t))
say "reconcile clean: $(tail -n 1 "$LOGS/reconcile.log")"

say "memory after the load:"
memory user payment order server worker1 worker3

timed "container check in all" $((SECONDS - T0))
say "timings:"
for line in "${TIMES[@]}"; do echo "  $line"; done
say "passed"
