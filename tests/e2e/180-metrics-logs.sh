# Prometheus metrics: who may read them (metrics:read, or a --metrics-listen
# address without credentials), counts that follow what happened, promtool's
# check; request ids; JSON log lines that name the event, request, site and job.
. "$(dirname "$0")/lib.sh"
jp_start --metrics-listen 127.0.0.1:0 --log-format json
MPORT=$(sed -nE 's#.*metrics on http://127\.0\.0\.1:([0-9]+)/metrics.*#\1#p' "$JP_TMP/server.log" | head -1)
MBASE="http://127.0.0.1:$MPORT"
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write metrics:read")

# metric NAME{LABELS}: its value in the last scrape (from the separate address)
scrape() { curl -s "$MBASE/metrics" >"$JP_TMP/metrics"; }
# (label values may hold spaces: the value is the last field)
metric() { awk -v k="$1" 'substr($0, 1, length(k) + 1) == k " " { print $NF }' "$JP_TMP/metrics"; }

req GET /metrics
check_error "/metrics without a token" 401 unauthenticated
TOK2=$(token t1 "jobs:read sites:read")
req GET /metrics -H "Authorization: Bearer $TOK2"
check_error "/metrics without metrics:read" 403 forbidden
api GET /metrics
check "/metrics with metrics:read" 200 "$STATUS"
check "the text format 0.0.4" "text/plain; version=0.0.4; charset=utf-8" "$(header Content-Type)"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$MBASE/metrics")
check "--metrics-listen answers without credentials" 200 "$STATUS"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$MBASE/sites")
check "--metrics-listen serves nothing else of the API" 404 "$STATUS"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$MBASE/healthz")
check "--metrics-listen serves /healthz" 200 "$STATUS"

scrape
check "build info" "1" "$(metric 'jobplane_build_info{version="0.1.0",store="'"$([ -n "${JP_PG_ADMIN:-}" ] && echo postgresql || echo sqlite)"'"}')"
check "no site yet" "0 0" "$(metric 'jobplane_sites{state="online"}') $(metric 'jobplane_sites{state="offline"}')"

# A router: adopted, an idle poll, a job delivered and reported done.
adopt "metrics"
new_site "never adopted" >/dev/null
poll
check "an idle poll" 200 "$STATUS"
J=$(new_job "$SITE" ':put "m"')
scrape
check "one pending job" 1 "$(metric 'jobplane_jobs{state="pending"}')"
poll
BUSY=$(url_path "$(ros_local jpBusy)")
DONE=$(url_path "$(ros_local jpDone)")
scrape
check "one delivered job" "1 0" "$(metric 'jobplane_jobs{state="delivered"}') $(metric 'jobplane_jobs{state="pending"}')"
req GET "$BUSY"
scrape
check "one running job" "1 0" "$(metric 'jobplane_jobs{state="running"}') $(metric 'jobplane_jobs{state="delivered"}')"
req GET "$DONE"
check "done reported" 200 "$STATUS"
# an express job wakes a held poll
( poll "?wait=20" ) &
for _ in $(seq 100); do
    [ "$(curl -s "$BASE/healthz" | jq .held_polls)" = 1 ] && break
    sleep 0.05
done
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: express' -H 'X-Express-Execute: true' \
    --data-binary ':put "x"' "$BASE/site/$SITE/job"
wait_bg
scrape
check "polls by answer: two jobs, one idle" "2 1 0" \
    "$(metric 'jobplane_polls_total{answer="job"}') $(metric 'jobplane_polls_total{answer="idle"}') $(metric 'jobplane_polls_total{answer="teardown"}')"
check "reports by status" "1 1 0" \
    "$(metric 'jobplane_job_reports_total{status="busy"}') $(metric 'jobplane_job_reports_total{status="done"}') $(metric 'jobplane_job_reports_total{status="fail"}')"
# (on PostgreSQL the database's notice of the commit may come first)
check "the express job woke the held poll" 1 \
    "$(($(metric 'jobplane_express_wakes_total{origin="local"}') + $(metric 'jobplane_express_wakes_total{origin="database"}')))"
