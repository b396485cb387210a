# Creating jobs with the header form: every field, every rule, every error.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "edge-router-1")
KEY=$(uuid)
SCRIPT='/ip firewall filter add chain=input action=accept protocol=icmp comment="allow ping"'

# The documented example, field by field.
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" \
    -H 'X-Description: Allow ICMP on the edge' -H 'X-Needs-Ack: false' -H 'X-Backup: true' \
    -H 'X-Express-Execute: true' --data-binary "$SCRIPT"
check "create answers 201" 201 "$STATUS"
check "Content-Type is JSON" "application/json" "$(header Content-Type)"
JOB=$BODY
ID=$(jb .id)
check_true "id is a lower-case UUIDv7" grep -qE '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' <<<"$ID"
check_true "token is 10 base62 characters" grep -qE '^[0-9A-Za-z]{10}$' <<<"$(jb .token)"
check "site_id" "$SITE" "$(jb .site_id)"
check "idempotency_key" "$KEY" "$(jb .idempotency_key)"
check "description" "Allow ICMP on the edge" "$(jb .description)"
check "express_execute" true "$(jb .express_execute)"
check "needs_acknowledgement" false "$(jb .needs_acknowledgement)"
check "should_backup" true "$(jb .should_backup)"
check "associated_backup" null "$(jb .associated_backup)"
check "started_at" null "$(jb .started_at)"
check "completed_at" null "$(jb .completed_at)"
check "failed_at" null "$(jb .failed_at)"
check_true "created_at is RFC 3339 UTC" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' <<<"$(jb .created_at)"
check "script" "$SCRIPT" "$(jb .script)"
check "status" pending "$(jb .status)"
check "exactly the documented fields plus the extensions status, rollout_id, dry_run, expects_reboot, capture_output, backup_sensitive, confirm_within and reverted_at" \
    "associated_backup backup_sensitive capture_output completed_at confirm_within created_at description dry_run expects_reboot express_execute failed_at id idempotency_key log_url needs_acknowledgement reverted_at rollout_id script should_backup site_id started_at status token" \
    "$(jb 'keys_unsorted | sort | join(" ")')"
check "a job queued by hand belongs to no rollout" null "$(jb .rollout_id)"
CREATED=$(jb .created_at)
END=$(date -u -d "@$(( $(date -u -d "$CREATED" +%s) + 1800 ))" +%Y-%m-%dT%H:%M:%SZ)
ENC() { jq -rn --arg v "$1" '$v|@uri' | sed 's/\*/%2A/g'; } # every reserved character encoded
check "log_url" "logs?group=sites&streams=$SITE&start=$(ENC "$CREATED")&end=$(ENC "$END")&filter=$(ENC "{\$.message=*$(jb .token)*}")" "$(jb .log_url)"

api GET "/site/$SITE/job/$ID"
check "retrieve answers 200" 200 "$STATUS"
check "retrieve returns the same job" "$(jq -S . <<<"$JOB")" "$(jq -S . <<<"$BODY")"
api GET "/sites/$SITE/jobs/$ID"
check "plural alias retrieves the same job" "$(jq -S . <<<"$JOB")" "$(jq -S . <<<"$BODY")"

# Defaults: ack true, backup false, express false; no Content-Type is accepted.
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: defaults' \
    --data-binary ':put 1' -H 'Content-Type:'
check "create without Content-Type" 201 "$STATUS"
check "default needs_acknowledgement" true "$(jb .needs_acknowledgement)"
check "default should_backup" false "$(jb .should_backup)"
check "default express_execute" false "$(jb .express_execute)"

# Boolean spellings.
for v in TRUE True 1 false FALSE 0; do
    api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: flags' \
        -H 'Content-Type: text/plain' -H "X-Backup: $v" --data-binary ':put 1'
    want=true; case "$v" in false|FALSE|0) want=false ;; esac
    check "X-Backup: $v" "201 $want" "$STATUS $(jb .should_backup)"
done
for h in X-Needs-Ack X-Backup X-Express-Execute; do
    for v in yes 2 "" "true1"; do
        api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: flags' \
            -H 'Content-Type: text/plain' -H "$h: $v" --data-binary ':put 1'
        [ -z "$v" ] && [ "$STATUS" = 201 ] && continue # curl drops empty headers
        check_error "$h: '$v'" 422 parameter_invalid
    done
done

api GET "/site/$SITE/job"
BEFORE=$(jb length)

