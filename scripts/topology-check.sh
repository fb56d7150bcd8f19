#!/usr/bin/env bash
# The docker-compose topology as local processes (this machine has no Docker engine):
# MariaDB with one database and one user per service, Redis, `sagaflow migrate`, the three
# services, the server and three workers; then `sagaflow demo --check` against it. Ends by
# itself and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SAGAFLOW_BIN:-target/release/sagaflow}
[ -x "$B" ] || cargo build --release -p sagaflow
ROOT=${SAGAFLOW_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}
HOSTPORT=${ROOT#mysql://*@}
LOGS=$(mktemp -d)
PIDS=()

sql() { mysql --protocol=tcp -h "${HOSTPORT%:*}" -P "${HOSTPORT#*:}" -uroot -e "$1"; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in topo_saga topo_user topo_payment topo_order; do sql "DROP DATABASE IF EXISTS $db" || true; done
  for u in topo_saga topo_user topo_payment topo_order; do sql "DROP USER IF EXISTS '$u'@'%'" || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One database and one least-privilege user per service, as in docker-compose.yml.
for name in saga user payment order; do
  sql "DROP DATABASE IF EXISTS topo_$name; CREATE DATABASE topo_$name;
       CREATE OR REPLACE USER 'topo_$name'@'%' IDENTIFIED BY '${name}123';
       GRANT ALL ON topo_$name.* TO 'topo_$name'@'%';"
done
url() { echo "mysql://topo_$1:$1123@$HOSTPORT/topo_$1"; }

API=$(free_port); USER_PORT=$(free_port); PAY_PORT=$(free_port); ORDER_PORT=$(free_port)
SERVICES="user=http://127.0.0.1:$USER_PORT,payment=http://127.0.0.1:$PAY_PORT,order=http://127.0.0.1:$ORDER_PORT"
REDIS=redis://127.0.0.1:6379

"$B" migrate --for saga --database-url "$(url saga)" > "$LOGS/migrate.log"
start() { local log=$1; shift; "$B" "$@" > "$LOGS/$log.log" 2>&1 & PIDS+=($!); }
start user    service user    --database-url "$(url user)"    --listen "127.0.0.1:$USER_PORT" --admin
start payment service payment --database-url "$(url payment)" --listen "127.0.0.1:$PAY_PORT" --admin
start order   service order   --database-url "$(url order)"   --listen "127.0.0.1:$ORDER_PORT" --admin
start server  server --database-url "$(url saga)" --listen "127.0.0.1:$API" --redis-url "$REDIS"
for w in 1 2 3; do
  start "worker$w" worker --database-url "$(url saga)" --services "$SERVICES" --redis-url "$REDIS" --worker-id "w$w"
done

for target in "$API/readyz" "$USER_PORT/healthz" "$PAY_PORT/healthz" "$ORDER_PORT/healthz"; do
  for _ in $(seq 1 100); do "$B" probe "http://127.0.0.1:$target" 2>/dev/null && break; sleep 0.2; done
  "$B" probe "http://127.0.0.1:$target"
done

echo "topology: server, 3 workers, 3 services on MariaDB (separate databases and users) + Redis"
if ! "$B" demo --check --api "http://127.0.0.1:$API" --services "$SERVICES"; then
  tail -n 20 "$LOGS"/*.log
  exit 1
fi
echo "topology check passed"
