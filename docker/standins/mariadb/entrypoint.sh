#!/bin/bash
# The stand-in's entrypoint: on an empty data directory, what the real mariadb image's
# docker-entrypoint.sh does for MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD,
# MARIADB_ROOT_PASSWORD / MARIADB_RANDOM_ROOT_PASSWORD, plus a `healthcheck` user for
# healthcheck.sh; then the server (as user mysql) with the container's arguments.
set -euo pipefail
say() { echo "stand-in entrypoint: $*" >&2; }
if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi
case "$1" in mariadbd|mysqld) ;; *) exec "$@" ;; esac

DATADIR=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$DATADIR"
random() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true; }
quote() { printf '%s' "$1" | sed "s/'/''/g"; }

if [ ! -d "$DATADIR/mysql" ]; then
  if [ -n "${MARIADB_ROOT_PASSWORD:-}" ]; then root_pw=$MARIADB_ROOT_PASSWORD
  elif [ -n "${MARIADB_RANDOM_ROOT_PASSWORD:-}" ]; then root_pw=$(random); say "GENERATED ROOT PASSWORD: $root_pw"
  else say "set MARIADB_ROOT_PASSWORD or MARIADB_RANDOM_ROOT_PASSWORD"; exit 1
  fi
  say "initialising $DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
    --auth-root-authentication-method=normal >/dev/null
  # A private server for the set-up: no network at all (the container may share the
  # host's), its own socket, so neither a client nor the health check meets it.
  sock=/run/mysqld/init.sock
  mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$sock" &
  pid=$!
  for _ in $(seq 1 300); do
    mariadb --socket="$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { say "the set-up server died"; exit 1; }
    sleep 0.1
  done
  hc_pw=$(random)
  {
    echo "DELETE FROM mysql.global_priv WHERE User = '';"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(quote "$root_pw")';"
    echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$hc_pw';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
      echo "CREATE USER '$(quote "$MARIADB_USER")'@'%' IDENTIFIED BY '$(quote "${MARIADB_PASSWORD:?MARIADB_USER needs MARIADB_PASSWORD}")';"
      [ -z "${MARIADB_DATABASE:-}" ] || echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '$(quote "$MARIADB_USER")'@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$sock" -uroot
  # What healthcheck.sh connects with: the real server's socket, so it answers only once the
  # server the clients use is up.
  printf '[mariadb-client]\nsocket=/run/mysqld/mysqld.sock\nuser=healthcheck\npassword=%s\n' "$hc_pw" \
    >"$DATADIR/.my-healthcheck.cnf"
  chown mysql:mysql "$DATADIR/.my-healthcheck.cnf"; chmod 600 "$DATADIR/.my-healthcheck.cnf"
  kill "$pid"; wait "$pid" || true
  say "initialised: database '${MARIADB_DATABASE:-}', user '${MARIADB_USER:-}'"
fi
exec "$@" --user=mysql
