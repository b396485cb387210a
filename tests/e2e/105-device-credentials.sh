# Device credentials: bootstrap lines expire, may be bound to a serial
# number, are refused when used again (and the site's log says so), failed
# adoptions are limited per address; the device token is in no script
# source, so no backup holds it (the simulator's exports hold the installed
# scripts, as RouterOS's do), and a backup that still does is redacted.
. "$(dirname "$0")/lib.sh"
rcv_start
JH=(-H 'Content-Type: application/json')

# Bad TTLs and limits are refused at start.
for bad in -5 0 31d 10x 1h30m ''; do
    "$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_TMP/never.db" --adoption-ttl "$bad" \
        >"$JP_TMP/bad.out" 2>&1
    check "--adoption-ttl '$bad' refused at start (exit 2)" 2 "$?"
done
check_true "the message names the option" grep -q -- "--adoption-ttl" "$JP_TMP/bad.out"
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_TMP/never.db" --adoption-fail-limit -1 >/dev/null 2>&1
check "--adoption-fail-limit -1 refused at start" 2 "$?"

# adopt_line BOOTSTRAP [SERIAL [VERSION]]: POSTs a router's adoption facts to
# the line's /adopt URL (answer in BODY)
adopt_line() {
    local at
    at=$(grep -oE '/adopt/[0-9A-Za-z]{22}' <<<"$1")
    req POST "$at" --data-binary "name=core-1;version=${3:-7.16 (stable)};board-name=RB5009;serial-number=${2:-};uptime=00:01:00"
}
# events SITE TEXT: how many of the site's log lines contain TEXT
events() {
    api GET "/logs?group=sites&streams=$1&start=$(date -u -d '-1 hour' +%FT%TZ)&end=$(date -u -d '+1 hour' +%FT%TZ)"
    jq --arg t "$2" '[.[] | select(.message | contains($t))] | length' <<<"$BODY"
}
epoch() { date -u -d "$1" +%s; }

# ---- expiry ------------------------------------------------------------
jp_start --adoption-ttl 2s --webhook-allow-private --poll-interval 1
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write backups:read webhooks:read webhooks:write")
api POST /webhooks "${JH[@]}" -d "{\"url\":\"$R/ok/sites\",\"events\":[\"site.adopted\",\"site.adoption_refused\"]}"
jb .secret >>"$RCV/secrets"
api POST /sites "${JH[@]}" -d '{"name":"late"}'
SITE=$(jb .id)
BOOT=$(jb .bootstrap)
# (the line's clock starts as the request is handled, created_at as the row
# is written: they may fall on either side of a second's turn)
LIFE=$(($(epoch "$(jb .bootstrap_expires_at)") - $(epoch "$(jb .created_at)")))
check_true "bootstrap_expires_at is created_at + the TTL ($LIFE s)" test "$LIFE" -ge 1 -a "$LIFE" -le 2
check "not adopted yet: adopted_at" null "$(jb .adopted_at)"
api GET "/sites/$SITE"
check "GET shows the pending line's expiry" 1 "$(jq 'has("bootstrap_expires_at") and .bootstrap_expires_at != null' <<<"$BODY" | grep -c true)"
sleep 3
adopt_line "$BOOT"
check_error "an expired line answers like an unknown one" 404 resource_missing
check "the refusal is in the site's log, with the address" 1 "$(events "$SITE" "Adoption refused (expired) from 127.0.0.1")"
api POST "/sites/$SITE/device-token"
check "rotation issues a new line" 200 "$STATUS"
NEW=$(jb .bootstrap)
check_true "with its own expiry" test "$(jb .bootstrap_expires_at)" != null
adopt_line "$NEW"
check "the new line adopts" 200 "$STATUS"
DTOK=$(device_token "$BODY")
poll
check "its device token polls" 200 "$STATUS"
api GET "/sites/$SITE"
check "adopted: no pending line" null "$(jb .bootstrap_expires_at)"
check "adopted_from" 127.0.0.1 "$(jb .adopted_from)"
check_true "adopted_at is set" test "$(jb .adopted_at)" != null
for _ in $(seq 50); do
    [ "$(jq -s '[.[] | select(.path=="/ok/sites")] | length' "$RCV/log" 2>/dev/null)" -ge 2 ] && break
    sleep 0.1
