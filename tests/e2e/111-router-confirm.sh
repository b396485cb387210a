# Confirm-or-revert (X-Confirm-Within): before the payload the wrapper saves
# a binary backup and arms a scheduler that restores it; the server's answer
# to the router's next poll after the job disarms it and confirms the job.
# A router that never reaches the server again undoes the change itself and
# says so after its restart: the job becomes reverted.
# - the rules of the option, in both forms and the CLI;
# - by hand: the wrapper's steps, the disarm answer, a reverted job (state,
#   filter, log, metrics), words about unknown jobs;
# - simulated routers: confirmed jobs, and (--cut-off-rate 1) a job that
#   cuts its router off and is reverted; no router is left armed.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --run-timeout 100
TOK=$(token t1)

adopt "by-hand"
HAND=$SITE

# ---- the rules ------------------------------------------------------------
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 29'
check_error "X-Confirm-Within below 30" 422 parameter_invalid
check "... says the range" "X-Confirm-Within must be 30 to 3600 seconds." "$(jb -r .message)"
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 3601'
check_error "X-Confirm-Within above 3600" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 1m'
check_error "X-Confirm-Within: 1m" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 41'
check_error "a window that does not end 60 s before the run timeout (100 s)" 422 parameter_invalid
check_true "... names the limit and --run-timeout" grep -q "at most 40 seconds on this server (serve --run-timeout 100)" <<<"$(jb -r .message)"
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 30' -H 'X-Dry-Run: true'
check_error "not with a dry run" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 30' -H 'X-Capture-Output: true'
check_error "not with output capture" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 30' -H 'X-Expects-Reboot: true'
check_error "not with a reboot" 422 parameter_invalid
site_job "$HAND" ':put 1' -H 'X-Confirm-Within: 30' -H 'X-Needs-Ack: false'
check_error "not without acknowledgement" 422 parameter_invalid
api POST "/api/asynchronous/$HAND" -H 'Content-Type: application/json' \
    -d '{"description":"json confirm","script":":put 1","confirm_within":"30"}'
check_error "confirm_within as a string" 422 parameter_invalid
api POST "/api/asynchronous/$HAND" -H 'Content-Type: application/json' \
    -d '{"description":"json confirm","script":":put 1","confirm_within":35}'
J=$(jb -r .data.request_id)
api GET "/site/$HAND/job/$J"
check "the JSON form takes confirm_within (and it implies acknowledgement)" "35 true null" \
    "$(jb '"\(.confirm_within) \(.needs_acknowledgement) \(.reverted_at)"')"
api DELETE "/site/$HAND/job/$J"
printf ':put 1\n' >"$JP_TMP/s.rsc"
JP_URL=$BASE JP_TOKEN=$TOK cli job create "$HAND" "$JP_TMP/s.rsc" -d "cli confirm" --confirm-within 30 -q
check "jobplane job create --confirm-within" 0 "$RC"
api GET "/site/$HAND/job/$OUT"
check "... queues a job with a window" 30 "$(jb .confirm_within)"
api DELETE "/site/$HAND/job/$OUT"
JP_URL=$BASE JP_TOKEN=$TOK cli job create "$HAND" "$JP_TMP/s.rsc" -d "cli confirm" --confirm-within 10
check "--confirm-within 10: a usage error (exit 2)" 2 "$RC"
api GET "/site/$HAND/job"
check "a plain job has no window" "null" "$(jb '[.[] | .confirm_within] | unique | .[0]')"

# ---- by hand: confirmed ----------------------------------------------------
site_job "$HAND" '/ip address add address=10.1.1.1/24 interface=ether1' -H 'X-Confirm-Within: 30'
check "created" 201 "$STATUS"
JC=$(jb -r .id)
JT=$(jb -r .token)
poll
W=$BODY
check_true "the wrapper saves a binary backup" grep -qF '/system backup save name=$jpCb dont-encrypt=yes' <<<"$W"
check_true "... arms the revert with the deadline in its comment" \
    grep -qF '/system scheduler add name="jobplane-revert" interval=5s' <<<"$W"
