#!/usr/bin/env bash
# make soak: the crash test with 20 rounds against SQLite and PostgreSQL, then
# 60 seconds at twice the connection limit, sampling the server's memory.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
tally() { # reads a test's output
    local out=$1
    echo "$out"
    passed=$((passed + $(grep -c '^ok ' <<<"$out")))
    failed=$((failed + $(grep -c '^not ok ' <<<"$out")))
}
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-pg.XXXXXX")
trap 'tests/pg.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
tally "$(JP_CRASH_ROUNDS=20 bash tests/e2e/330-crash.sh 2>&1)"
if admin=$(tests/pg.sh start "$pgdir"); then
    tally "$(JP_CRASH_ROUNDS=20 JP_PG_ADMIN=$admin JP_PG_DIR=$pgdir bash tests/e2e/330-crash.sh 2>&1)"
fi

# Overload: 200 open connections against a limit of 100, and 8 clients
# polling, creating and listing as fast as they can, for 60 seconds.
tally "$(bash -c '
. tests/e2e/lib.sh
jp_start --max-connections 100 --max-held 50
TOK=$(token soak)
adopt "soak"
rss() { awk "/VmRSS/ { print \$2 }" /proc/$JP_PID/status; }
for i in $(seq 200); do exec {fd}<>"/dev/tcp/127.0.0.1/$JP_PORT"; done
end=$(( $(date +%s) + 60 ))
for w in $(seq 8); do
    ( while [ "$(date +%s)" -lt "$end" ]; do
        curl -s -o /dev/null -m 5 -X POST -H "Authorization: Bearer $DTOK" --data-binary "name=soak" "$BASE/poll?wait=1"
        curl -s -o /dev/null -m 5 -X POST -H "Authorization: Bearer $TOK" -H "Content-Type: text/plain" \
            -H "X-Idempotency-Key: $(uuid)" -H "X-Description: soak" --data-binary ":put 1" "$BASE/site/$SITE/job"
        curl -s -o /dev/null -m 5 -H "Authorization: Bearer $TOK" "$BASE/site/$SITE/job?limit=100"
      done ) &
done
samples=""
for s in $(seq 12); do sleep 5; samples="$samples $(rss)"; done
wait_bg 2>/dev/null
echo "# RSS (KiB) every 5 s under 2x overload:$samples"
first=$(awk "{ print \$2 }" <<<"$samples")
last=$(awk "{ print \$NF }" <<<"$samples")
max=$(tr " " "\n" <<<"$samples" | sort -n | tail -1)
check_true "memory stays bounded: max ${max} KiB, from ${first} to ${last} KiB" test "$last" -le $((first * 3 / 2 + 20480))
req GET /healthz
check "healthy after the overload" 200 "$STATUS"
jp_finish
' 2>&1)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
