#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on 127.0.0.1, for trying Sagaflow's high availability
# (README "High availability") and for its tests. Run as root (the nodes run as `mysql`).
#
#   scripts/galera.sh start        # fresh cluster: node 1 bootstraps, nodes 2 and 3 join
#   scripts/galera.sh start N      # (re)start node N alone; it rejoins by IST or SST
#   scripts/galera.sh kill N       # SIGKILL node N (a crash, not a shutdown)
#   scripts/galera.sh stop [N]     # clean shutdown of node N, or of every node
#   scripts/galera.sh status       # per node: port, pid, state, cluster size
#   scripts/galera.sh wait N       # until node N is Synced (bounded; fails after 120 s)
#
# Node N listens for SQL on 127.0.0.1:331N and for replication (gcomm) on 4567, 4577, 4587;
# IST on gcomm + 1, SST (rsync) on 4444, 4454, 4464. root has an empty password on TCP, as on
# the machine's own MariaDB. The data lives in $GALERA_DIR (default /var/tmp/sagaflow-galera):
# a test cluster, wiped by `start` when no node runs. Installs galera-4 and rsync when missing.
set -euo pipefail
DIR=${GALERA_DIR:-/var/tmp/sagaflow-galera}
NODES=(1 2 3)

say() { echo "galera: $*"; }
die() {
  echo "galera: $*" >&2
  exit 1
}

