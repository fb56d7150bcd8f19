#!/usr/bin/env bash
# The README topology on the 3-node Galera cluster of scripts/galera.sh (which must run), as
# processes, then `sagaflow load` through its API: where the writers sit is the question.
#
#   scripts/galera-bench.sh PLACEMENT [sagaflow load flags...]
#
# PLACEMENT:
#   standalone  every role on the machine's own MariaDB (127.0.0.1:3306), for comparison
#   one         server, services and both workers on node 1 (one writer node: fewest conflicts)
#   spread      server and services on node 1, one worker on node 2 and one on node 3
#
# Each role gets the whole node list, its own node first (`mysql://root@n1,n2,n3/db`), so it
# fails over when its node dies. Default load: --profile heavy --mix success=100. Prints the
# load's summary, the roles' retries by reason and failovers. Environment: SAGAFLOW_BIN
# (default target/release/sagaflow), WORKERS (default 2), SINGLE_HOST=1 (each role on its own
# node only, no failover), GALERA_KEEP=1 (leave the
# processes running; their pids are in $LOGS/pids).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SAGAFLOW_BIN:-target/release/sagaflow}
PLACEMENT=${1:-}
shift || true
WORKERS=${WORKERS:-2}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/sagaflow-galera-bench.XXXXXX")
PIDS=()
N1=127.0.0.1:3311 N2=127.0.0.1:3312 N3=127.0.0.1:3313

case "$PLACEMENT" in
standalone) SQLHOST=127.0.0.1 SQLPORT=3306 ;;
one | spread) SQLHOST=127.0.0.1 SQLPORT=3311 ;;
*)
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
[ -x "$B" ] || cargo build --release -p sagaflow

sql() { mariadb --protocol=tcp -h"$SQLHOST" -P"$SQLPORT" -uroot -N -B -e "$1"; }
cleanup() {
  local rc=$?
  if [ "${GALERA_KEEP:-}" != 1 ]; then
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$LOGS"
  fi
  exit $rc
}
trap cleanup EXIT

for name in saga user payment order; do
  sql "DROP DATABASE IF EXISTS gb_$name; CREATE DATABASE gb_$name" || {
    echo "galera-bench: the database at $SQLHOST:$SQLPORT does not answer (scripts/galera.sh start)" >&2
    exit 1
  }
done
# The node list with node $1 first.
nodes() {
  case $1 in
  0) echo "127.0.0.1:3306" ;;
  1) echo "$N1,$N2,$N3" ;;
  2) echo "$N2,$N3,$N1" ;;
  3) echo "$N3,$N1,$N2" ;;
  esac
}
url() {
  local list
  list=$(nodes "$2")
  # SINGLE_HOST=1: only the role's own node (no failover), as a binary without lists needs.
  [ "${SINGLE_HOST:-}" = 1 ] && list=${list%%,*}
  echo "mysql://root@$list/gb_$1"
}
home=1 w_home=(1 1)
[ "$PLACEMENT" = standalone ] && home=0 w_home=(0 0)
[ "$PLACEMENT" = spread ] && w_home=(2 3)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=$(free_port) USER_PORT=$(free_port) PAY_PORT=$(free_port) ORDER_PORT=$(free_port)
SERVICES="user=http://127.0.0.1:$USER_PORT,payment=http://127.0.0.1:$PAY_PORT,order=http://127.0.0.1:$ORDER_PORT"
start() {
  local log=$1
  shift
  "$B" "$@" >"$LOGS/$log.log" 2>&1 &
  PIDS+=($!)
  echo "$log $!" >>"$LOGS/pids"
}

"$B" migrate --for saga --database-url "$(url saga $home)" >"$LOGS/migrate.log"
start user service user --database-url "$(url user $home)" --listen "127.0.0.1:$USER_PORT" --admin
start payment service payment --database-url "$(url payment $home)" --listen "127.0.0.1:$PAY_PORT" --admin
start order service order --database-url "$(url order $home)" --listen "127.0.0.1:$ORDER_PORT" --admin
start server server --database-url "$(url saga $home)" --listen "127.0.0.1:$API" --redis-url redis://127.0.0.1:6379
METRICS=()
for w in $(seq 1 "$WORKERS"); do
  port=$(free_port)
  METRICS+=("http://127.0.0.1:$port")
  start "worker$w" worker --database-url "$(url saga "${w_home[$(((w - 1) % 2))]}")" --services "$SERVICES" \
    --redis-url redis://127.0.0.1:6379 --worker-id "gb-w$w" --metrics-listen "127.0.0.1:$port"
