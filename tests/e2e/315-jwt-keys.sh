# RS256 and ES256 tokens from an identity provider (tests/e2e/idp.py, on
# python3-jwt and python3-cryptography: not our code), and every attack on
# the choice of key: alg none, HS256 keyed with the public PEM, a key of
# another kid, DER signatures, truncated ones, bad claims. Bad key files at
# start, and the JWKS re-read on SIGHUP.
. "$(dirname "$0")/lib.sh"
P3=/usr/bin/python3 # Debian's, with python3-jwt and python3-cryptography
K=$JP_TMP/idp
mkdir -p "$K"
idp() { "$P3" "$(dirname "$0")/idp.py" "$K" "$@"; }
idp keys
idp jwks "$K/jwks.json" ec:e1 rsa2:r2
jp_start --jwt-public-key "$K/rsa.pub.pem" --jwks "$K/jwks.json" \
    --jwt-issuer https://idp.example --jwt-audience jobplane

# as TOKEN EXPECTED-STATUS DESCRIPTION: GET /sites with that bearer
as() {
    req GET /sites -H "Authorization: Bearer $1"
    check "$3" "$2" "$STATUS"
}
# hs TEAM SCOPE: the server's own HS256 token, with the iss and aud required here
hs() { "$JP_BIN" token --team "$1" --scope "$2" --issuer https://idp.example --audience jobplane; }
NOW=$(date +%s)
as "$(idp token ok ec e1)" 200 "ES256 with the kid of the JWKS's EC key"
as "$(idp token ok ec -)" 200 "ES256 without kid: the only EC key"
as "$(idp token ok rsa2 r2)" 200 "RS256 with the kid of the JWKS's RSA key"
as "$(idp token ok rsa -)" 401 "RS256 without kid while two RSA keys are configured: refused"
check_true "... saying why" grep -q 'several and no kid' <<<"$BODY"
as "$(hs t1 sites:read)" 200 "HS256 with the server secret still works"
# attacks
as "$(idp token none ec e1)" 401 "alg none"
check_true "... refused for its alg" grep -q 'algorithm must be' <<<"$BODY"
as "$(idp token hs-pem rsa -)" 401 "HS256 keyed with the RSA public key's PEM text"
as "$(idp token hs-pem ec e1)" 401 "HS256 keyed with the EC public key's PEM text, with its kid"
as "$(idp token ok rsa r2)" 401 "RS256 naming kid r2, signed by another RSA key"
check_true "... a bad signature" grep -q 'bad signature' <<<"$BODY"
as "$(idp token ok ec2 e1)" 401 "ES256 naming kid e1, signed by another EC key"
as "$(idp token ok ec zz)" 401 "a kid nobody configured"
check_true "... no key for it" grep -q 'no key for this kid' <<<"$BODY"
as "$(idp token ok ec r2)" 401 "ES256 naming the kid of an RSA key (alg versus key type)"
as "$(idp token ok rsa2 e1)" 401 "RS256 naming the kid of an EC key"
as "$(idp token der ec e1)" 401 "ES256 with a DER signature instead of raw r||s"
as "$(idp token truncated ec e1)" 401 "ES256 with a truncated signature"
as "$(idp token truncated rsa2 r2)" 401 "RS256 with a truncated signature"
as "$(idp token ps256 rsa2 r2)" 401 "PS256 with an RSA key"
as "$(idp token rs384 rsa2 r2)" 401 "RS384 with an RSA key"
as "$(idp token ok p384 -)" 401 "ES256 from a P-384 key nobody configured"
as "$(idp token ok ec e1 "{\"exp\": $((NOW - 5))}")" 401 "expired"
check_true "... as expired" grep -q 'expired' <<<"$BODY"
as "$(idp token ok ec e1 '{"exp": null}')" 401 "without exp"
as "$(idp token ok ec e1 "{\"nbf\": $((NOW + 300))}")" 401 "not yet valid"
as "$(idp token ok ec e1 '{"iss": "https://evil.example"}')" 401 "a wrong iss"
as "$(idp token ok ec e1 '{"iss": null}')" 401 "no iss"
as "$(idp token ok ec e1 '{"aud": "someone-else"}')" 401 "a wrong aud"
as "$(idp token ok ec e1 '{"aud": ["x", "jobplane"]}')" 200 "aud as a list that holds ours"
as "$(idp token ok ec e1 '{"team": null}')" 401 "no team claim"
# the claims decide team and scopes as with HS256
req POST /sites -H "Authorization: Bearer $(idp token ok ec e1 '{"scope": "sites:read"}')" \
    -H 'Content-Type: application/json' -d '{"name":"r1"}'
check "the scope claim of an ES256 token limits it" 403 "$STATUS"
req POST /sites -H "Authorization: Bearer $(idp token ok rsa2 r2)" -H 'Content-Type: application/json' \
    -d '{"name":"from-the-idp"}'
check "an RS256 token creates a site" 201 "$STATUS"
TOK=$(hs t1 sites:read)
api GET /sites
check "... which the team's HS256 token sees" "from-the-idp" "$(jb -r '.[0].name')"
TOK=$(hs t2 sites:read)
api GET /sites
check "... and another team's does not" 0 "$(jb length)"

# SIGHUP: the JWKS is read again; a broken one keeps the previous keys
idp jwks "$K/jwks.json" ec2:e2 rsa2:r2
kill -HUP "$JP_PID"
for _ in $(seq 50); do grep -q 'SIGHUP: 3 public keys' "$JP_TMP/server.log" && break; sleep 0.1; done
as "$(idp token ok ec2 e2)" 200 "after SIGHUP: the new kid e2 is accepted"
as "$(idp token ok ec e1)" 401 "after SIGHUP: the removed kid e1 is refused"
echo '{"keys": [' >"$K/jwks.json"
kill -HUP "$JP_PID"
for _ in $(seq 50); do grep -q 'keeping the previous public keys' "$JP_TMP/server.log" && break; sleep 0.1; done
check_true "a broken JWKS at SIGHUP is reported" grep -q 'keeping the previous public keys.*not a JWKS' "$JP_TMP/server.log"
as "$(idp token ok ec2 e2)" 200 "... and the previous keys still verify"
jp_stop

# one PEM key alone: a token without kid uses it
jp_start --jwt-public-key "$K/ec.pub.pem"
as "$(idp token ok ec - '{"iss": null, "aud": null}')" 200 "--jwt-public-key alone: ES256 without kid"
as "$(idp token ok ec e1 '{"iss": null, "aud": null}')" 401 "... a kid it does not have is refused"
as "$(idp token ok rsa - '{"iss": null, "aud": null}')" 401 "... RS256 with no RSA key configured"
jp_stop

# bad key files at start: a clear error, exit 2, never a crash
bad_start() {
    local desc=$1 want=$2
    shift 2
    local out status=0
    out=$("$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_TMP/never.db" "$@" 2>&1) || status=$?
    check "$desc: exit 2" 2 "$status"
    check_true "$desc: says '$want'" grep -q -- "$want" <<<"$out"
    if grep -qE 'Sanitizer|runtime error' <<<"$out"; then not_ok "$desc: a sanitizer report"; fi
}
echo 'not json' >"$K/bad.json"
head -c 300000 /dev/zero | tr '\0' ' ' >"$K/huge.json"
echo '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' >"$K/oct.json"
idp jwks "$K/dup.json" ec:same ec2:same
idp jwks "$K/p384.json" p384:x
echo 'garbage' >"$K/garbage.pem"
bad_start "--jwks that is not JSON" "not a JWKS document" --jwks "$K/bad.json"
bad_start "--jwks of 300 KB" "larger than" --jwks "$K/huge.json"
bad_start "--jwks with only a symmetric key" "no RS256 or ES256 signing key" --jwks "$K/oct.json"
bad_start "--jwks with a kid twice" "given twice" --jwks "$K/dup.json"
bad_start "--jwks with a P-384 key" "P-256" --jwks "$K/p384.json"
bad_start "--jwks of a missing file" "cannot read" --jwks "$K/missing.json"
bad_start "--jwks of a directory" "cannot read" --jwks "$K"
bad_start "--jwt-public-key of garbage" "no PEM public key" --jwt-public-key "$K/garbage.pem"
bad_start "--jwt-public-key of a private key" "no PEM public key" --jwt-public-key "$K/rsa.key"
bad_start "--jwt-public-key of RSA 1024" "at least 2048" --jwt-public-key "$K/rsa1024.pub.pem"
bad_start "--jwt-public-key of a P-384 key" "P-256 public key" --jwt-public-key "$K/p384.pub.pem"
jp_finish
