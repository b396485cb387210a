# The fleet simulator against the real server: every queued job is run exactly
# once, every report lands, the API agrees with what the routers saw.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1
TOK=$(token t1)
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 25 --interval 1 --duration 14 \
    --fail-rate 0.3 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sleep 3
api GET /sites
SITES=$(jb -r '.[].id')
check "the simulator adopted 25 sites" 25 "$(wc -w <<<"$SITES")"
for s in $SITES; do
    for k in 1 2 3; do
        backup=false; [ $k = 2 ] && backup=true
        ack=true; [ $k = 3 ] && ack=false
        job_cfg "$BASE" "$s" ":put $k" "fleet job" "X-Backup: $backup" "X-Needs-Ack: $ack"
    done
done >"$JP_TMP/jobs.cfg"
N=$(curl_cfg "$JP_TMP/jobs.cfg" | grep -c '^201$')
check "75 jobs created" 75 "$N"
wait "$SIM"
check "the simulator exits 0 (no duplicates, no setup errors)" 0 $?
cat "$JP_TMP/sim.out"
sim() { grep "^$1" "$JP_TMP/sim.out" | sed -E 's/^[^:]*: *//'; }
check "jobs run = jobs queued" "$N" "$(sim 'jobs run' | cut -d' ' -f1)"
check "duplicates" 0 "$(sim duplicates)"
check "poll errors" 0 "$(sim polls | sed -E 's/.*errors //')"
check "report errors" 0 "$(sim 'report errors')"
check "backups uploaded (one per site)" "25 uploaded, 0 failed" "$(sim backups)"
check "delivered lines = jobs" "$N" "$(grep -c '^delivered ' "$JP_TMP/rec")"
check "each job delivered once" "$N" "$(grep '^delivered ' "$JP_TMP/rec" | cut -d' ' -f3 | sort -u | wc -l)"

# The API's view matches the routers' records.
mismatch=0
for s in $SITES; do
    api GET "/site/$s/job"
    while read -r id status backup ack; do
        rec=$(grep " $s $id$" "$JP_TMP/rec" | grep -E '^(done|fail) ' | cut -d' ' -f1)
        if [ "$ack" = false ]; then want=completed
        elif [ "$rec" = done ]; then want=completed
        elif [ "$rec" = fail ]; then want=failed
        else want="?"; fi
        [ "$status" = "$want" ] || { mismatch=$((mismatch + 1)); echo "# $id: api $status, routers $rec"; }
    done < <(jb -r '.[] | "\(.id) \(.status) \(.should_backup) \(.needs_acknowledgement)"')
done
check "every job's state matches the routers' reports" 0 "$mismatch"
api GET "/backup/$(head -1 <<<"$SITES")"
check "the site has its backup" 1 "$(jb length)"

# --queue-rate: jobs queued through the operator API while the fleet polls;
# every one is delivered once, none is lost, and the database agrees.
TOK2=$(token t2)
# 10 jobs/s over 50 routers polling every second: each router has spare
# capacity.
"$JP_BIN" sim --url "$BASE" --token "$TOK2" --routers 50 --interval 1 --duration 4 \
    --queue-rate 10 >"$JP_TMP/sim2.out" 2>&1
check "the queueing simulator exits 0 (no duplicates, nothing lost)" 0 $?
cat "$JP_TMP/sim2.out"
sim() { grep "^$1" "$JP_TMP/sim2.out" | sed -E 's/^[^:]*: *//'; }
Q=$(sim queued | cut -d' ' -f1)
check_true "about 10 jobs/s were queued for 4 s ($Q)" test "$Q" -ge 32 -a "$Q" -le 42
check "queue errors" 0 "$(sim queued | sed -E 's/.*errors //')"
check "lost" 0 "$(sim lost)"
check "all queued jobs delivered" "$Q" "$(sim delivered | cut -d' ' -f1)"
check "jobs run = jobs queued" "$Q" "$(sim 'jobs run' | cut -d' ' -f1)"
check "the database: team t2's jobs all completed" "$Q|$Q" \
    "$(db_exec "SELECT count(*), count(j.completed_at) FROM jobs j JOIN sites s ON s.id = j.site_id WHERE s.team = 't2'")"

# A job that never reaches its router is reported lost, with what the server
# says of it: here each queued job still pending is cancelled under the fleet.
TOK3=$(token t3)
"$JP_BIN" sim --url "$BASE" --token "$TOK3" --routers 3 --interval 2 --duration 3 \
    --queue-rate 4 >"$JP_TMP/sim3.out" 2>&1 &
SIM3=$!
TOK_KEEP=$TOK TOK=$TOK3
for _ in $(seq 60); do
    api GET /sites
    for s in $(jb -r '.[].id'); do
        api GET "/site/$s/job"
        for j in $(jb -r '.[] | select(.status == "pending") | .id'); do
            api DELETE "/site/$s/job/$j"
            [ "$STATUS" = 204 ] && echo "$j" >>"$JP_TMP/cancelled3"
        done
    done
    kill -0 $SIM3 2>/dev/null || break
    sleep 0.1
done
TOK=$TOK_KEEP
wait $SIM3
check "a fleet that lost jobs exits 1" 1 $?
cat "$JP_TMP/sim3.out"
C=$(sort -u "$JP_TMP/cancelled3" 2>/dev/null | wc -l)
L=$(grep '^lost' "$JP_TMP/sim3.out" | sed -E 's/^[^:]*: *//')
check_true "jobs were cancelled before delivery ($C)" test "$C" -gt 0
check "lost = cancelled before delivery" "$C" "$L"
check "each lost job is shown, as the server has it (not found)" "$((C < 10 ? C : 10))" \
    "$(grep -cE '^  lost job [0-9a-f-]{36} at site [0-9a-f-]{36}: not found \(HTTP 404\)$' "$JP_TMP/sim3.out")"

jp_finish
