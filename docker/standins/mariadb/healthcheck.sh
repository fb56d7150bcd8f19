#!/bin/bash
# The stand-in's healthcheck.sh: the two tests of the real image's script that
# docker-compose.yml uses. --connect: a client connects to the server (its socket);
# --innodb_initialized: InnoDB is up. Exit 0 only when every test given passes.
set -euo pipefail
cnf=/var/lib/mysql/.my-healthcheck.cnf
[ -r "$cnf" ] || { echo "healthcheck.sh: not initialised yet" >&2; exit 1; }
q() { mariadb --defaults-extra-file="$cnf" -N -e "$1"; }
[ $# -gt 0 ] || set -- --connect
for test in "$@"; do
  case "$test" in
    --connect) q 'SELECT 1' >/dev/null ;;
    --innodb_initialized)
      [ "$(q "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT', 'ENABLED')")" = 1 ] ;;
    *) echo "healthcheck.sh (stand-in): unknown test $test" >&2; exit 2 ;;
  esac
done
