# One image for every role of sagaflow (server, worker, service, migrate, demo, dev, probe,
# load, reconcile).
# Build: docker build -t sagaflow .   Run: docker run --rm sagaflow --help
# Without a registry or without network: scripts/docker-standins.sh first (base images made
# locally, crates vendored into docker/offline/), then the same command; scripts/container-check.sh
# builds it and runs every role from it.

# --- build: the pinned toolchain (Rust 1.95, the version CI uses) ---------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The stripped binary is all that leaves this stage, so no debug info is made for it (the
# workspace's release profile keeps line tables for the binaries built outside Docker).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TERM_COLOR=never
# Offline builds: scripts/docker-standins.sh puts vendored crates and a config.toml replacing
# crates.io with them in docker/offline/; without them (the committed README only) crates come
# from crates.io.
COPY docker/offline/ docker/offline/
RUN if [ -f docker/offline/config.toml ]; then \
      mkdir -p .cargo && cp docker/offline/config.toml .cargo/config.toml \
      && echo "build: crates from docker/offline/vendor (no network)"; \
    fi
# Dependencies first, so a code change does not rebuild them: every member's manifest with
# stand-in sources for every target it declares or cargo discovers (a library each; cli's
# binary and its [[test]] failpoints, which cargo checks exists), then the dependencies
# compiled. The members' fingerprints are then dropped, so the real sources below are always
# compiled, whatever their file times. A member added to the workspace needs its lines here
# (container-check.sh checks).
COPY Cargo.toml Cargo.lock ./
COPY kernel/Cargo.toml kernel/Cargo.toml
COPY engine/Cargo.toml engine/Cargo.toml
COPY worker/Cargo.toml worker/Cargo.toml
COPY services/Cargo.toml services/Cargo.toml
COPY roles/Cargo.toml roles/Cargo.toml
COPY tools/Cargo.toml tools/Cargo.toml
COPY cli/Cargo.toml cli/Cargo.toml
COPY testkit/Cargo.toml testkit/Cargo.toml
COPY sqlerr/Cargo.toml sqlerr/Cargo.toml
COPY dbha/Cargo.toml dbha/Cargo.toml
COPY httpguard/Cargo.toml httpguard/Cargo.toml
RUN for c in kernel engine worker services roles tools cli testkit sqlerr dbha httpguard; do \
      mkdir -p $c/src && : > $c/src/lib.rs; \
    done \
 && echo 'fn main() {}' > cli/src/main.rs \
 && mkdir -p cli/tests && : > cli/tests/failpoints.rs \
 && cargo build --release --locked -p sagaflow \
 && rm -rf target/release/.fingerprint/sagaflow-*
# The sources: what the binary is built from (crates, migrations, the built-in workflows
# the code includes), not docs or scripts, so changing those rebuilds nothing. engine/build.rs
# embeds engine/ui/ (the console).
COPY kernel kernel
COPY engine engine
COPY worker worker
COPY services services
COPY roles roles
COPY tools tools
COPY cli cli
COPY testkit testkit
COPY sqlerr sqlerr
COPY dbha dbha
COPY httpguard httpguard
COPY migrations migrations
COPY workflows workflows
RUN cargo build --release --locked -p sagaflow \
 && strip target/release/sagaflow \
 && target/release/sagaflow --version

# --- run: slim Debian, no compiler, non-root ---------------------------------------------
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/sagaflow --create-home sagaflow
COPY --from=build /src/target/release/sagaflow /usr/local/bin/sagaflow
COPY workflows /etc/sagaflow/workflows
USER sagaflow
WORKDIR /var/lib/sagaflow
ENV SAGAFLOW_LOG_FORMAT=json \
    SAGAFLOW_WORKFLOWS=/etc/sagaflow/workflows \
    SAGAFLOW_DATA_DIR=/var/lib/sagaflow/data \
    RUST_LOG=info
# Health: `sagaflow probe` (no curl in the image) on SAGAFLOW_HEALTH_URL when set, else on
# the role's own address: /healthz at SAGAFLOW_LISTEN (server, service), /metrics at the
# address the worker wrote to SAGAFLOW_METRICS_ADDR_FILE (a --metrics-listen range), else at
# SAGAFLOW_METRICS_LISTEN (worker). A container serving neither (migrate, demo, load, a worker
# without metrics) has nothing to probe and counts as healthy. Compose files set their own.
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=20 CMD \
  if [ -n "$SAGAFLOW_HEALTH_URL" ]; then exec sagaflow probe "$SAGAFLOW_HEALTH_URL"; \
  elif [ -n "$SAGAFLOW_LISTEN" ]; then exec sagaflow probe "http://127.0.0.1:${SAGAFLOW_LISTEN##*:}/healthz"; \
  elif [ -n "$SAGAFLOW_METRICS_ADDR_FILE" ]; then exec sagaflow probe "http://$(cat "$SAGAFLOW_METRICS_ADDR_FILE")/metrics"; \
  elif [ -n "$SAGAFLOW_METRICS_LISTEN" ]; then exec sagaflow probe "http://127.0.0.1:${SAGAFLOW_METRICS_LISTEN##*:}/metrics"; \
  fi
ENTRYPOINT ["sagaflow"]
CMD ["--help"]
