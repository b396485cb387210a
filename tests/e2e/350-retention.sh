# Retention: bad values refused at start; raw samples at most once per
# --stats-interval; hourly and daily roll-ups against a reference computed
# here; ranges across raw, hourly and daily periods; finished jobs and their
# events deleted after --job-retention-days (pending and in-flight ones never);
# 0 keeps everything. Days pass through the pruner's test clock
# (JP_TEST_CLOCK_OFFSET), data is backdated with SQL.
. "$(dirname "$0")/lib.sh"
REF="$(dirname "$0")/stats_ref.py"

# ---- bad values, refused at start with a message ------------------------
refused() {
    local out status=0
    out=$("$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_TMP/never.db" "$@" 2>&1) || status=$?
    check "refused: $*" "2 yes" "$status $(grep -q -e 'invalid value' -e 'cannot outlive' <<<"$out" && echo yes)"
}
refused --stats-raw-hours -1
refused --stats-raw-hours 0
refused --stats-hourly-days 99999
refused --stats-daily-days 0
refused --job-retention-days -5
refused --job-retention-days 1e9
refused --backup-keep x
refused --stats-interval 2h
refused --stats-interval -5m
refused --webhook-dead-retention 0
refused --stats-raw-hours 100 --stats-hourly-days 2
refused --stats-hourly-days 40 --stats-daily-days 30

# ---- roll-ups against the reference --------------------------------------
jp_start
TOK=$(token t1)
SITE2=$(new_site "samples")
jp_stop
NOW=$(date +%s)
D0=$(((NOW / 86400 - 4) * 86400))
python3 "$REF" gen "$SITE2" "$D0" "$((NOW - 60))" 300 7 >"$JP_TMP/samples.json"
python3 "$REF" sql "$JP_TMP/samples.json" >"$JP_TMP/samples.sql"
db_script "$JP_TMP/samples.sql"
check "samples written ($(jq length "$JP_TMP/samples.json"))" "$(jq length "$JP_TMP/samples.json")" \
    "$(db_exec "SELECT count(*) FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE2')")"
jp_start --stats-raw-hours 6 --stats-hourly-days 2 --stats-daily-days 30
check_true "the pruner rolls up and prunes" pruned
RAW_LEFT=$(db_exec "SELECT count(*) FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE2') AND ts < $((NOW - 7 * 3600))")
check "raw samples older than 6 h (and an hour) are gone" 0 "$RAW_LEFT"
check "hourly roll-ups older than 2 days (and a day) are gone" 0 \
    "$(db_exec "SELECT count(*) FROM stats_hourly WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE2') AND ts < $((NOW - 3 * 86400))")"
check_true "daily roll-ups are kept" test "$(db_exec "SELECT count(*) FROM stats_daily WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE2')")" -ge 3

day() { date -u -d "@$1" +%F; }
# range FROM_DAY TO_DAY: the answer for those days against the reference
range() {
    local from=$1 to=$2 h hu du now
    api GET "/sites/$SITE2/mikrotik-stats?start_date=$(day "$from")&end_date=$(day "$to")"
    now=$(date +%s)
    echo "$BODY" >"$JP_TMP/answer.json"
    h=$(curl -s "$BASE/healthz")
    hu=$(date -d "$(jq -r .retention.hourly_upto <<<"$h")" +%s)
    du=$(date -d "$(jq -r .retention.daily_upto <<<"$h")" +%s)
    python3 "$REF" check "$JP_TMP/samples.json" "$JP_TMP/answer.json" "$now" "$from" \
        "$((to + 86400))" 21600 172800 "$hu" "$du" >"$JP_TMP/ref.out" 2>&1
    local rc=$?
    cat "$JP_TMP/ref.out" | sed 's/^/# /'
    return $rc
}
TODAY=$(((NOW / 86400) * 86400))
check_true "five days: daily, then hourly roll-ups, then raw samples by hour" range "$D0" "$TODAY"
check_true "  it has all three" grep -q 'day=.* hour=' "$JP_TMP/ref.out"
check_true "yesterday: hourly roll-ups, then raw samples where kept" range "$((TODAY - 86400))" "$((TODAY - 86400))"
# Yesterday holds raw samples only in the first hours of a UTC day; these two
# days always cross the raw cut (6 h ago, at least 18 h into them).
check_true "two days (48 h, not over it): raw samples where kept" range "$((TODAY - 86400))" "$TODAY"
check_true "  both kinds" grep -q 'hour=.*raw=' "$JP_TMP/ref.out"
check_true "four days back, one day: daily only" range "$D0" "$D0"
check_true "  one daily point" grep -q 'points: day=1$' "$JP_TMP/ref.out"
check_true "today" range "$TODAY" "$TODAY"

