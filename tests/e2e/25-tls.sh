# Native HTTPS: --tls-cert/--tls-key with a throwaway CA (openssl CLI); the
# base URL and every URL given to routers become https; TLS 1.2 and 1.3 only,
# no renegotiation; plain HTTP on the port is refused cleanly; the
# certificate is replaced on SIGHUP without dropping a connection; bad files
# at start and at SIGHUP get a clear answer.
. "$(dirname "$0")/lib.sh"
P3=/usr/bin/python3
C=$JP_TMP/pki
mkdir -p "$C"
ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" \
    -days 2 -subj /CN=jobplane-test-ca
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$C/ext"
# cert NAME SERIAL: a server certificate signed by the CA
cert() {
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj /CN=127.0.0.1
    ossl x509 -req -in "$C/$1.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial "$2" -out "$C/$1.pem" -days 2 \
        -extfile "$C/ext"
}
cert one 4097
cert two 8193
cp "$C/one.pem" "$C/srv.pem"
cp "$C/one.key" "$C/srv.key"
jp_start --tls-cert "$C/srv.pem" --tls-key "$C/srv.key"
BASE="https://127.0.0.1:$JP_PORT"
export CURL_HOME=$JP_TMP
echo "cacert = $C/ca.pem" >"$JP_TMP/.curlrc"
TOK=$(token t1)
tlsp() { "$P3" "$(dirname "$0")/tls.py" "$JP_PORT" "$C/ca.pem" "$@"; }

req GET /healthz
check "https with the CA: 200" 200 "$STATUS"
api GET /sites/nope
check_true "the base URL is https (doc_url)" grep -q "\"doc_url\":\"https://127.0.0.1:$JP_PORT/errors/" <<<"$BODY"
api POST /sites -H 'Content-Type: application/json' -d '{"name":"tls"}'
check_true "the bootstrap line fetches over https" grep -q "https://127.0.0.1:$JP_PORT/adopt/" <<<"$(jb -r .bootstrap)"
adopt "tls-router"
check_true "the adoption's poll script talks https" grep -q "https://127.0.0.1:$JP_PORT/poll" <<<"$ADOPTION"
check "... and never plain http" 0 "$(grep -c "http://" <<<"$ADOPTION")"
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: over tls' \
    -H "X-Idempotency-Key: $(uuid)" --data-binary ':put 1'
poll
check_true "a job's signed report URLs are https" grep -q "https://127.0.0.1:$JP_PORT/job/" <<<"$BODY"
check "... all of them" 0 "$(grep -c "http://" <<<"$BODY")"

# refused: plain HTTP, old protocol versions, renegotiation
rc=0
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$JP_PORT/healthz" || rc=$?
check_true "plain HTTP on the TLS port: the connection closes (curl $rc)" test "$rc" = 52 -o "$rc" = 56
check "... and the server keeps serving" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")"
probe() { echo | timeout 5 openssl s_client -connect "127.0.0.1:$JP_PORT" -CAfile "$C/ca.pem" "$@" 2>&1; }
for v in tls1 tls1_1; do # (the client allows them: SECLEVEL=0)
    out=$(probe "-$v" -cipher 'DEFAULT@SECLEVEL=0')
    check_true "-$v is refused by the server" grep -q 'no peer certificate available' <<<"$out"
    check "... no certificate was sent" 0 "$(grep -c 'BEGIN CERTIFICATE' <<<"$out")"
done
check_true "TLS 1.2 is served" grep -q 'Protocol *: TLSv1.2' <<<"$(probe -tls1_2)"
check_true "TLS 1.3 is served" grep -q 'TLSv1.3' <<<"$(probe -tls1_3)"
# reneg [R]: a TLS 1.2 session that asks to renegotiate (R) or not, then a request
reneg() {
    (sleep 1; printf '%s' "${1:+R
}"; sleep 1; printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1) |
        timeout 6 openssl s_client -connect "127.0.0.1:$JP_PORT" -CAfile "$C/ca.pem" -tls1_2 2>&1
}
check "without renegotiation the session's request is answered" 1 "$(reneg | grep -c 'HTTP/1.1 200')"
out=$(reneg R)
check_true "a client's renegotiation (TLS 1.2) is not served" grep -q RENEGOTIATING <<<"$out"
check "... the connection closes, nothing more is answered" 0 "$(grep -c 'HTTP/1.1 200' <<<"$out")"

