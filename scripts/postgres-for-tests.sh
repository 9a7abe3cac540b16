#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster on 127.0.0.1 for the test suites, and prints the URL to export as
# TEST_POSTGRES_URL. Installs Debian's postgresql when it is missing (CI runs as root on a fresh machine).
# Usage: eval "$(bash scripts/postgres-for-tests.sh)"   ...   bash scripts/postgres-for-tests.sh stop
set -euo pipefail
port=${TEST_POSTGRES_PORT:-55432}
data=${TEST_POSTGRES_DIR:-/tmp/feishu-exam-test-pg}

bin() {
  local v
  v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
  [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && echo "/usr/lib/postgresql/$v/bin"
}
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

if [ "${1:-start}" = stop ]; then
  b=$(bin) && as_postgres "$b/pg_ctl -D $data -m fast stop" >/dev/null 2>&1 || true
  exit 0
fi

if [ -z "$(bin)" ]; then
  echo "postgres-for-tests: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
fi
b=$(bin)
as_postgres "$b/pg_ctl -D $data -m fast stop" >/dev/null 2>&1 || true
rm -rf "$data"
mkdir -p "$data"
[ "$(id -u)" = 0 ] && chown postgres "$data"
as_postgres "$b/initdb -D $data -A trust -U postgres --no-sync" >/dev/null
# The port may be taken for a moment (an outgoing connection's ephemeral port is drawn from the same range; CI
# once lost its PostgreSQL suites to that): the next few are tried, unless TEST_POSTGRES_PORT named one.
for attempt in 1 2 3 4 5; do
  if as_postgres "$b/pg_ctl -D $data -l $data/server.log -w -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300\" start" >&2; then
    break
  fi
  if [ -n "${TEST_POSTGRES_PORT:-}" ] || [ "$attempt" = 5 ]; then exit 1; fi
  port=$((port + 1))
done
echo "export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
