# Webhooks: every job and site event reaches the endpoints subscribed to it
# and the job's notify_url, signed the Standard Webhooks way (checked by an
# independent receiver, receiver.py, with Python's hmac); retries follow the
# schedule and Retry-After with one webhook-id; 410 disables; a receiver that
# never answers delays no other; bad input is refused; private addresses are
# refused unless --webhook-allow-private.
. "$(dirname "$0")/lib.sh"
rcv_start
jp_start --webhook-allow-private --poll-interval 1 --run-timeout 3
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write backups:read webhooks:read webhooks:write")
OTHER=$(token t2 "jobs:read jobs:write sites:read sites:write webhooks:read webhooks:write")
JH=(-H 'Content-Type: application/json')

# hook URL EVENTS...: creates an endpoint, prints its id, trusts its secret
hook() {
    local url=$1 ev
    shift
    ev=$(printf '"%s",' "$@")
    api POST /webhooks "${JH[@]}" -d "{\"url\":\"$url\",\"events\":[${ev%,}],\"description\":\"e2e\"}"
    jb .secret >>"$RCV/secrets"
    jb .id
}
# got JQ-FILTER: how many logged requests match
got() { [ -s "$RCV/log" ] || { echo 0; return; }; jq -s "[.[] | select($1)] | length" "$RCV/log"; }
# wait_got N JQ-FILTER [SECONDS]: waits until at least N requests match
wait_got() {
    for _ in $(seq $((${3:-10} * 10))); do
        [ "$(got "$2")" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- bad input ------------------------------------------------------------
LONG="http://x.example/$(head -c 2100 /dev/zero | tr '\0' a)"
for u in 'ftp://x.example/' 'javascript:alert(1)' "$LONG" 'http://a b/' 'http:///x' 'http://u:p@x.example/' 'http://x.example:99999/'; do
    api POST /webhooks "${JH[@]}" -d "{\"url\":\"$u\",\"events\":[\"job.completed\"]}"
    check_error "url '${u:0:30}'" 422 parameter_invalid
done
api POST /webhooks "${JH[@]}" -d '{"events":["job.completed"]}'
check_error "no url" 400 parameter_missing
api POST /webhooks "${JH[@]}" -d '{"url":"http://x.example/"}'
check_error "no events" 400 parameter_missing
for e in '[]' '["job.exploded"]' '["ping"]' '[7]' '"job.completed"'; do
    api POST /webhooks "${JH[@]}" -d "{\"url\":\"http://x.example/\",\"events\":$e}"
    check_error "events $e" 422 parameter_invalid
done
api POST /webhooks "${JH[@]}" -d "{\"url\":\"http://x.example/\",\"events\":[\"job.failed\"],\"description\":\"$(head -c 501 /dev/zero | tr '\0' d)\"}"
check_error "a description of 501 characters" 422 parameter_invalid
api GET /webhooks/not-a-uuid
check_error "a webhook id that is not a UUID" 422 parameter_invalid
api GET "/webhooks/$(uuid)"
check_error "an unknown webhook" 404 resource_missing
api POST /webhooks/deliveries/987654/redeliver
check_error "redelivery of an unknown delivery" 404 resource_missing
api POST /webhooks/deliveries/abc/redeliver
check_error "a delivery id that is not a number" 422 parameter_invalid
req GET /webhooks -H "Authorization: Bearer $(token t1 'jobs:read')"
check_error "listing webhooks without webhooks:read" 403 forbidden

# ---- endpoints ------------------------------------------------------------
ALL=(job.delivered job.started job.completed job.failed job.cancelled site.adopted site.offline site.online site.deleted backup.created)
W_ALL=$(hook "$R/ok/all" "${ALL[@]}")
api GET "/webhooks/$W_ALL"
check "a webhook reads back" "$R/ok/all" "$(jb .url)"
check "its events read back" "$(printf '%s\n' "${ALL[@]}")" "$(jb '.events[]')"
check "the secret is not shown again" null "$(jb .secret)"
check "it is enabled" true "$(jb .enabled)"
api GET /webhooks
check "the team lists its webhook" "$W_ALL" "$(jb '.[0].id')"
TOK0=$TOK
TOK=$OTHER
for m in "GET /webhooks/$W_ALL" "DELETE /webhooks/$W_ALL" "POST /webhooks/$W_ALL/rotate-secret" "POST /webhooks/$W_ALL/test" "GET /webhooks/$W_ALL/deliveries"; do
    api ${m% *} "${m#* }"
    check_error "another team: $m" 404 resource_missing
done
api PATCH "/webhooks/$W_ALL" "${JH[@]}" -d '{"enabled":false}'
check_error "another team: PATCH" 404 resource_missing
api GET /webhooks
check "another team lists none" 0 "$(jb length)"
TOK=$TOK0

# the retry schedule, Retry-After and one webhook-id: 500, then 503 with
# Retry-After: 2, then 200
W_RETRY=$(hook "$R/seq/retry/500,503:2,200" job.cancelled)
W_GONE=$(hook "$R/status/410/gone" job.delivered)
W_HANG=$(hook "$R/hang/slow" job.delivered)
W_FAST=$(hook "$R/ok/fast" job.delivered)
api POST /webhooks/notify-secret
check "the notify secret is created (201)" 201 "$STATUS"
check_true "it is a Standard Webhooks secret" grep -qE '^whsec_[A-Za-z0-9+/]{32}$' <<<"$(jb .secret)"
jb .secret >>"$RCV/secrets"

# ---- every event ----------------------------------------------------------
adopt r1
wait_got 1 '.type=="site.adopted"' || true
api POST "/api/asynchronous/$SITE" "${JH[@]}" -d "{\"description\":\"notify\",\"script\":\":put 1\",\"needs_acknowledgement\":true,\"notify_url\":\"$R/ok/notify\"}"
J1=$(jb .data.request_id)
poll
busy=$(url_path "$(ros_local jpBusy)")
done_=$(url_path "$(ros_local jpDone)")
req GET "$busy"
req GET "$done_"
J2=$(new_job "$SITE" ':put 2' | jq -r .id)
poll
req GET "$(url_path "$(ros_local jpFail)")"
J3=$(new_job "$SITE" ':put 3' | jq -r .id)
poll # delivered, never reported: fails after the run timeout of 3 s
J4=$(new_job "$SITE" ':put 4' | jq -r .id)
api DELETE "/site/$SITE/job/$J4"
check "a pending job is cancelled" 204 "$STATUS"
for t in job.delivered job.started job.completed job.failed job.cancelled site.adopted; do
    check_true "$t reaches the endpoint" wait_got 1 "(.path==\"/ok/all\" and .type==\"$t\")" 8
done
check "job.delivered three times (J1, J2, J3)" 3 "$(got '.path=="/ok/all" and .type=="job.delivered"')"
check_true "the run timeout's job.failed arrives" wait_got 2 '(.path=="/ok/all" and .type=="job.failed")' 8
check "J3 failed by the run timeout" failed "$(jq -rs "[.[] | select(.type==\"job.failed\" and .body.data.id==\"$J3\")][0].body.data.status" "$RCV/log")"
check "the cancelled job's event says cancelled" cancelled "$(jq -rs "[.[] | select(.type==\"job.cancelled\")][0].body.data.status" "$RCV/log")"
check "every request to /ok/all is signed and verifies" 0 "$(got '.path=="/ok/all" and .sig_ok != true')"
check "every request is application/json" 0 "$(got '.content_type != "application/json"')"
check "job.completed carries the job, completed" "completed $J1" "$(jq -rs '[.[] | select(.path=="/ok/all" and .type=="job.completed")][0].body.data | "\(.status) \(.id)"' "$RCV/log")"
check_true "the payload's timestamp is RFC 3339" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' \
    <<<"$(jq -rs '.[0].body.timestamp' "$RCV/log")"
check "site.adopted carries the site" "$SITE" "$(jq -rs '[.[] | select(.type=="site.adopted")][0].body.data.id' "$RCV/log")"
# the notify_url: J1's events only, signed with the team's notify secret
check_true "the notify_url gets J1's job.completed" wait_got 1 '(.path=="/ok/notify" and .type=="job.completed")' 5
check "the notify_url gets delivered, started, completed" "job.completed job.delivered job.started" \
    "$(jq -rs '[.[] | select(.path=="/ok/notify") | .type] | sort | join(" ")' "$RCV/log")"
check "notify_url deliveries verify with the notify secret" 0 "$(got '.path=="/ok/notify" and .sig_ok != true')"
check "one webhook-id per event, shared by its destinations" \
    "$(jq -rs '[.[] | select(.path=="/ok/notify" and .type=="job.started")][0].id' "$RCV/log")" \
    "$(jq -rs "[.[] | select(.path==\"/ok/all\" and .type==\"job.started\" and .body.data.id==\"$J1\")][0].id" "$RCV/log")"

# a receiver that never answers delays no other endpoint
check_true "the fast endpoint got all three deliveries while /hang holds its own" \
    wait_got 3 '.path=="/ok/fast"' 3
# 410 disables the endpoint
api GET "/webhooks/$W_GONE"
check "410 disables the endpoint" false "$(jb .enabled)"
check_true "the reason names the 410" grep -q 410 <<<"$(jb .disabled_reason)"
check "a disabled endpoint got one request" 1 "$(got '.path=="/status/410/gone"')"

# backups, site deletion
api POST "/backup/$SITE"
poll
BAK=$(url_path "$(ros_local jpBak)")
req POST "$BAK&offset=0&total=12" -H 'Content-Type: text/plain' --data-binary '# model=CHR'$'\n'
check "the backup upload completes" 201 "$STATUS"
check_true "backup.created arrives" wait_got 1 '(.path=="/ok/all" and .type=="backup.created")' 5
check "backup.created names the site and the file" "$SITE 12" \
    "$(jq -rs '[.[] | select(.type=="backup.created")][0].body.data | "\(.site_id) \(.size_bytes)"' "$RCV/log")"

# offline after 10 missed polls (1 s interval), online at the next poll
check_true "site.offline after 10 missed polls" wait_got 1 '(.path=="/ok/all" and .type=="site.offline")' 20
poll
check_true "site.online when it polls again" wait_got 1 '(.path=="/ok/all" and .type=="site.online")' 5
api DELETE "/sites/$SITE"
check_true "site.deleted arrives" wait_got 1 '(.path=="/ok/all" and .type=="site.deleted")' 5

# ---- retries --------------------------------------------------------------
check_true "the retried event arrives three times" wait_got 3 '.path | startswith("/seq/retry")' 15
T=($(jq -rs '[.[] | select(.path | startswith("/seq/retry"))][0:3] | .[].t' "$RCV/log"))
IDS=$(jq -rs '[.[] | select(.path | startswith("/seq/retry")) | .id] | unique | length' "$RCV/log")
check "every retry carries the same webhook-id" 1 "$IDS"
gap1=$(awk -v a="${T[0]}" -v b="${T[1]}" 'BEGIN { printf "%.1f", b - a }')
gap2=$(awk -v a="${T[1]}" -v b="${T[2]}" 'BEGIN { printf "%.1f", b - a }')
check_true "the second try about 5 s after the first (${gap1} s)" awk -v g="$gap1" 'BEGIN { exit !(g >= 4.5 && g < 8) }'
check_true "the third about 2 s after the second, as Retry-After said (${gap2} s)" awk -v g="$gap2" 'BEGIN { exit !(g >= 1.5 && g < 4.5) }'
api GET "/webhooks/$W_RETRY/deliveries"
check "the endpoint lists one delivery" 1 "$(jb length)"
check "it is delivered" delivered "$(jb '.[0].status')"
check "its attempts are recorded with their status codes" "500 503 200" "$(jb '[.[0].attempts[].status_code] | join(" ")')"
check "and their answers" '{"received":true}' "$(jb '.[0].attempts[2].response')"
DEL=$(jb '.[0].id')
api GET "/webhooks/$W_RETRY/deliveries?status=failed"
check "none failed" 0 "$(jb length)"
api GET "/webhooks/$W_RETRY/deliveries?status=bogus"
check_error "an unknown status filter" 422 parameter_invalid
api POST "/webhooks/deliveries/$DEL/redeliver"
check "a redelivery is accepted (202)" 202 "$STATUS"
check_true "and sent again, with the same webhook-id" wait_got 4 '.path | startswith("/seq/retry")' 5
check "still one webhook-id" 1 "$(jq -rs '[.[] | select(.path | startswith("/seq/retry")) | .id] | unique | length' "$RCV/log")"

# ---- ping, rotation, change, delete -----------------------------------------
api POST "/webhooks/$W_FAST/test"
check "a test event is accepted (202)" 202 "$STATUS"
check_true "the ping arrives, signed" wait_got 1 '(.path=="/ok/fast" and .type=="ping" and .sig_ok)' 5
api POST "/webhooks/$W_FAST/rotate-secret"
check "rotation answers 200" 200 "$STATUS"
NEWSEC=$(jb .secret)
check_true "the previous secret stays valid for a while" test "$(jb .previous_secret_valid_until)" != null
echo "$NEWSEC" >"$RCV/secrets" # from now on only the new secret is trusted
api POST "/webhooks/$W_FAST/test"
check_true "after rotation the ping verifies with the new secret" wait_got 1 '(.path=="/ok/fast" and .type=="ping" and .signatures==2 and .sig_ok)' 5
api PATCH "/webhooks/$W_FAST" "${JH[@]}" -d '{"events":["site.deleted"],"description":"changed","enabled":false}'
check "PATCH answers the endpoint" "site.deleted changed false" "$(jb '"\(.events | join(",")) \(.description) \(.enabled)"')"
api PATCH "/webhooks/$W_FAST" "${JH[@]}" -d '{"events":["nope"]}'
check_error "PATCH with an unknown event" 422 parameter_invalid
api PATCH "/webhooks/$W_FAST" "${JH[@]}" -d '{"enabled":true}'
check "enabled again" true "$(jb .enabled)"
api DELETE "/webhooks/$W_HANG"
check "an endpoint is deleted (204)" 204 "$STATUS"
api GET "/webhooks/$W_HANG"
check_error "a deleted endpoint" 404 resource_missing
req GET /healthz
check_true "healthz reports the outbox" test "$(jb '.outbox | has("depth") and has("oldest_age_seconds") and has("dead_letters")')" = true
jp_stop

# ---- no requests to private addresses without --webhook-allow-private ------
: >"$RCV/log"
jp_start --poll-interval 1
PORT=${R##*:}
URLS=("http://127.0.0.1:$PORT/ok/ssrf" "http://10.0.0.1/x" "http://169.254.169.254/latest/meta-data/" "http://[::1]:$PORT/ok/ssrf" "http://localhost:$PORT/ok/ssrf")
SSRF=()
for u in "${URLS[@]}"; do
    SSRF+=("$(hook "$u" job.delivered)")
done
adopt r2
new_job "$SITE" >/dev/null
poll
sleep 2
for i in "${!SSRF[@]}"; do
    api GET "/webhooks/${SSRF[$i]}/deliveries"
    check_true "${URLS[$i]} refused: $(jb '.[0].attempts[0].error')" \
        grep -q 'refused to connect to .* address (--webhook-allow-private allows it)' <<<"$(jb '.[0].attempts[0].error')"
done
check "the receiver got nothing" 0 "$(got 'true')"
rcv_stop
jp_finish