check_true "... 30 s from now" grep -qF 'comment=[:tostr ([:timestamp] + 30s)]' <<<"$W"
check_true "... whose event loads the backup" grep -qF '/system backup load name=\$f password=\"\"' <<<"$W"
check "... the scheduler before the marker, the marker before the payload" "ok" \
    "$(awk '/scheduler add name="jobplane-revert"/ && !a {a=NR} /contents=\(\$jpTok \. "=r"\)/ && !b {b=NR}
            /\$jpCode/ && !c {c=NR} END {print (a && b && c && a < b && b < c) ? "ok" : a" "b" "c}' <<<"$W")"
check_true "... and marks the job waiting (=w) after it" grep -qF 'contents=($jpTok . "=w")' <<<"$W"
req GET "$(url_path "$(ros_local jpBusy "$W")")"
check "busy" 200 "$STATUS"
# the poll script's heartbeat while the payload runs: the marker says =r, nothing is sent
poll "" "name=router;version=7.16 (stable);uptime=1h;jobplane-armed=;jobplane-reverted="
check "a poll with nothing armed gets no disarm" 0 "$(grep -c 'revert is disarmed' <<<"$BODY")"
api GET "/site/$HAND/job/$JC"
check "the job runs until its confirmation" running "$(jb -r .status)"
poll "" "name=router;version=7.16 (stable);uptime=1h;jobplane-armed=$JT;jobplane-reverted="
D=$BODY
check_true "the next poll's answer disarms the revert" grep -q "^# jobplane: job $JT reached the server after it ran: its revert is disarmed" <<<"$D"
check "... the marker first, then the scheduler" "ok" \
    "$(awk '/name="jobplane-revert.txt"/ && !a {a=NR} /scheduler remove \[find where name="jobplane-revert"\]/ && !b {b=NR}
            END {print (a && b && a < b) ? "ok" : a" "b}' <<<"$D")"
check_true "... then reports done" grep -qF '/tool fetch url=$jpDone' <<<"$D"
check_true "... and ends with the end mark" grep -q '^#jobplane-end$' <<<"$(tail -1 <<<"$D")"
req GET "$(url_path "$(ros_local jpDone "$D")")"
check "the done report of the disarm" 200 "$STATUS"
api GET "/site/$HAND/job/$JC"
check "the job is confirmed: completed" "completed null" "$(jb -r '"\(.status) \(.reverted_at)"')"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "its log says the revert was disarmed" grep -q "Job $JT: the router reached the server after it ran: its revert is disarmed" <<<"$BODY"
poll "" "name=router;version=7.16 (stable);uptime=1h;jobplane-armed=ZZZZZZZZZZ;jobplane-reverted="
check_true "an armed job this server does not know: disarmed" grep -q "job ZZZZZZZZZZ reached the server" <<<"$BODY"
check "... without a report" 0 "$(grep -c 'jpDone' <<<"$BODY")"
poll "" "name=router;version=7.16 (stable);uptime=1h;jobplane-armed=\"; /system reset;jobplane-reverted="
check "a malformed token is no word at all" 0 "$(grep -c 'disarmed\|reset' <<<"$BODY")"

