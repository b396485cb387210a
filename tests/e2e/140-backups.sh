# Backups: the wrapper uploads the export in chunks before the payload; the
# operator lists, reads and diffs them; POST /backup queues a backup job.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
adopt "backed-up"

api POST "/backup/$SITE"
check "a backup request answers 202" 202 "$STATUS"
check "Backup requested" "Backup requested" "$(jb .message)"
J1=$(jb .job_id)
poll
WRAP=$BODY
check_true "the wrapper exports before it parses the payload" \
    test "$(grep -n '/export terse' <<<"$WRAP" | cut -d: -f1)" -lt "$(grep -n 'parse $jpSrc' <<<"$WRAP" | cut -d: -f1)"
BAK=$(url_path "$(ros_local jpBak "$WRAP")")
{ echo "# model = CHR"; for i in $(seq 1500); do echo "/ip firewall address-list add address=10.0.$((i / 250)).$((i % 250)) list=l$((i % 5))"; done; } >"$JP_TMP/b1.rsc"
SIZE=$(stat -c %s "$JP_TMP/b1.rsc")
req GET "$(url_path "$(ros_local jpBusy "$WRAP")")"
# upload URL FILE: the wrapper's chunked upload, 32 KiB at a time
upload() {
    local off=0 c size
    size=$(stat -c %s "$2")
    rm -f "$JP_TMP"/chunk.*
    split -b 32768 -d "$2" "$JP_TMP/chunk."
    for c in "$JP_TMP"/chunk.*; do
        req POST "$1&offset=$off&total=$size" -H 'Content-Type: text/plain' --data-binary @"$c"
        off=$((off + $(stat -c %s "$c")))
    done
}
upload "$BAK" "$JP_TMP/b1.rsc"
check "the last chunk completes the backup (201)" 201 "$STATUS"
check_true "the export needed several chunks ($SIZE bytes)" test "$SIZE" -gt 32768
req POST "$BAK&offset=0&total=$SIZE" --data-binary 'again'
check_error "a chunk for a finished backup" 404 resource_missing
req GET "$(url_path "$(ros_local jpDone "$WRAP")")"
api GET "/site/$SITE/job/$J1"
check_true "associated_backup is {site}/{unix}.rsc" grep -qE "^$SITE/[0-9]{10}\\.rsc\$" <<<"$(jb .associated_backup)"
check "the backup job completed" completed "$(jb .status)"
F1=$(jb -r .associated_backup | cut -d/ -f2)

api GET "/backup/$SITE"
check "the list has it, size_bytes the byte count" "$F1 $SIZE" "$(jb -r '.[0] | "\(.filename) \(.size_bytes)"')"
HUMAN=$(python3 -c "import sys; n=int(sys.argv[1]); print(f'{n}B' if n < 1024 else f'{n/1024:.1f}KB' if n < 1048576 else f'{n/1048576:.1f}MB')" "$SIZE")
check "size is the seed's human text ($SIZE bytes)" "$HUMAN" "$(jb -r '.[0].size')"
check_true "date and time in the seed's forms" grep -qE '^[0-3][0-9]/[01][0-9]/20[0-9]{2} [0-2][0-9]:[0-5][0-9]:[0-5][0-9]$' <<<"$(jb -r '.[0] | "\(.date) \(.time)"')"
api GET "/backup/$SITE/$F1"
check "retrieve: JSON with content" "$(cat "$JP_TMP/b1.rsc")" "$(jb -r .content)"
api GET "/backup/$SITE/$F1" -H 'X-View: true'
check "X-View: raw text" "text/plain; charset=utf-8" "$(header Content-Type)"
check "X-View: the bytes uploaded" "$(sha256sum <"$JP_TMP/b1.rsc")" "$(sha256sum <"$JP_TMP/body")"
api GET "/backup/$SITE/$F1" -H 'X-Download: true'
check "X-Download: octet-stream" "application/octet-stream" "$(header Content-Type)"
check "X-Download: an attachment named by the file" "attachment; filename=\"$F1\"" "$(header Content-Disposition)"
check "X-Download: the bytes uploaded" "$(sha256sum <"$JP_TMP/b1.rsc")" "$(sha256sum <"$JP_TMP/body")"
api GET "/backup/$SITE/$F1" -H 'X-Highlight: true'
check "X-Highlight: an HTML fragment" "text/html; charset=utf-8" "$(header Content-Type)"
check_true "X-Highlight: a pre with RouterOS classes" grep -q '^<pre class="ros">' "$JP_TMP/body"
check_true "X-Highlight: menu paths marked" grep -q '<span class="ros-path">' "$JP_TMP/body"
# the text back, once the tags are gone and the entities decoded, is the backup
check "X-Highlight: every byte escaped, nothing lost" "$(sha256sum <"$JP_TMP/b1.rsc")" \
    "$(python3 -c 'import html,re,sys; t=open(sys.argv[1]).read(); t=re.sub(r"^<pre class=\"ros\">|</pre>\n$","",t); sys.stdout.write(html.unescape(re.sub(r"<[^>]+>","",t)))' "$JP_TMP/body" | sha256sum)"

