#!/usr/bin/env bash
# What `docker build` of this repository needs on a machine without an image registry (this
# one: Debian's packages are reachable, Docker Hub is not). Idempotent; run it as root.
#
#   1. A Docker engine: when `docker info` fails, starts Debian's dockerd with host networking
#      only (`--bridge=none --iptables=false`; containers then use `--network host`), logging
#      to $SAGAFLOW_DOCKERD_LOG.
#   2. The Dockerfile's base images, debian:bookworm-slim and rust:1.95-slim-bookworm: each
#      one is made here ONLY when it is not already present and `docker pull` of it fails.
#      A machine with a registry gets the real images and nothing else from this script.
#      - debian:bookworm-slim: `debootstrap --variant=minbase bookworm`, trimmed as the real
#        slim image is (no docs, man pages, locales, apt lists or caches), `docker import`ed.
#      - rust:1.95-slim-bookworm: the same Debian plus gcc, libc6-dev and pkg-config (what the
#        real image carries) and THIS machine's Rust toolchain copied in (it must be 1.95, the
#        version the tag promises), at the real image's paths (/usr/local/cargo/bin on PATH).
#      Stand-ins carry the label org.sagaflow.standin=true; scripts/container-check.sh says so.
#   3. Vendored crates for a build without network: `cargo vendor` of Cargo.lock into
#      docker/offline/vendor and docker/offline/config.toml (source replacement) beside it,
#      both git-ignored. The Dockerfile uses them when present (and only in the build stage);
#      without them it fetches from crates.io as before.
#
# Environment: SAGAFLOW_STANDINS_DIR (work directory, default /var/tmp/sagaflow-standins),
# SAGAFLOW_STANDIN_TOOLCHAIN (default ~/.rustup/toolchains/stable-x86_64-unknown-linux-gnu),
# DEBIAN_MIRROR (default http://deb.debian.org/debian), SAGAFLOW_NO_VENDOR=1 (skip step 3).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${SAGAFLOW_STANDINS_DIR:-/var/tmp/sagaflow-standins}
TOOLCHAIN=${SAGAFLOW_STANDIN_TOOLCHAIN:-$HOME/.rustup/toolchains/stable-x86_64-unknown-linux-gnu}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKERD_LOG=${SAGAFLOW_DOCKERD_LOG:-/var/log/sagaflow-dockerd.log}
BASE_IMAGE=debian:bookworm-slim
RUST_IMAGE=rust:1.95-slim-bookworm
RUST_VERSION=1.95
SUITE=bookworm
T0=$SECONDS

say() { echo "docker-standins: $*" >&2; }
loud() {
  echo "docker-standins: ##################################################################" >&2
  for line in "$@"; do echo "docker-standins: ## $line" >&2; done
  echo "docker-standins: ##################################################################" >&2
}

# --- 1. the engine ----------------------------------------------------------------------
ensure_dockerd() {
  docker info >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { say "no Docker engine answers and this is not root: start dockerd yourself"; exit 1; }
  command -v dockerd >/dev/null || { say "no dockerd: apt-get install docker.io"; exit 1; }
  say "starting dockerd (host networking only), log: $DOCKERD_LOG"
  nohup dockerd --bridge=none --iptables=false >"$DOCKERD_LOG" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 0.5; done
  say "dockerd did not come up; last lines of $DOCKERD_LOG:"; tail -n 20 "$DOCKERD_LOG" >&2; exit 1
}