done
check "site.adoption_refused sent, with the reason" "expired 127.0.0.1" \
    "$(jq -rs '[.[] | select(.type=="site.adoption_refused")][0].body.data | "\(.refusal.reason) \(.refusal.from)"' "$RCV/log")"
check "site.adopted sent for the site" "$SITE" \
    "$(jq -rs '[.[] | select(.type=="site.adopted")][0].body.data.id' "$RCV/log")"
jp_stop

# ---- serial binding, used lines, re-adoption ----------------------------
jp_start --adoption-fail-limit 0 --poll-interval 1
api POST /sites "${JH[@]}" -d '{"name":"bound","expected_serial":"HEX0A1B2C"}'
check "a bound site is created" 201 "$STATUS"
check "expected_serial shown" HEX0A1B2C "$(jb .expected_serial)"
LIFE=$(($(epoch "$(jb .bootstrap_expires_at)") - $(epoch "$(jb .created_at)")))
check_true "24 h by default ($LIFE s)" test "$LIFE" -ge 86399 -a "$LIFE" -le 86400
SITE=$(jb .id)
BOOT=$(jb .bootstrap)
adopt_line "$BOOT" OTHER123
check_error "another serial number is refused" 403 forbidden
adopt_line "$BOOT" ""
check_error "no serial number is refused too" 403 forbidden
check "both refusals are logged" 2 "$(events "$SITE" "Adoption refused (wrong_serial)")"
check "with what the router reported" 1 "$(events "$SITE" "(serial OTHER123, identity core-1, RouterOS 7.16 (stable))")"
adopt_line "$BOOT" hex0a1b2c
check "the right router adopts with the same line (serials compare without case)" 200 "$STATUS"
DTOK=$(device_token "$BODY")
FIRST=$DTOK
poll
check "and polls" 200 "$STATUS"
api GET "/sites/$SITE"
check "its serial number" hex0a1b2c "$(jb .serial_number)"
check "the adoption event names serial and identity" 1 "$(events "$SITE" "Site adopted from 127.0.0.1 (serial hex0a1b2c, identity core-1")"
adopt_line "$BOOT" hex0a1b2c
check_error "a used line answers like an unknown one" 404 resource_missing
check "and the site says it was used, and what to do" 1 \
    "$(events "$SITE" "Adoption refused (used) from 127.0.0.1")"
check "(rotate its device token)" 1 "$(events "$SITE" "rotate its device token")"
poll
check "the refused attempt leaves the router polling" 200 "$STATUS"

# Re-adoption: rotation revokes both tokens; the new line's adoption says
# it is one, and only the newest token works.
api POST "/sites/$SITE/device-token"
NEW=$(jb .bootstrap)
poll
check_error "rotation: the old device token stops at once" 401 unauthenticated
adopt_line "$BOOT" hex0a1b2c
check_error "rotation: the old line too" 404 resource_missing
adopt_line "$NEW" hex0a1b2c
check "re-adopted" 200 "$STATUS"
DTOK=$(device_token "$BODY")
check_true "with a new device token" test "$DTOK" != "$FIRST"
poll
check "the new token polls" 200 "$STATUS"
DTOK=$FIRST poll
check_error "the first token stays revoked" 401 unauthenticated
check "the event says re-adoption" 1 "$(events "$SITE" "re-adoption (adopted before at")"

# expected_serial settable before adoption, and lifted again
api POST /sites "${JH[@]}" -d '{"name":"later-bound"}'
S2=$(jb .id)
B2=$(jb .bootstrap)
check "unbound by default" null "$(jb .expected_serial)"
api PATCH "/sites/$S2" "${JH[@]}" -d '{"expected_serial":"ABC123"}'
check "PATCH sets expected_serial" "200 ABC123" "$STATUS $(jb .expected_serial)"
adopt_line "$B2" XYZ
check_error "and it binds" 403 forbidden
api PATCH "/sites/$S2" "${JH[@]}" -d '{"expected_serial":null,"name":"renamed"}'
check "PATCH null lifts it; name changes" "200 null renamed" "$STATUS $(jb .expected_serial) $(jb .name)"
adopt_line "$B2" XYZ
check "then any router adopts" 200 "$STATUS"

# bad input
LONG=$(printf 'A%.0s' $(seq 65))
while IFS='|' read -r what serial; do
    api POST /sites "${JH[@]}" -d "{\"name\":\"x\",\"expected_serial\":$serial}"
    check_error "expected_serial $what" 422 parameter_invalid
done <<BAD
over 64 characters|"$LONG"
with a control character|"AB\u0001C"
with a tab|"AB\tC"
not ASCII|"SÉRIE"
not a string|5
empty|""
BAD
api PATCH "/sites/$S2" "${JH[@]}" -d '{"name":""}'
check_error "PATCH an empty name" 422 parameter_invalid
api PATCH "/sites/$S2" "${JH[@]}" -d '[1]'
check_error "PATCH not an object" 422 parameter_invalid
api PATCH "/sites/$(uuid)" "${JH[@]}" -d '{"name":"n"}'
check_error "PATCH an unknown site" 404 resource_missing
TOK_T1=$TOK TOK=$(token t2)
api PATCH "/sites/$S2" "${JH[@]}" -d '{"expected_serial":"STOLEN"}'
check_error "PATCH another team's site" 404 resource_missing
TOK=$TOK_T1
api GET "/sites/$S2"
check "another team's PATCH changed nothing" null "$(jb .expected_serial)"
jp_stop

# ---- the device token in no backup ---------------------------------------
jp_start --poll-interval 1
adopt "exported"
# A router adopted before the token moved to a file still carries it in its
# poll script; its exports do too. The server redacts it before storing.
api POST "/backup/$SITE"
J=$(jb .job_id)
poll
WRAP=$BODY
BAK=$(url_path "$(ros_local jpBak "$WRAP")")
printf '/system identity set name=old\n/system script add name=jobplane-poll source=":local jpTok \\"%s\\"\\n:put 1"\n# again %s\n' \
    "$DTOK" "$DTOK" >"$JP_TMP/old.rsc"
SIZE=$(stat -c %s "$JP_TMP/old.rsc")
req POST "$BAK&offset=0&total=$SIZE" -H 'Content-Type: text/plain' --data-binary @"$JP_TMP/old.rsc"
check "the backup is stored" 201 "$STATUS"
api GET "/site/$SITE/job/$J"
FILE=$(jb .associated_backup | cut -d/ -f2)
api GET "/backup/$SITE/$FILE" -H 'X-View: true'
check_true "the stored backup holds no device token" body_lacks "$DTOK"
check "it holds the redaction mark where the token was (twice)" 2 "$(grep -o REDACTED_JOBPLANE_DEVICE_TOKEN__ <<<"$BODY" | wc -l)"
check "the size is the uploaded size" "$SIZE" "$(printf '%s\n' "$BODY" | wc -c)"
check "the database holds no device token" 0 "$(db_exec "SELECT (SELECT count(*) FROM backup_contents WHERE content LIKE '%$DTOK%') + (SELECT count(*) FROM backups WHERE head LIKE '%$DTOK%')")"
check "the database holds no chunk of it either" 0 "$(db_exec "SELECT count(*) FROM backup_chunks")"
check_true "the server log warns" grep -q "held the site's device token (2 times): redacted" "$JP_TMP/server.log"
check "the site's log says so" 1 "$(events "$SITE" "held the site's device token (2 times)")"
poll
check "the router still polls" 200 "$STATUS"

# The simulator: exports hold the installed poll script (as RouterOS's do);
# every router backs up twice and applies its backup each time (--restore),
# then runs another job with whatever token the restored script sends.
TOKF=$JP_TMP/sim.tokens
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 4 --interval 1 --duration 14 --restore \
    --tokens "$TOKF" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do
    api GET /sites
    [ "$(jb '[.[] | select(.name | startswith("sim-")) | select(.adopted_at != null)] | length')" = 4 ] && break
    sleep 0.1
done
SIMSITES=$(jb -r '.[] | select(.name | startswith("sim-")) | .id')
for round in 1 2; do
    for s in $SIMSITES; do api POST "/backup/$s"; done
    sleep 3
done
for s in $SIMSITES; do new_job "$s" ':put "after the restores"' >/dev/null; done
wait "$SIM"
check "the simulator exits 0" 0 "$?"
cat "$JP_TMP/sim.out"
sim() { grep "^$1" "$JP_TMP/sim.out" | sed -E 's/^[^:]*: *//'; }
check "every backup uploaded" "8 uploaded, 0 failed" "$(sim backups)"
check "every backup restored" "8 applied, 0 failed" "$(sim restores)"
check "no poll failed, also after the restores" 0 "$(sim polls | sed -E 's/.*errors //')"
check "every job ran (two backups and one after the restores per router)" 12 "$(sim 'jobs run' | cut -d' ' -f1)"
leaks=0 scripts=0 diffs=0
while read -r s t; do
    [ "$(db_exec "SELECT (SELECT count(*) FROM backup_contents WHERE site_id='$s' AND content LIKE '%$t%') + (SELECT count(*) FROM backups WHERE site_id='$s' AND head LIKE '%$t%')")" = 0 ] ||
        leaks=$((leaks + 1))
    api GET "/backup/$s"
    LIST=$BODY
    grep -q "$t" <<<"$LIST" && leaks=$((leaks + 1))
    for f in $(jq -r '.[].filename' <<<"$LIST"); do
        api GET "/backup/$s/$f"
        grep -q "$t" <<<"$BODY" && leaks=$((leaks + 1))
        api GET "/backup/$s/$f" -H 'X-View: true'
        grep -q "$t" <<<"$BODY" && leaks=$((leaks + 1))
        grep -q '^/system script add .*name=jobplane-poll .*source=' <<<"$BODY" && scripts=$((scripts + 1))
    done
    api GET "/sites/$s/backups/$(jq -r '.[1].filename' <<<"$LIST")/diff/$(jq -r '.[0].filename' <<<"$LIST")"
    [ "$STATUS" = 200 ] && diffs=$((diffs + 1))
    grep -q "$t" <<<"$BODY" && leaks=$((leaks + 1))
    api GET "/site/$s/job"
    check "site $s: the job after the restores completed" completed \
        "$(jb -r '.[] | select(.description == "e2e job") | .status')"
done <"$TOKF"
check "the simulated exports hold the poll script (8 backups)" 8 "$scripts"
check "diffs of each router's two backups" 4 "$diffs"
check "no device token in any stored, listed, served or diffed backup" 0 "$leaks"
jp_stop

# ---- failed adoptions are limited per address ----------------------------
jp_start --adoption-fail-limit 5
for i in $(seq 8); do
    api POST /sites "${JH[@]}" -d "{\"name\":\"ok-$i\"}"
    adopt_line "$(jb .bootstrap)"
    [ "$STATUS" = 200 ] || break
done
check "successful adoptions from one address are not limited (8 in a row)" 200 "$STATUS"
api POST /sites "${JH[@]}" -d '{"name":"after-brute-force"}'
GOOD=$(jb .bootstrap)
for i in $(seq 5); do req POST "/adopt/$(printf 'Z%.0s' $(seq 21))$i" --data-binary 'name=x'; done
check_error "the 5th failure is still answered" 404 resource_missing
req POST "/adopt/AAAAAAAAAAAAAAAAAAAAAA" --data-binary 'name=x'
check_error "the 6th attempt is limited" 429 rate_limited
RA=$(header Retry-After)
check_true "with Retry-After ($RA s: one failure a 12 s at 5 a minute)" test "$RA" -ge 1 -a "$RA" -le 13
req POST "/adopt/short" --data-binary 'name=x'
check "a malformed token from that address too" 429 "$STATUS"
adopt_line "$GOOD"
check "while limited, even a good line waits" 429 "$STATUS"
req GET /healthz
check "healthz counts adoptions, refusals, limited" "8 5 3" \
    "$(jb -r '.adoptions | "\(.adopted) \(.refused) \(.rate_limited)"')"
sleep "$RA"
adopt_line "$GOOD"
check "after the wait, the good line adopts (it was not spent)" 200 "$STATUS"

rcv_stop
jp_finish