# framing attacks are refused over TLS too
out=$(tlsp raw 'POST /sites HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
check "Content-Length with Transfer-Encoding over TLS: one 400, closed" "1 0 1" \
    "$(grep -c '^HTTP/1.1 400' <<<"$out") $(grep -c '^HTTP/1.1 200' <<<"$out") $(grep -c '<closed>' <<<"$out")"

# SIGHUP: a new certificate for new connections; an open one goes on
check "the first certificate is served" 1001 "$(tlsp serial)"
rm -f "$JP_TMP/flag" "$JP_TMP/go"
tlsp keepalive "$JP_TMP/flag" "$JP_TMP/go" >"$JP_TMP/ka" &
KA=$!
for _ in $(seq 100); do [ -e "$JP_TMP/flag" ] && break; sleep 0.05; done
cp "$C/two.pem" "$C/srv.pem"
cp "$C/two.key" "$C/srv.key"
kill -HUP "$JP_PID"
for _ in $(seq 50); do grep -q 'SIGHUP: TLS certificate loaded' "$JP_TMP/server.log" && break; sleep 0.1; done
touch "$JP_TMP/go"
wait "$KA"
check "a connection open across SIGHUP keeps being served" "200 200" "$(cat "$JP_TMP/ka")"
check "new connections get the new certificate" 2001 "$(tlsp serial)"
echo "not a certificate" >"$C/srv.pem"
kill -HUP "$JP_PID"
for _ in $(seq 50); do grep -q 'keeping the previous TLS certificate' "$JP_TMP/server.log" && break; sleep 0.1; done
check_true "a broken certificate at SIGHUP is reported" grep -q 'keeping the previous TLS certificate' "$JP_TMP/server.log"
check "... and the previous one is still served" 2001 "$(tlsp serial)"
jp_stop

# bad files at start: a clear error and exit 1 (the server cannot start, as
# with a port in use), never a crash
bad_start() {
    local desc=$1 want=$2 code=$3
    shift 3
    local out status=0
    out=$("$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_TMP/never.db" "$@" 2>&1) || status=$?
    check "$desc: exit $code" "$code" "$status"
    check_true "$desc: says '$want'" grep -qi -- "$want" <<<"$out"
    if grep -qE 'Sanitizer|runtime error' <<<"$out"; then not_ok "$desc: a sanitizer report"; fi
}
bad_start "a missing certificate" "TLS: $C/missing.pem: Error while reading file" 1 --tls-cert "$C/missing.pem" --tls-key "$C/one.key"
bad_start "a certificate that is not one" "TLS:" 1 --tls-cert "$C/srv.pem" --tls-key "$C/one.key"
bad_start "a key of another certificate" "TLS: the certificate and key: .* do not match" 1 --tls-cert "$C/one.pem" --tls-key "$C/two.key"
chmod 000 "$C/one.key"
if [ "$(id -u)" -ne 0 ]; then
    bad_start "an unreadable key" "TLS:" 1 --tls-cert "$C/one.pem" --tls-key "$C/one.key"
fi
chmod 600 "$C/one.key"
bad_start "--tls-cert without --tls-key" "go together" 2 --tls-cert "$C/one.pem"
bad_start "a --tls-ca that is no certificate" "--tls-ca $C/one.key: no PEM certificate in it" 2 \
    --tls-ca "$C/one.key" --secret 0123456789abcdef0123456789abcdef
bad_start "a missing --tls-ca" "--tls-ca $C/nope.pem" 2 --tls-ca "$C/nope.pem" \
    --secret 0123456789abcdef0123456789abcdef

# --tls-ca: bootstrap lines pin the CA (its SHA-256 over DER, as RouterOS
# shows a certificate's fingerprint), and /ca.pem serves it over https
cp "$C/one.pem" "$C/srv.pem"
cp "$C/one.key" "$C/srv.key"
jp_start --tls-cert "$C/srv.pem" --tls-key "$C/srv.key" --tls-ca "$C/ca.pem"
BASE="https://127.0.0.1:$JP_PORT"
FP=$(openssl x509 -in "$C/ca.pem" -outform DER | sha256sum | cut -c1-64)
api POST /sites -H 'Content-Type: application/json' -d '{"name":"pinned"}'
BOOT=$(jb -r .bootstrap)
check "the bootstrap fetches the CA without a check (nothing is trusted yet)" 1 \
    "$(grep -c "/tool fetch url=\"https://127.0.0.1:$JP_PORT/ca.pem\" dst-path=\"jobplane-ca.pem\" check-certificate=no;" <<<"$BOOT")"
check "it compares the imported certificate with the pinned fingerprint" 1 \
    "$(grep -c ":if (\[:len \[/certificate find where fingerprint=\"$FP\"\]\] = 0) do={/certificate remove \[find where name=\"jobplane-ca\"\]; :error" <<<"$BOOT")"
check "it trusts only that one" 1 "$(grep -c "/certificate set \[find where fingerprint=\"$FP\"\] trusted=yes; " <<<"$BOOT")"
check_true "all before the adoption's checked fetch" \
    test "$(grep -bo 'trusted=yes' <<<"$BOOT" | cut -d: -f1)" -lt "$(grep -bo '/adopt/' <<<"$BOOT" | cut -d: -f1)"
SITE=$(jb -r .id)
api POST "/sites/$SITE/device-token"
check "a new line (POST /sites/{id}/device-token) is pinned too" 1 "$(jb -r .bootstrap | grep -c "fingerprint=\"$FP\"")"
req GET /ca.pem
check "/ca.pem over https" 200 "$STATUS"
check "... is the CA, whose fingerprint the line pins" "$FP" \
    "$(printf '%s\n' "$BODY" | openssl x509 -outform DER | sha256sum | cut -c1-64)"
check "... as application/x-pem-file" "application/x-pem-file" "$(header Content-Type)"
jp_stop
jp_finish
