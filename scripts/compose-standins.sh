#!/usr/bin/env bash
# The stand-in images that docker-compose.local.yml names (docker/standins/README.md):
# MariaDB, Redis and Prometheus from Debian bookworm's packages, on debian:bookworm-slim.
# Each is built only when absent or when its directory under docker/standins/ changed (the
# image's label org.sagaflow.standin.source holds that directory's hash). Needs a Docker
# engine (scripts/docker-standins.sh starts one and makes debian:bookworm-slim when no
# registry has it) and Debian's package mirror (the builds run apt-get, with host networking).
# They are never tagged as the registry's images: docker-compose.yml alone never gets them.
# Grafana has no Debian package: there is no stand-in for it.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$SECONDS
say() { echo "compose-standins: $*" >&2; }
docker info >/dev/null 2>&1 || { say "no Docker engine answers (scripts/docker-standins.sh starts one)"; exit 1; }
docker image inspect debian:bookworm-slim >/dev/null 2>&1 \
  || { say "no debian:bookworm-slim (scripts/docker-standins.sh makes or pulls it)"; exit 1; }
for spec in mariadb:10.11 redis:7 prometheus:2.42; do
  name=${spec%%:*}
  image="sagaflow-standin/$spec"
  dir="docker/standins/$name"
  sum=$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  have=$(docker image inspect -f '{{index .Config.Labels "org.sagaflow.standin.source"}}' "$image" 2>/dev/null || true)
  if [ "$have" = "$sum" ]; then
    say "$image: up to date"
    continue
  fi
  say "$image: building from $dir (Debian's packages)"
  t=$SECONDS
  docker build --network host --label "org.sagaflow.standin.source=$sum" -t "$image" "$dir" \
    >"/tmp/compose-standins-$name.log" 2>&1 \
    || { tail -n 30 "/tmp/compose-standins-$name.log" >&2; say "FAILED: docker build of $image"; exit 1; }
  say "$image: built in $((SECONDS - t)) s, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
done
say "LOCAL STAND-INS (label org.sagaflow.standin=true), for docker-compose.local.yml only; no Grafana stand-in"
say "done in $((SECONDS - T0)) s"