# Out-of-order and oversized chunks are refused.
J2=$(curl -s -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: change with backup' -H 'X-Backup: true' \
    --data-binary '/ip firewall address-list remove [find list=l3]' "$BASE/site/$SITE/job" | jq -r .id)
sleep 1 # the second backup gets a later second
poll
WRAP=$BODY
BAK=$(url_path "$(ros_local jpBak)")
req POST "$BAK&offset=10&total=20" --data-binary '0123456789'
check_error "a chunk that does not start at 0" 422 parameter_invalid
req POST "$BAK&offset=0&total=99999999999" --data-binary 'x'
check_error "a total over 16 MiB" 413 payload_too_large
req POST "$BAK&offset=0&total=10" --data-binary ''
check_error "an empty chunk" 400 parameter_missing
req POST "$(sed -E 's/signature=[0-9a-f]{3}/signature=fff/' <<<"$BAK")&offset=0&total=3" --data-binary 'abc'
check_error "a forged backup signature" 403 forbidden
grep -v 'list=l3$' "$JP_TMP/b1.rsc" | sed 's/# model = CHR/# model = CHR (changed)/' >"$JP_TMP/b2.rsc"
upload "$BAK" "$JP_TMP/b2.rsc"
check "the second backup" 201 "$STATUS"
req GET "$(url_path "$(ros_local jpDone "$WRAP")")"
api GET "/site/$SITE/job/$J2"
F2=$(jb -r .associated_backup | cut -d/ -f2)
check_true "two different backups" test "$F1" != "$F2"
api GET "/backup/$SITE"
check "newest first" "$F2 $F1" "$(jb -r '[.[].filename] | join(" ")')"

api GET "/sites/$SITE/backups/$F1/diff/$F2"
check "diff answers text/plain" "200 text/plain; charset=utf-8" "$STATUS $(header Content-Type)"
diff -u --label "$F1" --label "$F2" "$JP_TMP/b1.rsc" "$JP_TMP/b2.rsc" >"$JP_TMP/want.diff"
check "the diff equals diff -u" "$(cat "$JP_TMP/want.diff")" "$BODY"
api GET "/sites/$SITE/backups/$F1/diff/$F1"
check "a backup against itself: headers only" "$(printf -- '--- %s\n+++ %s' "$F1" "$F1")" "$BODY"
api GET "/sites/$SITE/backups/$F1/diff/123.rsc"
check_error "diff with a missing backup" 404 resource_missing
api GET "/backup/$SITE/..%2F..%2Fetc%2Fpasswd"
check_error "path traversal in a backup name" 404 resource_missing
api GET "/backup/$SITE/x.rsc"
check_error "a name that is not {unix}.rsc" 404 resource_missing
TOK=$(token t2)
api GET "/backup/$SITE"
check_error "another team's backups" 404 resource_missing
api GET "/backup/$SITE/$F1"
check_error "another team's backup" 404 resource_missing
TOK=$(token t1 "jobs:read")
api GET "/backup/$SITE"
check_error "backups need backups:read" 403 forbidden

# A router too old for /file read gets a wrapper that fails the job cleanly.
TOK=$(token t1)
adopt "old" "7.12 (stable)"
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" "$BASE/backup/$SITE"
poll "" "name=old;version=7.12 (stable);uptime=1h"
check_true "7.12: the wrapper says a backup needs 7.13" grep -q 'a backup needs RouterOS 7.13 or later' <<<"$BODY"
check_true "7.12: and has no /file read" bash -c "! grep -q '/file read' <<<\"\$0\"" "$BODY"

jp_finish
