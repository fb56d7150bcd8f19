#!/usr/bin/env bash
# Observability integration check (issue 5): a real Prometheus scrapes a running `sagaflow dev`
# under a short load, then every PromQL expression of the Grafana dashboard and every alert rule
# is evaluated through Prometheus's HTTP API.
#
#   bash scripts/observability-check.sh
#
# Needs: prometheus and promtool (Debian: apt-get install prometheus), curl, python3.
# Uses target/release/sagaflow (built with `cargo build --release -p sagaflow` if missing;
# SAGAFLOW_BIN overrides). Everything runs on 127.0.0.1 on free ports, in a temporary directory;
# both processes are stopped and the directory removed on exit. Exit status 0 = every dashboard
# query returned data and every alert rule loaded and evaluated.
#
# Load (about OBS_LOAD_SECONDS, default 20): alice buys 1 (completed), bob buys 10 (business
# failure: insufficient balance), charlie buys 15 (out of stock: two compensations), and once a
# purchase whose reserve_payment meets an injected 503 and is retried after the faults are reset.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BIN=${SAGAFLOW_BIN:-$ROOT/target/release/sagaflow}
DASHBOARD=$ROOT/grafana/dashboards/sagaflow.json
ALERTS=$ROOT/alerts.yml
PROM_TEMPLATE=$ROOT/prometheus-dev.yml
LOAD_SECONDS=${OBS_LOAD_SECONDS:-20}

log() { echo "observability-check: $*"; }
die() {
  echo "observability-check: FAIL: $*" >&2
  exit 1
}

for tool in prometheus promtool curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (Debian: apt-get install -y prometheus curl python3)"
done
for f in "$DASHBOARD" "$ALERTS" "$PROM_TEMPLATE"; do
  [ -f "$f" ] || die "missing $f"
done

if [ ! -x "$BIN" ]; then
  log "building $BIN"
  cargo build --release -p sagaflow
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sagaflow-obs.XXXXXX")
DEV_PID=""
PROM_PID=""

# Stops one process we started: SIGTERM, up to 10 s, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$PROM_PID" prometheus
  stop_pid "$DEV_PID" "sagaflow dev"
  if [ "$rc" -ne 0 ]; then
    for f in dev.out dev.err prometheus.log; do
      if [ -s "$WORK/$f" ]; then
        echo "---- last lines of $f ----" >&2
        tail -n 25 "$WORK/$f" >&2
      fi
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# json FIELD: prints a top-level field of the JSON document on stdin (empty if absent).
json() {
  python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1], "")
except Exception:
    v = ""
print("" if v is None else v)' "$1"
}

started=$SECONDS

# ---------------------------------------------------------------- sagaflow dev
API_PORT=$(free_port)
API=http://127.0.0.1:$API_PORT
log "starting sagaflow dev on $API"
"$BIN" dev --listen "127.0.0.1:$API_PORT" --data-dir "$WORK/data" >"$WORK/dev.out" 2>"$WORK/dev.err" &
DEV_PID=$!

PAYMENT=""
for _ in $(seq 1 600); do
  kill -0 "$DEV_PID" 2>/dev/null || die "sagaflow dev exited at start-up"
  PAYMENT=$(awk '$1 == "payment" { print $2 }' "$WORK/dev.out")
  if [ -n "$PAYMENT" ] && curl -fsS -m 2 "$API/healthz" >/dev/null 2>&1; then
    break
  fi
  PAYMENT=""
  sleep 0.1
done
[ -n "$PAYMENT" ] || die "sagaflow dev did not start within 60 s"
log "payment service at $PAYMENT"

# ---------------------------------------------------------------- prometheus
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
sed "s/127\.0\.0\.1:8080/127.0.0.1:$API_PORT/" "$PROM_TEMPLATE" >"$WORK/prometheus.yml"
grep -q "127.0.0.1:$API_PORT" "$WORK/prometheus.yml" || die "prometheus-dev.yml has no target 127.0.0.1:8080 to substitute"
cp "$ALERTS" "$WORK/alerts.yml"
promtool check config "$WORK/prometheus.yml" >/dev/null || die "promtool check config of the generated config"

log "starting prometheus on $PROM"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

for _ in $(seq 1 300); do
  kill -0 "$PROM_PID" 2>/dev/null || die "prometheus exited at start-up"
  curl -fsS -m 2 "$PROM/-/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS -m 2 "$PROM/-/ready" >/dev/null 2>&1 || die "prometheus not ready within 30 s"

