#!/usr/bin/env bash
# bench/compare.sh OLD NEW [ROUNDS]: is NEW slower than OLD? Two jobplane
# binaries measured in one run, interleaved (old, new, old, new, ...): the
# memory of 1,000 held polls (on the server untouched since its start), and
# the two hot paths: empty polls (wrk, 64 connections) and durable lifecycles
# (create, poll, busy, done; 64 clients). Each binary gets a SQLite database
# with 1,000 adopted routers; each round starts its server afresh on a copy
# of it (the lifecycle tool's idempotency keys repeat from run to run). Prints every round and the median of each, with the
# ratio new/old. BENCH_SECONDS (default 10) per measurement.
# Build the tools first: make build-bench/lifecycle build-bench/held.
set -eu
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-3}
SECS=${BENCH_SECONDS:-10}
for p in wrk; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $p >/dev/null
    }
done
ulimit -n 65536 2>/dev/null || true
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
export JOBPLANE_SECRET=bench-secret-0123456789abcdef
TOK=$("$new" token --team bench --ttl 86400)

serve() { # serve BIN NAME: starts BIN on NAME's database; sets URL and pid
    rm -f "$tmp/$2.port"
    "$1" serve --listen 127.0.0.1:0 --db "$tmp/$2.db" --port-file "$tmp/$2.port" \
        --max-connections 16384 --threads 16 2>>"$tmp/$2.log" &
    pid=$!
    for _ in $(seq 200); do [ -s "$tmp/$2.port" ] && break; sleep 0.05; done
    URL="http://127.0.0.1:$(cat "$tmp/$2.port")"
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }

for name in old new; do
    bin=$old; [ $name = new ] && bin=$new
    serve "$bin" $name
    "$bin" sim --url "$URL" --token "$TOK" --routers 1000 --interval 3600 --duration 1 \
        --threads 64 --tokens "$tmp/$name.tokens" >/dev/null
    tail -n 64 "$tmp/$name.tokens" >"$tmp/$name.life"
    stop
    cp "$tmp/$name.db" "$tmp/$name.db.orig"
done

declare -A polls lives helds
for r in $(seq "$rounds"); do
    for name in old new; do
        bin=$old; [ $name = new ] && bin=$new
        rm -f "$tmp/$name.db-wal" "$tmp/$name.db-shm"
        cp "$tmp/$name.db.orig" "$tmp/$name.db"
        serve "$bin" $name
        out=$(build-bench/held "$URL" "$TOK" "$tmp/$name.tokens" 1000 100 "$pid")
        h=$(sed -nE 's/.*: ([0-9]+) bytes per held poll.*/\1/p' <<<"$out")
        sleep 2 # the server lets the closed polls go
        out=$(TOKENS="$tmp/$name.tokens" wrk -t2 -c64 -d"${SECS}"s -s bench/poll.lua "$URL")
        p=$(grep -E '^Requests/sec' <<<"$out" | awk '{ printf "%.0f", $2 }')
        out=$(build-bench/lifecycle "$URL" "$TOK" "$tmp/$name.life" 64 "$SECS")
        l=$(awk '{ print $6 }' <<<"$out" | tr -d '/s')
        stop
        polls[$name]="${polls[$name]:-} $p"
        lives[$name]="${lives[$name]:-} $l"
        helds[$name]="${helds[$name]:-} $h"
        echo "round $r $name: held poll ${h} bytes, empty polls ${p}/s, lifecycles ${l}/s"
    done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
po=$(median "${polls[old]}") pn=$(median "${polls[new]}")
lo=$(median "${lives[old]}") ln=$(median "${lives[new]}")
ho=$(median "${helds[old]}") hn=$(median "${helds[new]}")
echo "memory per held poll (1,000 held): old $ho bytes, new $hn bytes (median of $rounds), new/old $(awk -v a="$hn" -v b="$ho" 'BEGIN { printf "%.2f", a / b }')"
echo "empty polls, 64 connections: old $po/s, new $pn/s (median of $rounds), new/old $(awk -v a="$pn" -v b="$po" 'BEGIN { printf "%.2f", a / b }')"
echo "durable lifecycles, 64 clients: old $lo/s, new $ln/s (median of $rounds), new/old $(awk -v a="$ln" -v b="$lo" 'BEGIN { printf "%.2f", a / b }')"
