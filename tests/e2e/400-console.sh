# The web console. Here, on every store and build: the pages' headers,
# GET /overview (counts, stuck and failed jobs, a running rollout) and
# GET /sites?include=last_job, with a fleet of simulated routers (one stopped,
# so it goes offline), a site named like HTML, a router of the test's own with
# two different backups and a stuck job, and more sites. On SQLite (both
# builds) also the browser: tests/ui/console.test.js in Debian's chromium
# through playwright-core, with 25,000 more sites; it signs in, compares the
# overview with the API, queues, watches, cancels and fails jobs, diffs the
# backups, pages and searches the sites, runs axe-core on every page and takes
# screenshots (build/console-screenshots/BUILD/).
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --stats-interval 0 --run-timeout 120
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write backups:read scripts:read")

# ---- the files and their headers
req GET /
check "/ answers the console" 200 "$STATUS"
check "as HTML" "text/html; charset=utf-8" "$(header Content-Type)"
check_true "scripts only from the server, nothing inline" \
    grep -qE "script-src 'self';" <<<"$(header Content-Security-Policy)"
CSP=$(header Content-Security-Policy)
check_true "no 'unsafe-inline' anywhere in the policy" test -n "$CSP" -a "${CSP/unsafe-inline/}" = "$CSP"
check "never framed" DENY "$(header X-Frame-Options)"
check "no referrer" no-referrer "$(header Referrer-Policy)"
check_true "the page loads its script from /ui/" grep -q '<script src="/ui/app.js" defer></script>' "$JP_TMP/body"
req GET /ui/app.js
check "the script: 200, JavaScript" "200 text/javascript; charset=utf-8" "$STATUS $(header Content-Type)"
check "the script is ui/app.js byte for byte" "$(sha256sum <ui/app.js)" "$(sha256sum <"$JP_TMP/body")"
check_true "the script never parses text as HTML" sh -c "! grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write' ui/app.js"
req GET /ui/nothing.js
check_error "an unknown file" 404 resource_missing
req GET "/ui/..%2Fapp.js"
check "a path out of ui/ is no file" 404 "$STATUS"

# ---- the fixtures
XSS_NAME='<img src=x onerror=alert(1)>'
api POST /sites -H 'Content-Type: application/json' -d "$(jq -cn --arg n "$XSS_NAME" '{name: $n}')"
XSS_SITE=$(jb -r .id)

# a router of our own that uploads two backups that differ
adopt "backups" "7.16 (stable)"
BACKUP_SITE=$SITE
printf '# 2026-12-06 10:00:00 by RouterOS 7.16\n/ip address add address=10.1.1.1/24 interface=ether1\n/system identity set name=lab\n' >"$JP_TMP/b1.rsc"
printf '# 2026-12-06 11:00:00 by RouterOS 7.16\n/ip address add address=10.9.9.1/24 interface=ether1\n/system identity set name=lab\n' >"$JP_TMP/b2.rsc"
backup_job "$JP_TMP/b1.rsc"
backup_job "$JP_TMP/b2.rsc"
api GET "/backup/$BACKUP_SITE"
check "the site has two backups" 2 "$(jb length)"

# a job delivered and never reported is stuck; once it fails it is a failure
api POST "/site/$BACKUP_SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: never reported' \
    -H 'Content-Type: text/plain' --data-binary ':put stuck'
STUCK_JOB=$(jb -r .id)
poll
STUCK_WRAP=$BODY
sleep 3.1 # times are whole seconds: 3 s after the poll it was delivered more than 2 s ago
api GET "/overview?stuck_after=2"
check "overview: the job delivered 3 s ago is stuck after 2 s" "1 $STUCK_JOB backups" \
    "$(jb -r '"\(.jobs.stuck) \(.stuck[0].id) \(.stuck[0].site_name)"')"
check "overview: delivered, not running, nothing failed" "1 0 0 0" \
    "$(jb -r '"\(.jobs.delivered) \(.jobs.running) \(.jobs.failed_24h) \(.failures | length)"')"
api GET "/overview"
check "overview: not stuck by the default 5 minutes" "0 0" "$(jb -r '"\(.jobs.stuck) \(.stuck | length)"')"
req GET "$(url_path "$(ros_local jpFail "$STUCK_WRAP")")"
api GET "/overview?stuck_after=2"
check "overview: once failed, a failure of the last day with its site, no longer stuck" \
    "1 $STUCK_JOB backups failed 0" \
    "$(jb -r '"\(.jobs.failed_24h) \(.failures[0].id) \(.failures[0].site_name) \(.failures[0].status) \(.jobs.stuck)"')"

# the fleet: 4 routers polling every second, and one that stops after 3 s
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 4 --interval 1 --duration 900 >"$JP_TMP/sim.log" 2>&1 &
SIM_PID=$!
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 1 --interval 1 --duration 3 --tokens "$JP_TMP/stopped" \
    >"$JP_TMP/sim-stopped.log" 2>&1
OFFLINE_SITE=$(cut -d' ' -f1 "$JP_TMP/stopped")
check_true "the stopped router's site is known" grep -qE '^[0-9a-f-]{36}$' <<<"$OFFLINE_SITE"
# The browser runs on SQLite (both builds): what it shows is the same on either
# store, and the reads it makes are checked on each one here. The 25,000 sites
# are its sites table's.
BROWSER=
[ -z "${JP_PG_ADMIN:-}" ] && BROWSER=1
N=300
[ -n "$BROWSER" ] && N=25000
check "$N more sites" "$N" "$(new_sites "$N" fleet)"
for _ in $(seq 300); do # 10 poll intervals of silence make it offline
    api GET "/sites/$OFFLINE_SITE"
    [ "$(jb .has_pulse)" = false ] && break
    sleep 0.2
