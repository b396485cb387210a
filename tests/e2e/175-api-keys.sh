# API keys as the seed system has them: created at
# /teams/{teamId}/api-credentials, {tokenId}:{teamId}:{secret} shown once,
# Bearer credentials everywhere a JWT is, their scopes no wider than their
# creator's, revoked at once, expiring, rate-limited per key, and stored as
# a hash only.
. "$(dirname "$0")/lib.sh"
jp_start --api-key-rate-limit 30
ALL="jobs:read jobs:write sites:read sites:write backups:read webhooks:read webhooks:write keys:write"
TOK=$(token t1 "$ALL")
C=/teams/t1/api-credentials
JH=(-H 'Content-Type: application/json')

# mk JSON: creates a key with TOK; its answer in BODY
mk() { api POST "$C" "${JH[@]}" -d "$1"; }
mk '{"name":"ci","scopes":["sites:read","jobs:read","jobs:write"]}'
check "create: 201" 201 "$STATUS"
KEY=$(jb -r .api_key)
KID=$(jb -r .id)
check_true "the key is {tokenId}:{teamId}:{secret}, a 62-character secret" \
    grep -qE "^$KID:t1:[0-9A-Za-z]{62}\$" <<<"$KEY"
check "the seed's fields" "id,name,team_id,abilities,expires_at,last_used_at,created_at,updated_at,api_key" \
    "$(jb -r 'keys_unsorted | join(",")')"
