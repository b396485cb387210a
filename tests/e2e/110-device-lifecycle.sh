# The job lifecycle through the device API, for every flag combination, and
# the signed report URLs.
. "$(dirname "$0")/lib.sh"
# (a run timeout long enough for the checks between a delivery and its
# reports on a loaded machine; the URLs outlive it)
jp_start --run-timeout 10 --url-ttl 12
TOK=$(token t1)
adopt "lifecycle"

# create_job ACK BACKUP EXPRESS [SCRIPT]: prints the job id
create_job() {
    curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
        -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: lifecycle' -H "X-Needs-Ack: $1" \
        -H "X-Backup: $2" -H "X-Express-Execute: $3" --data-binary "${4:-:put \"\$x ok?\"}" \
        "$BASE/site/$SITE/job" | jq -r .id
}

for ack in true false; do
    for express in false true; do
        for outcome in done fail; do
            [ "$ack" = false ] && [ "$outcome" = fail ] && continue
            ID=$(create_job "$ack" false "$express")
            api GET "/site/$SITE/job/$ID"
            TOKEN=$(jb .token)
            poll
            WRAP=$BODY
            check "ack=$ack express=$express: the poll hands out the job" "# jobplane job $TOKEN" "$(head -1 <<<"$BODY")"
            check "ack=$ack: the payload travels escaped and intact" ':put "$x ok?"' "$(ros_local jpSrc)"
            BUSY=$(url_path "$(ros_local jpBusy)")
            FINAL=$(url_path "$(ros_local "$([ $outcome = done ] && echo jpDone || echo jpFail)")")
            api GET "/site/$SITE/job/$ID"
            if [ "$ack" = true ]; then
                check "delivered" delivered "$(jb .status)"
                api DELETE "/site/$SITE/job/$ID"
                check_error "a delivered job cannot be cancelled" 409 job_already_started
                req GET "$BUSY"
                check "busy answers 200" 200 "$STATUS"
                api GET "/site/$SITE/job/$ID"
                check "busy sets started_at" "running true" "$(jb '"\(.status) \(.started_at != null)"')"
                req POST "$FINAL"
                check "$outcome (POST) answers 200" 200 "$STATUS"
                api GET "/site/$SITE/job/$ID"
                if [ $outcome = done ]; then
                    check "done sets completed_at" "completed true null" "$(jb '"\(.status) \(.completed_at != null) \(.failed_at)"')"
                else
                    check "fail sets failed_at" "failed null true" "$(jb '"\(.status) \(.completed_at) \(.failed_at != null)"')"
                fi
                SNAP=$BODY
                OTHER=$(url_path "$(ros_local "$([ $outcome = done ] && echo jpFail || echo jpDone)" "$WRAP")")
                req GET "$OTHER"
                check "a later terminal report answers 200 (idempotent)" 200 "$STATUS"
                req GET "$BUSY"
                api GET "/site/$SITE/job/$ID"
                check "the first terminal report wins" "$SNAP" "$BODY"
            else
                check "no acknowledgement: completed at delivery" "completed true true" \
                    "$(jb '"\(.status) \(.started_at != null) \(.completed_at != null)"')"
                req GET "$BUSY"
                check "a busy report after that changes nothing (200)" 200 "$STATUS"
                api GET "/site/$SITE/job/$ID"
                check "still completed" completed "$(jb .status)"
            fi
            LOGURL=$(jb -r .log_url)
            api GET "/$LOGURL"
            check "the log_url answers" 200 "$STATUS"
            check_true "the log names the job's events" \
                test "$(jb "[.[].message | select(test(\"$TOKEN\"))] | length")" -ge 2
            check "every log line carries the token" 0 "$(jb "[.[].message | select(test(\"$TOKEN\") | not)] | length")"
        done
    done
done

# Signed URLs: forged, other status, other job, unknown status, unknown job.
A=$(create_job true false false)
poll
A_BUSY=$(url_path "$(ros_local jpBusy)")
A_DONE=$(url_path "$(ros_local jpDone)")
# (the real URL is used within the run timeout: the attempts on job A's
# own URLs come first, those that name no real URL after)
req GET "$(sed -E 's/signature=[0-9a-f]{4}/signature=0000/' <<<"$A_BUSY")"
check_error "a forged signature" 403 forbidden
req GET "$(sed 's/status=busy/status=done/' <<<"$A_BUSY")"
check_error "busy's signature with status=done" 403 forbidden
req GET "$(sed -E 's/expires=([0-9]+)/expires=9\1/' <<<"$A_BUSY")"
check_error "a changed expiry" 403 forbidden
req GET "$(sed 's/&signature=[0-9a-f]*//' <<<"$A_DONE")"
check_error "no signature" 403 forbidden
req GET "$A_DONE"
check "the real URL still works" 200 "$STATUS"
req GET "$(sed 's/status=busy/status=paused/' <<<"$A_BUSY")"
check_error "an unknown status" 422 parameter_invalid
req GET "/job/$(uuid)/update?status=done&expires=1&signature=00"
check_error "an unknown job" 404 resource_missing
req GET "/job/nope/update?status=done&expires=1&signature=00"
check_error "a malformed job id" 422 parameter_invalid
B=$(create_job true false false)
poll
B_WRAP=$BODY
B_PATH="/job/$B/update"
req GET "$B_PATH?${A_DONE#*\?}"
check_error "job A's signed query on job B" 403 forbidden
api GET "/site/$SITE/job/$B"
check "job B unchanged" delivered "$(jb .status)"

# Expiry: signed URLs live --url-ttl seconds (12 here).
sleep 13
req GET "$(url_path "$(ros_local jpBusy "$B_WRAP")")"
check_error "an expired signed URL" 403 forbidden
check "it says expired" "This signed URL has expired." "$(jb .message)"

# Run timeout (10 s here): the job fails with the reason in its log.
api GET "/site/$SITE/job/$B"
check "a job without a final report fails after the run timeout" failed "$(jb .status)"
LOGURL=$(jb -r .log_url)
api GET "/$LOGURL"
check_true "the reason is in the job log" grep -q 'no report within the run timeout of 10s' <<<"$BODY"

# A syntax error in the payload stays inside the string: the wrapper parses it.
C=$(create_job true false false '/ip address add address=}{ "unbalanced')
poll
check "a broken payload is carried verbatim" '/ip address add address=}{ "unbalanced' "$(ros_local jpSrc)"
check "the wrapper stays one :local line per value" 1 "$(grep -c '^:local jpSrc ' <<<"$BODY")"

jp_finish
