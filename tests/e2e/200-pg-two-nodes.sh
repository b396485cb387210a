# PostgreSQL only: two jobplane nodes on one database. A fleet polling both at
# random runs every job exactly once; an express job created on one node wakes
# a poll held on the other; a database restart under load answers 503 and
# both nodes recover by themselves.
# The restart takes the database down: the test runs on a cluster of its own,
# so that the tests beside it keep theirs.
if [ -n "${JP_PG_ADMIN:-}" ]; then
    JP_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-pg-own.XXXXXX")
    trap 'tests/pg.sh stop "$JP_PG_DIR"; rm -rf "$JP_PG_DIR"' EXIT
    JP_PG_ADMIN=$(tests/pg.sh start "$JP_PG_DIR") || { echo "not ok - a cluster of its own starts"; exit 1; }
fi
. "$(dirname "$0")/lib.sh"
[ -n "${JP_PG_ADMIN:-}" ] || { echo "# PostgreSQL only"; jp_finish; }
jp_start
A=$BASE
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_DB" --port-file "$JP_TMP/port2" >"$JP_TMP/node2.log" 2>&1 &
PID2=$!
for _ in $(seq 100); do [ -s "$JP_TMP/port2" ] && break; sleep 0.05; done
B="http://127.0.0.1:$(cat "$JP_TMP/port2")"
TOK=$(token t1)
ms() { date +%s%3N; }

# Express wake across nodes: the poll is held on B, the job created on A.
adopt "cross"
(t0=$(ms); BASE=$B; poll "?wait=10"; echo "$(($(ms) - t0)) $(head -1 <<<"$BODY")" >"$JP_TMP/held") &
HELD=$!
sleep 1
t_create=$(ms)
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: express' -H 'X-Express-Execute: true' \
    --data-binary ':put now' "$A/site/$SITE/job"
wait "$HELD"
read -r took first <"$JP_TMP/held"
check "the poll held on node B got the job created on node A" "# jobplane job" "$(cut -c1-14 <<<"$first")"
check_true "within 1 s of the create (held ${took} ms, created at ~1000)" test "$took" -lt 2000

# An API key created on A works on B; revoked on A, B refuses it at once.
KT=$(token t1 "sites:read keys:write")
KEY=$(curl -s -X POST -H "Authorization: Bearer $KT" -H 'Content-Type: application/json' \
    -d '{"name":"two nodes"}' "$A/teams/t1/api-credentials" | jq -r .api_key)
check "an API key made on node A works on node B" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$B/sites")"
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $KT" "$A/teams/t1/api-credentials/${KEY%%:*}"
check "revoked on node A, node B refuses it at once" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$B/sites")"

# 20 sites, 400 jobs created through both nodes, a fleet polling both at random.
"$JP_BIN" sim --url "$A" --url "$B" --token "$TOK" --routers 20 --interval 1 --duration 40 \
    --fail-rate 0.2 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sleep 3
api GET /sites
SITES=$(jb -r '.[] | select(.name | startswith("sim-")) | .id')
check "the fleet adopted 20 sites" 20 "$(wc -w <<<"$SITES")"
# (round-robin over the sites: no site has a backlog that its router, taking one
# job per poll, could not drain before the fleet's run ends, however slowly a
# loaded machine creates)
t_jobs=$(date +%s)
for k in $(seq 20); do
    for s in $SITES; do
        node=$A; [ $((k % 2)) = 0 ] && node=$B
        job_cfg "$node" "$s" ":put $k" "two nodes"
    done
done >"$JP_TMP/jobs.cfg"
curl_cfg "$JP_TMP/jobs.cfg" | grep -c '^201$' >"$JP_TMP/created"
check "400 jobs created through the two nodes (in $(($(date +%s) - t_jobs)) s)" 400 "$(cat "$JP_TMP/created")"
wait "$SIM"
check "the fleet exits 0" 0 $?
cat "$JP_TMP/sim.out"
check "400 deliveries recorded" 400 "$(grep -c '^delivered ' "$JP_TMP/rec")"
check "each job delivered once" 400 "$(grep '^delivered ' "$JP_TMP/rec" | cut -d' ' -f3 | sort -u | wc -l)"
check "duplicates found" 0 "$(grep -c '^DUPLICATE ' "$JP_TMP/rec")"
check "the database: 400 fleet jobs delivered" 400 \
    "$(db_exec "SELECT count(*) FROM jobs j JOIN sites s ON s.id=j.site_id WHERE s.name LIKE 'sim-%' AND delivered_at IS NOT NULL")"
