# Jobs that change what a router does with them, run by simulated routers
# (jobplane sim) and by hand:
# - a dry run (X-Dry-Run) parses the payload and runs nothing: completed when
#   it parses, failed with the parser's message when not;
# - a failing payload's message reaches the job's log;
# - a job that expects a reboot (X-Expects-Reboot) completes when the router
#   comes back restarted, and fails at the run timeout when it does not;
# - reports are fenced by delivery: one for an earlier delivery, or after the
#   run timeout, is refused with 409 and never applied.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --run-timeout 8
TOK=$(token t1)

# ---- the rules of the options ---------------------------------------------
adopt "by-hand"
HAND=$SITE
site_job "$HAND" ':put 1' -H 'X-Dry-Run: true' -H 'X-Backup: true'
check_error "a dry run takes no backup" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Dry-Run: true' -H 'X-Expects-Reboot: true'
check_error "nor expects a reboot" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Dry-Run: true' -H 'X-Needs-Ack: false'
check_error "a dry run without acknowledgement" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Expects-Reboot: maybe'
check_error "X-Expects-Reboot: maybe" 422 parameter_invalid
api POST "/api/asynchronous/$HAND" -H 'Content-Type: application/json' \
    -d '{"description":"json dry run","script":":put 1","dry_run":true}'
J=$(jb -r .data.request_id)
api GET "/site/$HAND/job/$J"
check "the JSON form takes dry_run (and it implies acknowledgement)" "true true" \
    "$(jb '"\(.dry_run) \(.needs_acknowledgement)"')"
api DELETE "/site/$HAND/job/$J"
check "cancelled" 204 "$STATUS"
printf ':put 1\n' >"$JP_TMP/s.rsc"
JP_URL=$BASE JP_TOKEN=$TOK cli job create "$HAND" "$JP_TMP/s.rsc" -d "cli dry run" --dry-run -q
check "jobplane job create --dry-run" 0 "$RC"
api GET "/site/$HAND/job/$OUT"
check "... queues a dry run" "true false" "$(jb '"\(.dry_run) \(.expects_reboot)"')"
api DELETE "/site/$HAND/job/$OUT"
JP_URL=$BASE JP_TOKEN=$TOK cli job create "$HAND" "$JP_TMP/s.rsc" -d "cli reboot" --expects-reboot -q
api GET "/site/$HAND/job/$OUT"
check "jobplane job create --expects-reboot" "false true" "$(jb '"\(.dry_run) \(.expects_reboot)"')"
api DELETE "/site/$HAND/job/$OUT"
JP_URL=$BASE JP_TOKEN=$TOK cli job create "$HAND" "$JP_TMP/s.rsc" -d "cli both" --expects-reboot --dry-run
check "both at once: the API's refusal (exit 1)" 1 "$RC"
check_true "... and its message" grep -q "A dry run runs nothing" "$JP_TMP/err"

