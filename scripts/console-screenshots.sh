#!/usr/bin/env bash
# Screenshots of the web console (issue 15): runs the console's browser tests
# (cli/tests/it/console) with SAGAFLOW_SCREENSHOTS set, so each test also saves PNGs of what it
# looked at: the overview, the workflow list, a compensated and a parked workflow, a refused
# abort, the token form and the types diagram, at 1280x800 and at phone width (390x844), in the
# light and the dark theme.
#
#   bash scripts/console-screenshots.sh            # into docs/console/
#   bash scripts/console-screenshots.sh /tmp/shots # anywhere else
#
# Needs Chromium and its driver (Debian: apt-get install chromium chromium-driver); fails
# without them rather than skipping. Debug build, SQLite, everything on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-docs/console}
DRIVER=${SAGAFLOW_CHROMEDRIVER:-/usr/bin/chromedriver}
if [ ! -x "$DRIVER" ]; then
  echo "console-screenshots: $DRIVER is missing (apt-get install chromium chromium-driver)" >&2
  exit 1
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd) # the tests run in cli/: the path must not be relative
rm -f "$OUT"/*.png

SAGAFLOW_SCREENSHOTS="$OUT" CI=true cargo test -p sagaflow --test it console

count=$(find "$OUT" -maxdepth 1 -name '*.png' | wc -l)
if [ "$count" -eq 0 ]; then
  echo "console-screenshots: no screenshot was written to $OUT" >&2
  exit 1
fi
echo "console-screenshots: $count PNGs in $OUT"
ls -1 "$OUT"
