# Hostile and malformed requests, one per line: each gets its documented
# status and error code, nothing half-written is left behind, and the server
# keeps serving. Strings meant to inject SQL or RouterOS are stored verbatim
# and rendered escaped.
. "$(dirname "$0")/lib.sh"
jp_start --idle-timeout 3
TOK=$(token t1)
adopt "hostile"
NCASES=0

# t STATUS CODE DESCRIPTION CURL-ARGS...: one hostile request with operator
# auth; CODE "-" when the answer is not ours (libmicrohttpd's own 4xx).
# The argument @KEY becomes a fresh X-Idempotency-Key header. tn: without
# operator auth (device endpoints).
expand() {
    ARGS=()
    local a
    for a in "$@"; do
        if [ "$a" = @KEY ]; then ARGS+=(-H "X-Idempotency-Key: $(uuid)"); else ARGS+=("$a"); fi
    done
}
t() {
    local status=$1 code=$2 desc=$3
    shift 3
    NCASES=$((NCASES + 1))
    expand "$@"
    if [ -n "${NOAUTH:-}" ]; then req "${ARGS[@]}"; else api "${ARGS[@]}"; fi
    if [ "$code" = "-" ]; then check "$desc" "$status" "$STATUS"
    else check "$desc" "$status $code" "$STATUS $(jb .code 2>/dev/null)"; fi
}
J="/site/$SITE/job"
H=(-H 'Content-Type: text/plain' -H 'X-Description: hostile')
tn() { NOAUTH=1 t "$@"; }

api GET "$J"
BEFORE=$(jb length)

# --- headers
BIG=$(head -c 12000 /dev/zero | tr '\0' a)
t 431 - "a 12 KB X-Description" POST "$J" -H "X-Description: $BIG" @KEY --data-binary x
t 431 - "a 12 KB Authorization header" GET /sites -H "X-Pad: $BIG"
MANY=()
for i in $(seq 300); do MANY+=(-H "X-H$i: $i"); done
t 431 - "300 headers" GET /sites "${MANY[@]}"
t 422 parameter_invalid "invalid UTF-8 in X-Description" POST "$J" -H 'Content-Type: text/plain' @KEY -H $'X-Description: \xc3\x28abc' --data-binary x
t 400 parameter_missing "X-Description of spaces only (empty once trimmed)" POST "$J" -H 'Content-Type: text/plain' -H 'X-Description:    ' @KEY --data-binary x
for k in '' '{00000000-0000-4000-8000-000000000000}' '00000000000040008000000000000000' \
    '00000000-0000-4000-8000-0000000000000' 'g0000000-0000-4000-8000-000000000000' "' OR 1=1 --"; do
    [ -z "$k" ] && { t 400 parameter_missing "an empty X-Idempotency-Key" POST "$J" "${H[@]}" -H 'X-Idempotency-Key;' --data-binary x; continue; }
    t 422 parameter_invalid "X-Idempotency-Key '$k'" POST "$J" "${H[@]}" -H "X-Idempotency-Key: $k" --data-binary x
done
for v in tru yes on 2 -1 TRUE1 t nil; do
    t 422 parameter_invalid "X-Needs-Ack: $v" POST "$J" "${H[@]}" @KEY -H "X-Needs-Ack: $v" --data-binary x
done
t 422 parameter_invalid "X-Express-Execute: maybe" POST "$J" "${H[@]}" @KEY -H 'X-Express-Execute: maybe' --data-binary x
t 422 parameter_invalid "X-Backup: 1.0" POST "$J" "${H[@]}" @KEY -H 'X-Backup: 1.0' --data-binary x

# --- bodies
t 400 parameter_missing "no body" POST "$J" "${H[@]}" @KEY
head -c 10001 /dev/zero | tr '\0' x >"$JP_TMP/10001"
t 413 payload_too_large "10001 characters" POST "$J" "${H[@]}" @KEY --data-binary @"$JP_TMP/10001"
head -c 70000 /dev/zero | tr '\0' x >"$JP_TMP/70000"
t 413 payload_too_large "70000 bytes announced" POST "$J" "${H[@]}" @KEY --data-binary @"$JP_TMP/70000"
t 413 payload_too_large "70000 bytes chunked" POST "$J" "${H[@]}" @KEY -H 'Transfer-Encoding: chunked' --data-binary @"$JP_TMP/70000"
for b in $'\xff' $'\xc0\x80' $'\xed\xa0\x80' $'\xe2\x82' $'\xf5\x80\x80\x80' $'a\xbf' $'\xf0\x9f\x98'; do
    printf '%s' ":put \"$b\"" >"$JP_TMP/bad"
    t 422 parameter_invalid "invalid UTF-8 $(od -An -tx1 <<<"$b" | tr -d ' \n')" POST "$J" "${H[@]}" @KEY --data-binary @"$JP_TMP/bad"
