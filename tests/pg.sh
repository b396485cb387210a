#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: "tests/pg.sh start DIR"
# creates it in DIR on a free loopback port and prints its admin URL;
# "tests/pg.sh stop DIR" stops it; "tests/pg.sh restart DIR" restarts it.
set -eu
PGBIN=/usr/lib/postgresql/15/bin
cmd=$1
dir=$2
as_pg() { # run as the postgres user when root (initdb refuses root)
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
    for _ in $(seq 20); do
        port=$((20000 + RANDOM % 20000))
        if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            echo "postgres://postgres@127.0.0.1:$port"
            exit 0
        fi
    done
    echo "cannot start PostgreSQL" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
    ;;
stop) as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true ;;
restart)
    port=$(cat "$dir/port")
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    sleep "${3:-0}"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    ;;
*) echo "usage: tests/pg.sh start|stop|restart DIR" >&2; exit 2 ;;
esac