check "abilities are its scopes (in the order of API.md)" '["jobs:read","jobs:write","sites:read"]' "$(jb -c .abilities)"
check "team_id, expires_at, last_used_at" "t1 null null" "$(jb -r '"\(.team_id) \(.expires_at) \(.last_used_at)"')"
SECRET=${KEY##*:}

# the key as a Bearer credential
req GET /sites -H "Authorization: Bearer $KEY"
check "the key reads sites" 200 "$STATUS"
req POST /sites -H "Authorization: Bearer $KEY" "${JH[@]}" -d '{"name":"k"}'
check "... but may not create one (no sites:write)" "403 forbidden" "$STATUS $(jb -r .code)"
api POST /sites "${JH[@]}" -d '{"name":"keyed"}'
S=$(jb -r .id)
req POST "/site/$S/job" -H "Authorization: Bearer $KEY" -H 'Content-Type: text/plain' \
    -H 'X-Description: by key' -H "X-Idempotency-Key: $(uuid)" --data-binary ':put 1'
check "the key queues a job (jobs:write)" 201 "$STATUS"
req GET "/site/$S/job" -H "Authorization: Bearer $KEY"
check "... and lists it" "1 by key" "$(jb length) $(jb -r '.[0].description')"

# the listing: no secret, and when it was last used
api GET "$C"
check "list: one key" "1 $KID" "$(jb length) $(jb -r '.[0].id')"
check "list: no api_key, no secret" "null" "$(jb -r '.[0].api_key')"
check_true "list: the secret appears nowhere" body_lacks "$SECRET"
check_true "list: last_used_at is set after use" grep -qE '^20[0-9]{2}-' <<<"$(jb -r '.[0].last_used_at')"

# only a hash is stored
check "the database holds no secret" 0 "$(db_exec "SELECT count(*) FROM api_keys WHERE secret_hash LIKE '%$SECRET%' OR name LIKE '%$SECRET%'")"
check "... but the secret's SHA-256" 1 "$(db_exec "SELECT count(*) FROM api_keys WHERE secret_hash='$(printf '%s' "$SECRET" | sha256sum | cut -d' ' -f1)'")"

# scopes: never beyond the creator's
TOK=$(token t1 "sites:read keys:write")
mk '{"name":"wider","scopes":["sites:read","jobs:write"]}'
check "a key with a scope its creator lacks: 403" "403 forbidden" "$STATUS $(jb -r .code)"
check_true "... naming the scope" grep -q "jobs:write" <<<"$BODY"
mk '{"name":"default"}'
check "without scopes: the creator's" '201 ["sites:read","keys:write"]' "$STATUS $(jb -c .abilities)"
DKEY=$(jb -r .api_key)
# a key with keys:write creates keys, within its own scopes
req POST "$C" -H "Authorization: Bearer $DKEY" "${JH[@]}" -d '{"name":"child","scopes":["sites:write"]}'
check "a key may not create a wider key" 403 "$STATUS"
req POST "$C" -H "Authorization: Bearer $DKEY" "${JH[@]}" -d '{"name":"child","scopes":["sites:read"]}'
check "... but a narrower one" 201 "$STATUS"
TOK=$(token t1 "sites:read")
mk '{"name":"x"}'
check "creating keys needs keys:write" 403 "$STATUS"
TOK=$(token t1 "$ALL")

# bad input
mk '{}'
check "no name" "400 parameter_missing" "$STATUS $(jb -r .code)"
mk "{\"name\":\"$(head -c 101 /dev/zero | tr '\0' n)\"}"
check "a name of 101 characters" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk "{\"name\":\"$(head -c 100 /dev/zero | tr '\0' n)\"}"
check "a name of 100 characters" 201 "$STATUS"
mk '{"name":"x","scopes":["sites:read","root"]}'
check "an unknown scope" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk '{"name":"x","scopes":[]}'
check "no scopes at all" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk '{"name":"x","scopes":"sites:read"}'
check "scopes as a string" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk "{\"name\":\"x\",\"expires_at\":\"$(date -u -d '+23 hours' +%Y-%m-%dT%H:%M:%SZ)\"}"
check "expires_at in 23 hours" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk '{"name":"x","expires_at":"soon"}'
check "expires_at not a time" "422 parameter_invalid" "$STATUS $(jb -r .code)"
mk '{"name":"x","expires_at":1234}'
check "expires_at a number" "422 parameter_invalid" "$STATUS $(jb -r .code)"
EXP=$(date -u -d '+3 days' +%Y-%m-%d)
mk "{\"name\":\"expiring\",\"expires_at\":\"$EXP\"}"
check "expires_at as a date" "201 ${EXP}T00:00:00Z" "$STATUS $(jb -r .expires_at)"
XKEY=$(jb -r .api_key)
XID=$(jb -r .id)
mk "{\"name\":\"x\",\"expires_at\":null}"
check "expires_at null: never" "201 null" "$STATUS $(jb -r .expires_at)"
api POST /teams/t2/api-credentials "${JH[@]}" -d '{"name":"x"}'
check "another team's path: 404" "404 resource_missing" "$STATUS $(jb -r .code)"
api GET /teams/t2/api-credentials
check "another team's list: 404" 404 "$STATUS"

# expiry (moved into the past in the database: nobody may create one so)
req GET /sites -H "Authorization: Bearer $XKEY"
check "an expiring key works before it expires" 200 "$STATUS"
db_exec "UPDATE api_keys SET expires_at=$(($(date +%s) - 1)) WHERE id='$XID'" >/dev/null
req GET /sites -H "Authorization: Bearer $XKEY"
check "an expired key: 401" "401 unauthenticated" "$STATUS $(jb -r .code)"
check_true "... saying so" grep -q "expired" <<<"$BODY"

# malformed and wrong keys: 401, and the server keeps serving
T2=$(token t2 "$ALL")
req POST /teams/t2/api-credentials -H "Authorization: Bearer $T2" "${JH[@]}" -d '{"name":"other"}'
OKEY=$(jb -r .api_key)
OID=$(jb -r .id)
for bad in "$KID:t1" "$KID:t1:$SECRET:x" "not-a-uuid-at-all-0000000000000000000:t1:$SECRET" \
    "$KID:t2:$SECRET" "$KID::$SECRET" "$KID:t1:${SECRET:0:61}" "$KID:t1:${SECRET}x" \
    "$KID:t1:${SECRET:0:61}!" "$KID:t1:$(printf 'A%.0s' $(seq 62))" "$OID:t1:${OKEY##*:}" \
    "$(uuid):t1:$SECRET" ":t1:$SECRET" "$KID:t1:" "$KID:$(head -c 80 /dev/zero | tr '\0' t):$SECRET"; do
    req GET /sites -H "Authorization: Bearer $bad"
    check "a wrong key '${bad:0:60}': 401" "401 unauthenticated" "$STATUS $(jb -r .code)"
done
req GET /sites -H "Authorization: Bearer $OKEY"
check "team t2's key works for t2" 200 "$STATUS"
req GET "/site/$S/job" -H "Authorization: Bearer $OKEY"
check "... and sees nothing of t1" 404 "$STATUS"
req GET /teams/t1/api-credentials -H "Authorization: Bearer $OKEY"
check "... nor t1's keys" 404 "$STATUS"

# revocation: at once
api DELETE "$C/$KID"
check "delete: 204" 204 "$STATUS"
req GET /sites -H "Authorization: Bearer $KEY"
check "a revoked key is refused at once" "401 unauthenticated" "$STATUS $(jb -r .code)"
api DELETE "$C/$KID"
check "delete again: 404" 404 "$STATUS"
api DELETE "$C/not-a-uuid"
check "delete a non-UUID: 422" 422 "$STATUS"
api DELETE "/teams/t2/api-credentials/$OID"
check "delete another team's key: 404" 404 "$STATUS"
req GET /sites -H "Authorization: Bearer $OKEY"
check "... which still works" 200 "$STATUS"

# the rate limit: 30 a minute per key (this server), JWTs unlimited
mk '{"name":"busy","scopes":["sites:read"]}'
BKEY=$(jb -r .api_key)
# until the first 429: a burst of 30, plus the tokens refilled (one every 2 s)
# while the requests ran, which a loaded machine makes more than none
codes="" t0=$(date +%s.%N)
for _ in $(seq 60); do
    req GET /sites -H "Authorization: Bearer $BKEY"
    codes+="$STATUS "
    [ "$STATUS" = 429 ] && break
done
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a + 1 }')
passed=$(grep -o 200 <<<"$codes" | wc -l)
check "a burst of 30 passes, then 429" "200 429" "$(cut -d' ' -f1 <<<"$codes") $(awk '{ print $NF }' <<<"$codes")"
check_true "  30 requests passed, plus at most one per 2 s of the $took s they took: $passed" \
    test "$passed" -ge 30 -a "$passed" -le $((30 + (took + 1) / 2))
check "... answered 429 rate_limited" "429 rate_limited" "$STATUS $(jb -r .code)"
RA=$(header Retry-After)
check_true "... with a Retry-After of 1 to 3 s (a token every 2 s): '$RA'" test "${RA:-0}" -ge 1 -a "${RA:-0}" -le 3
req GET /sites -H "Authorization: Bearer $OKEY"
check "another key has its own budget" 200 "$STATUS"
codes=""
for _ in $(seq 40); do codes+="$(curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $TOK" "$BASE/sites")"; done
check "JWTs are not limited without --rate-limit" 40 "$(grep -o 200 <<<"$codes" | wc -l)"

# last_used_at survives a restart (written in batches, and at shutdown)
jp_restart
api GET "$C"
check "after a restart every used key has last_used_at" 0 \
    "$(jb '[.[] | select(.name == "busy" or .name == "default") | select(.last_used_at == null)] | length')"
req GET /sites -H "Authorization: Bearer $BKEY"
check "keys work across a restart" 200 "$STATUS"
jp_finish
