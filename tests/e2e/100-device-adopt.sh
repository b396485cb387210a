# Adoption, device tokens, heartbeats, stats, liveness, rotation. Every
# heartbeat is a stats sample here (--stats-interval 0; 350-retention tests
# the interval).
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --trusted-proxy 127.0.0.1 --stats-interval 0
TOK=$(token t1)

adopt "core-1"
check_true "the adoption answer is a script ending with the end mark" \
    test "$(printf '%s' "$ADOPTION" | tail -c 13)" = "#jobplane-end"
check_true "it installs the jobplane-poll script" grep -q '^/system script add name="jobplane-poll" ' <<<"$ADOPTION"
check_true "... and its scheduler, named apart" \
    grep -q '^/system scheduler add name="jobplane-schedule" interval=1s .* on-event="/system script run jobplane-poll"$' <<<"$ADOPTION"
check_true "the poll script holds polls on 7.15+" grep -q 'idle-timeout=35s' <<<"$ADOPTION"
check "a 32-character device token" 32 "${#DTOK}"

api GET "/sites/$SITE"
check "adoption stores the facts" "core-1 7.16 (stable) CHR 60 127.0.0.1" \
    "$(jb '"\(.identity) \(.software_version) \(.board_name) \(.uptime) \(.last_seen_from)"')"
check "has_pulse after adoption" true "$(jb .has_pulse)"

AT=$(grep -oE '/adopt/[0-9A-Za-z]{22}' <<<"$(curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -d '{"name":"once"}' "$BASE/sites" | jq -r .bootstrap)")
req POST "$AT" --data-binary 'name=a'
check "an adoption token works once (1st)" 200 "$STATUS"
req POST "$AT" --data-binary 'name=a'
check_error "an adoption token works once (2nd)" 404 resource_missing
req POST /adopt/not-a-token --data-binary 'name=a'
check_error "a malformed adoption token" 404 resource_missing

poll
check "an empty poll answers 200" 200 "$STATUS"
check "text/plain" "text/plain; charset=utf-8" "$(header Content-Type)"
check "a comment-only answer with the end mark" $'# jobplane: nothing to do\n#jobplane-end' "$BODY"
req POST /poll --data-binary 'name=x'
check_error "poll without a token" 401 unauthenticated
req POST /poll -H "Authorization: Bearer $(printf 'x%.0s' $(seq 32))" --data-binary 'name=x'
check_error "poll with an unknown token" 401 unauthenticated
req POST /poll -H "Authorization: Bearer $TOK" --data-binary 'name=x'
check_error "an operator token is not a device token" 401 unauthenticated
req POST /sites -H "Authorization: Bearer $DTOK" -H 'Content-Type: application/json' -d '{"name":"x"}'
check_error "a device token is not an operator token" 401 unauthenticated
poll "?wait=61"
check_error "wait over 60" 422 parameter_invalid
poll "?wait=x"
check_error "wait not a number" 422 parameter_invalid
poll "" "$(for i in $(seq 70); do printf 'cpu=%d;' "$i"; done)"
check_error "a heartbeat with too many keys" 422 parameter_invalid
poll "" "$(head -c 9000 /dev/zero | tr '\0' a)"
check_error "a heartbeat body over 8 KiB" 413 payload_too_large

# Heartbeats reach the site within a second or so (they are buffered).
poll "" 'name=core;1 renamed;version=7.17 (stable);uptime=2d03:04:05;cpu-load=42;free-memory=123456;free-hdd-space=654321;serial-number=HG5;model=CCR2004'
sleep 1.5
api GET "/sites/$SITE"
check "identity with ';' is kept whole" "core;1 renamed" "$(jb .identity)"
check "version, serial, model" "7.17 (stable) HG5 CCR2004" "$(jb '"\(.software_version) \(.serial_number) \(.model)"')"
check "uptime in seconds from 2d03:04:05" $((2 * 86400 + 3 * 3600 + 4 * 60 + 5)) "$(jb .uptime)"
TODAY=$(date -u +%F)
api GET "/sites/$SITE/mikrotik-stats?start_date=$TODAY&end_date=$TODAY"
check "stats answer 200" 200 "$STATUS"
check "the heartbeat is a stats sample" "42 123456 654321 183845" \
    "$(jb -r '[.[] | select(.cpu_load == 42)][0] | "\(.cpu_load) \(.memory_free) \(.disk_free) \(.uptime)"')"
