#!/usr/bin/env bash
# make bench: measures jobplane against baselines measured in the same run on
# the same machine, prints every figure, and writes BENCHMARKS.md.
#   BENCH_SECONDS (default 10): length of each measurement
#   BENCH_FLEET_SECONDS (default 60): how long the fleet scenario queues jobs
#     (600 is the full ten-minute run; the drain after it lasts until every job
#     was delivered: a router with a backlog takes one job per 30 s poll)
# Everything runs on loopback and stops at the end.
set -eu
cd "$(dirname "$0")/.."
SECS=${BENCH_SECONDS:-10}
FLEET_SECS=${BENCH_FLEET_SECONDS:-60}
declare -A R # every figure, by name
missing=""
for p in wrk beanstalkd; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
# as many open files as allowed: the held fleet below is sized by it
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pids=()
pgdir=$(mktemp -d /tmp/jobplane-bench-pg.XXXXXX) # postgres must reach it: not inside $tmp
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null
    tests/pg.sh stop "$pgdir"
    rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT
export JOBPLANE_SECRET=bench-secret-0123456789abcdef
# below the ephemeral range, so no earlier client's TIME_WAIT holds the port
freeport() { for _ in $(seq 50); do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }

# serve NAME DB [ARGS...]: starts a server, sets URL and JP_PID
serve() {
    local name=$1 db=$2
    shift 2
    rm -f "$tmp/$name.port"
    build/jobplane serve --listen 127.0.0.1:0 --db "$db" --port-file "$tmp/$name.port" \
        --max-connections 16384 --threads 16 "$@" 2>"$tmp/$name.log" &
    JP_PID=$!
    pids+=($JP_PID)
    for _ in $(seq 200); do [ -s "$tmp/$name.port" ] && break; sleep 0.05; done
    URL="http://127.0.0.1:$(cat "$tmp/$name.port")"
}
serve main "$tmp/bench.db"
TOK=$(build/jobplane token --team bench --ttl 86400)
echo "# adopting 10000 sites"
build/jobplane sim --url "$URL" --token "$TOK" --routers 10000 --interval 3600 --duration 1 \
    --threads 64 --tokens "$tmp/tokens" >/dev/null
echo "# $(wc -l <"$tmp/tokens") sites adopted"

# Held polls first, on a server no load has touched yet (memory freed by
# earlier connections would hide the cost): every adopted router holds a poll;
# express jobs go to the first 1000.
out=$(build-bench/held "$URL" "$TOK" "$tmp/tokens" 10000 1000 "$JP_PID")
echo "$out"
R[held_bytes]=$(sed -nE 's/.*: ([0-9]+) bytes per held poll/\1/p' <<<"$out")
R[held_rss]=$(sed -nE 's/.*RSS ([0-9]+) KiB before, ([0-9]+) KiB after.*/\1 -> \2 KiB/p' <<<"$out")
R[wake]=$(sed -nE 's/.*jobs, (p50 [0-9.]+ms p99 [0-9.]+ms).*/\1/p' <<<"$out")
sleep 2 # the server lets the 10,000 closed polls go

HPORT=$(freeport)
build-bench/hello "$HPORT" 16 &
pids+=($!)
sleep 0.3
rps() { grep -E '^Requests/sec' <<<"$1" | awk '{ printf "%.0f", $2 }'; }
lat99() { grep -E '^ +99%' <<<"$1" | awk '{ print $2 }'; }
for c in 64 1000; do
    out=$(TOKENS="$tmp/tokens" wrk -t2 -c$c -d${SECS}s --latency -s bench/poll.lua "$URL")
    R[poll$c]=$(rps "$out"); R[poll${c}p99]=$(lat99 "$out")
    out=$(TOKENS="$tmp/tokens" wrk -t2 -c$c -d${SECS}s --latency -s bench/poll.lua "http://127.0.0.1:$HPORT")
    R[hello$c]=$(rps "$out"); R[hello${c}p99]=$(lat99 "$out")
    echo "empty polls, $c connections: ${R[poll$c]}/s (p99 ${R[poll${c}p99]}) vs hello ${R[hello$c]}/s (p99 ${R[hello${c}p99]})"
done

