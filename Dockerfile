# One image for every role of sagaflow (server, worker, service, migrate, demo, dev).
# Build: docker build -t sagaflow .   Run: docker run --rm sagaflow --help

# --- build: the pinned toolchain (Rust 1.95, the version CI uses) ---------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a code change does not rebuild them.
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
COPY httpguard/Cargo.toml httpguard/Cargo.toml
RUN for c in kernel engine worker services roles tools testkit sqlerr httpguard; do mkdir -p $c/src && echo '' > $c/src/lib.rs; done \
 && mkdir -p cli/src && echo 'fn main() {}' > cli/src/main.rs && echo '' > cli/src/lib.rs \
 && cargo fetch --locked
COPY . .
RUN touch kernel/src/lib.rs engine/src/lib.rs worker/src/lib.rs services/src/lib.rs roles/src/lib.rs tools/src/lib.rs \
    sqlerr/src/lib.rs httpguard/src/lib.rs cli/src/lib.rs cli/src/main.rs \
 && cargo build --release --locked -p sagaflow \
 && strip target/release/sagaflow

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
# Health checks run `sagaflow probe http://127.0.0.1:<port>/healthz` (no curl in the image).
ENTRYPOINT ["sagaflow"]
CMD ["--help"]
