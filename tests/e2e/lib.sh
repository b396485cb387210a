# Shared helpers for the end-to-end tests. Each test file sources this, starts
# the real server on a free loopback port with a fresh database, talks HTTP to
# it with curl, and prints one "ok - ..." or "not ok - ..." line per check.
# JP_BIN selects the binary (build/jobplane or build-asan/jobplane).
set -u
JP_BIN=${JP_BIN:-build/jobplane}
JP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-e2e.XXXXXX")
export JOBPLANE_SECRET="e2e-secret-0123456789abcdef-0123456789"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
PASSED=0
FAILED=0
JP_PID=
# With JP_PG_ADMIN (an admin URL of a test cluster) each test file gets a
# fresh PostgreSQL database; otherwise a fresh SQLite file.
if [ -n "${JP_PG_ADMIN:-}" ]; then
    JP_PGNAME="jp_$$_$RANDOM"
    psql -q "$JP_PG_ADMIN/postgres" -c "CREATE DATABASE $JP_PGNAME" >/dev/null
    JP_DB="$JP_PG_ADMIN/$JP_PGNAME"
else
    JP_DB="$JP_TMP/jobplane.db"
fi
JP_ARGS=()

# one line per check, whatever the description holds
ok() { local d="$*"; PASSED=$((PASSED + 1)); echo "ok - ${d//$'\n'/\\n}"; }
not_ok() { local d="$*"; FAILED=$((FAILED + 1)); echo "not ok - ${d//$'\n'/\\n}"; }

# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1 (expected '${2:0:300}', got '${3:0:300}')"; fi
}

# check_true DESCRIPTION COMMAND...: passes when the command succeeds
check_true() {
    local d=$1; shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# With JP_OPENAPI_RECORD=FILE every request goes through a recording proxy
# (tests/openapi/record.py) that appends each exchange to FILE, for the
# OpenAPI check; the server's --base-url is the proxy's, so routers' requests
# pass it too.
JP_PROXY_PID=
openapi_proxy() {
    [ -n "${JP_OPENAPI_RECORD:-}" ] || return 0
    if [ -z "$JP_PROXY_PID" ]; then
        # started from a subshell: not a job of the test, which may wait for its own
        (python3 "$(dirname "${BASH_SOURCE[0]}")/../openapi/record.py" "$JP_TMP/proxy.port" \
            "$JP_TMP/port" "$JP_OPENAPI_RECORD" </dev/null >/dev/null 2>&1 &
            echo $! >"$JP_TMP/proxy.pid")
        JP_PROXY_PID=$(cat "$JP_TMP/proxy.pid")
        for _ in $(seq 100); do [ -s "$JP_TMP/proxy.port" ] && break; sleep 0.05; done
    fi
    JP_PROXY_URL="http://127.0.0.1:$(cat "$JP_TMP/proxy.port")"
}

# jp_start [serve options...]: starts the server on a free port with JP_DB.
# Automatic daily backups are off unless the test asks for them: they would
# add jobs to the fleets that tests count.
jp_start() {
    JP_ARGS=("$@")
    [[ " $* " == *" --auto-backup "* ]] || JP_ARGS+=(--auto-backup off)
    set -- "${JP_ARGS[@]}"
    rm -f "$JP_TMP/port"
    local extra=()
    openapi_proxy
    if [ -n "${JP_OPENAPI_RECORD:-}" ] && [[ " $* " != *" --base-url "* ]]; then
        extra=(--base-url "$JP_PROXY_URL")
    fi
    "$JP_BIN" serve --listen "${JP_LISTEN:-127.0.0.1:0}" --db "$JP_DB" --port-file "$JP_TMP/port" \
        "${extra[@]}" "$@" >>"$JP_TMP/server.log" 2>&1 &
    JP_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$JP_TMP/port" ] && break
        kill -0 "$JP_PID" 2>/dev/null || break
        sleep 0.05
    done
    if [ ! -s "$JP_TMP/port" ]; then
        not_ok "server started"; cat "$JP_TMP/server.log" >&2; jp_finish
    fi
    JP_PORT=$(cat "$JP_TMP/port")
    JP_REV=
    BASE="http://127.0.0.1:$JP_PORT"
    [ -n "${JP_OPENAPI_RECORD:-}" ] && [[ " $* " != *" --base-url "* ]] && BASE=$JP_PROXY_URL
    jp_rev
    return 0
}

# jp_stop: SIGTERM, wait, and require a clean exit with no sanitizer report
jp_stop() {
    [ -n "$JP_PID" ] || return 0
    kill -TERM "$JP_PID" 2>/dev/null
    local status=0
    wait "$JP_PID" || status=$?
    JP_PID=
    check "server exits 0 after SIGTERM" 0 "$status"
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)' \
        "$JP_TMP/server.log"; then
        not_ok "no sanitizer report in the server log"
        grep -A30 -E 'Sanitizer|runtime error' "$JP_TMP/server.log" | head -60 >&2
    fi
}

