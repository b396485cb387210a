# Automatic daily backups: a server that was down at --auto-backup-hour runs
# the day's pass once it is back, spread over --auto-backup-spread from then;
# every online site gets one backup job and its router uploads the backup;
# offline and never-adopted sites get none; a restart the same day queues
# nothing again; --auto-backup off queues nothing at all.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --auto-backup off
JP_LISTEN="127.0.0.1:$JP_PORT" # restarts keep the port: the fleet keeps its URL
TOK=$(token t1)
N=12
SPREAD=6

"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers "$N" --interval 1 --duration 600 \
    --fail-rate 0 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
# a router adopted that polls once, then never again: offline when the pass begins
adopt "gone-quiet"
QUIET=$SITE
poll
# a site never adopted
NEVER=$(new_site "never-adopted")
sim_online "$N"
SIMS=$(jq -r '.[]' <<<"$SIM_IDS")
check "the simulator adopted $N sites" "$N" "$(wc -w <<<"$SIMS")"
for _ in $(seq 60); do # the quiet router goes offline (ten poll intervals)
    api GET "/sites/$QUIET"
    [ "$(jb .has_pulse)" = false ] && break
    sleep 0.5
done
check "the quiet router is offline" false "$(jb .has_pulse)"

backup_jobs() { # backup_jobs SITE: the site's automatic backup jobs
    api GET "/site/$1/job"
    jb '[.[] | select(.description == "Automatic daily backup")]'
}
n=0
for s in $SIMS; do n=$((n + $(backup_jobs "$s" | jq length))); done
check "with --auto-backup off, no backup job" 0 "$n"

# The server comes back long after hour 0 UTC: today's pass runs now.
jp_stop
jp_start --poll-interval 1 --auto-backup daily --auto-backup-hour 0 --auto-backup-spread "${SPREAD}s"
t_start=$(date +%s)
for _ in $(seq 120); do
    done_n=0
    for s in $SIMS; do
        api GET "/backup/$s"
        [ "$(jb length)" -ge 1 ] && done_n=$((done_n + 1))
    done
    [ "$done_n" = "$N" ] && break
    sleep 0.5
done
echo "# every online site had its backup $(($(date +%s) - t_start)) s after the restart"
check "every online site's router uploaded a backup" "$N" "$done_n"
one=0 created=()
for s in $SIMS; do
    js=$(backup_jobs "$s")
    [ "$(jq length <<<"$js")" = 1 ] &&
        [ "$(jq -r '.[0] | "\(.should_backup) \(.status)"' <<<"$js")" = "true completed" ] && one=$((one + 1))
    created+=("$(jq -r '.[0].created_at | fromdateiso8601' <<<"$js")")
done
check "each online site got exactly one backup job, completed" "$N" "$one"
first=$(printf '%s\n' "${created[@]}" | sort -n | head -1)
last=$(printf '%s\n' "${created[@]}" | sort -n | tail -1)
check_true "the jobs were spread over the ${SPREAD} s from the restart, not queued at once (first to last: $((last - first)) s)" \
    test $((last - first)) -ge $((SPREAD / 2))
check_true "  and the pass began after the restart, not at the hour" test "$first" -ge "$t_start"
check "the offline router got no job" 0 "$(backup_jobs "$QUIET" | jq length)"
check "the site never adopted got none" 0 "$(backup_jobs "$NEVER" | jq length)"
api GET "/backup/$(head -1 <<<"$SIMS")"
check "the backup list shows it" "1 true" "$(jb -r '"\(length) \(.[0].size_bytes > 0)"')"

# Restarted the same day: the pass is done, nothing queued again.
jp_restart
sleep $((3 + SPREAD))
n=0
for s in $SIMS; do n=$((n + $(backup_jobs "$s" | jq length))); done
check "a restart the same day queues no second backup" "$N" "$n"
check_true "the server logged the day's pass" grep -q "automatic backups: day" "$JP_TMP/server.log"

kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null
check_delivered_once "$JP_TMP/rec"
jp_finish