check "no poll held now" 0 "$(metric jobplane_held_polls)"
check "sites online and offline" "1 1" "$(metric 'jobplane_sites{state="online"}') $(metric 'jobplane_sites{state="offline"}')"
check "one adoption" 1 "$(metric 'jobplane_adoptions_total{result="adopted"}')"
check "requests of POST /poll by class" 3 "$(metric 'jobplane_http_requests_total{route="POST /poll",code="2xx"}')"
check "the 401 and 403 of GET /metrics" 2 "$(metric 'jobplane_http_requests_total{route="GET /metrics",code="4xx"}')"
check "the poll histogram counts the polls" 3 "$(metric 'jobplane_http_request_duration_seconds_count{route="POST /poll"}')"
check "+Inf is the count" "$(metric 'jobplane_http_request_duration_seconds_count{route="POST /poll"}')" \
    "$(metric 'jobplane_http_request_duration_seconds_bucket{route="POST /poll",le="+Inf"}')"
check_true "commits were counted" test "$(metric jobplane_store_batch_operations_count)" -gt 3
check_true "buckets never decrease" awk '/_bucket\{/ { key = $0; sub(/le="[^"]*"\} [0-9]+$/, "", key); if (key == last && $NF < prev) bad = 1; last = key; prev = $NF; n++ } END { exit bad || n < 20 }' "$JP_TMP/metrics"
check_true "every series has HELP and TYPE" awk '/^# TYPE/ { t[$3] = 1 } !/^#/ { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b); if (!t[n] && !t[b]) bad = 1 } END { exit bad }' "$JP_TMP/metrics"
out=$(promtool check metrics <"$JP_TMP/metrics" 2>&1)
check "promtool check metrics: no problem" "0 " "$? $out"
api GET /metrics
out=$(promtool check metrics <<<"$BODY" 2>&1)
check "promtool on the main address's answer too" "0 " "$? $out"

# Request ids: given, or made; echoed.
req GET /healthz -H "X-Request-Id: trace-42.a:b"
check "a well-formed X-Request-Id is echoed" "trace-42.a:b" "$(header X-Request-Id)"
req GET /healthz -H "X-Request-Id: bad id"
RID=$(header X-Request-Id)
check_true "a malformed one is replaced by a new id" grep -qE '^[0-9a-f]{20}$' <<<"$RID"
req GET /healthz
check_true "each request its own id" test "$(header X-Request-Id)" != "$RID"

# JSON logs.
TOKEN=$(jq -r .token <<<"$J")
R=$(uuid)
new_job "$SITE" ':put "logged"' "$R" >/dev/null
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: with id' -H 'X-Request-Id: req-777' \
    --data-binary ':put "y"' "$BASE/site/$SITE/job"
jp_stop
jqe() { jq -e "$@" >/dev/null; }
check_true "every log line is a JSON object with time, level, event, msg" \
    jqe -s 'length > 5 and all(.[]; (.time | test("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$")) and (.level | IN("info","warn","error")) and (.event | type == "string") and (.msg | type == "string"))' "$JP_TMP/server.log"
L=$(jq -c "select(.event == \"job.created\" and .job == \"$TOKEN\")" "$JP_TMP/server.log")
check "job.created names the site and the job" "$SITE $TOKEN" "$(jq -r '"\(.site_id) \(.job)"' <<<"$L")"
check_true "and the request" grep -qE '^[0-9a-f]{20}$' <<<"$(jq -r .request_id <<<"$L")"
check "a client's request id is the log's" "job.created $SITE" \
    "$(jq -r 'select(.request_id == "req-777") | "\(.event) \(.site_id)"' "$JP_TMP/server.log")"
check "delivery and report lines" "job.delivered job.reported job.reported" \
    "$(jq -r "select(.job == \"$TOKEN\" and .event != \"job.created\") | .event" "$JP_TMP/server.log" | tr '\n' ' ' | sed 's/ $//')"
DRIVER=$([ -n "${JP_PG_ADMIN:-}" ] && echo postgres || echo sqlite)
check "a line without tags takes its event from its prefix" "$DRIVER" \
    "$(jq -r "select(.msg == \"$DRIVER: applied migration 1\") | .event" "$JP_TMP/server.log")"
jp_finish
