# Sites, operator side: create, list, retrieve, validation.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 30
TOK=$(token t1)

api POST /sites -H 'Content-Type: application/json' -d '{"name":"Branch office — Zürich"}'
check "create answers 201" 201 "$STATUS"
SITE=$(jb .id)
SITE_JSON=$BODY
check "name (UTF-8 kept)" "Branch office — Zürich" "$(jb .name)"
check "the documented fields, plus bootstrap on create" \
    "adopted_at adopted_from architecture_name board_name bootstrap bootstrap_expires_at created_at deleted_at expected_serial has_pulse id identity last_seen_at last_seen_from model name serial_number software_version updated_at uptime" \
    "$(jb 'keys | join(" ")')"
check_true "bootstrap is one RouterOS line fetching /adopt/{token}" \
    grep -qE "^\{:local dm .*; :local s \"\"; .*; :local r \[/tool fetch url=\"$BASE/adopt/[0-9A-Za-z]{22}\" .*\}\$" <<<"$(jb .bootstrap)"
check_true "... which checks device-mode first" grep -qF '{:local dm [:toarray ""]; :do {:set dm [[:parse "/system device-mode get"]]} on-error={};' <<<"$(jb .bootstrap)"
check "... and pins no CA over plain http" 0 "$(jb -r .bootstrap | grep -c /certificate)"
check "has_pulse false before any poll" false "$(jb .has_pulse)"
check "device fields are null" "null null null null" "$(jb '"\(.last_seen_at) \(.identity) \(.software_version) \(.uptime)"')"
check "deleted_at null" null "$(jb .deleted_at)"

api GET "/sites/$SITE"
check "retrieve (without the one-time bootstrap)" "$(jq -S 'del(.bootstrap)' <<<"$SITE_JSON")" "$(jq -S . <<<"$BODY")"
api POST /sites -H 'Content-Type: application/json' -d '{"name":"second"}'
api GET /sites
check "list has both, oldest first" '["Branch office — Zürich","second"]' "$(jb -c '[.[].name]')"

api POST /sites -H 'Content-Type: application/json' -d '{}'
check_error "missing name" 400 parameter_missing
api POST /sites -H 'Content-Type: application/json' -d '{"name":""}'
check_error "empty name" 422 parameter_invalid
api POST /sites -H 'Content-Type: application/json' -d "{\"name\":\"$(printf 'n%.0s' $(seq 101))\"}"
check_error "101-character name" 422 parameter_invalid
api POST /sites -H 'Content-Type: application/json' -d '{"name":7}'
check_error "numeric name" 422 parameter_invalid
api POST /sites -d '{"name":"x"}'
check_error "form Content-Type" 415 unsupported_media_type
api POST /sites -H 'Content-Type: application/json' -d '{"name":'
check_error "truncated JSON" 422 parameter_invalid
api POST /sites -H 'Content-Type: application/json' -d "{\"name\":\"$(head -c 5000 /dev/zero | tr '\0' x)\"}"
check_error "a body over the sites limit" 413 payload_too_large
api GET /sites/nope
check_error "malformed site id" 422 parameter_invalid
api GET "/sites/$(uuid)"
check_error "unknown site" 404 resource_missing
api GET /sites
check "refused creates made nothing" 2 "$(jb length)"

jp_finish
