# Crash test: a mixed load (creates, cancels, a simulated fleet polling and
# reporting) while the server is killed with SIGKILL at random moments and
# restarted, JP_CRASH_ROUNDS times (5 here; `make soak` runs 20). Afterwards:
# every acknowledged create exists, in the same or a later state; no job was
# delivered twice; every acknowledged report is reflected; the database is
# intact.
. "$(dirname "$0")/lib.sh"
ROUNDS=${JP_CRASH_ROUNDS:-5}
jp_start --run-timeout 3600
JP_LISTEN="127.0.0.1:$JP_PORT" # restarts keep the port: the fleet keeps its URL
TOK=$(token crash)
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 10 --interval 1 --duration $((ROUNDS * 3 + 8)) \
    --fail-rate 0.2 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sleep 2
SITES=($(curl -s -H "Authorization: Bearer $TOK" "$BASE/sites" | jq -r '.[].id'))
check "the fleet is adopted" 10 "${#SITES[@]}"

# creates and cancels, each answer written down
( i=0
  while [ ! -e "$JP_TMP/stop" ]; do
      i=$((i + 1))
      s=${SITES[$((i % 10))]}
      out=$(curl -s -m 5 -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
          -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: crash load' --data-binary ":put $i" \
          -w '\n%{http_code}' "$BASE/site/$s/job")
      code=$(tail -1 <<<"$out")
      id=$(head -1 <<<"$out" | jq -r '.id // empty' 2>/dev/null)
      echo "create $code $s $id"
      if [ $((i % 7)) = 0 ] && [ -n "$id" ]; then
          c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $TOK" "$BASE/site/$s/job/$id")
          echo "cancel $c $s $id $?" # curl's exit status: 7 when nothing listened
      fi
  done ) >"$JP_TMP/ops" 2>/dev/null &
LOAD=$!

for r in $(seq "$ROUNDS"); do
    sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.2f", 1 + rand() * 2 }')"
    jp_kill9
    sleep 0.5 # down for a moment: requests in this window fail
    jp_start --run-timeout 3600
done
check "$ROUNDS kills, $((ROUNDS + 1)) starts on one port" "$((ROUNDS + 1)) $BASE" \
    "$(grep -c 'jobplane listening' "$JP_TMP/server.log") http://127.0.0.1:$JP_PORT"
wait "$SIM"
touch "$JP_TMP/stop" # the loader finishes (and writes down) the operation it is in
wait "$LOAD" 2>/dev/null
sleep 1.5 # the last heartbeats, and any answer in flight

acked=$(awk '$1 == "create" && ($2 == 201 || $2 == 200) && $4 != "" { print $3, $4 }' "$JP_TMP/ops")
cancelled=$(awk '$1 == "cancel" && $2 == 204 { print $4 }' "$JP_TMP/ops")
# A cancel the server received but died under without answering (curl's 000
# after a connection: the kill came between its commit and its answer, or before
# its commit) leaves its job in either state. A cancel that found nothing
# listening (curl exit 7) must have changed nothing, and every answered cancel
# is held to its answer.
unanswered=$(awk '$1 == "cancel" && $2 == "000" && $5 != 7 { print $4 }' "$JP_TMP/ops")
check_true "creates were acknowledged ($(wc -l <<<"$acked"))" test "$(wc -l <<<"$acked")" -gt 20
missing=0 applied=0
while read -r s id; do
    api GET "/site/$s/job/$id"
    if grep -qx "$id" <<<"$cancelled"; then
        [ "$STATUS" = 404 ] || { missing=$((missing + 1)); echo "# cancelled $id answers $STATUS"; }
    elif grep -qx "$id" <<<"$unanswered"; then
        case "$STATUS" in
        404) applied=$((applied + 1)) ;;
        200) ;;
        *) missing=$((missing + 1)); echo "# $id (cancel unanswered) answers $STATUS" ;;
        esac
    else
        [ "$STATUS" = 200 ] || { missing=$((missing + 1)); echo "# acknowledged $id answers $STATUS"; grep -n "$id" "$JP_TMP/ops" | sed 's/^/#   /'; }
    fi
done <<<"$acked"
echo "# cancels the server died under: $(grep -c . <<<"$unanswered"), of them committed before the kill: $applied"
check "every acknowledged create (and cancel) survived $ROUNDS kills" 0 "$missing"
cat "$JP_TMP/sim.out"
check_true "requests failed while the server was down ($(awk '$2 != 201 && $2 != 200 && $2 != 204' "$JP_TMP/ops" | wc -l) operator, $(sed -nE 's/^polls:.*errors ([0-9]+)$/\1/p' "$JP_TMP/sim.out") polls)" \
    test "$(awk '$2 != 201 && $2 != 200 && $2 != 204' "$JP_TMP/ops" | wc -l)" -gt 0 -o \
    "$(sed -nE 's/^polls:.*errors ([0-9]+)$/\1/p' "$JP_TMP/sim.out")" -gt 0
check_delivered_once "$JP_TMP/rec"
bad=0
while read -r what s id; do
    api GET "/site/$s/job/$id"
    st=$(jb -r .status)
    case "$what" in
    delivered) [ "$st" != pending ] || { bad=$((bad + 1)); echo "# $id delivered but pending"; } ;;
    done) [ "$st" = completed ] || { bad=$((bad + 1)); echo "# $id reported done, is $st"; } ;;
    fail) [ "$st" = failed ] || { bad=$((bad + 1)); echo "# $id reported fail, is $st"; } ;;
    esac
done < <(grep -E '^(delivered|done|fail) ' "$JP_TMP/rec")
check "every delivery and acknowledged report is reflected" 0 "$bad"
check_true "reports were acknowledged ($(grep -cE '^(done|fail) ' "$JP_TMP/rec"))" \
    test "$(grep -cE '^(done|fail) ' "$JP_TMP/rec")" -gt 5
jp_stop
if [ -z "${JP_PG_ADMIN:-}" ]; then
    check "integrity_check after $ROUNDS kills" ok "$(sqlite3 "$JP_DB" 'PRAGMA integrity_check')"
fi
jp_start
jp_finish
