# Operator authentication: JWT rules, scopes, and team isolation (404, never 403).
. "$(dirname "$0")/lib.sh"
jp_start

req GET /sites
check_error "no Authorization header" 401 unauthenticated
check_true "401 carries WWW-Authenticate" test -n "$(header WWW-Authenticate)"

req GET /sites -H "Authorization: Basic dTpw"
check_error "Basic instead of Bearer" 401 unauthenticated
req GET /sites -H "Authorization: Bearer garbage"
check_error "garbage token" 401 unauthenticated
req GET /sites -H "Authorization: Bearer "
check_error "empty bearer" 401 unauthenticated

OTHER=$(JOBPLANE_SECRET=another-secret-0123456789abcdef "$JP_BIN" token --team t1)
req GET /sites -H "Authorization: Bearer $OTHER"
check_error "token signed with another secret" 401 unauthenticated

# alg none: header {"alg":"none"} and the claims of a real token, no signature
REAL=$(token t1)
PAYLOAD=$(cut -d. -f2 <<<"$REAL")
req GET /sites -H "Authorization: Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.$PAYLOAD."
check_error "alg none" 401 unauthenticated
# alg HS512 header over the same payload and signature
SIG=$(cut -d. -f3 <<<"$REAL")
req GET /sites -H "Authorization: Bearer eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.$PAYLOAD.$SIG"
check_error "alg switched to HS512" 401 unauthenticated

SHORT=$(token t1 "sites:read" 1)
sleep 2
req GET /sites -H "Authorization: Bearer $SHORT"
check_error "expired token" 401 unauthenticated
check_true "message says expired" grep -q expired <<<"$(jb .message)"

# Scopes: read-only tokens cannot write, and vice versa.
TOK=$(token t1 "sites:read jobs:read")
req POST /sites -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -d '{"name":"x"}'
check_error "sites:write missing" 403 forbidden
TOK=$(token t1)
SITE=$(new_site "team one site")
JOB=$(new_job "$SITE" | jq -r .id)
RO=$(token t1 "jobs:read sites:read")
req POST "/site/$SITE/job" -H "Authorization: Bearer $RO" -H "X-Idempotency-Key: $(uuid)" \
    -H 'X-Description: nope' --data-binary 'x'
check_error "jobs:write missing on create" 403 forbidden
req DELETE "/site/$SITE/job/$JOB" -H "Authorization: Bearer $RO"
check_error "jobs:write missing on cancel" 403 forbidden
WO=$(token t1 "jobs:write")
req GET "/site/$SITE/job" -H "Authorization: Bearer $WO"
check_error "jobs:read missing on list" 403 forbidden

# Team isolation: team two sees nothing of team one, as if it did not exist.
TOK=$(token t2)
api GET "/sites/$SITE"
check_error "other team's site" 404 resource_missing
api GET "/site/$SITE/job"
check_error "other team's job list" 404 resource_missing
api GET "/site/$SITE/job/$JOB"
check_error "other team's job" 404 resource_missing
api DELETE "/site/$SITE/job/$JOB"
check_error "other team's cancel" 404 resource_missing
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: intrude' \
    -H 'Content-Type: text/plain' --data-binary '/system reboot'
check_error "other team's create" 404 resource_missing
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' \
    -d '{"description":"intrude","script":"/system reboot"}'
check_error "other team's JSON create" 404 resource_missing
api GET "/api/routers/$SITE/jobs"
check_error "other team's router jobs" 404 resource_missing
api GET /sites
check "other team lists no sites" 0 "$(jb length)"
TOK=$(token t1)
api GET "/site/$SITE/job"
check "team one still has exactly its one job" 1 "$(jb length)"

jp_finish
