# Backups that keep secrets (X-Backup-Sensitive): the export shows what v7
# hides by default, the server seals it (AES-256-GCM, --backup-key-file)
# before it is stored, and only callers with backups:read-sensitive read it.
# - without a key the option is refused, and so is a sealed upload;
# - the stored bytes hold no secret, the name is a keyed digest;
# - the scope, another key, no key; equal sealed contents dedupe.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SENS=$(token t1 "jobs:read jobs:write sites:read sites:write backups:read backups:read-sensitive")

adopt "secret-keeper"
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: secrets' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Backup: true' -H 'X-Backup-Sensitive: true' --data-binary ':put 1'
check_error "no --backup-key-file: X-Backup-Sensitive is refused" 422 parameter_invalid
check "... and says why" "This server keeps no key for sensitive backups: start it with --backup-key-file." "$(jb -r .message)"
api POST "/backup/$SITE" -H 'X-Backup-Sensitive: true'
check_error "... POST /backup/{site} too" 422 parameter_invalid
api POST "/backup/$SITE" -H 'X-Backup-Sensitive: perhaps'
check_error "X-Backup-Sensitive: perhaps" 422 parameter_invalid
jp_stop

printf 'not a key\n' >"$JP_TMP/bad.key"
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_DB" --backup-key-file "$JP_TMP/bad.key" >"$JP_TMP/o" 2>&1
check "a key file that holds no key: exit 2" 2 "$?"
check_true "... with a message" grep -q "backup-key-file .*bad.key: not a key: 64 hex digits" "$JP_TMP/o"
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_DB" --backup-key-file "$JP_TMP/none.key" >"$JP_TMP/o" 2>&1
check "a missing key file: exit 2" 2 "$?"
openssl rand -hex 32 >"$JP_TMP/k1"
openssl rand 32 >"$JP_TMP/k2"
jp_start --backup-key-file "$JP_TMP/k1"

api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: secrets' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Backup-Sensitive: true' --data-binary ':put 1'
check_error "X-Backup-Sensitive without X-Backup" 422 parameter_invalid
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: secrets' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Backup: true' -H 'X-Backup-Sensitive: true' --data-binary ':put 1'
check "a job with a sensitive backup" "201 true true" "$STATUS $(jb '"\(.should_backup) \(.backup_sensitive)"')"
J=$(jb -r .id)
poll
W=$BODY
check_true "its wrapper exports with show-sensitive" grep -qF '/export terse show-sensitive file="jobplane-backup"' <<<"$W"
{
    echo "# 2026-12-06 10:00:00 by RouterOS 7.16"
    echo "/interface wifi security add name=home passphrase=Sup3rS3cretPass"
    echo "/ip ipsec identity add peer=hq secret=IpsecSharedSecret42"
} >"$JP_TMP/export.rsc"
SIZE=$(stat -c %s "$JP_TMP/export.rsc")
req POST "$(url_path "$(ros_local jpBak "$W")")&offset=0&total=$SIZE" -H 'Content-Type: text/plain' \
    --data-binary @"$JP_TMP/export.rsc"
check "the upload is stored" 201 "$STATUS"
req GET "$(url_path "$(ros_local jpDone "$W")")"
api GET "/site/$SITE/job/$J"
F=$(jb -r .associated_backup | cut -d/ -f2)
check_true "the job names its backup" test -n "$F"

if [ -n "${JP_PG_ADMIN:-}" ]; then
    STORED=$(db_exec "SELECT position('Sup3rS3cretPass'::bytea in content) + position('IpsecShared'::bytea in content), encode(substring(content from 1 for 4), 'escape'), length(content) FROM backup_contents")
else
    STORED=$(db_exec "SELECT instr(content, 'Sup3rS3cretPass') + instr(content, 'IpsecShared'), CAST(substr(content, 1, 4) AS TEXT), length(content) FROM backup_contents")
