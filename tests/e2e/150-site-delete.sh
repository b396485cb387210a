# Site deletion: the next poll gets the teardown; /notify/delete revokes the token.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
adopt "leaving"
api DELETE "/sites/$SITE"
check "delete answers 204" 204 "$STATUS"
api GET "/sites/$SITE"
check_true "deleted_at is set" test "$(jb .deleted_at)" != null
api DELETE "/sites/$SITE"
check_error "deleting twice" 404 resource_missing
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" \
    -H 'X-Description: too late' --data-binary ':put 1'
check_error "no new jobs for a deleted site" 404 resource_missing
poll
check "the next poll gets the teardown" "# jobplane teardown, site $SITE" "$(head -1 <<<"$BODY")"
check_true "it removes the scheduler" grep -q '^/system scheduler remove \[find where name="jobplane-poll"\]' <<<"$BODY"
check_true "it confirms with the device token" grep -q "Authorization:Bearer $DTOK" <<<"$BODY"
NOTIFY=$(grep -oE '/tool fetch url="[^"]*"' <<<"$BODY" | cut -d'"' -f2)
check "to /notify/delete" "$BASE/notify/delete" "$NOTIFY"
req POST /notify/delete -H "Authorization: Bearer $DTOK"
check "notify/delete answers 200" 200 "$STATUS"
poll
check_error "after the teardown the device token is refused" 401 unauthenticated
req POST /notify/delete -H "Authorization: Bearer $DTOK"
check_error "notify/delete twice" 401 unauthenticated
adopt "staying"
req POST /notify/delete -H "Authorization: Bearer $DTOK"
check_error "notify/delete for a site not being deleted" 403 forbidden
TOK=$(token t2)
api DELETE "/sites/$SITE"
check_error "another team cannot delete" 404 resource_missing
jp_finish