target_up() {
  curl -fsS -m 5 "$PROM/api/v1/query" --data-urlencode 'query=up{job="sagaflow-dev"} == 1' |
    python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
for _ in $(seq 1 60); do
  target_up 2>/dev/null && break
  sleep 0.5
done
target_up 2>/dev/null || die "prometheus does not scrape sagaflow dev (up{job=\"sagaflow-dev\"} != 1)"
log "prometheus scrapes $API/metrics"

# ---------------------------------------------------------------- load
PROBLEMS=()

purchase() { # user quantity payment_method
  printf '{"type":"purchase","input":{"user_id":%s,"product_id":1,"quantity":%s,"payment_method_id":%s}}' "$1" "$2" "$3"
}

# submit BODY EXPECTED LABEL: submits, waits up to 10 s for the end, checks the status.
submit() {
  local body=$1 expected=$2 label=$3 reply status
  reply=$(curl -sS -m 20 -X POST "$API/v1/workflows?wait=10s" -H 'content-type: application/json' -d "$body") || {
    PROBLEMS+=("$label: submit failed")
    return 0
  }
  status=$(printf '%s' "$reply" | json status)
  if [ "$status" != "$expected" ]; then
    PROBLEMS+=("$label: status '$status', expected $expected (reply: $reply)")
  fi
}

set_faults() { # error_rate
  curl -fsS -m 5 -X PUT "$PAYMENT/admin/faults" -H 'content-type: application/json' \
    -d "{\"error_rate\":$1,\"latency_ms\":0,\"drop_after_commit_rate\":0.0}" >/dev/null
}

# Prints the outcome of reserve_payment's first attempt that did not succeed (empty if none yet).
failed_payment_attempt() {
  curl -fsS -m 5 "$API/v1/workflows/$1" | python3 -c '
import json, sys
wf = json.load(sys.stdin)
for a in wf.get("activities", []):
    if a.get("name") == "reserve_payment" and a.get("kind") == "action":
        for t in a.get("attempts", []):
            if t.get("outcome") != "succeeded" or t.get("error"):
                print(t.get("outcome") or "error")
                sys.exit(0)'
}

transient_fault() {
  local id outcome="" status
  set_faults 1.0 || {
    PROBLEMS+=("transient fault: PUT $PAYMENT/admin/faults failed")
    return 0
  }
  id=$(curl -sS -m 10 -X POST "$API/v1/workflows" -H 'content-type: application/json' -d "$(purchase 3 1 3)" | json id) || true
  if [ -z "$id" ]; then
    set_faults 0.0 || true
    PROBLEMS+=("transient fault: submit returned no id")
    return 0
  fi
  for _ in $(seq 1 150); do
    outcome=$(failed_payment_attempt "$id" 2>/dev/null || true)
    [ -n "$outcome" ] && break
    sleep 0.1
  done
  set_faults 0.0 || PROBLEMS+=("transient fault: resetting the faults failed")
  if [ -z "$outcome" ]; then
    PROBLEMS+=("transient fault: reserve_payment of $id never failed within 15 s")
    return 0
  fi
  for _ in 1 2; do
    status=$(curl -sS -m 20 "$API/v1/workflows/$id?wait=10s" | json status) || true
    [ "$status" = completed ] && break
  done
  log "  transient fault: reserve_payment attempt failed ($outcome), then the retry made it $status"
  [ "$status" = completed ] || PROBLEMS+=("transient fault: workflow $id is '$status' after the retry, expected completed")
}

log "load for about ${LOAD_SECONDS}s"
load_start=$SECONDS
ROUNDS=6
for round in $(seq 1 $ROUNDS); do
  submit "$(purchase 1 1 1)" completed "alice buys 1 (round $round)"
  submit "$(purchase 2 10 2)" compensated "bob buys 10 (round $round)"
  if [ $((round % 2)) -eq 1 ]; then
    submit "$(purchase 3 15 3)" compensated "charlie buys 15 (round $round)"
  fi
  if [ "$round" -eq 2 ]; then
    transient_fault
  fi
  # Pace the rounds over LOAD_SECONDS so every rate() window holds several scrapes.
  due=$((load_start + round * LOAD_SECONDS / ROUNDS))
  while [ "$SECONDS" -lt "$due" ]; do sleep 0.2; done
done
# The server samples the database gauges every few seconds; let them and a few scrapes land.
sleep 5
log "load done ($((SECONDS - load_start))s)"

# ---------------------------------------------------------------- queries
expected_rules=$(grep -cE '^[[:space:]]*-[[:space:]]+alert:' "$ALERTS")
set +e
PROM="$PROM" DASHBOARD="$DASHBOARD" EXPECTED_RULES="$expected_rules" python3 - <<'PY'
import json, math, os, re, sys, time, urllib.parse, urllib.request

prom = os.environ["PROM"]
failures = []

def get(path, **params):
    url = prom + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # Prometheus answers 400 with a JSON error body
        try:
            return json.load(e)
        except Exception:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except Exception as e:
        return {"status": "error", "error": str(e)}

# Grafana variables and what they stand for here.
SUBST = [
    (re.compile(r"\$\{type(:[a-z]+)?\}|\$type\b"), ".*"),
    (re.compile(r"\$\{?__rate_interval\}?|\$\{?__interval\}?|\$\{?__range\}?"), "1m"),
]

def substitute(expr):
    for rx, value in SUBST:
        expr = rx.sub(value, expr)
    return expr

def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))