check "every report recorded once: 400 final events" 400 \
    "$(db_exec "SELECT count(*) FROM events WHERE message LIKE 'Job % completed (done)' OR message LIKE 'Job % failed (fail)'")"
check "no job has two final events" 0 \
    "$(db_exec "SELECT count(*) FROM (SELECT substr(message, 5, 10) FROM events WHERE message LIKE 'Job % completed (done)' OR message LIKE 'Job % failed (fail)' GROUP BY 1 HAVING count(*) > 1) x")"
check "the routers' reports match the database" "$(grep -cE '^(done|fail) ' "$JP_TMP/rec")" \
    "$(db_exec "SELECT count(*) FROM jobs j JOIN sites s ON s.id=j.site_id WHERE s.name LIKE 'sim-%' AND (completed_at IS NOT NULL OR failed_at IS NOT NULL)")"

# A database restart under load: 503 while it is down, recovery without restarts.
# (the fleet runs long enough to take the jobs created after the restart,
# however slowly a loaded machine gets there)
"$JP_BIN" sim --url "$A" --url "$B" --token "$TOK" --routers 10 --interval 1 --duration 30 \
    --record "$JP_TMP/rec2" >"$JP_TMP/sim2.out" 2>&1 &
SIM=$!
sleep 4
tests/pg.sh restart "$JP_PG_DIR" 3 &
RESTART=$!
sleep 1.5
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" \
    -H 'X-Description: while down' --data-binary ':put down'
check_error "a create while the database is down" 503 store_unavailable
check "with Retry-After" 1 "$(header Retry-After)"
req GET /healthz
check "the node itself keeps answering" 200 "$STATUS"
wait "$RESTART"
# Right after the restart, 32 concurrent reads on each node use most pooled
# connections, every one of them dead since the restart: all must succeed.
READS=()
for node in "$A" "$B"; do
    for i in $(seq 32); do
        curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOK" "$node/sites/$SITE" \
            >>"$JP_TMP/after-restart" &
        READS+=($!)
    done
done
wait "${READS[@]}"
check "64 concurrent reads right after the restart all succeed" 64 "$(grep -c '^200$' "$JP_TMP/after-restart")"
sleep 2
api GET "/site/$SITE/job?limit=1"
check "node A reads again after the restart" 200 "$STATUS"
BASE=$B api GET "/site/$SITE/job?limit=1"
check "node B reads again after the restart" 200 "$STATUS"
SIM_SITES=$(db_exec "SELECT id FROM sites WHERE name LIKE 'sim-%' ORDER BY id DESC LIMIT 10") # the second fleet
after=0
for s in $SIM_SITES; do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
        -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: after restart' --data-binary ':put up' "$B/site/$s/job"
done | grep -c '^201$' >"$JP_TMP/after"
check "creates succeed after the restart" 10 "$(cat "$JP_TMP/after")"
wait "$SIM"
cat "$JP_TMP/sim2.out"
check "no job delivered twice across the restart" 0 "$(grep -c '^DUPLICATE ' "$JP_TMP/rec2")"
check_true "polls failed while the database was down" \
    test "$(sed -nE 's/^polls:.*errors ([0-9]+)$/\1/p' "$JP_TMP/sim2.out")" -gt 0
check "every job created after the restart ran" 0 \
    "$(db_exec "SELECT count(*) FROM jobs WHERE description='after restart' AND completed_at IS NULL AND failed_at IS NULL")"

# The listener reconnected: a cross-node wake still works.
adopt "cross-2"
(t0=$(ms); BASE=$B; poll "?wait=10"; echo "$(($(ms) - t0)) $(head -1 <<<"$BODY")" >"$JP_TMP/held") &
HELD=$!
sleep 1
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: express' -H 'X-Express-Execute: true' \
    --data-binary ':put again' "$A/site/$SITE/job"
wait "$HELD"
read -r took first <"$JP_TMP/held"
check_true "after the restart a cross-node wake still arrives within 1 s (${took} ms)" \
    test "$took" -lt 2000 -a "$(cut -c1-14 <<<"$first")" = "# jobplane job"

kill -TERM "$PID2"
wait "$PID2"
check "node B exits 0" 0 $?
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$JP_TMP/node2.log"; then
    not_ok "no sanitizer report from node B"
fi
jp_finish
