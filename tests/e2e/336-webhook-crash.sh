# Webhooks through crashes: a fleet runs jobs while the server is killed
# with SIGKILL at random moments, deliveries in flight, and restarted on the
# same port (the same node: it takes back its own leases). Afterwards every
# state change the database holds has its event at the receiver (nothing
# lost), and an event that arrived more than once always carried the same
# webhook-id (duplicates are recognisable).
. "$(dirname "$0")/lib.sh"
ROUNDS=${JP_CRASH_ROUNDS:-5}
rcv_start
ARGS=(--run-timeout 3600 --webhook-allow-private --webhook-retry-schedule 0,1s,1s,2s,2s,5s,5s,10s)
jp_start "${ARGS[@]}"
JP_LISTEN="127.0.0.1:$JP_PORT"
TOK=$(token crash "jobs:read jobs:write sites:read sites:write webhooks:read webhooks:write")
api POST /webhooks -H 'Content-Type: application/json' -d "{\"url\":\"http://127.0.0.1:$(cat "$RCV/port")/ok/crash\",\"events\":[\"job.delivered\",\"job.started\",\"job.completed\",\"job.failed\",\"job.cancelled\",\"site.adopted\"]}"
check "the endpoint is created" 201 "$STATUS"
jb .secret >"$RCV/secrets"
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 10 --interval 1 --duration $((ROUNDS * 3 + 6)) \
    --fail-rate 0.2 >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sleep 2
SITES=($(curl -s -H "Authorization: Bearer $TOK" "$BASE/sites" | jq -r '.[].id'))
check "the fleet is adopted" 10 "${#SITES[@]}"
( i=0
  while [ ! -e "$JP_TMP/stop" ]; do
      i=$((i + 1))
      s=${SITES[$((i % 10))]}
      id=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
          -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: crash load' --data-binary ":put $i" \
          "$BASE/site/$s/job" | jq -r '.id // empty' 2>/dev/null)
      [ $((i % 5)) = 0 ] && [ -n "$id" ] &&
          curl -s -m 5 -o /dev/null -X DELETE -H "Authorization: Bearer $TOK" "$BASE/site/$s/job/$id"
  done ) >/dev/null 2>&1 &
LOAD=$!
for r in $(seq "$ROUNDS"); do
    sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 1 + rand() * 2 }')"
    jp_kill9
    sleep 0.3
    jp_start "${ARGS[@]}"
done
wait "$SIM"
touch "$JP_TMP/stop"
wait "$LOAD" 2>/dev/null
for _ in $(seq 100); do # every delivery done
    [ "$(curl -s "$BASE/healthz" | jq .outbox.depth)" = 0 ] && break
    sleep 0.2
done
check "the outbox drained" 0 "$(curl -s "$BASE/healthz" | jq .outbox.depth)"

# what the database holds, as events
db_exec "SELECT id, CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END,
    CASE WHEN completed_at IS NOT NULL THEN 1 ELSE 0 END, CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END,
    CASE WHEN cancelled_at IS NOT NULL THEN 1 ELSE 0 END FROM jobs" | tr '|' ' ' |
    while read -r id d c f x; do
        [ "$d" = 1 ] && echo "job.delivered $id"
        [ "$c" = 1 ] && echo "job.completed $id"
        [ "$f" = 1 ] && echo "job.failed $id"
        [ "$x" = 1 ] && echo "job.cancelled $id"
    done | sort -u >"$JP_TMP/expected"
jq -r 'select(.type | startswith("job.")) | "\(.type) \(.body.data.id)"' "$RCV/log" | sort -u >"$JP_TMP/received"
lost=$(comm -23 "$JP_TMP/expected" "$JP_TMP/received")
check_true "state changes to check ($(wc -l <"$JP_TMP/expected"))" test "$(wc -l <"$JP_TMP/expected")" -gt 30
check "no event lost over $ROUNDS kills" "" "$lost"
check "the endpoint got each event signed" 0 "$(jq -s '[.[] | select(.sig_ok != true)] | length' "$RCV/log")"
# an event delivered twice (sent, then killed before its attempt was recorded) has one id
check "every event has one webhook-id, however often it came" 0 \
    "$(jq -rs 'group_by("\(.type) \(.body.data.id)") | map(select((map(.id) | unique | length) > 1)) | length' "$RCV/log")"
check "every webhook-id names one event" 0 \
    "$(jq -rs 'group_by(.id) | map(select((map("\(.type) \(.body.data.id)") | unique | length) > 1)) | length' "$RCV/log")"
echo "# requests $(wc -l <"$RCV/log"), distinct events $(jq -r .id "$RCV/log" | sort -u | wc -l)"
rcv_stop
jp_finish