port() { echo $((3310 + $1)); }
gcomm_port() { echo $((4567 + 10 * ($1 - 1))); }
sst_port() { echo $((4444 + 10 * ($1 - 1))); }
pidfile() { echo "$DIR/node$1/mysqld.pid"; }
pid_of() {
  local f
  f=$(pidfile "$1")
  [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}
sql() { timeout 10 mariadb --connect-timeout=2 --protocol=tcp -h127.0.0.1 -P"$(port "$1")" -uroot -N -B -e "$2" 2>/dev/null; }
state() { sql "$1" "SHOW STATUS LIKE 'wsrep_local_state_comment'" | cut -f2; }

ensure_packages() {
  local missing=()
  [ -f /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

write_config() {
  local n=$1 cluster=""
  for m in "${NODES[@]}"; do cluster+="127.0.0.1:$(gcomm_port "$m"),"; done
  cat >"$DIR/node$n.cnf" <<EOF
[mariadbd]
datadir=$DIR/node$n/data
socket=$DIR/node$n/mysqld.sock
pid-file=$(pidfile "$n")
log-error=$DIR/node$n/error.log
port=$(port "$n")
bind-address=127.0.0.1
user=mysql
skip-name-resolve
max_connections=600
innodb_buffer_pool_size=256M
innodb_log_file_size=256M
innodb_flush_log_at_trx_commit=2
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=sagaflow
wsrep_cluster_address=gcomm://${cluster%,}
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$(gcomm_port "$n")
# Failure detection: a node that stops answering is suspected after 3 s and evicted after
# 8 s (defaults 5 s and 15 s). Until the survivors agree on a new view, their commits wait,
# so the suspicion bounds the write stall of a node loss. Keep them above the worst pause of
# the network and of a loaded node: with suspect 2 s and install 2 s, a node rejoining under
# load here missed an install message, was declared inactive, and the two others fell to
# non-primary for 2 s (every write refused).
wsrep_provider_options=gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(($(gcomm_port "$n") + 1));gcache.size=256M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT8S;evs.inactive_check_period=PT0.5S
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sst_port "$n")
wsrep_slave_threads=2
EOF
}

# Starts node N's server in the background; `bootstrap` makes it form a new cluster.
launch() {
  local n=$1 extra=${2:-}
  pid_of "$n" >/dev/null && {
    say "node $n already runs (pid $(pid_of "$n"))"
    return 0
  }
  write_config "$n"
  rm -f "$(pidfile "$n")" # a killed node leaves its pid file behind
  # A node killed while it was the only one left is not marked safe to bootstrap.
  if [ "$extra" = bootstrap ] && [ -f "$DIR/node$n/data/grastate.dat" ]; then
    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$DIR/node$n/data/grastate.dat"
  fi
  local flags=()
  [ "$extra" = bootstrap ] && flags+=(--wsrep-new-cluster)
  # A node that was killed does not know how far it got (grastate.dat says seqno -1) and
  # would ask for a full state transfer (SST), which blocks its donor for writes meanwhile.
  # Recovering its position from InnoDB first (what Debian's galera_recovery does) lets it
  # rejoin by IST: only the missed write sets, from a donor's gcache, no blocking.
  if [ "$extra" != bootstrap ] && [ -d "$DIR/node$n/data/mysql" ]; then
    local pos
    pos=$(recover_position "$n")
    [ -n "$pos" ] && flags+=("--wsrep_start_position=$pos")
  fi
  /usr/sbin/mariadbd --defaults-file="$DIR/node$n.cnf" "${flags[@]}" >>"$DIR/node$n/stdout.log" 2>&1 &
  echo $! >"$(pidfile "$n")" # the server writes the same pid later; known at once here
  chown mysql:mysql "$(pidfile "$n")"
  disown
}

# The position (uuid:seqno) InnoDB recorded last on node N, or nothing.
recover_position() {
  local n=$1 log="$DIR/node$1/recover.log"
  rm -f "$log"
  /usr/sbin/mariadbd --defaults-file="$DIR/node$n.cnf" --wsrep-recover --log-error="$log" \
    >/dev/null 2>&1 || true
  grep -o 'Recovered position: [^ ]*' "$log" 2>/dev/null | tail -1 | awk '{print $3}'
}

wait_synced() {
  local n=$1
  for _ in $(seq 1 1200); do
    [ "$(state "$n" || true)" = Synced ] && return 0
    if [ -s "$(pidfile "$n")" ] && ! pid_of "$n" >/dev/null; then
      tail -n 20 "$DIR/node$n/error.log" >&2
      die "node $n exited while starting (its log is above)"
    fi
    sleep 0.1
  done
  tail -n 20 "$DIR/node$n/error.log" >&2
  die "node $n did not reach Synced in 120 s"
}

fresh_node() {
  local n=$1
  rm -rf "$DIR/node$n"
  mkdir -p "$DIR/node$n/data"
  write_config "$n"
  chown -R mysql:mysql "$DIR/node$n"
  mariadb-install-db --defaults-file="$DIR/node$n.cnf" --auth-root-authentication-method=normal \
    --skip-test-db >"$DIR/node$n/install.log" 2>&1 || {
    cat "$DIR/node$n/install.log" >&2
    die "mariadb-install-db failed for node $n"
  }
}

start_all() {
  ensure_packages
  local running=0
  for n in "${NODES[@]}"; do pid_of "$n" >/dev/null && running=1; done
  if [ $running -eq 0 ]; then
    say "creating a fresh 3-node cluster in $DIR"
    mkdir -p "$DIR"
    chown mysql:mysql "$DIR"
    for n in "${NODES[@]}"; do fresh_node "$n"; done
    launch 1 bootstrap
    wait_synced 1
    # root over TCP with an empty password, as on the machine's own server (replicated).
    mariadb -S "$DIR/node1/mysqld.sock" -uroot -e \
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
       GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    for n in 2 3; do
      launch "$n"
      wait_synced "$n"
    done
  else
    for n in "${NODES[@]}"; do
      pid_of "$n" >/dev/null || {
        launch "$n"
        wait_synced "$n"
      }
    done
  fi
  status
}

start_one() {
  local n=$1 others=0
  for m in "${NODES[@]}"; do [ "$m" != "$n" ] && pid_of "$m" >/dev/null && others=1; done
  [ $others -eq 1 ] || die "no other node runs: use 'start' for a fresh cluster"
  launch "$n"
  wait_synced "$n"
  say "node $n is Synced again"
}

stop_node() {
  local n=$1 pid
  pid=$(pid_of "$n") || return 0
  mariadb-admin --protocol=tcp -h127.0.0.1 -P"$(port "$n")" -uroot shutdown 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

status() {
  for n in "${NODES[@]}"; do
    local pid size st
    pid=$(pid_of "$n" || echo -)
    st=$(state "$n" || echo down)
    size=$(sql "$n" "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2 || true)
    printf 'node %s  127.0.0.1:%s  pid %-8s  %-10s cluster size %s\n' "$n" "$(port "$n")" "$pid" "${st:-down}" "${size:--}"
  done
}

node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || die "expected a node number 1, 2 or 3, got '${1:-}'"
}

case "${1:-}" in
start)
  if [ -n "${2:-}" ]; then
    node_arg "$2"
    start_one "$2"
  else
    start_all
  fi
  ;;
kill)
  node_arg "${2:-}"
  pid=$(pid_of "$2") || die "node $2 does not run"
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  say "node $2 killed (pid $pid)"
  ;;
stop)
  if [ -n "${2:-}" ]; then
    node_arg "$2"
    stop_node "$2"
  else
    # The last node to stop is marked safe to bootstrap; stop 3, 2, then 1.
    for n in 3 2 1; do stop_node "$n"; done
  fi
  ;;
status) status ;;
wait)
  node_arg "${2:-}"
  wait_synced "$2"
  ;;
*)
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
