# Durability: jobs survive a clean restart and a SIGKILL right after their 2xx.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "durable")
for i in $(seq 20); do new_job "$SITE" ":put $i" >/dev/null; done
J=$(new_job "$SITE" ':put "cancelled"' | jq -r .id)
api DELETE "/site/$SITE/job/$J"
api GET "/site/$SITE/job"
SNAP=$BODY
check "20 jobs before the restart" 20 "$(jb length)"

jp_restart
api GET "/site/$SITE/job"
check "every job survives a clean restart, unchanged" "$SNAP" "$BODY"
api GET "/site/$SITE/job/$J"
check_error "the cancel survives too" 404 resource_missing
api GET "/sites/$SITE"
check "the site survives" durable "$(jb .name)"

# SIGKILL immediately after acknowledged creates: all of them are on disk.
for i in $(seq 30); do
    new_job "$SITE" ":put k$i" &
done >"$JP_TMP/killed.json"
wait_bg
jp_kill9
ACKED=$(jq -r 'select(.id) | .id' "$JP_TMP/killed.json" | sort)
check "30 creates were acknowledged" 30 "$(wc -l <<<"$ACKED")"
jp_start "${JP_ARGS[@]}"
api GET "/site/$SITE/job?limit=1000"
HAVE=$(jb -r '.[].id' | sort)
check "every acknowledged create survives SIGKILL" "" "$(comm -23 <(echo "$ACKED") <(echo "$HAVE"))"
check "50 jobs in all" 50 "$(jb length)"
if [ -z "${JP_PG_ADMIN:-}" ]; then
    check "integrity_check" ok "$(sqlite3 "$JP_DB" 'PRAGMA integrity_check')"
fi

jp_finish
