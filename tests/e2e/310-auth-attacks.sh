# Credential attacks, each refused with its documented status: forged and
# misused JWTs, another team on every operator endpoint, device tokens out of
# place, signed URLs replayed.
. "$(dirname "$0")/lib.sh"
jp_start --jwt-issuer https://idp.example --jwt-audience jobplane --url-ttl 3
mint() { "$JP_BIN" token --team "${1:-t1}" --issuer "${2:-https://idp.example}" --audience "${3:-jobplane}" --ttl "${4:-600}"; }
TOK=$(mint)
adopt "victim"
VSITE=$SITE
VDTOK=$DTOK
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" "$BASE/backup/$VSITE"
VJOB=$(new_job "$VSITE" ':put 1' | jq -r .id)
new_job "$VSITE" ':put 2' >/dev/null
poll # hands out the backup job, the oldest
VWRAP=$BODY
BAK=$(url_path "$(ros_local jpBak "$VWRAP")")
adopt "attacker" # (while the signed URLs are fresh: --url-ttl is 3 s here)
ADTOK=$DTOK
ASITE=$SITE
req POST "$(sed "s#/backup/$VSITE/#/backup/$ASITE/#" <<<"$BAK")&offset=0&total=3" -H "Authorization: Bearer $ADTOK" --data-binary abc
check_error "a victim's signed backup URL under the attacker's site" 404 resource_missing

b64() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
PAYLOAD=$(b64 "{\"team\":\"t1\",\"scope\":\"jobs:read jobs:write sites:read sites:write backups:read\",\"exp\":$((now + 600)),\"iss\":\"https://idp.example\",\"aud\":\"jobplane\"}")
hs256() { # hs256 HEADER_JSON PAYLOAD_B64 KEY: a token signed with KEY
    local h s
    h=$(b64 "$1")
    s=$(printf '%s.%s' "$h" "$2" | openssl dgst -sha256 -hmac "$3" -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
    echo "$h.$2.$s"
}
attack() { # attack DESC TOKEN: GET /sites with it must answer 401
    req GET /sites -H "Authorization: Bearer $2"
    check_error "$1" 401 unauthenticated
}
attack "alg none" "$(b64 '{"alg":"none","typ":"JWT"}').$PAYLOAD."
attack "alg None" "$(b64 '{"alg":"None"}').$PAYLOAD."
attack "no alg" "$(hs256 '{"typ":"JWT"}' "$PAYLOAD" "$JOBPLANE_SECRET")"
attack "RS256 header, HMAC with the secret as the public key" "$(hs256 '{"alg":"RS256","typ":"JWT"}' "$PAYLOAD" "$JOBPLANE_SECRET")"
attack "ES256 header" "$(hs256 '{"alg":"ES256"}' "$PAYLOAD" "$JOBPLANE_SECRET")"
attack "HS256 with another key" "$(hs256 '{"alg":"HS256"}' "$PAYLOAD" "not-the-secret-0123456789")"
attack "HS256 with an empty key" "$(hs256 '{"alg":"HS256"}' "$PAYLOAD" "")"
attack "expired" "$(mint t1 https://idp.example jobplane 1; sleep 2)"
attack "exp missing" "$(hs256 '{"alg":"HS256"}' "$(b64 '{"team":"t1","iss":"https://idp.example","aud":"jobplane"}')" "$JOBPLANE_SECRET")"
attack "not yet valid (nbf in an hour)" "$(hs256 '{"alg":"HS256"}' "$(b64 "{\"team\":\"t1\",\"exp\":$((now + 7200)),\"nbf\":$((now + 3600)),\"iss\":\"https://idp.example\",\"aud\":\"jobplane\"}")" "$JOBPLANE_SECRET")"
attack "wrong issuer" "$(mint t1 https://evil.example)"
attack "wrong audience" "$(mint t1 https://idp.example other)"
attack "missing team" "$(hs256 '{"alg":"HS256"}' "$(b64 "{\"exp\":$((now + 600)),\"iss\":\"https://idp.example\",\"aud\":\"jobplane\"}")" "$JOBPLANE_SECRET")"
attack "team 65 bytes long" "$(hs256 '{"alg":"HS256"}' "$(b64 "{\"team\":\"$(printf 'x%.0s' $(seq 65))\",\"exp\":$((now + 600)),\"iss\":\"https://idp.example\",\"aud\":\"jobplane\"}")" "$JOBPLANE_SECRET")"
attack "a valid token with its signature cut" "${TOK%.*}."
attack "the device token as an operator token" "$VDTOK"
req GET /sites -H "Authorization: Bearer $(hs256 '{"alg":"HS256"}' "$PAYLOAD" "$JOBPLANE_SECRET")"
check "the same claims, correctly signed, are accepted" 200 "$STATUS"

# Another team on every operator endpoint: 404, never 403, never data.
TOK=$(mint t2)
F=1700000000.rsc
for e in "GET /sites/$VSITE" "DELETE /sites/$VSITE" "POST /sites/$VSITE/device-token" \
    "GET /sites/$VSITE/mikrotik-stats?start_date=2026-01-01&end_date=2026-01-02" \
    "GET /site/$VSITE/job" "GET /site/$VSITE/job/$VJOB" "DELETE /site/$VSITE/job/$VJOB" \
    "POST /site/$VSITE/job" "GET /sites/$VSITE/jobs" "GET /sites/$VSITE/jobs/$VJOB" \
    "DELETE /sites/$VSITE/jobs/$VJOB" "POST /sites/$VSITE/jobs" "POST /api/asynchronous/$VSITE" \
    "GET /api/routers/$VSITE/jobs" "GET /backup/$VSITE" "POST /backup/$VSITE" "GET /backup/$VSITE/$F" \
    "GET /sites/$VSITE/backups/$F/diff/$F" \
    "GET /logs?group=sites&streams=$VSITE&start=2020-01-01T00:00:00Z&end=2099-01-01T00:00:00Z"; do
    set -- $e
    case "$1 $2" in
    "POST "*/job | "POST "*/jobs) api "$1" "$2" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: intrude' --data-binary ':put x' ;;
    "POST /api/asynchronous/"*) api "$1" "$2" -H 'Content-Type: application/json' -d '{"description":"intrude","script":"x"}' ;;
    *) api "$1" "$2" ;;
    esac
    check_error "team t2: $1 ${2%%\?*}" 404 resource_missing