# wait_bg: waits for the test's background jobs, not for the server
wait_bg() {
    local p
    for p in $(jobs -p); do
        [ "$p" = "$JP_PID" ] || wait "$p"
    done
}

jp_kill9() {
    kill -KILL "$JP_PID" 2>/dev/null
    wait "$JP_PID" 2>/dev/null
    JP_PID=
}

jp_restart() { jp_stop; jp_start "${JP_ARGS[@]}"; }

# db_exec SQL: runs SQL on the test's database (either store)
db_exec() {
    if [ -n "${JP_PG_ADMIN:-}" ]; then
        psql -qtA "$JP_DB" -c "$1"
    else
        sqlite3 "$JP_DB" ".timeout 5000" "$1"
    fi
}

# db_script FILE: runs the SQL of FILE on the test's database
db_script() {
    if [ -n "${JP_PG_ADMIN:-}" ]; then
        psql -qtA -v ON_ERROR_STOP=1 "$JP_DB" -f "$1" >/dev/null
    else
        sqlite3 "$JP_DB" ".timeout 5000" ".read $1"
    fi
}

# pruned [JQ CONDITION]: waits (up to 300 s) until the pruner's last round
# found nothing due and, when given, the condition on healthz's retention
# object holds; fails when it never does
pruned() {
    local h
    for _ in $(seq 600); do
        h=$(curl -s "$BASE/healthz" | jq -c .retention)
        jq -e ".idle and (${1:-true})" <<<"$h" >/dev/null && return 0
        sleep 0.5
    done
    echo "# the pruner never got there: $h" >&2
    return 1
}

jp_finish() {
    jp_stop
    [ -n "$JP_PROXY_PID" ] && kill "$JP_PROXY_PID" 2>/dev/null
    [ -n "${JP_PG_ADMIN:-}" ] &&
        psql -q "$JP_PG_ADMIN/postgres" -c "DROP DATABASE IF EXISTS $JP_PGNAME" >/dev/null 2>&1
    rm -rf "$JP_TMP"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

# token TEAM [SCOPE [TTL]]
token() {
    "$JP_BIN" token --team "$1" --scope "${2:-jobs:read jobs:write sites:read sites:write backups:read}" \
        --ttl "${3:-3600}"
}

uuid() { cat /proc/sys/kernel/random/uuid; }

# req METHOD PATH [curl options...]: sets STATUS, BODY and HEADERS (a file)
HEADERS="$JP_TMP/headers"
req() {
    local method=$1 path=$2
    shift 2
    STATUS=$(curl -s -o "$JP_TMP/body" -D "$HEADERS" -w '%{http_code}' -X "$method" "$@" \
        "$BASE$path")
    BODY=$(cat "$JP_TMP/body")
}

# api METHOD PATH [curl options...]: req with the current operator token $TOK
api() {
    local method=$1 path=$2
    shift 2
    req "$method" "$path" -H "Authorization: Bearer $TOK" "$@"
}

# header NAME: the value of a response header of the last request
header() { grep -i "^$1:" "$HEADERS" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# body_lacks REGEX: succeeds when the last body does not match (case-insensitive)
body_lacks() { ! grep -qiE "$1" <<<"$BODY"; }

# jq on the last body
jb() { jq -r "$@" <<<"$BODY"; }

# check_error DESCRIPTION STATUS CODE: the last answer is that documented error
check_error() {
    local d=$1
    check "$d: status" "$2" "$STATUS"
    check "$d: code" "$3" "$(jb .code 2>/dev/null)"
    local type doc
    type=$(jb .type 2>/dev/null)
    doc=$(jb .doc_url 2>/dev/null)
    case "$type" in
    invalid_request_error | authentication_error | permission_error | rate_limit_error | api_error)
        ok "$d: type $type" ;;
    *) not_ok "$d: error type '$type'" ;;
    esac
    check "$d: doc_url" "$BASE/errors/$3" "$doc"
}

# new_site NAME: creates a site with $TOK and prints its id
new_site() {
    curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$1\"}" "$BASE/sites" | jq -r .id
}