fi
BODYLEN=$(($(tail -n +2 "$JP_TMP/export.rsc" | wc -c)))
check "the database holds no secret: a sealed blob (JPS1, nonce, tag)" "0|JPS1|$((BODYLEN + 32))" "$STORED"
PLAIN=$(tail -n +2 "$JP_TMP/export.rsc" | sha256sum | cut -d' ' -f1)
api GET "/backup/$SITE"
check "the list marks it sensitive" true "$(jb '.[0].sensitive')"
check_true "... named by a keyed digest, not the plain SHA-256" test "$(jb -r '.[0].sha256')" != "$PLAIN"
api GET "/backup/$SITE/$F"
check_error "reading it without backups:read-sensitive" 403 forbidden
check "... says which scope" "This backup keeps secrets: reading it needs the scope backups:read-sensitive." "$(jb -r .message)"
TOK_SAVE=$TOK
TOK=$SENS
api GET "/backup/$SITE/$F"
check "with the scope: 200" 200 "$STATUS"
check "... the export as it came, secrets and all" "$(cat "$JP_TMP/export.rsc")" "$(jb -r .content)"
api GET "/backup/$SITE/$F" -H 'X-View: true'
check "... and raw (X-View)" "$(cat "$JP_TMP/export.rsc")" "$BODY"
check_true "reading it is logged" grep -q "backup $SITE/$F (sensitive) read by" "$JP_TMP/server.log"

# the same configuration again: one sealed content, the backup unchanged
TOK=$TOK_SAVE
sleep 1
api POST "/backup/$SITE" -H 'X-Backup-Sensitive: true'
check "POST /backup/{site} with X-Backup-Sensitive" 202 "$STATUS"
J2=$(jb -r .job_id)
poll
W=$BODY
sed -i '1s/10:00:00/10:05:00/' "$JP_TMP/export.rsc"
req POST "$(url_path "$(ros_local jpBak "$W")")&offset=0&total=$SIZE" -H 'Content-Type: text/plain' \
    --data-binary @"$JP_TMP/export.rsc"
check "a second sensitive upload" 201 "$STATUS"
req GET "$(url_path "$(ros_local jpDone "$W")")"
api GET "/backup/$SITE"
check "it is unchanged from the first (same digest)" "true true" "$(jb -r '"\(.[0].unchanged) \(.[0].sha256 == .[1].sha256)"')"
check "one sealed content for both" 1 "$(db_exec "SELECT count(*) FROM backup_contents")"
F2=$(jb -r '.[0].filename')
TOK=$SENS
api GET "/sites/$SITE/backups/$F/diff/$F2"
check "the diff of two sensitive backups, with the scope" 200 "$STATUS"
check_true "... shows only the time stamp changed" grep -q '^+# 2026-12-06 10:05:00' <<<"$BODY"
TOK=$TOK_SAVE
api GET "/sites/$SITE/backups/$F/diff/$F2"
check_error "... and without it" 403 forbidden

# another key, or none: sealed backups stay closed; new ones are refused
jp_stop
jp_start --backup-key-file "$JP_TMP/k2"
TOK=$SENS
api GET "/backup/$SITE/$F"
check_error "another key does not open it" 409 invalid_state
check "... and says so" "This backup is sealed, and this server has no key that opens it (--backup-key-file)." "$(jb -r .message)"
TOK=$TOK_SAVE
api POST "/backup/$SITE" -H 'X-Backup-Sensitive: true'
poll
W=$BODY
jp_stop
jp_start
req POST "$(url_path "$(ros_local jpBak "$W")")&offset=0&total=$SIZE" -H 'Content-Type: text/plain' \
    --data-binary @"$JP_TMP/export.rsc"
check_error "a sensitive upload to a server without a key is refused" 409 invalid_state
TOK=$SENS
api GET "/backup/$SITE/$F"
check_error "without a key nothing opens" 409 invalid_state
api GET "/backup/$SITE"
check "the list still shows all of them" 2 "$(jb length)"
jp_finish
