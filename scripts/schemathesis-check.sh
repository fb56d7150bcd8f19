#!/usr/bin/env bash
# API fuzzing check: schemathesis (`--checks all`) against a fresh `sagaflow dev` on SQLite,
# driven by the OpenAPI document the server itself serves at /openapi.json. Any failing
# check (a 5xx, a response outside the document, a schema-valid request refused, an invalid
# one accepted, ...) fails the run. See RELIABILITY.md, "Fuzzing the API with schemathesis".
#
#   bash scripts/schemathesis-check.sh
#
# Needs python3 with venv and pip (schemathesis $SCHEMATHESIS_VERSION is installed into
# target/schemathesis-venv, reused while the version does not change) and curl. Uses
# target/debug/sagaflow (built if missing; SAGAFLOW_BIN overrides). `sagaflow dev` runs on
# 127.0.0.1 on a free port with its own data directory, stopped and removed on exit.
# SCHEMATHESIS_MAX_EXAMPLES (default 30) bounds the examples per operation;
# scripts/schemathesis_hooks.py replaces positive_data_acceptance by the same check that
# lets a reused Idempotency-Key's 422 pass (state, not schema).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BIN=${SAGAFLOW_BIN:-$ROOT/target/debug/sagaflow}
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}
SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-30}

log() { echo "schemathesis-check: $*"; }
die() {
  echo "schemathesis-check: FAIL: $*" >&2
  exit 1
}

for tool in python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

if [ ! -x "$BIN" ]; then
  log "building $BIN"
  cargo build -p sagaflow --bin sagaflow
fi

# ---------------------------------------------------------------- schemathesis
if [ ! -x "$VENV/bin/schemathesis" ] || [ "$(cat "$VENV/.version" 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  echo "$SCHEMATHESIS_VERSION" >"$VENV/.version"
fi

WORK_PREFIX=schemathesis
# shellcheck source=scripts/dev-lib.sh
source scripts/dev-lib.sh
started=$SECONDS

# ---------------------------------------------------------------- sagaflow dev
start_dev
up=""
for _ in $(seq 1 600); do
  kill -0 "$DEV_PID" 2>/dev/null || die "sagaflow dev exited at start-up"
  if curl -fsS -m 2 "$API/readyz" >/dev/null 2>&1; then
    up=yes
    break
  fi
  sleep 0.1
done
[ -n "$up" ] || die "sagaflow dev did not start within 60 s"

# ---------------------------------------------------------------- the run
log "schemathesis $SCHEMATHESIS_VERSION, --checks all, --max-examples $MAX_EXAMPLES"
SCHEMATHESIS_HOOKS=$ROOT/scripts/schemathesis_hooks.py timeout 300 \
  "$VENV/bin/schemathesis" run "$API/openapi.json" \
  --checks all --exclude-checks positive_data_acceptance \
  --max-examples "$MAX_EXAMPLES" --request-timeout 40 --no-color \
  >"$WORK/schemathesis.log" 2>&1 || {
  cat "$WORK/schemathesis.log" >&2
  die "schemathesis reported failures (or did not finish in 300 s)"
}
grep -E "[0-9]+ generated" "$WORK/schemathesis.log" | tail -n 1 | sed "s/^ */schemathesis-check: /"
log "OK in $((SECONDS - started)) s"
