# Health, unknown paths, methods, the error shape and the error docs.
. "$(dirname "$0")/lib.sh"
jp_start

req GET /healthz
check "healthz answers 200 without auth" 200 "$STATUS"
check "healthz body" "ok 0" "$(jb '"\(.status) \(.held_polls)"')"

req GET /no/such/path
check_error "unknown path" 404 resource_missing

req PUT /healthz
check_error "PUT on a GET-only path" 405 method_not_allowed
check "405 names the allowed methods" "GET" "$(header Allow)"

req PATCH /site/$(uuid)/job
check_error "PATCH on the job collection" 405 method_not_allowed
check "Allow lists POST and GET" "POST, GET" "$(header Allow)"

req GET /errors/job_already_started
check "error doc answers" 200 "$STATUS"
check "error doc status" 409 "$(jb .status)"
req GET /errors/nonsense
check_error "unknown error doc" 404 resource_missing

# Keep-alive: two requests over one connection.
out=$(curl -sv "$BASE/healthz" "$BASE/healthz" 2>&1)
check_true "keep-alive reuses the connection" grep -q 'Re-using existing connection' <<<"$out"

# Every error is JSON with the four fields, never SQL or paths.
req GET "/site/not-a-uuid/job" -H "Authorization: Bearer $(token t1)"
check_error "malformed site id" 422 parameter_invalid
check_true "no internals in the message" body_lacks 'sqlite|select|/tmp|\.c:' 

# The OpenAPI document, as the repository has it, without credentials.
req GET /openapi.json
check "GET /openapi.json: 200, JSON" "200 application/json" "$STATUS $(header Content-Type)"
check_true "the document of the repository, byte for byte" cmp -s "$JP_TMP/body" "$(dirname "$0")/../../docs/openapi.json"
jp_finish