done
until_up() {
  for _ in $(seq 1 150); do "$B" probe "$1" 2>/dev/null && return 0; sleep 0.2; done
  "$B" probe "$1"
}
until_up "http://127.0.0.1:$API/readyz"
for p in "$USER_PORT" "$PAY_PORT" "$ORDER_PORT"; do until_up "http://127.0.0.1:$p/healthz"; done
for m in "${METRICS[@]}"; do until_up "$m/metrics"; done
echo "galera-bench: $PLACEMENT: server and services on $(nodes $home | cut -d, -f1), workers on" \
  "$(for w in $(seq 1 "$WORKERS"); do nodes "${w_home[$(((w - 1) % 2))]}" | cut -d, -f1; done | tr '\n' ' ')"
echo "API=http://127.0.0.1:$API SERVICES=$SERVICES LOGS=$LOGS" >"$LOGS/env"

# KILL_AT=S: S seconds into the load, SIGKILL node 1 (server, services and the "one" workers'
# node), bring it back DOWN_S seconds later (default 5); it rejoins while the load runs.
if [ -n "${KILL_AT:-}" ] && [ "$PLACEMENT" != standalone ]; then
  (
    sleep "$KILL_AT"
    date +%s.%N >"$LOGS/killed_at"
    bash scripts/galera.sh kill 1
    sleep "${DOWN_S:-5}"
    bash scripts/galera.sh start 1
  ) >"$LOGS/node-kill.log" 2>&1 &
  KILLER=$!
fi

LOAD=("$@")
[ ${#LOAD[@]} -gt 0 ] || LOAD=(--profile heavy --mix success=100)
"$B" load --api "http://127.0.0.1:$API" --services "$SERVICES" --out "$LOGS/load" "${LOAD[@]}"

if [ -n "${KILLER:-}" ]; then
  wait "$KILLER" || {
    cat "$LOGS/node-kill.log" >&2
    exit 1
  }
  echo "galera-bench: node 1 was killed ${KILL_AT} s into the load and rejoined: $(tail -1 "$LOGS/node-kill.log")"
  # The sagas submitted from 1 s before the kill to 10 s after it: their latency.
  python3 - "$LOGS/killed_at" "$LOGS/load/workflows.csv" <<'PY'
import csv, datetime, sys
killed = float(open(sys.argv[1]).read())
lat = []
for row in csv.DictReader(open(sys.argv[2])):
    t = datetime.datetime.fromisoformat(row["submitted_at"]).timestamp()
    if killed - 1 <= t <= killed + 10 and row["latency_ms"]:
        lat.append(float(row["latency_ms"]))
lat.sort()
if not lat:
    sys.exit("galera-bench: no saga was submitted around the kill")
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"galera-bench: failover window (-1 s..+10 s of the kill): {len(lat)} sagas, p50 {pick(0.5):.0f} ms, p99 {pick(0.99):.0f} ms, max {lat[-1]:.0f} ms")
PY
  for f in server user payment order; do
    echo "galera-bench: $f failovers: $(grep -c 'failed over' "$LOGS/$f.log" || true)"
  done
fi

retries() { curl -s "$1/metrics" | awk -v name="$2" '$1 ~ "^"name {split($1,a,"reason=\""); split(a[2],b,"\""); s[b[1]]+=$2} END {for (r in s) printf "%s=%d ", r, s[r]}'; }
for m in "${METRICS[@]}"; do
  echo "galera-bench: worker $m retries: $(retries "$m" sagaflow_db_retries_total) failovers: $(curl -s "$m/metrics" | awk '/^sagaflow_db_failovers_total/ {s+=$2} END {print s+0}')"
done
grep -h "1213\|Deadlock\|lease" "$LOGS"/worker*.log | head -5 || true