# ---- fencing, by hand ------------------------------------------------------
new_job "$HAND" ':put "fenced"' >/dev/null
poll
W1=$BODY
J=$(ros_local jpBusy "$W1" | grep -oE '/job/[0-9a-f-]{36}' | cut -d/ -f3)
check_true "the signed URLs name their delivery" grep -qE 'status=done&delivery=[0-9]+&expires=' <<<"$(ros_local jpDone "$W1")"
req GET "$(url_path "$(ros_local jpBusy "$W1" | sed -E 's/delivery=([0-9]+)/delivery=1\1/')")"
check_error "another delivery with the same signature" 403 forbidden
# the job is handed out again (as after a restore of the database)
sleep 1.1
jp_stop
db_exec "UPDATE jobs SET delivered_at=NULL, started_at=NULL WHERE id='$J'" >/dev/null
jp_start "${JP_ARGS[@]}"
poll
W2=$BODY
check_true "it was handed out again" grep -q "/job/$J/update" <<<"$W2"
req GET "$(url_path "$(ros_local jpDone "$W1")")"
check_error "the first delivery's done" 409 invalid_state
check "it says why" "This report was refused: it is for an earlier delivery of the job." "$(jb -r .message)"
api GET "/site/$HAND/job/$J"
check "the job is unchanged" delivered "$(jb -r .status)"
req GET "$(url_path "$(ros_local jpDone "$W2")")"
check "the second delivery's done" 200 "$STATUS"
api GET "/site/$HAND/job/$J"
check "completes the job" completed "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "the refusal is in the job's log" grep -q "report 'done' refused: it is for an earlier delivery" <<<"$BODY"
# a report after the run timeout (8 s here)
new_job "$HAND" ':put "slow"' >/dev/null
poll
W3=$BODY
J3=$(ros_local jpBusy "$W3" | grep -oE '/job/[0-9a-f-]{36}' | cut -d/ -f3)
req GET "$(url_path "$(ros_local jpBusy "$W3")")"
check "busy within the run timeout" 200 "$STATUS"
sleep 9
req POST "$(url_path "$(ros_local jpDone "$W3")")"
check_error "done after the run timeout" 409 invalid_state
api GET "/site/$HAND/job/$J3"
check "the job failed (the timeout), not completed" failed "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "the log says the run timeout failed it" grep -q "no report within the run timeout of 8s" <<<"$BODY"
check_true "... and that the report was refused" grep -q "report 'done' refused: the run timeout passed" <<<"$BODY"
req GET "$(url_path "$(ros_local jpFail "$W3")")"
check_error "a fail after that too" 409 invalid_state
# a failure's message, POSTed with the report
new_job "$HAND" ':error "x"' >/dev/null
poll
W4=$BODY
J4=$(ros_local jpBusy "$W4" | grep -oE '/job/[0-9a-f-]{36}' | cut -d/ -f3)
req POST "$(url_path "$(ros_local jpFail "$W4")")" -H 'Content-Type: text/plain' \
    --data-binary $'the payload failed: no such item\x01 (line 3)'
check "a fail with a message" 200 "$STATUS"
api GET "/site/$HAND/job/$J4"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "the message is in the job's log, sanitised" \
    grep -qF "the router says: the payload failed: no such item? (line 3)" <<<"$BODY"

# what a job printed, uploaded in chunks with its final report
api POST "/site/$HAND/job" -H 'Content-Type: text/plain' -H 'X-Description: output' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Capture-Output: true' --data-binary ':put "one"'
check "a job whose output is captured" "true true" "$(jb '"\(.capture_output) \(.needs_acknowledgement)"')"
J5=$(jb -r .id)
site_job "$HAND" ':put 1' -H 'X-Capture-Output: true' -H 'X-Expects-Reboot: true'
check_error "not with a reboot" 422 parameter_invalid
poll
W5=$BODY
check_true "its wrapper runs the payload by :execute ... as-string" grep -qF ':set jpOut [:execute script=' <<<"$W5"
api GET "/site/$HAND/job/$J5/output"
check "nothing arrived yet: 204" 204 "$STATUS"
DONE=$(url_path "$(ros_local jpDone "$W5")")
req POST "$DONE&offset=0&total=13" -H 'Content-Type: text/plain' --data-binary $'hello\n'
check "a first chunk" 200 "$STATUS"
api GET "/site/$HAND/job/$J5"
check "the report waits for the last one" delivered "$(jb -r .status)"
req POST "$DONE&offset=0&total=13" -H 'Content-Type: text/plain' --data-binary $'hello\n'
check_error "a chunk that does not continue what arrived" 409 invalid_state
req POST "$DONE&offset=6" --data-binary 'x'
check_error "offset without total" 422 parameter_invalid
req POST "$DONE&offset=0&total=9999999" --data-binary 'x'
check_error "more than --output-max" 413 payload_too_large
req POST "$(url_path "$(ros_local jpBusy "$W5")")&offset=6&total=13" --data-binary 'x'
check_error "a busy report carries no output" 422 parameter_invalid
req POST "$DONE&offset=6&total=13" -H 'Content-Type: text/plain' --data-binary $'w\x01rld!\n'
check "the last chunk" 200 "$STATUS"
api GET "/site/$HAND/job/$J5"
check "completes the job" completed "$(jb -r .status)"
api GET "/site/$HAND/job/$J5/output"
check "GET .../output: what it printed (a control character as ?)" $'hello\nw?rld!' "$BODY"
check "as text" "text/plain; charset=utf-8" "$(header Content-Type)"
api GET "/site/$HAND/job/$J5"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "the job's log points to it" grep -q "the router uploaded what it printed (13 bytes): GET /site/$HAND/job/$J5/output" <<<"$BODY"