# new_job SITE [SCRIPT [KEY]]: creates a job with $TOK and prints its JSON
new_job() {
    curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
        -H "X-Idempotency-Key: ${3:-$(uuid)}" -H 'X-Description: e2e job' \
        --data-binary "${2:-/log info \"hello\"}" "$BASE/site/$1/job"
}

# new_sites N PREFIX [URL...]: creates N sites named PREFIX-00001 and on
# with $TOK, with one curl, 16 at once, spread over the servers URL (default
# $BASE); prints how many were created (answered 201)
new_sites() {
    local n=$1 prefix=$2 i
    shift 2
    [ $# -gt 0 ] || set -- "$BASE"
    local urls=("$@")
    for i in $(seq "$n"); do
        [ "$i" -gt 1 ] && echo next
        printf 'url = "%s/sites"\nrequest = "POST"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata = "{\\"name\\":\\"%s-%05d\\"}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
            "${urls[$((i % ${#urls[@]}))]}" "$TOK" "$prefix" "$i"
    done >"$JP_TMP/sites.cfg"
    curl -s --no-progress-meter -Z --parallel-max 16 -K "$JP_TMP/sites.cfg" | grep -c '^201$'
}

# sim_online N: waits (up to 30 s) until N sites of the simulator ("sim-...")
# have a pulse; sets SIM_IDS to their ids, a JSON array
sim_online() {
    for _ in $(seq 150); do
        api GET "/sites?has_pulse=true"
        [ "$(jb '[.[] | select(.name | startswith("sim-"))] | length')" = "$1" ] && break
        sleep 0.2
    done
    SIM_IDS=$(jb -c '[.[] | select(.name | startswith("sim-")) | .id]')
}

# cli ARGS...: runs the operator client (standard input: the file CLI_IN
# when set, else the caller's); sets OUT, ERR and RC, and fails on a
# sanitizer's report
cli() {
    if [ -n "${CLI_IN:-}" ]; then
        "$JP_BIN" "$@" >"$JP_TMP/out" 2>"$JP_TMP/err" <"$CLI_IN"
    else
        "$JP_BIN" "$@" >"$JP_TMP/out" 2>"$JP_TMP/err"
    fi
    RC=$?
    OUT=$(cat "$JP_TMP/out")
    ERR=$(cat "$JP_TMP/err")
    if grep -qE 'Sanitizer|runtime error' <<<"$ERR"; then
        not_ok "no sanitizer report from: $*"
        head -30 <<<"$ERR" >&2
    fi
}

# check_delivered_once RECORD: a simulator's --record shows no job delivered
# twice (neither flagged by the simulator nor repeated in its deliveries)
check_delivered_once() {
    check "no job was delivered twice" 0 "$(grep -c '^DUPLICATE ' "$1")"
    check "each delivery unique" "$(grep -c '^delivered ' "$1")" \
        "$(grep '^delivered ' "$1" | cut -d' ' -f3 | sort -u | wc -l)"
}

# job_cfg URL SITE SCRIPT DESCRIPTION [HEADER...]: a block of a curl config
# (-K) creating a job at the server URL with $TOK, preceded by "next"; run
# the blocks with curl_cfg. One curl for many jobs: creating them does not
# wait for a process per job, which a loaded machine makes slow.
job_cfg() {
    local url=$1 site=$2 script=$3 desc=$4 key h
    shift 4
    read -r key </proc/sys/kernel/random/uuid
    printf 'next\nurl = "%s/site/%s/job"\nrequest = "POST"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: text/plain"\nheader = "X-Idempotency-Key: %s"\nheader = "X-Description: %s"\n' \
        "$url" "$site" "$TOK" "$key" "$desc"
    for h in "$@"; do printf 'header = "%s"\n' "$h"; done
    printf 'data-binary = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$script"
}

# curl_cfg FILE: runs FILE's job_cfg blocks in order, connections kept;
# prints each answer's status, one a line
curl_cfg() { tail -n +2 "$1" | curl -s -K -; }

# ---- the device side -----------------------------------------------------

# device_token TEXT: the device token an adoption answer writes to the
# router's token file (/file add ... contents="...")
device_token() { grep -oE 'contents="[0-9A-Za-z]{32}"' <<<"$1" | grep -oE '[0-9A-Za-z]{32}'; }

# adopt NAME [VERSION [SERIAL]]: creates a site with $TOK and adopts it as a
# router would; sets SITE, DTOK (device token) and ADOPTION (the adoption answer)
adopt() {
    local s boot at
    s=$(curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$1\"}" "$BASE/sites")
    SITE=$(jq -r .id <<<"$s")
    boot=$(jq -r .bootstrap <<<"$s")
    at=$(grep -oE '/adopt/[0-9A-Za-z]{22}' <<<"$boot" | cut -d/ -f3)
    ADOPTION=$(curl -s -X POST --data-binary "name=$1;version=${2:-7.16 (stable)};board-name=CHR;serial-number=${3:-};uptime=00:01:00" \
        "$BASE/adopt/$at")
    DTOK=$(device_token "$ADOPTION")
}

# jp_rev: sets JP_REV, the revision of the poll script the server renders
# (its /healthz says), which a router running that script sends
jp_rev() {
    [ -n "${JP_REV:-}" ] || JP_REV=$(curl -s --max-time 10 "$BASE/healthz" 2>/dev/null |
        jq -r '.poll_script_revision // empty' 2>/dev/null)
}

# poll [QUERY] [BODY]: a router's poll with $DTOK, running the server's poll
# script (its heartbeat ends with that script's revision); the answer is in BODY
poll() {
    jp_rev
    req POST "/poll${1:-}" -H "Authorization: Bearer $DTOK" -H 'Content-Type: text/plain' \
        --data-binary "${2:-name=router;version=7.16 (stable);cpu-load=3;free-memory=1000;uptime=1h};jobplane-script=$JP_REV"
}

# wait_status SITE JOB STATUS...: until the job has one of them (30 s at
# most); the job is in BODY
wait_status() {
    local s=$1 j=$2 st want
    shift 2
    for _ in $(seq 150); do
        api GET "/site/$s/job/$j"
        st=$(jb -r .status)
        for want in "$@"; do [ "$st" = "$want" ] && return 0; done
        sleep 0.2
    done
}

# site_job SITE SCRIPT HEADER...: queues SCRIPT on SITE with a new key and
# the extra headers; the answer is in BODY, the job's id in J
site_job() {
    local s=$1 script=$2
    shift 2
    api POST "/site/$s/job" -H 'Content-Type: text/plain' -H 'X-Description: test job' \
        -H "X-Idempotency-Key: $(uuid)" "$@" --data-binary "$script"
    J=$(jb -r '.id // empty')
}

# backup_job FILE: a backup job of $SITE run by its router ($DTOK), which
# uploads FILE in one chunk; sets F (the backup's name)
backup_job() {
    api POST "/backup/$SITE"
    local j
    j=$(jb -r .job_id)
    poll
    local wrap=$BODY size
    size=$(stat -c %s "$1")
    req POST "$(url_path "$(ros_local jpBak "$wrap")")&offset=0&total=$size" \
        -H 'Content-Type: text/plain' --data-binary @"$1"
    check "uploaded $(basename "$1")" 201 "$STATUS"
    req GET "$(url_path "$(ros_local jpDone "$wrap")")"
    api GET "/site/$SITE/job/$j"
    F=$(jb -r .associated_backup | cut -d/ -f2)
    sleep 1 # the next backup gets a later second
}

# ros_local NAME [TEXT]: the decoded value of ':local NAME "..."' in TEXT
# (default: $BODY)
ros_local() {
    perl -ne 'if (/^:local '"$1"' "((?:[^"\\]|\\.)*)"$/) { $v = $1;
        $v =~ s/\\([0-9A-F]{2}|.)/length($1) == 2 ? chr(hex($1)) :
            ($1 eq "n" ? "\n" : $1 eq "r" ? "\r" : $1 eq "t" ? "\t" : $1)/ge; print $v }' <<<"${2:-$BODY}"
}

# url_path URL: the part of a URL after http://host:port
url_path() { sed -E 's#^https?://[^/]+##' <<<"$1"; }

# ---- webhooks ----------------------------------------------------------

# rcv_start: starts the test receiver (receiver.py) on a free loopback port;
# sets RCV (its directory: port, secrets, log), RCV_PID and R (its URL)
rcv_start() {
    RCV=$JP_TMP/rcv
    mkdir -p "$RCV"
    python3 "$(dirname "${BASH_SOURCE[0]}")/receiver.py" "$RCV" &
    RCV_PID=$!
    for _ in $(seq 100); do [ -s "$RCV/port" ] && break; sleep 0.05; done
    R="http://127.0.0.1:$(cat "$RCV/port")"
}
rcv_stop() {
    kill "$RCV_PID" 2>/dev/null
    wait "$RCV_PID" 2>/dev/null
}
