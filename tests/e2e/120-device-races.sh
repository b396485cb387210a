# Delivery at most once: 100 concurrent polls for one site with one pending
# job; one job at a time per site; sites cannot reach each other's jobs.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
adopt "racer"
A_SITE=$SITE
A_TOK=$DTOK
new_job "$SITE" ':put "only once"' >/dev/null
mkdir -p "$JP_TMP/polls"
for i in $(seq 100); do
    curl -s -o "$JP_TMP/polls/$i" -X POST -H "Authorization: Bearer $DTOK" --data-binary "name=racer;jobplane-script=$JP_REV" \
        "$BASE/poll" &
done
wait_bg
check "100 concurrent polls: exactly one got the job" 1 "$(grep -l '^# jobplane job ' "$JP_TMP"/polls/* | wc -l)"
check "the other 99 got the idle answer" 99 "$(grep -l '^# jobplane: nothing to do' "$JP_TMP"/polls/* | wc -l)"
api GET "/site/$SITE/job"
check "the job is delivered" delivered "$(jb '.[0].status')"

# One at a time: a second pending job waits until the first finishes.
new_job "$SITE" ':put "second"' >/dev/null
WRAP=$(cat "$(grep -l '^# jobplane job ' "$JP_TMP"/polls/*)")
poll
check "no second job while the first is unfinished" "# jobplane: nothing to do" "$(head -1 <<<"$BODY")"
req GET "$(url_path "$(ros_local jpDone "$WRAP")")"
poll
check "the next job after the first finished" "# jobplane job" "$(head -1 <<<"$BODY" | cut -c1-14)"
check_true "Remaining: 0 in the wrapper" grep -q 'Remaining: 0' <<<"$BODY"
SECOND_DONE=$(url_path "$(ros_local jpDone)")

# Two sites: B's token only ever sees B's jobs; B cannot store backups for A.
adopt "other"
B_TOK=$DTOK
J=$(new_job "$A_SITE" ':put "for A"' | jq -r .id)
req GET "$SECOND_DONE"
poll
check "site B's poll does not get site A's job" "# jobplane: nothing to do" "$(head -1 <<<"$BODY")"
DTOK=$A_TOK
poll
check "site A's poll gets it" "# jobplane job" "$(head -1 <<<"$BODY" | cut -c1-14)"

# A backup job of A; its signed upload URL used against B's path is refused.
DTOK=$B_TOK
BJ=$(curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: b backup' -H 'X-Backup: true' \
    --data-binary ':put 1' "$BASE/site/$SITE/job" | jq -r .id)
poll
BAK=$(url_path "$(ros_local jpBak)")
req POST "$(sed "s#/backup/$SITE/#/backup/$A_SITE/#" <<<"$BAK")&offset=0&total=3" --data-binary 'abc'
check_error "B's backup URL against A's site" 404 resource_missing
req POST "$BAK&offset=0&total=3" --data-binary 'abc'
check "B's backup URL for B" 201 "$STATUS"
api GET "/backup/$A_SITE"
check "site A got no backup from B" "[]" "$BODY"
check_true "job id used" test -n "$BJ"

jp_finish