WEEK=$(date -u -d '-6 days' +%F)
api GET "/sites/$SITE/mikrotik-stats?start_date=$WEEK&end_date=$TODAY"
check "a week is aggregated hourly" "$(date -u +%Y-%m-%dT%H:00:00Z)" "$(jb -r '.[-1].created_at')"
api GET "/sites/$SITE/mikrotik-stats?start_date=$TODAY"
check_error "stats without end_date" 400 parameter_missing
api GET "/sites/$SITE/mikrotik-stats?start_date=$TODAY&end_date=2020-01-01"
check_error "stats with end before start" 422 parameter_invalid
api GET "/sites/$SITE/mikrotik-stats?start_date=yesterday&end_date=$TODAY"
check_error "stats with a bad date" 422 parameter_invalid

# Behind the trusted proxy, the client address comes from X-Forwarded-For.
req POST /poll -H "Authorization: Bearer $DTOK" -H 'X-Forwarded-For: 198.51.100.9, 203.0.113.7' --data-binary 'name=core;1 renamed'
sleep 1.3
api GET "/sites/$SITE"
check "last_seen_from from the trusted proxy's X-Forwarded-For" 203.0.113.7 "$(jb .last_seen_from)"
# a proxy that adds its own line (HAProxy's forwardfor) after the client's
req POST /poll -H "Authorization: Bearer $DTOK" -H 'X-Forwarded-For: 192.0.2.66' \
    -H 'X-Forwarded-For: 203.0.113.8' --data-binary 'name=core;1 renamed'
sleep 1.3
api GET "/sites/$SITE"
check "two X-Forwarded-For lines: the last (the proxy's) counts, the client's not" 203.0.113.8 \
    "$(jb -r .last_seen_from)"
req POST /poll -H "Authorization: Bearer $DTOK" -H 'X-Forwarded-For: not-an-ip' --data-binary 'name=core;1 renamed'
sleep 1.3
api GET "/sites/$SITE"
check "a malformed X-Forwarded-For is ignored" 127.0.0.1 "$(jb .last_seen_from)"

# Offline after 10 missed intervals (1 s here).
sleep 11
api GET "/sites/$SITE"
check "has_pulse false after 10 missed polls" false "$(jb .has_pulse)"
poll
sleep 1.2
api GET "/sites/$SITE"
check "has_pulse back after a poll" true "$(jb .has_pulse)"

# Rotation: the old device token stops at once; the new bootstrap adopts again.
api POST "/sites/$SITE/device-token"
check "rotation answers 200" 200 "$STATUS"
NEWBOOT=$(jb .bootstrap)
poll
check_error "the old device token after rotation" 401 unauthenticated
AT=$(grep -oE '/adopt/[0-9A-Za-z]{22}' <<<"$NEWBOOT")
req POST "$AT" --data-binary 'name=core-1;version=7.16'
check "the new bootstrap adopts" 200 "$STATUS"
DTOK=$(device_token "$BODY")
poll
check "the new device token polls" 200 "$STATUS"
OLD=$DTOK
TOK=$(token t2)
api POST "/sites/$SITE/device-token"
check_error "another team cannot rotate" 404 resource_missing
TOK=$(token t1 "sites:read")
api POST "/sites/$SITE/device-token"
check_error "rotation needs sites:write" 403 forbidden

# A router on RouterOS 7.12 gets the same script: it holds its polls only
# where fetch's idle-timeout= compiles, which it finds out itself.
TOK=$(token t1)
A15=$ADOPTION
adopt "old-router" "7.12 (stable)"
check "7.12 and 7.16 get the same poll script" "$(grep -o 'source=.*' <<<"$A15")" "$(grep -o 'source=.*' <<<"$ADOPTION")"
check_true "its idle-timeout is compiled at run time, inside :do" grep -qF ':do { :set jpFetch [:parse \":return [/tool fetch url=\\\$u ' <<<"$ADOPTION"
check_true "... which goes on without it where it does not compile" grep -qF 'idle-timeout=35s]\"]; :set jpUrl \$jpHeld } on-error={}' <<<"$ADOPTION"
check_true "plain /poll by default" grep -q 'jpUrl \\"http://127.0.0.1:[0-9]*/poll\\"' <<<"$ADOPTION"

jp_finish