done
printf ':put 1\0:put 2' >"$JP_TMP/nul"
t 422 parameter_invalid "a NUL byte in the script" POST "$J" "${H[@]}" @KEY --data-binary @"$JP_TMP/nul"
for ct in application/json application/x-www-form-urlencoded multipart/form-data text/html 'text/plain; charset=latin1' text/plainx; do
    t 415 unsupported_media_type "Content-Type $ct" POST "$J" -H "Content-Type: $ct" -H 'X-Description: ct' @KEY --data-binary x
done

# --- the JSON API
A="/api/asynchronous/$SITE"
JH=(-H 'Content-Type: application/json')
t 415 unsupported_media_type "JSON API without Content-Type" POST "$A" -H 'Content-Type:' --data-binary '{}'
t 415 unsupported_media_type "JSON API as text/plain" POST "$A" -H 'Content-Type: text/plain' --data-binary '{}'
t 400 parameter_missing "JSON API without a body" POST "$A" "${JH[@]}"
for b in '{' '[' 'null' '42' '"text"' '{"description":' '{"a":1}}' "{'description':'x'}" '{"description":"abc","script":"x",}' '{"description":"\ud800","script":"x"}'; do
    t 422 parameter_invalid "JSON body $b" POST "$A" "${JH[@]}" --data-binary "$b"
done
t 400 parameter_missing "JSON {}" POST "$A" "${JH[@]}" --data-binary '{}'
t 422 parameter_invalid "JSON nested 5000 deep" POST "$A" "${JH[@]}" --data-binary "$(printf '{"a":%.0s' $(seq 5000))"
t 422 parameter_invalid "JSON duplicate keys" POST "$A" "${JH[@]}" --data-binary '{"script":"a","script":"b","description":"abc"}'
t 422 parameter_invalid "JSON \\u0000 in the script" POST "$A" "${JH[@]}" --data-binary '{"description":"abc","script":"a\u0000b"}'
for d in 1 '[]' '{}' true; do
    t 422 parameter_invalid "JSON description $d" POST "$A" "${JH[@]}" --data-binary "{\"description\":$d,\"script\":\"x\"}"
done
t 422 parameter_invalid "JSON script 5" POST "$A" "${JH[@]}" --data-binary '{"description":"abc","script":5}'
for f in '"true"' 1 '[true]'; do
    t 422 parameter_invalid "JSON make_backup $f" POST "$A" "${JH[@]}" --data-binary "{\"description\":\"abc\",\"script\":\"x\",\"make_backup\":$f}"
done
LONGURL="https://x.example/$(head -c 3000 /dev/zero | tr '\0' a)"
for u in 'ftp://x.example/' 'javascript:alert(1)' "$LONGURL" 'https://a b' 'https://x.example/\n' 'file:///etc/passwd' 7; do
    [ "$u" = 7 ] && q=7 || q="\"$u\""
    t 422 parameter_invalid "notify_url ${u:0:30}" POST "$A" "${JH[@]}" --data-binary "{\"description\":\"abc\",\"script\":\"x\",\"notify_url\":$q}"
done

# --- paths and query strings
t 422 parameter_invalid "site id not a UUID" GET "/site/not-a-uuid/job"
t 404 resource_missing "an unknown site (upper-case UUID)" GET "/site/$(uuid | tr a-f A-F)/job"
t 422 parameter_invalid "/site/../job (.. is not a UUID)" GET "/site/../job" --path-as-is
t 404 resource_missing "a NUL in the path" GET "/site/%00/job"
t 422 parameter_invalid "job id not a UUID" GET "/sites/$SITE/jobs/1;DROP"
for p in '..%2F..%2Fetc%2Fpasswd' '%2e%2e' '1.rsc%00.txt' '-1.rsc' '1.rsc.rsc' '99999999999999999999999.rsc'; do
    t 404 resource_missing "backup name $p" GET "/backup/$SITE/$p"
