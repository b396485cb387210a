# 50 identical creates racing: exactly one job, one 201, every answer the same job.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "race")
KEY=$(uuid)
mkdir -p "$JP_TMP/race"
for i in $(seq 50); do
    curl -s -o "$JP_TMP/race/$i.json" -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOK" \
        -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $KEY" -H 'X-Description: race' \
        --data-binary '/system script run deploy' "$BASE/site/$SITE/job" >"$JP_TMP/race/$i.code" &
done
wait_bg
check "one 201" 1 "$(cat "$JP_TMP"/race/*.code | grep -c '^201$')"
check "49 replays with 200" 49 "$(cat "$JP_TMP"/race/*.code | grep -c '^200$')"
check "every answer names the same job" 1 "$(jq -r .id "$JP_TMP"/race/*.json | sort -u | wc -l)"
api GET "/site/$SITE/job"
check "exactly one job exists" 1 "$(jb length)"

# Racing creates with different keys all succeed and stay distinct.
for i in $(seq 50); do
    curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $TOK" \
        -H 'Content-Type: text/plain' -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: many' \
        --data-binary ":put $i" "$BASE/site/$SITE/job" >"$JP_TMP/race/m$i.code" &
done
wait_bg
check "50 different keys: 50 answers 201" 50 "$(cat "$JP_TMP"/race/m*.code | grep -c '^201$')"
api GET "/site/$SITE/job"
check "51 jobs" 51 "$(jb length)"
check "51 distinct tokens" 51 "$(jb '[.[].token] | unique | length')"

jp_finish