# Headers.
api POST "/site/$SITE/job" -H 'X-Description: no key' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "missing X-Idempotency-Key" 400 parameter_missing
api POST "/site/$SITE/job" -H 'X-Idempotency-Key: 1234' -H 'X-Description: bad key' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "malformed X-Idempotency-Key" 422 parameter_invalid
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "missing X-Description" 400 parameter_missing
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: ab' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "2-character description" 422 parameter_invalid
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H "X-Description: $(printf 'a%.0s' $(seq 101))" -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "101-character description" 422 parameter_invalid
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H "X-Description: $(printf 'é%.0s' $(seq 100))" -H 'Content-Type: text/plain' --data-binary ':put 1'
check "100 two-byte characters are 100 characters" 201 "$STATUS"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H $'X-Description: bad \xff\xfe utf8' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "invalid UTF-8 in X-Description" 422 parameter_invalid

# Bodies.
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: empty' -H 'Content-Type: text/plain' --data-binary ''
check_error "empty body" 400 parameter_missing
head -c 10000 /dev/zero | tr '\0' 'x' >"$JP_TMP/s10000"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: max' -H 'Content-Type: text/plain' --data-binary @"$JP_TMP/s10000"
check "10000 characters are accepted" 201 "$STATUS"
check "the script is stored whole" 10000 "$(jb '.script|length')"
for _ in $(seq 10000); do printf 'é'; done >"$JP_TMP/u10000"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: max utf8' -H 'Content-Type: text/plain; charset=utf-8' --data-binary @"$JP_TMP/u10000"
check "10000 two-byte characters are accepted" 201 "$STATUS"
printf 'y' >>"$JP_TMP/s10000"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: over' -H 'Content-Type: text/plain' --data-binary @"$JP_TMP/s10000"
check_error "10001 characters" 413 payload_too_large
head -c 70000 /dev/zero | tr '\0' 'x' >"$JP_TMP/s70000"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: huge' -H 'Content-Type: text/plain' --data-binary @"$JP_TMP/s70000"
check_error "body over 64 KiB (announced)" 413 payload_too_large
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: huge chunked' -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary @"$JP_TMP/s70000"
check_error "body over 64 KiB (chunked)" 413 payload_too_large
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: latin1' -H 'Content-Type: text/plain' --data-binary $':put "caf\xe9"'
check_error "invalid UTF-8 script" 422 parameter_invalid
printf ':put 1\0:put 2' >"$JP_TMP/nul"
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: nul' -H 'Content-Type: text/plain' --data-binary @"$JP_TMP/nul"
check_error "NUL byte in the script" 422 parameter_invalid
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: json' -H 'Content-Type: application/json' --data-binary '{"script":"x"}'
check_error "JSON Content-Type on the header form" 415 unsupported_media_type
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: form' --data ':put 1'
check_error "curl's default form Content-Type" 415 unsupported_media_type
api POST "/site/$SITE/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: latin1' -H 'Content-Type: text/plain; charset=iso-8859-1' --data-binary ':put 1'
check_error "a charset other than UTF-8" 415 unsupported_media_type

# Sites.
api POST "/site/not-a-uuid/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: bad site' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "malformed site id" 422 parameter_invalid
api POST "/site/$(uuid)/job" -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: no site' -H 'Content-Type: text/plain' --data-binary ':put 1'
check_error "unknown site" 404 resource_missing

api GET "/site/$SITE/job"
check "failed requests left no job behind (3 valid ones were made)" "$((BEFORE + 3))" "$(jb length)"

# Idempotency.
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: ${KEY^^}" \
    -H 'X-Description: Allow ICMP on the edge' -H 'X-Needs-Ack: 0' -H 'X-Backup: TRUE' \
    -H 'X-Express-Execute: 1' --data-binary "$SCRIPT"
check "replay (key in upper case) answers 200" 200 "$STATUS"
check "replay returns the original job" "$(jq -S . <<<"$JOB")" "$(jq -S . <<<"$BODY")"
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" \
    -H 'X-Description: Allow ICMP on the edge' -H 'X-Needs-Ack: false' -H 'X-Backup: true' \
    -H 'X-Express-Execute: true' --data-binary "$SCRIPT # changed"
check_error "same key, other script" 409 idempotency_key_reused
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" \
    -H 'X-Description: Allow ICMP on the edge' -H 'X-Needs-Ack: true' -H 'X-Backup: true' \
    -H 'X-Express-Execute: true' --data-binary "$SCRIPT"
check_error "same key, other flags" 409 idempotency_key_reused
SITE2=$(new_site "edge-router-2")
api POST "/site/$SITE2/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" \
    -H 'X-Description: same key elsewhere' --data-binary "$SCRIPT"
check "the same key on another site is another job" 201 "$STATUS"
check_true "with another id" test "$(jb .id)" != "$ID"

# Ids and tokens are unique and ids increase with creation.
api GET "/site/$SITE/job"
check "ids are unique" "$(jb length)" "$(jb '[.[].id] | unique | length')"
check "tokens are unique" "$(jb length)" "$(jb '[.[].token] | unique | length')"
check "newest first: ids descend" "$(jb '[.[].id]')" "$(jb '[.[].id] | sort | reverse')"

jp_finish