done
TOK=$(mint t1)
api GET "/site/$VSITE/job"
check "team t1's jobs are untouched" 3 "$(jb length)"
api GET "/sites/$VSITE"
check "team t1's site is untouched" null "$(jb .deleted_at)"

# Device tokens out of place.
DTOK=$ADTOK
poll
check "the attacker's token polls its own site only" "# jobplane: nothing to do" "$(head -1 <<<"$BODY")"
api POST "/sites/$ASITE/device-token"
ROTATED=$ADTOK
DTOK=$ROTATED
poll
check_error "a device token after rotation" 401 unauthenticated
req POST /notify/delete -H "Authorization: Bearer $ROTATED"
check_error "notify/delete with a rotated token" 401 unauthenticated
adopt "leaving"
LDTOK=$DTOK
api DELETE "/sites/$SITE"
poll
req POST /notify/delete -H "Authorization: Bearer $LDTOK"
poll
check_error "a device token after the site's teardown" 401 unauthenticated

# Signed URLs replayed for another job, another status, after expiry.
DTOK=$VDTOK
VBUSY=$(url_path "$(ros_local jpBusy "$VWRAP")")
VJ=$(sed -E 's#/job/([^/]*)/.*#\1#' <<<"$VBUSY")
OTHER=$(db_exec "SELECT id FROM jobs WHERE site_id='$VSITE' AND id <> '$VJ' LIMIT 1")
req GET "/job/$OTHER/update?${VBUSY#*\?}"
check_error "a signed URL replayed for another job" 403 forbidden
req GET "$(sed 's/status=busy/status=done/' <<<"$VBUSY")"
check_error "a signed URL replayed for another status" 403 forbidden
req GET "$(sed 's/status=busy/status=fail/' <<<"$VBUSY")"
check_error "a signed URL replayed for fail" 403 forbidden
sleep 3
req GET "$VBUSY"
check_error "a signed URL after expiry" 403 forbidden
req POST "$BAK&offset=0&total=3" --data-binary abc
check_error "a signed backup URL after expiry" 403 forbidden
jp_finish
