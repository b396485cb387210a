# Listing: newest first, keyset paging with Link, the status filter, bad parameters.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITE=$(new_site "paging")
OTHER=$(new_site "neighbour")
new_job "$OTHER" >/dev/null

api GET "/site/$SITE/job"
check "an empty site lists []" "[]" "$BODY"

# 250 jobs, created 8 at a time (keys: a random prefix and a counter).
PREFIX=$(uuid | cut -c1-23)
for i in $(seq 250); do printf '%s-%012d\n' "$PREFIX" "$i"; done |
    xargs -P 8 -I{} curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" \
        -H 'Content-Type: text/plain' -H 'X-Description: paging job' \
        -H "X-Idempotency-Key: {}" --data-binary ':put "{}"' "$BASE/site/$SITE/job"
api GET "/site/$SITE/job"
check "unpaged list returns every job" 250 "$(jb length)"
ALL=$(jb '[.[].id]')
check "newest first (created_at desc, then id desc)" \
    "$ALL" "$(jb '[sort_by(.created_at, .id) | reverse | .[].id]')"
check "other sites' jobs are not listed" 0 "$(jb "[.[] | select(.site_id != \"$SITE\")] | length")"

# Keyset paging: 100 + 100 + 50 with no gaps or repeats.
PAGES="[]"
NEXT="/site/$SITE/job?limit=100"
n=0
while [ -n "$NEXT" ] && [ $n -lt 10 ]; do
    api GET "$NEXT"
    check "page $n answers 200" 200 "$STATUS"
    PAGES=$(jq -c --argjson p "$BODY" '. + [$p | map(.id)]' <<<"$PAGES")
    LINK=$(header Link)
    NEXT=$(sed -nE 's/^<([^>]*)>; rel="next"$/\1/p' <<<"$LINK")
    n=$((n + 1))
done
check "three pages" 3 "$n"
check "page sizes" "[100,100,50]" "$(jq -c 'map(length)' <<<"$PAGES")"
check "pages concatenated equal the unpaged list" "$(jq -c . <<<"$ALL")" "$(jq -c 'add' <<<"$PAGES")"
check "the last page has no Link" "" "$LINK"

api GET "/site/$SITE/job?limit=250"
check "limit=250 has everything and no Link" "250 " "$(jb length) $(header Link)"
api GET "/sites/$SITE/jobs?limit=1"
check_true "the plural alias pages with its own path" grep -q "^</sites/$SITE/jobs?limit=1&before=" <<<"$(header Link)"
LAST=$(jq -r '.[-1]' <<<"$ALL")
api GET "/site/$SITE/job?before=$LAST"
check "before the oldest job: nothing" "[]" "$BODY"
MID=$(jq -r '.[124]' <<<"$ALL")
api GET "/site/$SITE/job?before=$MID"
check "before alone returns everything older" 125 "$(jb length)"
api GET "/api/routers/$SITE/jobs"
check "/api/routers/{id}/jobs lists the same" "$(jq -c . <<<"$ALL")" "$(jb -c '[.[].id]')"

# Status filter.
api GET "/site/$SITE/job?status=pending&limit=1000"
check "status=pending" 250 "$(jb length)"
api GET "/site/$SITE/job?status=completed"
check "status=completed" "[]" "$BODY"
api GET "/site/$SITE/job?status=pending&limit=100"
check_true "the Link keeps the filter" grep -q "&status=pending>" <<<"$(header Link)"

for bad in "limit=0" "limit=1001" "limit=abc" "limit=-1" "limit=" "limit=1.5" "before=nope" "status=cancelled" "status=PENDING"; do
    api GET "/site/$SITE/job?$bad"
    check_error "bad parameter $bad" 422 parameter_invalid
done
api GET "/site/$(uuid)/job"
check_error "unknown site" 404 resource_missing

jp_finish
