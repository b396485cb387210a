# Disk full (SQLite on a small tmpfs): writes answer 503 store_unavailable,
# nothing acknowledged is lost, and writes work again when space returns.
. "$(dirname "$0")/lib.sh"
if [ -n "${JP_PG_ADMIN:-}" ] || [ "$(id -u)" -ne 0 ]; then
    echo "# SQLite as root only (mounts a tmpfs)"
    jp_finish
fi
mkdir -p "$JP_TMP/small"
mount -t tmpfs -o size=6m tmpfs "$JP_TMP/small" || { not_ok "mount a 6 MB tmpfs"; jp_finish; }
JP_DB="$JP_TMP/small/jobplane.db"
jp_start
TOK=$(token t1)
SITE=$(new_site "full")
acked=()
for i in $(seq 20); do acked+=("$(new_job "$SITE" ":put $i" | jq -r .id)"); done
dd if=/dev/zero of="$JP_TMP/small/fill" bs=64k 2>/dev/null
head -c 9000 /dev/zero | tr '\0' x >"$JP_TMP/script"
saw503=0
for i in $(seq 300); do
    api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" \
        -H 'X-Description: filling' --data-binary @"$JP_TMP/script"
    if [ "$STATUS" = 201 ]; then acked+=("$(jb -r .id)"); fi
    if [ "$STATUS" = 503 ]; then saw503=1; break; fi
done
check "a full disk answers 503" 1 "$saw503"
check "store_unavailable with Retry-After" "store_unavailable 1" "$(jb -r .code) $(header Retry-After)"
req GET /healthz
check "the server lives on" 200 "$STATUS"
api GET "/site/$SITE/job?limit=1000"
check "reads still work" 200 "$STATUS"
rm -f "$JP_TMP/small/fill"
api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" \
    -H 'X-Description: after' --data-binary ':put back'
check "writes work again once space returns" 201 "$STATUS"
acked+=("$(jb -r .id)")
api GET "/site/$SITE/job?limit=1000"
have=$(jb -r '.[].id' | sort)
lost=0
for id in "${acked[@]}"; do grep -qx "$id" <<<"$have" || lost=$((lost + 1)); done
check "nothing acknowledged was lost (${#acked[@]} jobs)" 0 "$lost"
jp_stop
check "integrity_check" ok "$(sqlite3 "$JP_DB" 'PRAGMA integrity_check')"
jp_start
jp_finish_full() { jp_stop; umount "$JP_TMP/small"; jp_finish; }
jp_finish_full