# ---- raw samples at most once per --stats-interval -----------------------
adopt "router"
for _ in 1 2 3; do poll; sleep 1.1; done
sleep 1.5 # the heartbeat flusher writes once a second
check "three polls within the 5 min interval: one sample" 1 \
    "$(db_exec "SELECT count(*) FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE')")"
jp_stop
jp_start --stats-interval 0
for _ in 1 2 3; do poll; sleep 1.1; done
sleep 1.5
check "--stats-interval 0: a sample per heartbeat" 4 \
    "$(db_exec "SELECT count(*) FROM stats WHERE k=(SELECT stats_key FROM sites WHERE id='$SITE')")"

# ---- finished jobs and their events go; pending and in-flight ones stay --
# job SCRIPT [KEY]: queued and delivered; sets J and WRAP
job() {
    J=$(new_job "$SITE" "$1" "${2:-$(uuid)}" | jq -r .id)
    poll
    WRAP=$BODY
}
report() { req GET "$(url_path "$(ros_local "$1" "$WRAP")")"; }
KEY=$(uuid)
job '/log info "done"' "$KEY"; J_DONE=$J; report jpBusy; report jpDone
job '/log info "fail"'; J_FAIL=$J; report jpFail
J_CANCEL=$(new_job "$SITE" '/log info "x"' | jq -r .id)
api DELETE "/site/$SITE/job/$J_CANCEL"
check "cancelled" 204 "$STATUS"
job '/log info "recent"'; J_RECENT=$J; report jpDone
job '/log info "running"'; J_RUN=$J; report jpBusy
J_PENDING=$(new_job "$SITE" '/log info "pending"' | jq -r .id)
api GET "/site/$SITE/job/$J_PENDING"
check "a job stays pending behind a running one" pending "$(jb .status)"
# In the pruner's clock, 40 days pass; J_RECENT finished 10 of them ago.
db_exec "UPDATE jobs SET completed_at=$((NOW + 30 * 86400)) WHERE id='$J_RECENT'"
events_of() { db_exec "SELECT count(*) FROM events WHERE job_id='$1'"; }
check_true "finished jobs have events" test "$(events_of "$J_DONE")" -ge 3
RUN_EVENTS=$(events_of "$J_RUN")
jp_stop
JP_TEST_CLOCK_OFFSET=$((40 * 86400)) jp_start --job-retention-days 30
check_true "pruned" pruned '.removed.jobs >= 3'
for j in "$J_DONE" "$J_FAIL" "$J_CANCEL"; do
    api GET "/site/$SITE/job/$j"
    check "a job finished 40 days ago is gone" 404 "$STATUS"
    check "  and its events" 0 "$(events_of "$j")"
done
api GET "/site/$SITE/job/$J_RECENT"
check "a job finished 10 days ago stays" "200 completed" "$STATUS $(jb .status)"
api GET "/site/$SITE/job/$J_RUN"
check "a running job stays, however old" "200 running" "$STATUS $(jb .status)"
check "  with its events" "$RUN_EVENTS" "$(events_of "$J_RUN")"
api GET "/site/$SITE/job/$J_PENDING"
check "a pending job stays, however old" "200 pending" "$STATUS $(jb .status)"
check "the sites' own events of 40 days ago are gone" 0 \
    "$(db_exec "SELECT count(*) FROM events WHERE job_id IS NULL AND ts < $((NOW + 86400))")"
check "healthz counts the jobs removed" 3 "$(curl -s "$BASE/healthz" | jq .retention.removed.jobs)"
req POST "/site/$SITE/job" -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $KEY" -H 'X-Description: again' --data-binary '/log info "again"'
check "the idempotency key of a deleted job is free again" 201 "$STATUS"
check_true "  for a new job" test "$(jb -r .id)" != "$J_DONE"

# ---- --job-retention-days 0 keeps everything -----------------------------
ALL=$(db_exec "SELECT count(*) FROM jobs")
ALL_EVENTS=$(db_exec "SELECT count(*) FROM events")
jp_stop
JP_TEST_CLOCK_OFFSET=$((4000 * 86400)) jp_start --job-retention-days 0
check_true "pruned" pruned
check "--job-retention-days 0: every job stays" "$ALL" "$(db_exec "SELECT count(*) FROM jobs")"
check "  and every event" "$ALL_EVENTS" "$(db_exec "SELECT count(*) FROM events")"
api GET "/site/$SITE/job/$J_RECENT"
check "  a job finished long ago too" 200 "$STATUS"
jp_finish