done
check "the stopped router went offline" false "$(jb .has_pulse)"
sim_online 4
SIM_SITE=$(jq -r '.[0]' <<<"$SIM_IDS")
check_true "a running router's site" test "$SIM_SITE" != "$OFFLINE_SITE" -a -n "$SIM_SITE"

# a rollout over the two sites that never poll: it stays launched, its jobs pending
LAUNCH=$(date -u -d '+12 seconds' +%Y-%m-%dT%H:%M:%SZ)
TOK=$("$JP_BIN" token --team t1 --scope "scripts:read scripts:write sites:read" --subject alice) \
    api POST /scripts/scheduled -H 'Content-Type: application/json' \
    -d "$(jq -cn --arg a "$OFFLINE_SITE" --arg b "$XSS_SITE" --arg t "$LAUNCH" \
        '{description: "console rollout", script: ":put rollout", launch_at: $t, sites: [$a, $b]}')"
check "a rollout over the silent sites is created" 201 "$STATUS"
RID=$(jb -r .id)
TOK=$("$JP_BIN" token --team t1 --scope "scripts:read scripts:approve" --subject bob) \
    api POST "/scripts/scheduled/$RID/approve"
check "another person approves it" 200 "$STATUS"
for _ in $(seq 150); do
    api GET /overview
    [ "$(jb '.rollouts[0].targets.queued')" = 2 ] && break
    sleep 0.4
done
check "overview: the launched rollout with its two jobs queued" \
    '[{"id":"'"$RID"'","description":"console rollout","status":"launched","wave":1,"waves":1,"targets":{"total":2,"waiting":0,"queued":2,"completed":0,"failed":0,"skipped":0,"cancelled":0}}]' \
    "$(jb -c .rollouts)"

# ---- GET /overview and ?include=last_job
api GET /overview
check "overview: 200" 200 "$STATUS"
check "overview: every site of the team" $((N + 2 + 5)) "$(jb .sites.total)"
check "overview: 4 online (the stopped one and the others not)" 4 "$(jb .sites.online)"
check "overview: offline is the rest" $((N + 2 + 1)) "$(jb .sites.offline)"
check "overview: never adopted, the XSS site and the fleet" $((N + 1)) "$(jb .sites.unadopted)"
api GET "/overview?stuck_after=0"
check_error "stuck_after 0" 422 parameter_invalid
TOK=$(token t1 "sites:read") api GET /overview
check_error "overview without jobs:read" 403 forbidden
TOK=$(token t1 "sites:read jobs:read") api GET /overview
check "without scripts:read the rollouts are null" null "$(jb .rollouts)"
TOK=$(token t2 "sites:read jobs:read") api GET /overview
check "another team sees none of these sites" 0 "$(jb .sites.total)"
api GET "/sites?include=last_job&q=backups"
check "include=last_job: the backup site's last job, the one that failed" "failed" "$(jb -r '.[0].last_job.status')"
check "include=last_job: its id is the newest job's" "$(api GET "/site/$BACKUP_SITE/job?limit=1"; jb -r '.[0].id')" \
    "$(api GET "/sites?include=last_job&q=backups"; jb -r '.[0].last_job.id')"
api GET "/sites?include=last_job&q=fleet-00001"
check "include=last_job: null without a job" null "$(jb '.[0].last_job')"
api GET "/sites?include=everything"
check_error "include of something else" 422 parameter_invalid
api GET "/sites?q=fleet-0&limit=10&include=last_job"
check_true "the next page's link carries include" grep -q 'include=last_job' <<<"$(header Link)"

# ---- the browser
if [ -n "$BROWSER" ]; then
    SHOTS="${JP_UI_SHOTS:-$PWD/build/console-screenshots}/$(basename "$(dirname "$JP_BIN")")"
    rm -rf "$SHOTS"
    if tests/ui/install.sh >"$JP_TMP/ui-install.log" 2>&1; then
        JP_URL=$BASE JP_TOKEN=$TOK JP_SIM_SITE=$SIM_SITE JP_OFFLINE_SITE=$OFFLINE_SITE JP_XSS_SITE=$XSS_SITE \
            JP_BACKUP_SITE=$BACKUP_SITE JP_SHOTS=$SHOTS NODE_PATH=tests/ui/node_modules \
            timeout 600 node tests/ui/console.test.js >"$JP_TMP/ui.out" 2>&1
        cat "$JP_TMP/ui.out"
        PASSED=$((PASSED + $(grep -c '^ok ' "$JP_TMP/ui.out")))
        FAILED=$((FAILED + $(grep -c '^not ok ' "$JP_TMP/ui.out")))
        check_true "the browser test printed its checks" grep -q '^ok - console: a minted token signs in' "$JP_TMP/ui.out"
    else
        not_ok "tests/ui/install.sh (chromium, playwright-core, axe-core)"
        cat "$JP_TMP/ui-install.log"
    fi
fi
kill "$SIM_PID" 2>/dev/null
wait "$SIM_PID" 2>/dev/null
jp_finish
