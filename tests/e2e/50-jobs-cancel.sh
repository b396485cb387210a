# Cancel: only while pending; a cancelled job is gone for every reader.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "cancel")
KEY=$(uuid)
ID=$(new_job "$SITE" ':put "cancel me"' "$KEY" | jq -r .id)
KEEP=$(new_job "$SITE" ':put "keep me"' | jq -r .id)

api DELETE "/site/$SITE/job/$ID"
check "cancel of a pending job answers 204" 204 "$STATUS"
check "with no body" "" "$BODY"
api GET "/site/$SITE/job/$ID"
check_error "a cancelled job is not found" 404 resource_missing
api GET "/site/$SITE/job"
check "a cancelled job leaves the list" "[\"$KEEP\"]" "$(jb -c '[.[].id]')"
api DELETE "/site/$SITE/job/$ID"
check_error "cancelling twice" 404 resource_missing
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" \
    -H 'X-Description: e2e job' --data-binary ':put "cancel me"'
check_error "a cancelled job's key is not reused" 409 idempotency_key_reused
check_true "the message says it was cancelled" grep -q cancelled <<<"$(jb .message)"
grep -q "job .* cancelled site=$SITE id=$ID" "$JP_TMP/server.log"
check "the cancel is logged with the job token" 0 $?

api DELETE "/site/$SITE/job/$(uuid)"
check_error "cancel of an unknown job" 404 resource_missing
api DELETE "/site/$SITE/job/not-a-uuid"
check_error "cancel with a malformed job id" 422 parameter_invalid
api DELETE "/sites/$SITE/jobs/$KEEP" -H 'X-Dry: 1'
check "cancel through the plural alias" 204 "$STATUS"

# A job that was delivered, started or finished cannot be cancelled. The device
# plane sets these timestamps; here the test sets them in the database.
for col in delivered_at started_at completed_at failed_at; do
    J=$(new_job "$SITE" ":put \"$col\"" | jq -r .id)
    db_exec "UPDATE jobs SET $col = $(date +%s) WHERE id = '$J'"
    api DELETE "/site/$SITE/job/$J"
    check_error "cancel after $col" 409 job_already_started
    check "its message" "Cannot delete a job that has already started." "$(jb .message)"
    api GET "/site/$SITE/job/$J"
    check "the job is still there after the refused cancel ($col)" 200 "$STATUS"
done
api GET "/site/$SITE/job/$J"
check "failed_at shows as failed" failed "$(jb .status)"

jp_finish