done
for q in 'limit=99999999999999999999' 'limit=1e3' "before=%27%20OR%201%3D1%20--" "status=pending%27" 'limit=%00'; do
    t 422 parameter_invalid "query $q" GET "$J?$q"
done
t 405 method_not_allowed "method FOO" FOO /healthz
t 414 - "a 10 KB URL" GET "/sites/$(head -c 10000 /dev/zero | tr '\0' a)"

# --- the device API
DH=(-H "Authorization: Bearer $DTOK")
tn 413 payload_too_large "a 9000-byte heartbeat" POST /poll "${DH[@]}" --data-binary "$(head -c 9000 /dev/zero | tr '\0' a)"
tn 422 parameter_invalid "a heartbeat with 70 keys" POST /poll "${DH[@]}" --data-binary "$(for i in $(seq 70); do printf 'cpu=1;'; done)"
tn 422 parameter_invalid "a heartbeat with 300 junk segments" POST /poll "${DH[@]}" --data-binary "$(for i in $(seq 300); do printf 'x;'; done)"
tn 401 unauthenticated "a device token with non-base62 characters" POST /poll -H "Authorization: Bearer $(printf '%%%.0s' $(seq 32))" --data-binary x
tn 401 unauthenticated "Bearer without a token" POST /poll -H "Authorization: Bearer" --data-binary x
tn 401 unauthenticated "a 33-character device token" POST /poll -H "Authorization: Bearer ${DTOK}x" --data-binary x
tn 422 parameter_invalid "poll wait=-1" POST "/poll?wait=-1" "${DH[@]}" --data-binary x
tn 404 resource_missing "an adoption token with bad characters" POST "/adopt/$(printf '%%25%.0s' $(seq 22))" --data-binary x
tn 404 resource_missing "a 23-character adoption token" POST "/adopt/$(printf 'a%.0s' $(seq 23))" --data-binary x
JOB=$(new_job "$SITE" ':put 1' | jq -r .id)
poll
WRAP=$BODY
BUSY=$(url_path "$(ros_local jpBusy)")
tn 422 parameter_invalid "status=BUSY" GET "${BUSY/status=busy/status=BUSY}"
tn 403 forbidden "a 63-digit signature" GET "$(sed -E 's/(signature=[0-9a-f]{63})[0-9a-f]/\1/' <<<"$BUSY")"
tn 403 forbidden "a non-hex signature" GET "$(sed -E 's/signature=[0-9a-f]{8}/signature=zzzzzzzz/' <<<"$BUSY")"
tn 403 forbidden "expires=-1" GET "$(sed -E 's/expires=[0-9]+/expires=-1/' <<<"$BUSY")"
tn 403 forbidden "an expiry of 30 digits" GET "$(sed -E 's/expires=[0-9]+/expires=999999999999999999999999999999/' <<<"$BUSY")"
tn 422 parameter_invalid "a report for a job id that is not a UUID" GET "/job/1;DROP/update?status=busy"
tn 200 - "a binary heartbeat is sanitised, not refused" POST /poll "${DH[@]}" --data-binary $'name=\x01\x02\xff\xfe;version=7.16'
sleep 1.3
api GET "/sites/$SITE"
check "the binary identity was stored sanitised" "????" "$(jb .identity)"

# --- injection attempts: stored verbatim, rendered escaped, never executed
for s in "'; DROP TABLE jobs; --" '"} /system reset-configuration; :do {"' ':put $[/system reset-configuration]' \
    $'line1\n/system reboot\n# \\' 'Robert"); DELETE FROM sites; --'; do
    NCASES=$((NCASES + 1))
    api POST "$J" "${H[@]}" -H "X-Idempotency-Key: $(uuid)" --data-binary "$s"
    check "injection stored: ${s:0:25}" 201 "$STATUS"
    ID=$(jb .id)
    api GET "$J/$ID"
    check "verbatim: ${s:0:25}" "$s" "$(jb -r .script)"
