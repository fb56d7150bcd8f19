# Shared by the check scripts that run a throwaway `sagaflow dev` (sourced, not run):
# a work directory removed on exit, `sagaflow dev` on a free 127.0.0.1 port, and its stop.
#
#   WORK_PREFIX=name source scripts/dev-lib.sh; start_dev   # sets WORK, PORT, API, DEV_PID
#
# Expects $BIN (the sagaflow binary) and the caller's die() and log().

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sagaflow-${WORK_PREFIX:-check}.XXXXXX")
DEV_PID=""

# Stops `sagaflow dev`: SIGTERM, up to 10 s, then SIGKILL.
stop_dev() {
  [ -n "$DEV_PID" ] || return 0
  kill -0 "$DEV_PID" 2>/dev/null || return 0
  kill -TERM "$DEV_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$DEV_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$DEV_PID" 2>/dev/null || true
  wait "$DEV_PID" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_dev
  if [ "$rc" -ne 0 ] && [ -s "$WORK/dev.err" ]; then
    echo "---- last lines of dev.err ----" >&2
    tail -n 25 "$WORK/dev.err" >&2
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts `sagaflow dev` on a free port with its own data directory (output in $WORK/dev.*).
start_dev() {
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  API=http://127.0.0.1:$PORT
  log "starting sagaflow dev on $API"
  RUST_LOG=warn "$BIN" dev --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/dev.out" 2>"$WORK/dev.err" &
  DEV_PID=$!
}
