#!/usr/bin/env bash
# bench/rollout.sh [ROUTERS]: a rollout launched over ROUTERS (default
# 100,000) adopted sites while the fleet polls at its own rate (one poll per
# router every 30 s: wrk, 100 connections, each waiting 30 s * 100 / ROUTERS
# between polls). Measures the time from the launch (the first job queued)
# to the last job queued, and the fleet's poll p99 during the launch against
# the same load just before it (baseline, same run) and just after it. The
# fleet's polls are the rollout's targets: the jobs are delivered as they
# are queued, so the polls that claim one write, as in production; after
# the launch they still claim the jobs queued last, without the launch. SQLite, then PostgreSQL
# (a throwaway cluster). Prints "rollout_KEY=VALUE" lines for bench/run.sh,
# then one summary line per store. Run by `make bench`; alone after
# `make all` (wrk installed).
set -eu
cd "$(dirname "$0")/.."
N=${1:-100000}
BASE_SECS=${BENCH_SECONDS:-10}
ulimit -n 65536 2>/dev/null || true
tmp=$(mktemp -d)
pgdir=$(mktemp -d /tmp/jobplane-bench-rpg.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    wait 2>/dev/null
    tests/pg.sh stop "$pgdir"
    rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
export JOBPLANE_SECRET=bench-secret-0123456789abcdef
S="scripts:read scripts:write scripts:approve jobs:read jobs:write sites:read sites:write"
ALICE=$(build/jobplane token --team bench --subject alice --scope "$S" --ttl 86400)
BOB=$(build/jobplane token --team bench --subject bob --scope "$S" --ttl 86400)
delay=$(awk -v n="$N" 'BEGIN { printf "%.3f", 30000 * 100 / n }') # ms between one connection's polls
cat >"$tmp/fleet.lua" <<EOF
dofile("bench/poll.lua")
function delay() return $delay end
EOF
# the latency percentiles of wrk's output, "p50 X p99 Y"
pct() { awk '/^ +50%/ { a = $2 } /^ +99%/ { b = $2 } END { print "p50 " a " p99 " b }' <<<"$1"; }
rate() { grep -E '^Requests/sec' <<<"$1" | awk '{ printf "%.0f", $2 }'; }

# run STORE DB COUNT_SQL_COMMAND...: one store's measurement
run() {
    local store=$1 db=$2
    shift 2
    rm -f "$tmp/port"
    build/jobplane serve --listen 127.0.0.1:0 --db "$db" --port-file "$tmp/port" --threads 16 \
        --max-connections 16384 --auto-backup off 2>"$tmp/$store.log" &
    pid=$!
    for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    local url="http://127.0.0.1:$(cat "$tmp/port")"
    rm -f "$tmp/tokens"
    build/jobplane sim --url "$url" --token "$ALICE" --routers "$N" --interval 3600 --duration 1 \
        --threads 64 --tokens "$tmp/tokens" >/dev/null
    jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ")[0])' "$tmp/tokens" >"$tmp/sites.json"
    # the fleet's load alone: the baseline
    local base during
    base=$(TOKENS="$tmp/tokens" wrk -t2 -c100 -d"${BASE_SECS}s" --latency -s "$tmp/fleet.lua" "$url")
    # the rollout: everything at once (no canary, no waves), approved by another person
    local launch=$(($(date +%s) + 30))
    jq -nc --slurpfile s "$tmp/sites.json" --arg la "$(date -u -d "@$launch" +%FT%TZ)" \
        '{description: "bench", script: ":put bench", launch_at: $la, sites: $s[0]}' >"$tmp/body.json"
    local id
    id=$(curl -s -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' \
        --data-binary @"$tmp/body.json" "$url/scripts/scheduled" | jq -r .id)
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $BOB" "$url/scripts/scheduled/$id/approve"
    while [ "$(date +%s)" -lt $((launch - 2)) ]; do sleep 0.1; done
    # the fleet's load through the launch (stopped by SIGINT once every job is
    # queued: wrk then prints what it measured), the queued jobs counted once a second
    TOKENS="$tmp/tokens" wrk -t2 -c100 -d600s --latency -s "$tmp/fleet.lua" "$url" >"$tmp/during" &
    local wrkpid=$! n=0
    for _ in $(seq 600); do # once a second: a reader beside the launch is load too
        n=$("$@" "SELECT count(*) FROM jobs WHERE rollout_id='$id'")
        [ "${n:-0}" -ge "$N" ] && break
        sleep 1
    done
    kill -INT "$wrkpid"
    wait "$wrkpid"
    during=$(cat "$tmp/during")
    # the same load right after: the polls still claim the jobs queued last
    # (a claim is a write), without the launch beside them
    local after
    after=$(TOKENS="$tmp/tokens" wrk -t2 -c100 -d"${BASE_SECS}s" --latency -s "$tmp/fleet.lua" "$url")
    # from the first job queued to the last: their UUIDv7 ids hold the milliseconds
    local ids took
    ids=$("$@" "SELECT min(id) || ' ' || max(id) FROM jobs WHERE rollout_id='$id'")
    local a=${ids%% *} b=${ids##* }
    a=${a//-/} b=${b//-/}
    took=$(awk -v ms=$((16#${b:0:12} - 16#${a:0:12})) 'BEGIN { printf "%.1f", ms / 1000 }')
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid=
    echo "rollout_${store}_queued=$n"
    echo "rollout_${store}_secs=$took"
    echo "rollout_${store}_during=$(pct "$during") ($(rate "$during")/s)"
    echo "rollout_${store}_base=$(pct "$base") ($(rate "$base")/s)"
    echo "rollout_${store}_after=$(pct "$after") ($(rate "$after")/s)"
    echo "# $store: a rollout over $N sites queued $n jobs in $took s from its launch; fleet polls during it $(pct "$during") ($(rate "$during")/s), before it $(pct "$base") ($(rate "$base")/s), after it $(pct "$after") ($(rate "$after")/s)"
}

run sqlite "$tmp/rollout.db" sqlite3 "$tmp/rollout.db"
if pg=$(tests/pg.sh start "$pgdir"); then
    psql -q "$pg/postgres" -c "CREATE DATABASE rollout" >/dev/null
    run pg "$pg/rollout" psql -qtA "$pg/rollout" -c
else
    echo "# PostgreSQL did not start: its run is skipped"
fi
