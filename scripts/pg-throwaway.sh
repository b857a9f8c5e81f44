#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1, for the tests and the benchmarks.
#   scripts/pg-throwaway.sh start DIR PORT [durable]   prints the connection URL
#   scripts/pg-throwaway.sh stop DIR                   stops it and removes DIR
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres`
# user that Debian's package creates. Without `durable`, fsync is off: the cluster
# is thrown away, and tests need not wait on the disk.
set -euo pipefail

bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return; fi
  echo "pg-throwaway: no PostgreSQL server binaries (install Debian's postgresql package)" >&2
  exit 3
}

as_server_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir=$2 port=$3 durable=${4:-}
    bin=$(bin_dir)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    # The server user may not enter the caller's folder (a checkout in a private one).
    cd "$dir"
    as_server_user "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    settings="-h 127.0.0.1 -p $port -k $dir -c max_connections=300"
    if [ -z "$durable" ]; then settings="$settings -c fsync=off -c full_page_writes=off"; fi
    as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$settings" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=$2
    cd /
    if [ -d "$dir/data" ]; then as_server_user "$(bin_dir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT [durable] | stop DIR" >&2
    exit 2
    ;;
esac
