# The JSON ("asynchronous") API: POST /api/asynchronous/{id}, GET /api/routers/{id}/jobs.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "json")

api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' \
    -d '{"description":"Set identity","script":"/system identity set name=edge-1"}'
check "create answers 200" 200 "$STATUS"
check "status success" success "$(jb .status)"
check "target is the site" "$SITE" "$(jb .data.target)"
check "notify_url null" null "$(jb .data.notify_url)"
check_true "idempotency_key is a UUID" grep -qE '^[0-9a-f-]{36}$' <<<"$(jb .data.idempotency_key)"
check_true "date is RFC 3339" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' <<<"$(jb .data.date)"
ID=$(jb .data.request_id)
KEY=$(jb .data.idempotency_key)
api GET "/site/$SITE/job/$ID"
check "request_id is the job id" 200 "$STATUS"
check "needs_acknowledgement defaults to false here" false "$(jb .needs_acknowledgement)"
check "should_backup defaults to false" false "$(jb .should_backup)"
check "express_execute defaults to false" false "$(jb .express_execute)"
check "the key is the job's" "$KEY" "$(jb .idempotency_key)"
check "script" "/system identity set name=edge-1" "$(jb .script)"

api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json; charset=utf-8' \
    -d '{"description":"All flags","script":":put 1","make_backup":true,"express_execute":true,"needs_acknowledgement":true,"notify_url":"https://hooks.example.net/jobplane?x=1"}'
check "create with every field" 200 "$STATUS"
check "notify_url is returned" "https://hooks.example.net/jobplane?x=1" "$(jb .data.notify_url)"
api GET "/site/$SITE/job/$(jb .data.request_id)"
check "flags are stored" "true true true" "$(jb '"\(.should_backup) \(.express_execute) \(.needs_acknowledgement)"')"

# A client key makes the JSON form idempotent too.
K=$(uuid)
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -H "X-Idempotency-Key: $K" -d '{"description":"keyed","script":":put 2"}'
FIRST=$(jb .data.request_id)
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -H "X-Idempotency-Key: $K" -d '{"description":"keyed","script":":put 2"}'
check "a keyed repeat returns the same job" "$FIRST" "$(jb .data.request_id)"
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -H "X-Idempotency-Key: $K" -d '{"description":"keyed","script":":put 3"}'
check_error "a keyed repeat with another script" 409 idempotency_key_reused

api GET "/api/routers/$SITE/jobs"
BEFORE=$(jb length)
check "router jobs lists them" 3 "$BEFORE"

api POST "/api/asynchronous/$SITE" -d '{"description":"x","script":"y"}'
check_error "form Content-Type" 415 unsupported_media_type
api POST "/api/asynchronous/$SITE" -H 'Content-Type: text/plain' -d '{"description":"abc","script":"y"}'
check_error "text/plain Content-Type" 415 unsupported_media_type
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json'
check_error "no body" 400 parameter_missing
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":"y"'
check_error "truncated JSON" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":"y"} trailing'
check_error "trailing garbage" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '["description","script"]'
check_error "an array instead of an object" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d "$(printf '[%.0s' $(seq 5000))"
check_error "5000 levels of nesting" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","description":"def","script":"y"}'
check_error "duplicate keys" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"script":"y"}'
check_error "missing description" 400 parameter_missing
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc"}'
check_error "missing script" 400 parameter_missing
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":""}'
check_error "empty script" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"ab","script":"y"}'
check_error "short description" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":123,"script":"y"}'
check_error "numeric description" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":"a\u0000b"}'
check_error "NUL in the script" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":"y","make_backup":"true"}'
check_error "a string where a boolean belongs" 422 parameter_invalid
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d '{"description":"abc","script":"y","needs_acknowledgement":1}'
check_error "a number where a boolean belongs" 422 parameter_invalid
for u in 'ftp://x.example' 'https://a b' 'javascript:alert(1)' '' ; do
    api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d "{\"description\":\"abc\",\"script\":\"y\",\"notify_url\":\"$u\"}"
    check_error "notify_url '$u'" 422 parameter_invalid
done
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -d "{\"description\":\"abc\",\"script\":\"$(head -c 10001 /dev/zero | tr '\0' x)\"}"
check_error "script over 10000 characters" 413 payload_too_large
api POST "/api/asynchronous/$SITE" -H 'Content-Type: application/json' -H 'X-Idempotency-Key: nope' -d '{"description":"abc","script":"y"}'
check_error "malformed client key" 422 parameter_invalid
api POST "/api/asynchronous/$(uuid)" -H 'Content-Type: application/json' -d '{"description":"abc","script":"y"}'
check_error "unknown site" 404 resource_missing
api GET "/api/routers/$SITE/jobs"
check "refused requests created nothing" "$BEFORE" "$(jb length)"

jp_finish