# The metrics' cost to the poll path: empty polls again, with a scraper
# reading GET /metrics every second, between two runs without (the baseline
# is their mean, so drift of the machine shows in neither alone).
scraper() { while :; do curl -s -o /dev/null -H "Authorization: Bearer $TOK" "$URL/metrics"; sleep 1; done; }
out=$(TOKENS="$tmp/tokens" wrk -t2 -c64 -d${SECS}s --latency -s bench/poll.lua "$URL")
R[noscr1]=$(rps "$out")
scraper &
SCR=$!
out=$(TOKENS="$tmp/tokens" wrk -t2 -c64 -d${SECS}s --latency -s bench/poll.lua "$URL")
kill $SCR; wait $SCR 2>/dev/null || true
R[scr]=$(rps "$out"); R[scrp99]=$(lat99 "$out")
out=$(TOKENS="$tmp/tokens" wrk -t2 -c64 -d${SECS}s --latency -s bench/poll.lua "$URL")
R[noscr2]=$(rps "$out")
R[noscr]=$(((R[noscr1] + R[noscr2]) / 2))
R[scrape_ms]=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOK" "$URL/metrics" | awk '{ printf "%.1f", $1 * 1000 }')
echo "empty polls, 64 connections, scraped every second: ${R[scr]}/s (p99 ${R[scrp99]}) vs not scraped ${R[noscr]}/s (${R[noscr1]}, ${R[noscr2]}); one scrape ${R[scrape_ms]} ms"