# ---- simulated routers ------------------------------------------------------
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 2 --interval 1 --duration 60 \
    --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sim_online 2
R1=$(jq -r '.[0]' <<<"$SIM_IDS")
R2=$(jq -r '.[1]' <<<"$SIM_IDS")
site_job "$R1" '/ip address add address=10.9.9.1/24 interface=ether1' -H 'X-Dry-Run: true'
wait_status "$R1" "$J" completed failed
check "a dry run that parses completes" "completed true" "$(jb -r '"\(.status) \(.dry_run)"')"
check "the router ran nothing" 1 "$(grep -c "^dry-run $R1 $J" "$JP_TMP/rec")"
site_job "$R1" '/ip address add address=}{ "unbalanced' -H 'X-Dry-Run: true'
wait_status "$R1" "$J" completed failed
check "a dry run that does not parse fails" failed "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "with the parser's message in its log" grep -q "the router says: the payload does not parse" <<<"$BODY"
site_job "$R1" ':error "boom"'
wait_status "$R1" "$J" completed failed
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "a failing payload's message is in its log" grep -q "the router says: the payload failed" <<<"$BODY"

site_job "$R1" $':put "hello"\n:put "world"' -H 'X-Capture-Output: true'
wait_status "$R1" "$J" completed failed
check "a captured job completes" completed "$(jb -r .status)"
api GET "/site/$R1/job/$J/output"
check "... and its output arrived" $'hello\nworld' "$BODY"
site_job "$R1" $':put "partial"\n:error "boom"' -H 'X-Capture-Output: true'
wait_status "$R1" "$J" completed failed
check "a captured job that fails" failed "$(jb -r .status)"
JP_URL=$BASE JP_TOKEN=$TOK cli job output "$R1" "$J"
check "jobplane job output: what it printed, then why it failed" \
    $'partial\n[jobplane: the payload failed: an error (simulated)]' "$OUT"
site_job "$R2" '/system reboot' -H 'X-Expects-Reboot: true'
check "the job expects a reboot" true "$(jb .expects_reboot)"
RB=$J
wait_status "$R2" "$RB" completed failed
check "a job that restarts the router completes when it comes back" completed "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "its log says the router came back restarted" grep -q "the router says: back after a restart (uptime [0-9]*s)" <<<"$BODY"
check "the router ran it and reported nothing itself" 1 "$(grep -c "^ran $R2 $RB" "$JP_TMP/rec")"
check "... no done report" 0 "$(grep -c "^done $R2 $RB" "$JP_TMP/rec")"
site_job "$R2" ':put "no restart here"' -H 'X-Expects-Reboot: true'
NR=$J
sleep 4
api GET "/site/$R2/job/$NR"
check "one that does not restart it is not completed" running "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "its log says the router has not restarted" grep -q "has not restarted since its delivery" <<<"$BODY"
wait_status "$R2" "$NR" failed completed
check "it fails at the run timeout" failed "$(jb -r .status)"
site_job "$R2" ':put "after"'
wait_status "$R2" "$J" completed failed
check "the router takes jobs again" completed "$(jb -r .status)"
kill -TERM "$SIM"
wait "$SIM"
check "the simulator exits 0" 0 "$?"
sim() { grep "^$1" "$JP_TMP/sim.out" | sed -E 's/^[^:]*: *//'; }
check "one dry run" "1 (parsed, nothing ran)" "$(sim 'dry runs')"
check "one reboot" "1 (jobs that restarted the router)" "$(sim 'reboots')"
check "no report refused" "0 (409: their delivery was over)" "$(sim 'refused reports')"

jp_finish
