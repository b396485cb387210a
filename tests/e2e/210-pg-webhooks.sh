# PostgreSQL only: two nodes deliver one outbox. Each event is delivered
# once, by one node at a time (leases, SKIP LOCKED), both nodes take part,
# and the deliveries a node was sending when it died are sent by the other
# once their lease ends.
. "$(dirname "$0")/lib.sh"
[ -n "${JP_PG_ADMIN:-}" ] || { echo "# PostgreSQL only"; jp_finish; }
rcv_start
jp_start --webhook-allow-private --node node-a
A=$BASE
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_DB" --port-file "$JP_TMP/port2" --webhook-allow-private \
    --node node-b >"$JP_TMP/node2.log" 2>&1 &
PID2=$!
for _ in $(seq 100); do [ -s "$JP_TMP/port2" ] && break; sleep 0.05; done
B="http://127.0.0.1:$(cat "$JP_TMP/port2")"
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write webhooks:read webhooks:write")
api POST /webhooks -H 'Content-Type: application/json' \
    -d "{\"url\":\"$R/sleep/50/two\",\"events\":[\"job.delivered\",\"job.started\",\"job.completed\",\"job.failed\"]}"
jb .secret >"$RCV/secrets"
W=$(jb .id)

"$JP_BIN" sim --url "$A" --url "$B" --token "$TOK" --routers 10 --interval 1 --duration 12 \
    --fail-rate 0.2 >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sleep 2
SITES=$(curl -s -H "Authorization: Bearer $TOK" "$A/sites" | jq -r '.[].id')
for s in $SITES; do
    for k in $(seq 10); do
        node=$A; [ $((k % 2)) = 0 ] && node=$B
        job_cfg "$node" "$s" ":put $k" "two nodes"
    done
done >"$JP_TMP/jobs.cfg"
curl_cfg "$JP_TMP/jobs.cfg" | grep -c '^201$' >"$JP_TMP/created"
check "100 jobs created through the two nodes" 100 "$(cat "$JP_TMP/created")"
wait "$SIM"
for _ in $(seq 150); do
    [ "$(curl -s "$A/healthz" | jq .outbox.depth)" = 0 ] && break
    sleep 0.2
done
check "the outbox drained" 0 "$(curl -s "$A/healthz" | jq .outbox.depth)"
DELIVERED=$(psql -qtA "$JP_DB" -c 'SELECT count(*) FROM jobs WHERE delivered_at IS NOT NULL')
check_true "jobs were delivered ($DELIVERED)" test "$DELIVERED" -gt 50
check "a job.delivered event for each" "$DELIVERED" "$(jq -s '[.[] | select(.type=="job.delivered")] | length' "$RCV/log")"
check "no event delivered twice" 0 "$(jq -rs 'group_by(.id) | map(select(length > 1)) | length' "$RCV/log")"
check "every delivery verifies" 0 "$(jq -s '[.[] | select(.sig_ok != true)] | length' "$RCV/log")"
check "both nodes delivered" 2 "$(psql -qtA "$JP_DB" -c 'SELECT count(DISTINCT last_node) FROM deliveries')"
check "one attempt per delivery" "0 0" \
    "$(psql -qtA "$JP_DB" -c 'SELECT count(*) FROM deliveries WHERE tries <> 1') $(psql -qtA "$JP_DB" -c 'SELECT count(*) FROM delivery_attempts')"

# node B dies while its deliveries wait on a slow receiver: node A sends them
# once B's leases end (30 s)
api PATCH "/webhooks/$W" -H 'Content-Type: application/json' -d "{\"url\":\"$R/sleep/4000/slow\",\"events\":[\"ping\"]}"
check_error "ping cannot be subscribed" 422 parameter_invalid
api PATCH "/webhooks/$W" -H 'Content-Type: application/json' -d "{\"url\":\"$R/sleep/4000/slow\"}"
kill -STOP "$JP_PID" # A takes no part until B has leased them
for i in $(seq 6); do
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" "$B/webhooks/$W/test"
done
sleep 1.5
kill -KILL "$PID2"
wait "$PID2" 2>/dev/null
t_kill=$(date +%s)
kill -CONT "$JP_PID"
leased=$(psql -qtA "$JP_DB" -c "SELECT count(*) FROM deliveries WHERE lease_owner='node-b' AND state=0")
check "node B died holding the 6 pings" 6 "$leased"
for _ in $(seq 450); do
    [ "$(psql -qtA "$JP_DB" -c "SELECT count(*) FROM deliveries WHERE state=1 AND webhook_id='$W' AND type='ping'")" = 6 ] && break
    sleep 0.1
done
took=$(($(date +%s) - t_kill))
check "node A delivered them" 6 "$(psql -qtA "$JP_DB" -c "SELECT count(*) FROM deliveries WHERE state=1 AND type='ping'")"
check_true "within the 30 s lease and a delivery (${took} s)" test "$took" -le 36
check "by node A" node-a "$(psql -qtA "$JP_DB" -c "SELECT DISTINCT last_node FROM deliveries WHERE type='ping' AND last_status=200")"
rcv_stop
jp_finish
