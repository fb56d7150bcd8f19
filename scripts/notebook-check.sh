#!/usr/bin/env bash
# Notebook check (issue 6): executes notebooks/purchase_test.ipynb top to bottom, headless
# (`jupyter nbconvert --execute`), against a fresh `sagaflow dev` on SQLite. The notebook runs
# the README's purchase cases through the API, runs `sagaflow load --profile all` (short
# profiles, transient faults in the payment service) and plots success rate, latency and
# retries with matplotlib; any failing cell or assertion fails the check.
#
#   bash scripts/notebook-check.sh
#
# Needs python3 with venv and pip (packages from notebooks/requirements.txt are installed into
# target/notebook-venv, reused while the requirements do not change) and curl. Uses
# target/debug/sagaflow (built if missing; SAGAFLOW_BIN overrides). Everything runs on
# 127.0.0.1 on a free port, in a temporary directory; `sagaflow dev` is stopped and the
# directory removed on exit. NOTEBOOK_LOAD_SECONDS (default 4) sets each profile's duration;
# NOTEBOOK_KEEP=DIR copies the executed notebook and the load results there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BIN=${SAGAFLOW_BIN:-$ROOT/target/debug/sagaflow}
VENV=${NOTEBOOK_VENV:-$ROOT/target/notebook-venv}
NOTEBOOK=$ROOT/notebooks/purchase_test.ipynb
REQUIREMENTS=$ROOT/notebooks/requirements.txt
LOAD_SECONDS=${NOTEBOOK_LOAD_SECONDS:-4}

log() { echo "notebook-check: $*"; }
die() {
  echo "notebook-check: FAIL: $*" >&2
  exit 1
}

for tool in python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
[ -f "$NOTEBOOK" ] || die "missing $NOTEBOOK"

if [ ! -x "$BIN" ]; then
  log "building $BIN"
  cargo build -p sagaflow --bin sagaflow
fi

# ---------------------------------------------------------------- python packages
stamp=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/jupyter" ] || [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$stamp" ]; then
  log "installing notebooks/requirements.txt into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$stamp" >"$VENV/.requirements"
fi

WORK_PREFIX=notebook
# shellcheck source=scripts/dev-lib.sh
source scripts/dev-lib.sh
started=$SECONDS

# ---------------------------------------------------------------- sagaflow dev
start_dev

SERVICES=""
for _ in $(seq 1 600); do
  kill -0 "$DEV_PID" 2>/dev/null || die "sagaflow dev exited at start-up"
  SERVICES=$(awk '$1 == "user" || $1 == "payment" || $1 == "order" { printf "%s%s=%s", sep, $1, $2; sep = "," }' "$WORK/dev.out")
  if [ "$(echo "$SERVICES" | tr ',' '\n' | grep -c =)" = 3 ] && curl -fsS -m 2 "$API/healthz" >/dev/null 2>&1; then
    break
  fi
  SERVICES=""
  sleep 0.1
done
[ -n "$SERVICES" ] || die "sagaflow dev did not start within 60 s"
log "services: $SERVICES"

# ---------------------------------------------------------------- the notebook
log "executing notebooks/purchase_test.ipynb (profiles of $LOAD_SECONDS s each)"
(
  cd "$ROOT/notebooks"
  SAGAFLOW_API=$API SAGAFLOW_SERVICES=$SERVICES SAGAFLOW_BIN=$BIN \
    SAGAFLOW_LOAD_OUT=$WORK/results SAGAFLOW_LOAD_DURATION=$LOAD_SECONDS MPLBACKEND=Agg \
    "$VENV/bin/jupyter" nbconvert --to notebook --execute "$NOTEBOOK" \
    --ExecutePreprocessor.timeout=600 --output-dir "$WORK" --output executed.ipynb
) >"$WORK/nbconvert.log" 2>&1 || {
  tail -n 40 "$WORK/nbconvert.log" >&2
  die "the notebook did not run to the end"
}

# Every code cell ran, none left an error, and the charts are there.
"$VENV/bin/python" - "$WORK/executed.ipynb" <<'EOF'
import json, sys
nb = json.load(open(sys.argv[1]))
code = [c for c in nb["cells"] if c["cell_type"] == "code"]
ran = [c for c in code if c.get("execution_count")]
errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
images = sum(1 for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
print(f"notebook-check: {len(ran)}/{len(code)} code cells executed, {len(errors)} errors, {images} charts")
if len(ran) != len(code) or errors or images < 5:
    sys.exit(1)
EOF

if [ -n "${NOTEBOOK_KEEP:-}" ]; then
  mkdir -p "$NOTEBOOK_KEEP"
  cp -r "$WORK/executed.ipynb" "$WORK/results" "$NOTEBOOK_KEEP/"
  log "kept the executed notebook and results in $NOTEBOOK_KEEP"
fi
log "OK in $((SECONDS - started)) s"