# --- 2. base images ---------------------------------------------------------------------
# 0 when IMAGE must be made here: not present and not pullable.
needs_standin() {
  docker image inspect "$1" >/dev/null 2>&1 && { say "$1: present ($(standin_note "$1"))"; return 1; }
  say "$1: not present, trying docker pull"
  if docker pull "$1" >/dev/null 2>&1; then say "$1: pulled from the registry"; return 1; fi
  return 0
}
standin_note() {
  [ "$(docker image inspect -f '{{index .Config.Labels "org.sagaflow.standin"}}' "$1" 2>/dev/null)" = true ] \
    && echo "a local stand-in" || echo "the real image"
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  say "installing debootstrap"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# rootfs DIR [PACKAGES]: a minbase Debian in DIR (kept between runs; DIR/.sagaflow-complete
# marks a finished one), .debs cached in $WORK/debs.
rootfs() {
  local dir=$1 include=${2:-}
  [ -f "$dir/.sagaflow-complete" ] && return 0
  ensure_debootstrap
  mkdir -p "$WORK/debs"
  rm -rf "$dir.tmp"
  say "debootstrap --variant=minbase $SUITE ${include:+(+ $include) }into $dir"
  debootstrap --variant=minbase ${include:+--include="$include"} --cache-dir="$WORK/debs" \
    "$SUITE" "$dir.tmp" "$MIRROR" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
  touch "$dir.tmp/.sagaflow-complete"
  mv "$dir.tmp" "$dir"
}

# slim DIR: what the real slim images leave out (debuerreotype's --slim): documentation but
# the copyright files, man and info pages, translations, apt's lists and caches; and dpkg told
# to keep leaving them out of later installs.
slim() {
  local dir=$1
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
    "$dir"/usr/share/lintian/* "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* \
    "$dir"/var/cache/debconf/*-old "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir/.sagaflow-complete"
  mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
}

# import DIR IMAGE CHANGES...: DIR as IMAGE, labelled a stand-in.
import() {
  local dir=$1 image=$2; shift 2
  local changes=(--change "LABEL org.sagaflow.standin=true" --change 'CMD ["bash"]')
  for c in "$@"; do changes+=(--change "$c"); done
  tar --numeric-owner -C "$dir" -c . | docker import "${changes[@]}" - "$image" >/dev/null
  say "$image: imported, $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
}

make_base() {
  rootfs "$WORK/rootfs-base"
  local stage="$WORK/stage-base"
  rm -rf "$stage"; cp -a "$WORK/rootfs-base" "$stage"
  slim "$stage"
  import "$stage" "$BASE_IMAGE" "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  rm -rf "$stage"
}

make_rust() {
  local rustc="$TOOLCHAIN/bin/rustc"
  [ -x "$rustc" ] || { say "no toolchain at $TOOLCHAIN (set SAGAFLOW_STANDIN_TOOLCHAIN)"; exit 1; }
  local version; version=$("$rustc" -V)
  case "$version" in
    "rustc $RUST_VERSION."*) ;;
    *) say "$TOOLCHAIN is '$version', not $RUST_VERSION: refusing to tag it $RUST_IMAGE"; exit 1 ;;
  esac
  rootfs "$WORK/rootfs-rust" gcc,libc6-dev,pkg-config,ca-certificates
  local stage="$WORK/stage-rust"
  rm -rf "$stage"; cp -a "$WORK/rootfs-rust" "$stage"
  slim "$stage"
  # The toolchain without its documentation (share/doc is most of its size), cargo and rustc
  # on PATH where the real image has them. No rustup: one toolchain, nothing to switch.
  mkdir -p "$stage/usr/local/rust" "$stage/usr/local/cargo/bin"
  tar -C "$TOOLCHAIN" --exclude=./share/doc --exclude=./share/man -c . | tar -C "$stage/usr/local/rust" -x
  for b in "$stage"/usr/local/rust/bin/*; do ln -s "../../rust/bin/$(basename "$b")" "$stage/usr/local/cargo/bin/"; done
  import "$stage" "$RUST_IMAGE" \
    "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV CARGO_HOME=/usr/local/cargo" \
    "ENV RUST_VERSION=$("$rustc" -V | awk '{print $2}')" \
    "LABEL org.sagaflow.standin.toolchain=\"$version\""
  rm -rf "$stage"
}

# --- 3. vendored crates -----------------------------------------------------------------
vendor() {
  local dir=docker/offline/vendor stamp=docker/offline/vendor/.sagaflow-cargo-lock.sha256
  local sum; sum=$(sha256sum Cargo.lock | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f docker/offline/config.toml ]; then
    say "vendored crates: up to date with Cargo.lock"
    return 0
  fi
  say "cargo vendor into $dir"
  # From the local registry cache when it has every crate, else from crates.io.
  cargo vendor --locked --offline "$dir" >/dev/null 2>&1 \
    || cargo vendor --locked "$dir" >"$WORK/vendor.log" 2>&1 \
    || { tail -n 20 "$WORK/vendor.log" >&2; say "cargo vendor failed (log: $WORK/vendor.log)"; exit 1; }
  cat >docker/offline/config.toml <<'EOF'
# Written by scripts/docker-standins.sh (git-ignored). The Dockerfile's build stage copies it to
# /src/.cargo/config.toml: crates come from the vendored directory, no network.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "/src/docker/offline/vendor"
EOF
  echo "$sum" >"$stamp"
  say "vendored crates: $(du -sh "$dir" | cut -f1)"
}

ensure_dockerd
mkdir -p "$WORK"
MADE=()
if needs_standin "$BASE_IMAGE"; then make_base; MADE+=("$BASE_IMAGE"); fi
if needs_standin "$RUST_IMAGE"; then make_rust; MADE+=("$RUST_IMAGE"); fi
if [ ${#MADE[@]} -gt 0 ]; then
  loud "NO REGISTRY: docker pull failed, so these images were MADE HERE as stand-ins:" \
    "  ${MADE[*]}" \
    "debian:bookworm-slim from debootstrap; rust:1.95-slim-bookworm from it plus this" \
    "machine's toolchain ($("$TOOLCHAIN/bin/rustc" -V)). Label org.sagaflow.standin=true." \
    "Images built on them are for checks on this machine, not for publishing."
fi
[ "${SAGAFLOW_NO_VENDOR:-}" = 1 ] || vendor
say "done in $((SECONDS - T0)) s"
