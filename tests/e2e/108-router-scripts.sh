# The router side over time, with simulated routers (jobplane sim):
# - a changed poll script (the server restarted with another --poll-wait)
#   reaches every router at its first poll of the new server, once, and the
#   routers take jobs with it afterwards;
# - routers "downgraded" to 7.12 keep polling (their poll script compiles
#   there) and stop holding their polls;
# - a job handed out again (the database restored from a copy taken while it
#   was pending) is not run twice: the router reports what it remembers.
. "$(dirname "$0")/lib.sh"
[ -z "${JP_PG_ADMIN:-}" ] || { echo "# SQLite only (the database file is restored)"; jp_finish; }
jp_start --poll-interval 1 --poll-wait 0
TOK=$(token t1)
OLD_REV=$JP_REV
# completed: how many jobs queued by new_job the routers completed
completed() { db_exec "SELECT count(*) FROM jobs WHERE description='e2e job' AND completed_at IS NOT NULL"; }

# ---- a changed script reaches every router -------------------------------
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 10 --interval 1 --duration 40 \
    --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sim_online 10
check "10 routers poll" 10 "$(jq length <<<"$SIM_IDS")"
PORT=$JP_PORT
jp_stop
JP_LISTEN=127.0.0.1:$PORT jp_start --poll-interval 1 --poll-wait 5
check_true "the new server renders another revision ($OLD_REV, $JP_REV)" test "$OLD_REV" != "$JP_REV"
t_restart=$(date +%s)
for _ in $(seq 100); do
    [ "$(grep -c "replaced by revision $JP_REV" "$JP_TMP/server.log")" -ge 10 ] && break
    sleep 0.1
done
check "every router's script was replaced" 10 \
    "$(grep "replaced by revision $JP_REV" "$JP_TMP/server.log" | grep -oE 'site [0-9a-f-]{36}' | sort -u | wc -l)"
check "... from the old revision" 10 "$(grep -c "poll script $OLD_REV replaced by revision $JP_REV" "$JP_TMP/server.log")"
took=$(($(date +%s) - t_restart))
check_true "within a few intervals of the restart (${took} s)" test "$took" -le 10
# after the replacement, the routers send the new revision: jobs, no more updates
for s in $(jq -r '.[]' <<<"$SIM_IDS"); do new_job "$s" ':put "with the new script"' >/dev/null; done
for _ in $(seq 150); do
    [ "$(completed)" = 10 ] && break
    sleep 0.2
done
check "the routers run jobs with the new script" 10 \
    "$(completed)"
check "no router was answered with a replacement twice" 10 "$(grep -c "replaced by revision" "$JP_TMP/server.log")"
kill -TERM "$SIM" 2>/dev/null
wait "$SIM"
sim() { grep "^$1" "$JP_TMP/sim.out" | sed -E 's/^[^:]*: *//'; }
check "the routers installed 10 replacements" 10 "$(sim 'script updates')"
check "updated is recorded per router" 10 "$(grep -c '^updated ' "$JP_TMP/rec")"

# ---- downgraded routers keep polling --------------------------------------
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 6 --interval 1 --wait 5 --duration 40 \
    --downgrade-after 8 >"$JP_TMP/sim2.out" 2>&1 &
SIM=$!
sleep 8 # adopted, held polls, then every router on 7.12 from its next poll
for _ in $(seq 100); do
    api GET "/sites?has_pulse=true"
    DOWN=$(jb -c '[.[] | select(.name | startswith("sim-")) | select(.software_version == "7.12 (stable)") | .id]')
    [ "$(jq length <<<"$DOWN")" = 6 ] && break
    sleep 0.2
done
check "6 routers run 7.12 and poll (their last heartbeat says so)" 6 "$(jq length <<<"$DOWN")"
for s in $(jq -r '.[]' <<<"$DOWN"); do new_job "$s" ':put "after the downgrade"' >/dev/null; done
for _ in $(seq 100); do
    [ "$(completed)" = 16 ] && break
    sleep 0.2
done
check "they run jobs" 16 "$(completed)"
req GET /healthz
check "no poll is held any more (7.12 has no idle-timeout)" 0 "$(jb .held_polls)"
kill -TERM "$SIM" 2>/dev/null
wait "$SIM"
cp "$JP_TMP/sim2.out" "$JP_TMP/sim.out"
check "6 downgraded, none stopped polling" "6 to 7.12, 0 stopped polling (script did not compile)" "$(sim downgraded)"

# ---- at most once on the router -------------------------------------------
api GET /sites
BEFORE=$(jb -c '[.[].id]')
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 1 --interval 1 --duration 60 \
    --record "$JP_TMP/rec3" >"$JP_TMP/sim3.out" 2>&1 &
SIM=$!
ONE=
for _ in $(seq 100); do
    api GET /sites
    ONE=$(jb -r --argjson old "$BEFORE" '.[] | select(.name == "sim-00000") | select(.id as $i | $old | index($i) | not) | .id')
    [ -n "$ONE" ] && [ "$(db_exec "SELECT count(*) FROM sites WHERE id='$ONE' AND last_seen_at IS NOT NULL")" = 1 ] && break
    sleep 0.2
done
check_true "the router polls" test -n "$ONE"
kill -STOP "$SIM" # the router sleeps: the job stays pending
J=$(new_job "$ONE" ':put "once"' | jq -r .id)
sqlite3 "$JP_DB" ".timeout 5000" ".backup '$JP_TMP/pending.db'"
check "the copy holds the job pending" pending \
    "$(sqlite3 "$JP_TMP/pending.db" "SELECT CASE WHEN delivered_at IS NULL THEN 'pending' END FROM jobs WHERE id='$J'")"
kill -CONT "$SIM"
wait_status "$ONE" "$J" completed
check "the router ran it" completed "$(jb -r .status)"
PORT=$JP_PORT
jp_stop
cp "$JP_TMP/pending.db" "$JP_DB"
rm -f "$JP_DB-wal" "$JP_DB-shm"
JP_LISTEN=127.0.0.1:$PORT jp_start --poll-interval 1 --poll-wait 5
wait_status "$ONE" "$J" completed
check "the restored server handed it out again, and it completed" completed "$(jb -r .status)"
check "the router remembered it: reported, not run again" 1 "$(grep -c "^remembered $ONE $J" "$JP_TMP/rec3")"
check "it ran once" 1 "$(grep -c "^done $ONE $J" "$JP_TMP/rec3")"
kill -TERM "$SIM" 2>/dev/null
wait "$SIM"
cp "$JP_TMP/sim3.out" "$JP_TMP/sim.out"
check "the simulator counts one remembered job" "1 (handed out again, reported, not run)" "$(sim 'remembered jobs')"

jp_finish