def series_info(reply):
    """(series count, series with a number that is not NaN)."""
    data = reply.get("data", {})
    result = data.get("result", [])
    kind = data.get("resultType")
    if kind == "scalar":
        return 1, 0 if math.isnan(float(result[1])) else 1
    if kind != "vector":
        return len(result), len(result)
    real = sum(1 for s in result if not math.isnan(float(s["value"][1])))
    return len(result), real

rows = []

with open(os.environ["DASHBOARD"]) as f:
    dashboard = json.load(f)

# Template variables of the form label_values(metric, label) must list values.
for var in dashboard.get("templating", {}).get("list", []):
    if var.get("type") != "query":
        continue
    q = var.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.fullmatch(r"\s*label_values\(\s*([^,]+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q)
    if not m:
        failures.append(f"variable ${var.get('name')}: cannot check query {q!r}")
        continue
    reply = get(f"/api/v1/label/{m.group(2)}/values", **{"match[]": m.group(1)})
    n = len(reply.get("data", []) or [])
    ok = reply.get("status") == "success" and n > 0
    rows.append(("ok" if ok else "FAIL", str(n), f"variable ${var['name']}", q))
    if not ok:
        failures.append(f"variable ${var['name']}: {q} lists no values ({reply.get('error', 'empty')})")

count = 0
for panel in walk(dashboard.get("panels", [])):
    for target in panel.get("targets", []):
        raw = target.get("expr")
        if not raw:
            continue
        count += 1
        expr = substitute(raw)
        where = f"{panel.get('title')} [{target.get('refId')}]"
        left = re.findall(r"\$\{?\w+", expr)
        if left:
            rows.append(("FAIL", "-", where, expr))
            failures.append(f"{where}: unknown variable(s) {left} in {raw}")
            continue
        reply = get("/api/v1/query", query=expr)
        if reply.get("status") != "success":
            rows.append(("FAIL", "-", where, expr))
            failures.append(f"{where}: {expr}: {reply.get('errorType', '')} {reply.get('error', '')}")
            continue
        n, real = series_info(reply)
        ok = n > 0 and real > 0
        rows.append(("ok" if ok else "FAIL", f"{n}" if real == n else f"{n} ({n - real} NaN)", where, expr))
        if n == 0:
            failures.append(f"{where}: no data: {expr}")
        elif real == 0:
            failures.append(f"{where}: only NaN: {expr}")
if count == 0:
    failures.append("the dashboard has no panel queries")

# Alert rules: as Prometheus loaded them from alerts.yml (it parsed every expr), each evaluated
# once more through the query API; a rule's own evaluation must not have failed.
expected = int(os.environ["EXPECTED_RULES"])
rules = []
deadline = time.time() + 15
while True:
    reply = get("/api/v1/rules")
    rules = [r for g in reply.get("data", {}).get("groups", []) for r in g.get("rules", [])]
    if rules and all(r.get("health") != "unknown" for r in rules) or time.time() > deadline:
        break
    time.sleep(0.5)
if len(rules) != expected:
    failures.append(f"prometheus loaded {len(rules)} rules, alerts.yml has {expected} alerts")
for rule in rules:
    where = f"alert {rule.get('name')}"
    expr = rule.get("query", "")
    reply = get("/api/v1/query", query=expr)
    ok = reply.get("status") == "success" and rule.get("health") == "ok"
    n = len(reply.get("data", {}).get("result", [])) if ok else "-"
    state = rule.get("state", "")
    rows.append(("ok" if ok else "FAIL", f"{n}", f"{where} ({state})", " ".join(expr.split())))
    if reply.get("status") != "success":
        failures.append(f"{where}: {reply.get('errorType', '')} {reply.get('error', '')}")
    if rule.get("health") != "ok":
        failures.append(f"{where}: rule health {rule.get('health')} {rule.get('lastError', '')}")

width = max(len(r[2]) for r in rows) if rows else 10
print(f"{'':4}  {'series':>10}  {'panel / rule':<{width}}  query")
for status, n, where, expr in rows:
    print(f"{status:4}  {n:>10}  {where:<{width}}  {expr}")
print(f"{count} dashboard queries, {len(rules)} alert rules")
if failures:
    print("\nfailures:", file=sys.stderr)
    for f in failures:
        print(f"  - {f}", file=sys.stderr)
    sys.exit(1)
PY
queries_rc=$?
set -e

if [ "${#PROBLEMS[@]}" -gt 0 ]; then
  echo "observability-check: the load did not go as planned:" >&2
  printf '  - %s\n' "${PROBLEMS[@]}" >&2
fi
if [ "$queries_rc" -ne 0 ] || [ "${#PROBLEMS[@]}" -gt 0 ]; then
  die "see above ($((SECONDS - started))s)"
fi
log "passed ($((SECONDS - started))s)"
