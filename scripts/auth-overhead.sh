#!/usr/bin/env bash
# What authentication and TLS cost the API per request (BENCHMARKS.md, "Authentication and
# TLS"): `sagaflow dev` in five set-ups — no auth, a static token, a JWT (RS256, JWKS), an HS256
# JWT, and TLS + the RS256 JWT — each loaded by wrk (keep-alive, 8 connections, 1 thread) on
# GET /v1/workflow-types (no database work, so what differs is auth and TLS). Prints per run
# requests/s and the dev process's CPU microseconds per request (from /proc, user + system),
# ROUNDS rounds with the set-ups alternated, then the medians.
#   scripts/auth-overhead.sh [ROUNDS] [SECONDS]      (SAGAFLOW_BIN: default target/release/sagaflow)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SAGAFLOW_BIN:-target/release/sagaflow}
ROUNDS=${1:-3}; SECONDS_EACH=${2:-10}
command -v wrk >/dev/null || { echo "auth-overhead: needs wrk (apt-get install wrk)" >&2; exit 1; }
WORK=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
S="$WORK/secrets"; bash scripts/dev-certs.sh "$S" >/dev/null
head -c 48 /dev/urandom | base64 -w0 > "$WORK/hs.key"
RS=$(bash scripts/dev-token.sh bench "sagaflow:read" 86400 "$S")
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
hs_token() {
  local h p s; h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
  p=$(printf '{"sub":"bench","scope":"sagaflow:read","exp":%d}' "$(( $(date +%s) + 86400 ))" | b64url)
  s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$(cat "$WORK/hs.key")" -binary | b64url)
  echo "$h.$p.$s"
}
HS=$(hs_token)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# setup NAME -> flags of dev, scheme, token
run() { # NAME SCHEME TOKEN DEV_FLAGS...
  local name=$1 scheme=$2 token=$3; shift 3
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  "$B" dev --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" "$@" > "$WORK/dev.log" 2>&1 &
  local pid=$! url="$scheme://127.0.0.1:$PORT"
  for _ in $(seq 1 100); do curl -skf "$url/healthz" >/dev/null && break; sleep 0.1; done
  local header=(); [ -n "$token" ] && header=(-H "Authorization: Bearer $token")
  curl -skf "${header[@]}" "$url/v1/workflow-types" >/dev/null || { echo "$name: refused" >&2; cat "$WORK/dev.log" >&2; exit 1; }
  local before; before=$(awk '{print $14+$15}' "/proc/$pid/stat")
  local out; out=$(wrk -t1 -c8 -d"${SECONDS_EACH}s" "${header[@]}" "$url/v1/workflow-types")
  local after; after=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local requests; requests=$(echo "$out" | awk '/requests in/ {print $1}')
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local hz; hz=$(getconf CLK_TCK)
  local us; us=$(python3 -c "print(round(($after-$before)/$hz*1e6/$requests, 1))")
  echo "$name $rps $us" | tee -a "$WORK/results"
}
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round (set-up, requests/s, CPU µs per request)"
  run none http ""
  run static-token http "s3cret-token-for-the-benchmark" --api-tokens s3cret-token-for-the-benchmark
  run jwt-rs256 http "$RS" --jwt-jwks "$S/jwks.json" --jwt-issuer https://issuer.example --jwt-audience sagaflow
  run jwt-hs256 http "$HS" --jwt-hs256-secret-file "$WORK/hs.key"
  run tls+jwt-rs256 https "$RS" --jwt-jwks "$S/jwks.json" --jwt-issuer https://issuer.example --jwt-audience sagaflow \
    --tls-cert "$S/server.pem" --tls-key "$S/server.key"
done
echo "medians (requests/s, CPU µs per request):"
python3 - "$WORK/results" <<'PY'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    name, rps, us = line.split()
    rows.setdefault(name, []).append((float(rps), float(us)))
for name, runs in rows.items():
    print(f"{name:16} {statistics.median(r for r, _ in runs):10.0f} {statistics.median(u for _, u in runs):8.1f}")
PY
