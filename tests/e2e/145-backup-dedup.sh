# Backups are content addressed: an export whose configuration did not change
# (only its first line, the time stamp, differs) is stored once, listed as
# unchanged, and read back byte for byte; --backup-keep N keeps the newest N
# per site and drops the contents nothing refers to any more.
. "$(dirname "$0")/lib.sh"
jp_start --backup-keep 3
TOK=$(token t1)
adopt "deduped"

# export N WHEN: a made-up export of configuration N taken at WHEN
export_of() {
    printf '# %s by RouterOS 7.16\n# software id = ABCD-1234\n' "$2"
    for i in $(seq 400); do echo "/ip firewall address-list add address=10.$1.$((i / 250)).$((i % 250)) list=l$((i % 5))"; done
}
contents() { db_exec "SELECT count(*) FROM backup_contents WHERE site_id='$SITE'"; }
export_of 1 "2026-11-30 03:00:00" >"$JP_TMP/b1.rsc"
export_of 1 "2026-12-01 03:00:00" >"$JP_TMP/b2.rsc"
export_of 2 "2026-12-02 03:00:00" >"$JP_TMP/b3.rsc"
export_of 2 "2026-12-03 03:00:00" >"$JP_TMP/b4.rsc"

backup_job "$JP_TMP/b1.rsc"; F1=$F
backup_job "$JP_TMP/b2.rsc"; F2=$F
api GET "/backup/$SITE"
check "two entries, newest first" "$F2 $F1" "$(jb -r '[.[].filename] | join(" ")')"
check "the second is unchanged from the first" "true false" "$(jb -r '[.[].unchanged] | map(tostring) | join(" ")')"
check "  with the same content hash" 1 "$(jb -r '[.[].sha256] | unique | length')"
check "  and its own size" "$(stat -c %s "$JP_TMP/b2.rsc")" "$(jb -r '.[0].size_bytes')"
check "one content stored for both" 1 "$(contents)"
api GET "/backup/$SITE/$F2" -H 'X-View: true'
check "read back byte for byte, its own time stamp included" "$(sha256sum <"$JP_TMP/b2.rsc")" "$(sha256sum <"$JP_TMP/body")"
api GET "/backup/$SITE/$F1" -H 'X-View: true'
check "the first too" "$(sha256sum <"$JP_TMP/b1.rsc")" "$(sha256sum <"$JP_TMP/body")"
api GET "/sites/$SITE/backups/$F1/diff/$F2"
check "their diff is the time stamp only" 2 "$(grep -cE '^[-+]# 2026' <<<"$BODY")"
check_true "  and nothing else" test "$(grep -cE '^[-+][^-+]' <<<"$BODY")" -eq 2

backup_job "$JP_TMP/b3.rsc"; F3=$F
api GET "/backup/$SITE"
check "a changed configuration is not unchanged" false "$(jb -r '.[0].unchanged')"
check "  and is stored apart" 2 "$(contents)"
backup_job "$JP_TMP/b4.rsc"; F4=$F
api GET "/backup/$SITE"
check "--backup-keep 3: the oldest goes" "$F4 $F3 $F2" "$(jb -r '[.[].filename] | join(" ")')"
check "  its content stays while the second refers to it" 2 "$(contents)"
api GET "/backup/$SITE/$F1"
check "  the oldest is gone" 404 "$STATUS"
backup_job "$JP_TMP/b4.rsc"
check "the fifth pushes the second out, and the first content with it" 1 "$(contents)"
api GET "/backup/$SITE/$F3" -H 'X-View: true'
check "what stays reads back whole" "$(sha256sum <"$JP_TMP/b3.rsc")" "$(sha256sum <"$JP_TMP/body")"
jp_finish
