#!/usr/bin/env bash
# The web console in Firefox ESR (Debian's firefox-esr, headless, driven over Marionette with
# marionette_driver from PyPI in target/firefox-venv): a fresh `sagaflow dev`, the README's
# cases through `sagaflow demo --api`, then every view must render its data with no script or
# CSP error and no request outside 127.0.0.1 (scripts/console_firefox.py). The Rust browser
# tests drive Chromium; this is the second engine the console is held to.
#
#   bash scripts/console-firefox-check.sh       # CONSOLE_SHOTS=<dir> keeps the screenshots
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${SAGAFLOW_BIN:-$ROOT/target/debug/sagaflow}
VENV=${FIREFOX_VENV:-$ROOT/target/firefox-venv}
MARIONETTE_VERSION=3.7.1

log() { echo "console-firefox: $*"; }
die() {
  echo "console-firefox: FAIL: $*" >&2
  exit 1
}

command -v firefox-esr >/dev/null 2>&1 || die "firefox-esr not found (apt-get install firefox-esr)"
[ -x "$BIN" ] || cargo build -p sagaflow --bin sagaflow
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.version" 2>/dev/null)" != "$MARIONETTE_VERSION" ]; then
  log "installing marionette_driver $MARIONETTE_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "marionette_driver==$MARIONETTE_VERSION"
  echo "$MARIONETTE_VERSION" >"$VENV/.version"
fi

WORK_PREFIX=firefox
# shellcheck source=scripts/dev-lib.sh
source scripts/dev-lib.sh
start_dev
for _ in $(seq 1 600); do
  kill -0 "$DEV_PID" 2>/dev/null || die "sagaflow dev exited at start-up"
  curl -fsS -m 2 "$API/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
services=$(grep -E '^  (user|payment|order) ' "$WORK/dev.out" | awk '{printf "%s%s=%s", sep, $1, $2; sep=","}')
"$BIN" demo --api "$API" --services "$services" >"$WORK/demo.out" 2>&1 || {
  cat "$WORK/demo.out" >&2
  die "the README's cases did not pass"
}
compensated=$(curl -fsS "$API/v1/workflows?status=compensated&limit=1" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["workflows"][0]["id"])')
shots=${CONSOLE_SHOTS:-$WORK/shots}
mkdir -p "$shots"
timeout 180 "$VENV/bin/python" scripts/console_firefox.py "$API" "$compensated" "$shots"
