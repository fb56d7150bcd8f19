#!/usr/bin/env bash
# The docker-compose topology as local processes (this machine has no Docker engine):
# MariaDB with one database and one user per service, Redis, `sagaflow migrate`, the three
# services, the server and three workers; then `sagaflow demo --check` against it. Ends by
# itself and stops what it started.
#
# With --secure, the TLS + JWT example of docker-compose.secure.yml (SECURITY.md): key
# material from scripts/dev-certs.sh, HTTPS everywhere, the services asking for the workers'
# client certificate (mTLS) with their admin routes off, the API taking only JWTs from
# scripts/dev-token.sh; and the refusals: plain HTTP, no token, a token without the scope,
# a caller without a client certificate.
set -euo pipefail
SECURE=false
[ "${1:-}" = "--secure" ] && SECURE=true
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
REDIS=redis://127.0.0.1:6379
SCHEME=http; SERVICE_FLAGS=(--admin); SERVER_FLAGS=(); WORKER_FLAGS=(); PROBE=(); SERVICE_PROBE=()
if $SECURE; then
  S="$LOGS/secrets"
  bash scripts/dev-certs.sh "$S" > /dev/null
  SCHEME=https
  SERVICE_FLAGS=(--tls-cert "$S/server.pem" --tls-key "$S/server.key" --tls-client-ca "$S/ca.pem")
  SERVER_FLAGS=(--tls-cert "$S/server.pem" --tls-key "$S/server.key" --jwt-jwks "$S/jwks.json"
                --jwt-issuer https://issuer.example --jwt-audience sagaflow)
  WORKER_FLAGS=(--participant-ca "$S/ca.pem" --participant-cert "$S/worker.pem" --participant-key "$S/worker.key")
  PROBE=(--ca "$S/ca.pem")
  SERVICE_PROBE=(--ca "$S/ca.pem" --cert "$S/worker.pem" --key "$S/worker.key")
fi
SERVICES="user=$SCHEME://127.0.0.1:$USER_PORT,payment=$SCHEME://127.0.0.1:$PAY_PORT,order=$SCHEME://127.0.0.1:$ORDER_PORT"

"$B" migrate --for saga --database-url "$(url saga)" > "$LOGS/migrate.log"
start() { local log=$1; shift; "$B" "$@" > "$LOGS/$log.log" 2>&1 & PIDS+=($!); }
start user    service user    --database-url "$(url user)"    --listen "127.0.0.1:$USER_PORT" "${SERVICE_FLAGS[@]}"
start payment service payment --database-url "$(url payment)" --listen "127.0.0.1:$PAY_PORT" "${SERVICE_FLAGS[@]}"
start order   service order   --database-url "$(url order)"   --listen "127.0.0.1:$ORDER_PORT" "${SERVICE_FLAGS[@]}"
start server  server --database-url "$(url saga)" --listen "127.0.0.1:$API" --redis-url "$REDIS" "${SERVER_FLAGS[@]}"
for w in 1 2 3; do
  start "worker$w" worker --database-url "$(url saga)" --services "$SERVICES" --redis-url "$REDIS" \
    --worker-id "w$w" "${WORKER_FLAGS[@]}"
done

probe_until_up() { # URL PROBE_FLAGS...
  local target=$1; shift
  for _ in $(seq 1 100); do "$B" probe "$@" "$target" 2>/dev/null && break; sleep 0.2; done
  "$B" probe "$@" "$target"
}
probe_until_up "$SCHEME://127.0.0.1:$API/readyz" "${PROBE[@]}"
for port in "$USER_PORT" "$PAY_PORT" "$ORDER_PORT"; do
  probe_until_up "$SCHEME://127.0.0.1:$port/healthz" "${SERVICE_PROBE[@]}"
done

fail() { echo "topology check: $*" >&2; tail -n 20 "$LOGS"/*.log; exit 1; }
if $SECURE; then
  echo "topology: as above, with TLS everywhere, mTLS to the services and JWT on the API"
  # Refusals first: each must fail.
  "$B" probe "http://127.0.0.1:$API/readyz" 2>/dev/null && fail "the TLS API answered plain HTTP"
  "$B" probe "https://127.0.0.1:$API/readyz" 2>/dev/null && fail "the API was trusted without its CA"
  "$B" probe --ca "$S/ca.pem" "https://127.0.0.1:$USER_PORT/healthz" 2>/dev/null \
    && fail "a service answered a caller without a client certificate"
  SAGAFLOW_API_TOKEN= "$B" demo --check --api "https://127.0.0.1:$API" --api-ca "$S/ca.pem" >/dev/null 2>&1 \
    && fail "the API ran the cases without a token"
  READER=$(bash scripts/dev-token.sh reader "sagaflow:read" 600 "$S")
  SAGAFLOW_API_TOKEN="$READER" "$B" demo --check --api "https://127.0.0.1:$API" --api-ca "$S/ca.pem" >/dev/null 2>&1 \
    && fail "a token without sagaflow:submit submitted"
  TOKEN=$(bash scripts/dev-token.sh alice "sagaflow:submit sagaflow:read" 600 "$S")
  SAGAFLOW_API_TOKEN="$TOKEN" "$B" demo --check --api "https://127.0.0.1:$API" --api-ca "$S/ca.pem" \
    || fail "the README's cases failed over TLS with a JWT"
else
  echo "topology: server, 3 workers, 3 services on MariaDB (separate databases and users) + Redis"
  "$B" demo --check --api "http://127.0.0.1:$API" --services "$SERVICES" || fail "the README's cases failed"
fi
echo "topology check passed"