# ---- by hand: reverted ------------------------------------------------------
site_job "$HAND" '/ip route add gateway=10.255.255.1' -H 'X-Confirm-Within: 30'
JR=$(jb -r .id)
JRT=$(jb -r .token)
poll
W=$BODY
req GET "$(url_path "$(ros_local jpBusy "$W")")"
# the router lost its way, reverted at the deadline and restarted
poll "" "name=router;version=7.16 (stable);uptime=20s;jobplane-armed=;jobplane-reverted=$JRT"
check "the poll that says so is answered as usual" 200 "$STATUS"
api GET "/site/$HAND/job/$JR"
check "the job is reverted" "reverted" "$(jb -r .status)"
check "... with reverted_at and failed_at" "true true" "$(jb '"\(.reverted_at != null) \(.failed_at != null)"')"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check_true "its log says why" grep -q "Job $JRT reverted: no confirmation reached the router within 30s; it restored the configuration saved before the job" <<<"$BODY"
api GET "/site/$HAND/job?status=reverted"
check "?status=reverted lists it" "$JR" "$(jb -r '[.[] | .id] | join(",")')"
api GET "/site/$HAND/job?status=failed"
check "?status=failed does not" 0 "$(jb "[.[] | select(.id == \"$JR\")] | length")"
poll "" "name=router;version=7.16 (stable);uptime=21s;jobplane-armed=;jobplane-reverted=$JRT"
api GET "/site/$HAND/job/$JR"
check "said again: still reverted, once" "reverted" "$(jb -r .status)"
LOG=$(jb -r .log_url)
api GET "/$LOG"
check "... one line in its log" 1 "$(grep -o "Job $JRT reverted" <<<"$BODY" | wc -l)"
req GET "$(url_path "$(ros_local jpDone "$W")")"
check "a done report after the revert changes nothing" reverted "$(api GET "/site/$HAND/job/$JR"; jb -r .status)"
poll "" "name=router;version=7.16 (stable);uptime=1h;jobplane-reverted=$JT"
api GET "/site/$HAND/job/$JC"
check "a confirmed job is never reverted afterwards" completed "$(jb -r .status)"
METRICS=$(curl -s -H "Authorization: Bearer $(token t1 metrics:read)" "$BASE/metrics")
check_true "the metrics count the disarm answers" grep -qE '^jobplane_polls_total\{answer="disarm"\} 2$' <<<"$METRICS"
check_true "the webhooks know job.reverted" grep -q '"job.reverted"' <<<"$(curl -s "$BASE/openapi.json")"

# ---- simulated routers ---------------------------------------------------------
# One router whose job cuts it off (--cut-off-rate 1): its window runs while
# two others confirm their jobs.
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 1 --interval 1 --duration 240 \
    --cut-off-rate 1 --record "$JP_TMP/rec2" >"$JP_TMP/sim2.out" 2>&1 &
SIM2=$!
sim_online 1
R3=$(jq -r '.[0]' <<<"$SIM_IDS")
site_job "$R3" '/ip route add gateway=10.255.255.1' -H 'X-Confirm-Within: 30'
C3=$J
wait_status "$R3" "$C3" running reverted
check "a job that cut its router off waits (running)" running "$(jb -r .status)"
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 2 --interval 1 --duration 240 \
    --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
sim_online 3
R1=$(jq -r "[.[] | select(. != \"$R3\")][0]" <<<"$SIM_IDS")
R2=$(jq -r "[.[] | select(. != \"$R3\")][1]" <<<"$SIM_IDS")
site_job "$R1" '/ip address add address=10.9.9.1/24 interface=ether1' -H 'X-Confirm-Within: 30'
C1=$J
site_job "$R2" '/ip address add address=10.9.9.2/24 interface=ether1' -H 'X-Confirm-Within: 30' -H 'X-Backup: true'
C2=$J
wait_status "$R1" "$C1" completed failed reverted
check "a simulated router's job is confirmed" completed "$(jb -r .status)"
wait_status "$R2" "$C2" completed failed reverted
check "... with a backup too" "completed true" "$(jb -r '"\(.status) \(.associated_backup != null)"')"
site_job "$R1" ':error "boom"' -H 'X-Confirm-Within: 30'
F1=$J
wait_status "$R1" "$F1" completed failed reverted
check "a failing payload fails" failed "$(jb -r .status)"
LOG=$(jb -r .log_url)
for _ in $(seq 50); do
    api GET "/$LOG"
    grep -q "its revert is disarmed (the job failed)" <<<"$BODY" && break
    sleep 0.2
done
check_true "... and its revert is disarmed at the next poll" grep -q "its revert is disarmed (the job failed)" <<<"$BODY"
api GET "/site/$R1/job/$F1"
check "... which leaves it failed" failed "$(jb -r .status)"
kill -TERM "$SIM"
wait "$SIM"
check_true "the simulator confirmed 2 jobs and left no router armed" \
    grep -qE '^confirm-or-revert: 2 confirmed, 0 reverted \(0 cut off\), 0 still armed$' "$JP_TMP/sim.out"

for _ in $(seq 60); do
    api GET "/site/$R3/job/$C3"
    [ "$(jb -r .status)" = reverted ] && break
    sleep 1
done
check "... until its router reverts it and says so" reverted "$(jb -r .status)"
check "... after the window" true "$(jb '(.reverted_at | fromdateiso8601) - (.started_at | fromdateiso8601) >= 29')"
kill -TERM "$SIM2"
wait "$SIM2"
check_true "the simulator reverted it once, and nothing is still armed" \
    grep -qE '^confirm-or-revert: 0 confirmed, 1 reverted \(1 cut off\), 0 still armed$' "$JP_TMP/sim2.out"
check "the router reported the revert once" 1 "$(grep -c "^reverted $R3 " "$JP_TMP/rec2")"
jp_finish