# Operator authentication: one site read (GET /sites/{id}) with each kind of
# credential, on a server of its own with an ES256 and an RS256 key (tokens
# of tests/e2e/idp.py, python3-jwt) and API keys unlimited; the baseline is
# the same read with the server's HS256 JWT, measured in between.
AK=$tmp/idp
mkdir -p "$AK"
idp() { /usr/bin/python3 tests/e2e/idp.py "$AK" "$@"; }
idp keys
idp jwks "$AK/jwks.json" ec:e1 rsa2:r2
KEEP_URL=$URL KEEP_PID=$JP_PID
serve auth "$tmp/auth.db" --jwks "$AK/jwks.json" --api-key-rate-limit 0
AT=$(build/jobplane token --team t1 --ttl 86400)
AS=$(curl -s -X POST -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' \
    -d '{"name":"auth"}' "$URL/sites" | jq -r .id)
declare -A CRED
CRED[hs256]=$AT
CRED[es256]=$(idp token ok ec e1 '{"iss": null, "aud": null, "exp": 9999999999}')
CRED[rs256]=$(idp token ok rsa2 r2 '{"iss": null, "aud": null, "exp": 9999999999}')
CRED[apikey]=$(curl -s -X POST -H "Authorization: Bearer $AT" -H 'Content-Type: application/json' \
    -d '{"name":"bench"}' "$URL/teams/t1/api-credentials" | jq -r .api_key)
declare -A authsum
for round in 1 2; do
    for kind in hs256 es256 rs256 apikey; do
        out=$(wrk -t2 -c64 -d${SECS}s --latency -H "Authorization: Bearer ${CRED[$kind]}" "$URL/sites/$AS")
        n=$(rps "$out")
        [ "$(grep -c 'Non-2xx' <<<"$out")" = 0 ] || n=0 # a refused credential counts nothing
        authsum[$kind]=$((${authsum[$kind]:-0} + n))
        R[auth_${kind}p99]=$(lat99 "$out")
    done
done
for kind in hs256 es256 rs256 apikey; do R[auth_$kind]=$((authsum[$kind] / 2)); done
echo "site reads by credential: HS256 ${R[auth_hs256]}/s, ES256 ${R[auth_es256]}/s, RS256 ${R[auth_rs256]}/s, API key ${R[auth_apikey]}/s"
kill "$JP_PID"; wait "$JP_PID" 2>/dev/null || true
URL=$KEEP_URL JP_PID=$KEEP_PID

# Durable lifecycles on sites the held-poll jobs did not touch.
tail -n 64 "$tmp/tokens" >"$tmp/tokens.life"
out=$(build-bench/lifecycle "$URL" "$TOK" "$tmp/tokens.life" 64 "$SECS")
echo "jobplane durable lifecycles, 64 clients: $out"
R[life]=$(awk '{ print $6 }' <<<"$out" | tr -d '/s'); R[lifep99]=$(sed -E 's/.*p99 ([0-9.]+ms).*/\1/' <<<"$out")
R[lifedl]="$(awk '{ print $14 " / " $16 }' <<<"$out")"
for mode in f0 F; do
    BPORT=$(freeport)
    mkdir -p "$tmp/bs$mode"
    if [ $mode = f0 ]; then beanstalkd -l 127.0.0.1 -p "$BPORT" -b "$tmp/bs$mode" -f 0 & else beanstalkd -l 127.0.0.1 -p "$BPORT" -b "$tmp/bs$mode" -F & fi
    pids+=($!)
    sleep 0.3
    out=$(build-bench/beanstalk "$BPORT" 64 "$SECS" 22)
    echo "beanstalkd -$mode put+reserve+delete, 64 clients: $out"
    R[bs$mode]=$(awk '{ print $6 }' <<<"$out" | tr -d '/s')
done

# Webhooks: the same durable lifecycles on a server of their own, on sites
# of their own per run (the lifecycle tool's idempotency keys repeat), in
# three modes interleaved twice: no endpoint ("off"); an endpoint subscribed
# to every job event, three deliveries per lifecycle, sent during the run to
# the hello server on loopback ("sent": the outbox, the deliverer and the
# receiver share the two cores with everything else); the same subscription
# to a receiver that accepts connections and never answers ("held": what the
# transactional outbox costs the write path, deliveries wait). After "sent"
# the outbox drains before the next run.
KEEP_URL=$URL KEEP_PID=$JP_PID
serve hooks "$tmp/hooks.db" --webhook-allow-private
build/jobplane sim --url "$URL" --token "$TOK" --routers 384 --interval 3600 --duration 1 \
    --threads 64 --tokens "$tmp/htokens" >/dev/null
SPORT=$(freeport)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096); time.sleep(86400)' "$SPORT" &
pids+=($!)
hook() { # URL: an endpoint subscribed to every job event; prints its id
    curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
        -d "{\"url\":\"$1\",\"events\":[\"job.delivered\",\"job.started\",\"job.completed\",\"job.failed\",\"job.cancelled\"]}" \
        "$URL/webhooks" | jq -r .id
}
depth() { curl -s "$URL/healthz" | jq .outbox.depth; }
declare -A whsum=([off]=0 [sent]=0 [held]=0)
whsent=0 whtime=0 whdrained=0 whdraintime=0
round=0
for mode in off sent held off sent held; do
    round=$((round + 1))
    sed -n "$(((round - 1) * 64 + 1)),$((round * 64))p" "$tmp/htokens" >"$tmp/ht$round"
    W=""
    [ "$mode" = sent ] && W=$(hook "http://127.0.0.1:$HPORT/hook")
    [ "$mode" = held ] && W=$(hook "http://127.0.0.1:$SPORT/hook")
    out=$(build-bench/lifecycle "$URL" "$TOK" "$tmp/ht$round" 64 "$SECS")
    rate=$(awk '{ print $6 }' <<<"$out" | tr -d '/s')
    echo "lifecycles, webhooks $mode: $out"
    whsum[$mode]=$((whsum[$mode] + rate))
    R[whdl_$mode]="$(awk '{ print $14 " / " $16 }' <<<"$out")"
    if [ "$mode" = sent ]; then
        left=$(depth) t0=$(date +%s.%N)
        for _ in $(seq 1200); do [ "$(depth)" = 0 ] && break; sleep 0.1; done
        t1=$(date +%s.%N)
        whsent=$((whsent + 3 * rate * SECS)) # three events per lifecycle
        whtime=$(awk -v a="$whtime" -v x="$t0" -v y="$t1" -v s="$SECS" 'BEGIN { print a + s + y - x }')
        whdrained=$((whdrained + left))
        whdraintime=$(awk -v a="$whdraintime" -v x="$t0" -v y="$t1" 'BEGIN { print a + y - x }')
    fi
    # the endpoint goes; what it still had queued fails at once
    [ -n "$W" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $TOK" "$URL/webhooks/$W"
done
for m in off sent held; do R[wh_$m]=$((whsum[$m] / 2)); done
R[wh_rate]=$(awk -v n="$whsent" -v t="$whtime" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
R[wh_drain]=$(awk -v n="$whdrained" -v t="$whdraintime" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
R[wh_left]=$((whdrained / 2))
echo "webhooks: lifecycles ${R[wh_off]}/s off, ${R[wh_sent]}/s sent, ${R[wh_held]}/s held; deliveries ${R[wh_rate]}/s sustained, ${R[wh_drain]}/s draining"
kill "$JP_PID"; wait "$JP_PID" 2>/dev/null || true
URL=$KEEP_URL JP_PID=$KEEP_PID

# Listing: one site with 100,000 jobs.
S=$(curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    -d '{"name":"big"}' "$URL/sites" | jq -r .id)
t0=$(date +%s.%N)
build-bench/listing fill "$URL" "$TOK" "$S" 100000 64 >/dev/null
R[fill]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", 100000 / (b - a) }')
MID=$(curl -s -H "Authorization: Bearer $TOK" "$URL/site/$S/job" | jq -r '.[49999].id, .[99899].id')
R[list_start]=$(build-bench/listing time "$URL" "$TOK" "/site/$S/job?limit=100" 300)
R[list_mid]=$(build-bench/listing time "$URL" "$TOK" "/site/$S/job?limit=100&before=$(sed -n 1p <<<"$MID")" 300)
R[list_end]=$(build-bench/listing time "$URL" "$TOK" "/site/$S/job?limit=100&before=$(sed -n 2p <<<"$MID")" 300)
R[list_all]=$(build-bench/listing time "$URL" "$TOK" "/site/$S/job" 5)
echo "listing 100k: start ${R[list_start]}, middle ${R[list_mid]}, end ${R[list_end]}, unpaged ${R[list_all]}; filled at ${R[fill]} creates/s"

# Fleet: 100,000 routers polling every 30 s on a fresh server while 1000
# jobs/s are queued through the operator API.
serve fleet "$tmp/fleet.db"
out=$(build/jobplane sim --url "$URL" --token "$TOK" --routers 100000 --interval 30 \
    --duration "$FLEET_SECS" --queue-rate 1000 --threads 64 --sources 16) || true
echo "$out"
simf() { grep "^$1" <<<"$out" | sed -E 's/^[^:]*: *//'; }
R[fleet_p99]=$(simf 'poll latency' | sed -E 's/.*p99 ([0-9.]+).*/\1/')
R[fleet_polls]=$(simf polls | sed -E 's/ \(.*//')
R[fleet_pollrate]=$(simf polls | sed -E 's/.*\(([0-9.]+)\/s\).*/\1/')
R[fleet_queued]=$(simf queued | cut -d' ' -f1)
R[fleet_delivered]=$(simf delivered | cut -d' ' -f1)
R[fleet_dup]=$(simf duplicates)
R[fleet_lost]=$(simf lost)
R[fleet_setup]=$(simf setup | cut -d' ' -f1)
R[fleet_perr]=$(simf polls | sed -E 's/.*errors //')
kill "$JP_PID"
wait "$JP_PID" 2>/dev/null
# bytes per router: the database's pages in use (the file, less free pages)
per_router() {
    sqlite3 "$1" "SELECT (page_count - freelist_count) * page_size / $2 FROM pragma_page_count, pragma_freelist_count, pragma_page_size"
}
R[fleet_size]=$(per_router "$tmp/fleet.db" 100000)

# The same fleet while the pruner works through a backlog: 3 million expired
# samples (30 for each router's stats key, 3 days old) written before the
# routers are adopted, so the pruner deletes them during the run.
rm -f "$tmp/fleet.db"*
serve fleet "$tmp/fleet.db"
kill "$JP_PID"; wait "$JP_PID" 2>/dev/null
OLD=$(( $(date +%s) - 3 * 86400 ))
sqlite3 "$tmp/fleet.db" "INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)
    SELECT k.value, t.value, 5, 500000000, 80000000, 1000 FROM generate_series(1, 100000) k,
    generate_series($OLD, $((OLD + 29 * 300)), 300) t"
R[backlog]=$(sqlite3 "$tmp/fleet.db" "SELECT count(*) FROM stats")
R[backlog_size]=$(per_router "$tmp/fleet.db" 100000)
serve fleet "$tmp/fleet.db"
out=$(build/jobplane sim --url "$URL" --token "$TOK" --routers 100000 --interval 30 \
    --duration "$FLEET_SECS" --queue-rate 1000 --threads 64 --sources 16) || true
echo "$out"
R[bl_p99]=$(simf 'poll latency' | sed -E 's/.*p99 ([0-9.]+).*/\1/')
R[bl_polls]=$(simf polls | sed -E 's/ \(.*//')
R[bl_dup]=$(simf duplicates)
R[bl_lost]=$(simf lost)
R[bl_pruned]=$(curl -s "$URL/healthz" | jq .retention.removed.stats)
kill "$JP_PID"
wait "$JP_PID" 2>/dev/null
R[bl_size]=$(per_router "$tmp/fleet.db" 100000)
echo "fleet: ${R[fleet_size]} bytes per router; with a backlog of ${R[backlog]} expired samples (${R[backlog_size]} B per router): poll p99 ${R[bl_p99]} ms, ${R[bl_pruned]} pruned during the run, ${R[bl_size]} B per router after it"

# Held fleet: every router holds its poll (sim --wait 20, 30 s interval,
# RouterOS 7.16) on a fresh SQLite node while 1000 jobs/s are queued. A
# router holds about 2/3 of the time, so N routers need about 2N/3
# connections at once on each side: the fleet is as large as this machine's
# limit of open files allows, at most 100,000.
NOFILE=$(ulimit -n)
R[hf_n]=$(( (NOFILE - 4000) * 4 / 3 )); [ "${R[hf_n]}" -gt 100000 ] && R[hf_n]=100000
serve heldfleet "$tmp/heldfleet.db" --max-connections $((NOFILE - 1000)) --max-held 100000
rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$JP_PID/status")
( peak=0; rss=0
  while kill -0 "$JP_PID" 2>/dev/null; do
      h=$(curl -s -m 2 "$URL/healthz" | jq -r '.held_polls // 0' 2>/dev/null || echo 0)
      r=$(awk '/VmRSS/ { print $2 }' "/proc/$JP_PID/status" 2>/dev/null || echo 0)
      [ "${h:-0}" -gt "$peak" ] && peak=$h && rss=$r && echo "$peak $rss" >"$tmp/heldpeak"
      sleep 1
  done ) &
mon=$!
out=$(build/jobplane sim --url "$URL" --token "$TOK" --routers "${R[hf_n]}" --interval 30 --wait 20 \
    --duration "$FLEET_SECS" --queue-rate 1000 --threads 64 --sources 16) || true
echo "$out"
rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$JP_PID/status")
kill "$JP_PID"; wait "$mon" 2>/dev/null || true
read -r 'R[hf_held]' 'R[hf_rss]' <"$tmp/heldpeak" || true
R[hf_rss0]=$rss0; R[hf_rss1]=$rss1
R[hf_bytes]=$(awk -v a="$rss0" -v b="${R[hf_rss]:-0}" -v h="${R[hf_held]:-0}" 'BEGIN { if (h > 0) printf "%.0f", (b - a) * 1024 / h; else print "-" }')
R[hf_p99]=$(simf 'poll latency' | sed -E 's/.*p99 ([0-9.]+).*/\1/')
R[hf_nonheld]=$(simf 'poll latency' | sed -E 's/.*\(([0-9]+) answers.*/\1/')
R[hf_wake]=$(simf 'express wake' | sed -E 's/.*(p50 [0-9.]+).*(p99 [0-9.]+).*\(([0-9]+) jobs\).*/\1 ms, \2 ms (\3 jobs)/')
R[hf_polls]=$(simf polls)
R[hf_queued]=$(simf queued | cut -d' ' -f1); R[hf_delivered]=$(simf delivered | cut -d' ' -f1)
R[hf_drain]=$(simf delivered | sed -E 's/.*drained ([0-9]+)s.*/\1/')
R[hf_dup]=$(simf duplicates); R[hf_lost]=$(simf lost)
echo "held fleet: ${R[hf_n]} routers, peak ${R[hf_held]} held polls at RSS ${R[hf_rss]} KiB (from ${R[hf_rss0]}): ${R[hf_bytes]} bytes per held poll"

# Rollouts: one launch over 100,000 adopted sites while the fleet polls at
# its own rate (bench/rollout.sh, SQLite then PostgreSQL, fresh servers).
out=$(BENCH_SECONDS=$SECS bench/rollout.sh 100000) || true
echo "$out"
for k in sqlite_queued sqlite_secs sqlite_during sqlite_base sqlite_after pg_queued pg_secs pg_during pg_base pg_after; do
    R[ro_$k]=$(sed -n "s/^rollout_$k=//p" <<<"$out")
done

# PostgreSQL: the same lifecycles and empty polls against a throwaway cluster.
if pg=$(tests/pg.sh start "$pgdir"); then
    psql -q "$pg/postgres" -c "CREATE DATABASE bench" >/dev/null
    serve pg "$pg/bench" --db-pool 16
    build/jobplane sim --url "$URL" --token "$TOK" --routers 10000 --interval 3600 --duration 1 \
        --threads 64 --tokens "$tmp/pgtokens" >/dev/null
    # lifecycles first: the heartbeats of the polls below keep the writer busy for a while
    out=$(build-bench/lifecycle "$URL" "$TOK" "$tmp/pgtokens" 64 "$SECS")
    R[pglife]=$(awk '{ print $6 }' <<<"$out" | tr -d '/s'); R[pglifep99]=$(sed -E 's/.*p99 ([0-9.]+ms).*/\1/' <<<"$out")
    R[pglifedl]="$(awk '{ print $14 " / " $16 }' <<<"$out")"
    out=$(TOKENS="$tmp/pgtokens" wrk -t2 -c64 -d${SECS}s --latency -s bench/poll.lua "$URL")
    R[pgpoll]=$(rps "$out"); R[pgpollp99]=$(lat99 "$out")
    echo "PostgreSQL: lifecycles ${R[pglife]}/s (p99 ${R[pglifep99]}); empty polls ${R[pgpoll]}/s"
    # Two nodes on the one database, 32 clients each, on sites of their own
    # (the lifecycle tool's idempotency keys repeat from run to run).
    sleep 2 # the heartbeats of the polls are written
    URL1=$URL PID1=$JP_PID
    serve pg2 "$pg/bench" --db-pool 16
    sed -n 65,96p "$tmp/pgtokens" >"$tmp/pgn1"
    sed -n 97,128p "$tmp/pgtokens" >"$tmp/pgn2"
    build-bench/lifecycle "$URL1" "$TOK" "$tmp/pgn1" 32 "$SECS" >"$tmp/pgn1.out" &
    n1=$!
    out2=$(build-bench/lifecycle "$URL" "$TOK" "$tmp/pgn2" 32 "$SECS")
    wait "$n1"
    out1=$(cat "$tmp/pgn1.out")
    R[pg2a]=$(awk '{ print $6 }' <<<"$out1" | tr -d '/s'); R[pg2b]=$(awk '{ print $6 }' <<<"$out2" | tr -d '/s')
    R[pg2]=$((R[pg2a] + R[pg2b]))
    R[pg2err]=$(( $(awk '{ print $8 }' <<<"$out1") + $(awk '{ print $8 }' <<<"$out2") ))
    R[pg2dl]="$(( $(awk '{ print $14 }' <<<"$out1") + $(awk '{ print $14 }' <<<"$out2") )) / $(( $(awk '{ print $16 }' <<<"$out1") + $(awk '{ print $16 }' <<<"$out2") ))"
    echo "PostgreSQL, two nodes: ${R[pg2a]}/s + ${R[pg2b]}/s = ${R[pg2]}/s (errors ${R[pg2err]})"
    kill "$PID1" "$JP_PID"; wait "$PID1" "$JP_PID" 2>/dev/null || true
    # The machine's PostgreSQL ceiling, on the same cluster.
    psql -q "$pg/postgres" -c "CREATE DATABASE pgb" >/dev/null
    pgbench -q -i -s 10 "$pg/pgb" >/dev/null 2>&1
    out=$(pgbench -M prepared -b simple-update -c 64 -j 2 -T "$SECS" "$pg/pgb" 2>/dev/null)
    R[pgbench]=$(sed -nE 's/^tps = ([0-9]+).*/\1/p' <<<"$out" | head -1)
    echo "pgbench -M prepared simple-update, 64 clients: ${R[pgbench]} tps"
    tests/pg.sh stop "$pgdir"
else
    echo "PostgreSQL did not start: its scenarios are not run"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
disk=$(df -h "$tmp" | awk 'NR == 2 { print $1 " (" $2 ")" }')
cat >BENCHMARKS.md <<EOT
# Benchmarks

Measured by \`make bench\` (BENCH_SECONDS=$SECS) on $(date -u +%F): $(nproc) cores, $cpu,
$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), disk $disk.
Load generators run on the same machine as the servers (loopback), so every
figure, jobplane's and the baselines', shares the two cores with its client.
jobplane: SQLite, default durability (every acknowledged write fsync'd), 16
HTTP threads, 10,000 adopted sites.

| scenario | jobplane | baseline | ratio | budget |
|---|---|---|---|---|
| empty polls, 64 connections (req/s) | ${R[poll64]} (p99 ${R[poll64p99]}) | hello-world MHD: ${R[hello64]} (p99 ${R[hello64p99]}) | $(ratio "${R[poll64]}" "${R[hello64]}") | >= 0.8 |
| empty polls, 1000 connections (req/s) | ${R[poll1000]} (p99 ${R[poll1000p99]}) | hello-world MHD: ${R[hello1000]} (p99 ${R[hello1000p99]}) | $(ratio "${R[poll1000]}" "${R[hello1000]}") | >= 0.8 |
| empty polls, 64 connections, GET /metrics scraped every second (req/s) | ${R[scr]} (p99 ${R[scrp99]}; one scrape of 10,000 sites ${R[scrape_ms]} ms) | the same not scraped, before and after: ${R[noscr]} (${R[noscr1]}, ${R[noscr2]}) | $(ratio "${R[scr]}" "${R[noscr]}") | >= 0.95 |
| site reads (GET /sites/{id}), 64 connections, with an ES256 JWT (req/s) | ${R[auth_es256]} (p99 ${R[auth_es256p99]}) | the same with the server's HS256 JWT: ${R[auth_hs256]} (p99 ${R[auth_hs256p99]}) | $(ratio "${R[auth_es256]}" "${R[auth_hs256]}") | |
| (same), with an RS256 JWT (2048 bits) | ${R[auth_rs256]} (p99 ${R[auth_rs256p99]}) | HS256: ${R[auth_hs256]} | $(ratio "${R[auth_rs256]}" "${R[auth_hs256]}") | |
| (same), with an API key (one read of the key per request) | ${R[auth_apikey]} (p99 ${R[auth_apikeyp99]}) | HS256: ${R[auth_hs256]} | $(ratio "${R[auth_apikey]}" "${R[auth_hs256]}") | |
| durable lifecycles create+poll+busy+done, 64 clients (/s) | ${R[life]} (p99 ${R[lifep99]} per lifecycle) | beanstalkd -f 0 put+reserve+delete: ${R[bsf0]} | $(ratio "${R[life]}" "${R[bsf0]}") | >= 2 |
| (same) | | the HTTP ceiling, hello-world's 64-connection rate / 4 requests: $((R[hello64] / 4)) | $(ratio "${R[life]}" "$((R[hello64] / 4))") | >= 0.5 |
| (same) | | beanstalkd -F (no fsync): ${R[bsF]} | $(ratio "${R[life]}" "${R[bsF]}") | |
| (same): duplicates / lost | ${R[lifedl]} | | | 0 / 0 |
| durable lifecycles, an endpoint subscribed to every job event, its deliveries held (a receiver that never answers): the outbox's cost to the write path (/s) | ${R[wh_held]} (duplicates / lost ${R[whdl_held]}) | no endpoint (interleaved runs): ${R[wh_off]} | $(ratio "${R[wh_held]}" "${R[wh_off]}") | >= 0.8 |
| (same), delivered during the run to a receiver on the same two cores (/s) | ${R[wh_sent]} (duplicates / lost ${R[whdl_sent]}) | no endpoint: ${R[wh_off]} | $(ratio "${R[wh_sent]}" "${R[wh_off]}") | |
| (same): webhook deliveries to the loopback receiver (events/s) | ${R[wh_rate]} over the runs and their drain; ${R[wh_drain]} while draining alone (${R[wh_left]} still queued when a run ended) | | | |
| 100-job page of a 100,000-job site: start | ${R[list_start]} | | | p99 <= 5 ms |
| (same): middle | ${R[list_mid]} | | | p99 <= 5 ms |
| (same): end | ${R[list_end]} | | | p99 <= 5 ms |
| unpaged list of the 100,000 jobs | ${R[list_all]} | | | |
| durable creates alone, 64 clients (filling that site) | ${R[fill]}/s | | | |
| 10,000 held polls (?wait=60): server memory per held poll | ${R[held_bytes]} bytes (RSS ${R[held_rss]}) | | | <= 8192 bytes |
| express wake: create's 201 to the held poll's wrapper, 1000 jobs | ${R[wake]} | | | p99 <= 50 ms |
| fleet: 100,000 routers every 30 s, 1000 jobs/s queued for ${FLEET_SECS}s | poll p99 ${R[fleet_p99]} ms; ${R[fleet_polls]} polls (${R[fleet_pollrate]}/s, errors ${R[fleet_perr]}); ${R[fleet_queued]} queued, ${R[fleet_delivered]} delivered | | | p99 <= 20 ms |
| (same): duplicates / lost | ${R[fleet_dup]} / ${R[fleet_lost]} | | | 0 / 0 |
| (same): database size per router after the run (pages in use) | ${R[fleet_size]} bytes | | | |
| fleet again, while the pruner deletes a backlog of ${R[backlog]} expired samples (${R[backlog_size]} bytes per router before) | poll p99 ${R[bl_p99]} ms; ${R[bl_polls]} polls; ${R[bl_pruned]} samples pruned during the run; ${R[bl_size]} bytes per router after it | the run without a backlog: p99 ${R[fleet_p99]} ms | $(ratio "${R[bl_p99]}" "${R[fleet_p99]}") | p99 <= 20 ms |
| (same): duplicates / lost | ${R[bl_dup]} / ${R[bl_lost]} | | | 0 / 0 |
| held fleet: ${R[hf_n]} routers holding polls (--wait 20, every 30 s), 1000 jobs/s queued for ${FLEET_SECS}s; routers bounded by open files ($NOFILE) | peak ${R[hf_held]} held polls; server RSS ${R[hf_rss0]} KiB before, ${R[hf_rss]} KiB at the peak, ${R[hf_rss1]} KiB at the end | | | 100,000 routers, RSS <= 1 GiB |
| (same): server memory per held poll (RSS growth to the peak / held polls at the peak) | ${R[hf_bytes]} bytes | | | <= 8192 bytes |
| (same): express wake, create's 201 to the wrapper at a router already holding | ${R[hf_wake]} | | | p99 <= 50 ms |
| (same): poll latency of answers not held (a job was waiting) | p99 ${R[hf_p99]} ms (${R[hf_nonheld]} answers) | | | p99 <= 20 ms |
| (same): polls; queued / delivered, drained after queueing stopped | ${R[hf_polls]}; ${R[hf_queued]} / ${R[hf_delivered]}, ${R[hf_drain]} s | | | |
| (same): duplicates / lost | ${R[hf_dup]} / ${R[hf_lost]} | | | 0 / 0 |
| rollout over 100,000 sites (no canary, one wave): from its launch to every job queued | ${R[ro_sqlite_secs]} s (${R[ro_sqlite_queued]} queued) | | | |
| (same): the fleet's polls during the launch (100,000 routers every 30 s; the polls claim the jobs as they are queued) | ${R[ro_sqlite_during]} | the same load before the launch (empty polls): ${R[ro_sqlite_base]}; right after it (claims without the launch): ${R[ro_sqlite_after]} | | p99 <= 20 ms |
| PostgreSQL 15: rollout over 100,000 sites, launch to every job queued | ${R[ro_pg_secs]:-not run} s (${R[ro_pg_queued]:-} queued) | | | |
| (same): the fleet's polls during the launch | ${R[ro_pg_during]:-} | before the launch: ${R[ro_pg_base]:-}; after it: ${R[ro_pg_after]:-} | | p99 <= 20 ms |
| PostgreSQL 15: empty polls, 64 connections (req/s) | ${R[pgpoll]:-not run} (p99 ${R[pgpollp99]:-}) | hello-world MHD: ${R[hello64]} | $(ratio "${R[pgpoll]:-0}" "${R[hello64]}") | >= 0.5 |
| PostgreSQL 15: durable lifecycles, 64 clients (/s) | ${R[pglife]:-not run} (p99 ${R[pglifep99]:-} per lifecycle) | SQLite, above: ${R[life]} | $(ratio "${R[pglife]:-0}" "${R[life]}") | >= 0.8 and >= 3000/s |
| (same): duplicates / lost | ${R[pglifedl]:-} | | | 0 / 0 |
| PostgreSQL 15: two nodes, 32 clients each (/s) | ${R[pg2]:-not run} (${R[pg2a]:-} + ${R[pg2b]:-}, errors ${R[pg2err]:-}, duplicates / lost ${R[pg2dl]:-}) | one node, 64 clients: ${R[pglife]:-} | $(ratio "${R[pg2]:-0}" "${R[pglife]:-0}") | |
| PostgreSQL 15 ceiling: pgbench -M prepared simple-update, 64 clients (tps) | | ${R[pgbench]:-not run} | | |

Commands (from \`bench/run.sh\`):

    build/jobplane serve --db bench.db --threads 16 --max-connections 16384
    build/jobplane sim --routers 10000 --interval 3600 --duration 1 --tokens tokens   # adopt
    wrk -t2 -c64|1000 -d${SECS}s --latency -s bench/poll.lua URL          # TOKENS=tokens
    build-bench/hello PORT 16                                        # the baseline server
    the same wrk -c64 three times, the second with curl URL/metrics every second
    build-bench/held URL TOKEN tokens 10000 1000 SERVER_PID
    serve --jwks jwks.json --api-key-rate-limit 0 (a fresh server); wrk -t2 -c64 -d${SECS}s -H "Authorization: Bearer CRED" URL/sites/ID
     for CRED = HS256, ES256, RS256 (tests/e2e/idp.py) and an API key, two interleaved rounds
    build-bench/lifecycle URL TOKEN tokens.last64 64 $SECS
    serve --webhook-allow-private (a fresh server); POST /webhooks to build-bench/hello, or to a
     socket that never answers; build-bench/lifecycle on 64 fresh sites per run
    beanstalkd -f 0 | -F ;  build-bench/beanstalk PORT 64 $SECS 22
    build-bench/listing fill|time ...                                # see bench/run.sh
    build/jobplane sim --routers 100000 --interval 30 --duration $FLEET_SECS --queue-rate 1000 --sources 16  # fresh server
    build/jobplane sim --routers ${R[hf_n]} --interval 30 --wait 20 --duration $FLEET_SECS --queue-rate 1000 --sources 16  # fresh server
    bench/rollout.sh 100000: adopt 100,000 (sim --tokens); wrk -t2 -c100 with a delay of 30 ms per
     connection between polls (3,333 polls/s) before and during a rollout over all of them; the
     queued jobs counted every 50 ms (fresh servers, SQLite then PostgreSQL)
    (PostgreSQL: tests/pg.sh start DIR; serve --db postgres://.../bench --db-pool 16 (4 writer
     connections); the same wrk and lifecycle; a second node on the same database, lifecycles
     with 32 clients on each; pgbench -i -s 10, pgbench -M prepared -b simple-update -c 64 -j 2)

$(cat bench/notes.md)
EOT
echo "# wrote BENCHMARKS.md"
cat BENCHMARKS.md