done
api GET "$J"
check "the jobs table survived the attempts" 200 "$STATUS"
req GET "$(url_path "$(ros_local jpDone "$WRAP")")"
poll
check "the injected payload travels as one escaped string" "'; DROP TABLE jobs; --" "$(ros_local jpSrc)"
check "no payload line escapes the string" 0 "$(grep -c '^/system\|^DROP' <<<"$BODY")"
NCASES=$((NCASES + 1))
api POST /sites -H 'Content-Type: application/json' -d '{"name":"x\"; /system reset-configuration; \"; DROP TABLE sites; --"}'
check "a hostile site name is stored verbatim" 'x"; /system reset-configuration; "; DROP TABLE sites; --' "$(jb -r .name)"

# --- HTTP itself
NCASES=$((NCASES + 1))
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
printf 'GET /healthz HTTP/1.1\r\n\r\n' >&3
check "HTTP/1.1 without Host" 400 "$(timeout 5 head -1 <&3 | cut -d' ' -f2)"
exec 3>&-
NCASES=$((NCASES + 1))
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
printf 'POST /sites HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >&3
check_true "a negative Content-Length is refused" grep -qE '^HTTP/1.1 4[0-9][0-9]' <<<"$(timeout 5 head -1 <&3)"
exec 3>&-

# raw FORMAT ARGS...: sends a request (printf FORMAT ARGS) on a fresh connection and
# reads until the server closes it (5 s at most); every status line read is in
# RAW_STATUSES.
raw() {
    NCASES=$((NCASES + 1))
    exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
    local fmt=$1
    shift
    # (the server may close before all is written: no SIGPIPE for the test)
    # shellcheck disable=SC2059
    (trap '' PIPE; printf "$fmt" "$@" >&3) 2>/dev/null || true
    RAW=$(timeout 5 cat <&3; echo "rc=$?")
    exec 3>&-
    RAW_STATUSES=$(grep -a '^HTTP/1.1 ' <<<"$RAW" | cut -d' ' -f2 | tr -d '\r' | tr '\n' ' ')
}
# Request smuggling: a body framed two ways is refused, and what was pipelined
# behind it is not answered: the server closes the connection at once.
raw 'POST /site/%s/job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nX-Description: smuggle\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' "$SITE" "$TOK"
check "Content-Length with Transfer-Encoding: one 400, then the connection closes" "400 |rc=0" "$RAW_STATUSES|${RAW##*\}}"
check_true "... naming the conflict" grep -q 'request_malformed.*Content-Length and Transfer-Encoding' <<<"$RAW"
for h in 'Content-Length: 1\r\nContent-Length: 1' 'Host: y' 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked' \
    'Content-Type: text/plain' 'X-Description: two' 'Authorization: Bearer x'; do
    raw "POST /site/$SITE/job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $TOK\r\nContent-Type: text/plain\r\nX-Description: one\r\n$h\r\n\r\nx\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    name=$(sed 's/\\r.*//; s/:.*//' <<<"$h")
    check "a repeated $name: one 400 naming it, the connection closed" "400 |1" \
        "$RAW_STATUSES|$(grep -c "The header '$name' is given more than once" <<<"$RAW")"
done
raw 'POST /sites HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
check "Transfer-Encoding other than chunked" "400 " "$RAW_STATUSES"
# the same through curl, as a script would send it: nothing is created
for hdr in X-Idempotency-Key X-Description X-Backup X-Express-Execute X-Needs-Ack X-Notify-Url; do
    case $hdr in
    X-Idempotency-Key) v1=$(uuid) v2=$(uuid) ;;
    X-Description) v1=one v2=two ;;
    X-Notify-Url) v1=https://a.example/x v2=https://b.example/y ;;
    *) v1=true v2=false ;;
    esac
    t 400 request_malformed "two $hdr headers" POST "$J" -H 'Content-Type: text/plain' -H 'X-Description: d' @KEY \
        -H "$hdr: $v1" -H "$hdr: $v2" --data-binary x
done
t 400 request_malformed "two Authorization headers" GET /sites -H "Authorization: Bearer $TOK"

api GET "$J"
check "refused requests created nothing (5 injections + 1 delivered job were made)" "$((BEFORE + 6))" "$(jb length)"
req GET /healthz
check "still serving" 200 "$STATUS"
echo "# $NCASES hostile cases"
check_true "at least 100 hostile cases ($NCASES)" test "$NCASES" -ge 100
jp_finish
