# Listing sites for a fleet: keyset paging over 25,000 sites with no gap or
# repeat, the filters has_pulse, q and version (alone, combined and carried by
# Link), the unpaged form, bad parameters.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
N=25000

# A few adopted routers for the filters: names, identities and versions differ.
adopt "Core Ashburn" "7.15.3 (stable)"
A1=$SITE
poll "" "name=ash-core-01;version=7.15.3 (stable);uptime=1h"
adopt "edge lab" "7.15 (stable)"
A2=$SITE
poll "" "name=LAB_100%;version=7.15 (stable);uptime=1h"
adopt "branch" "7.16.2 (stable)"
A3=$SITE
poll "" "name=br-7;version=7.16.2 (stable);uptime=1h"
adopt "old" "7.150 (testing)"
A4=$SITE
poll "" "name=old;version=7.150 (testing);uptime=1h"
api GET /sites
check "four adopted sites" 4 "$(jb length)"
# one site of another team is never listed
TOK=$(token t2) new_site "foreign" >/dev/null

# The fleet: one curl, keep-alive, 16 in parallel.
check "$N sites created" "$N" "$(new_sites "$N" fleet)"

api GET /sites
check "the unpaged list has every site" $((N + 4)) "$(jb length)"
ALL=$(jb -c '[.[].id]')
check "in id order" "$ALL" "$(jb -c '[.[].id] | sort')"

# Paging 1000 at a time until no Link.
: >"$JP_TMP/paged"
NEXT="/sites?limit=1000"
pages=0 bad=0
while [ -n "$NEXT" ] && [ $pages -lt 40 ]; do
    api GET "$NEXT"
    [ "$STATUS" = 200 ] || bad=$((bad + 1))
    jb '.[].id' >>"$JP_TMP/paged"
    NEXT=$(sed -nE 's/^<([^>]*)>; rel="next"$/\1/p' <<<"$(header Link)")
    pages=$((pages + 1))
done
check "every page answered 200" 0 "$bad"
check "26 pages" 26 "$pages"
check "no repeat" $((N + 4)) "$(sort -u "$JP_TMP/paged" | wc -l)"
check "pages concatenated equal the unpaged list" "$ALL" "$(jq -Rsc 'split("\n") | map(select(. != ""))' "$JP_TMP/paged")"

# A cursor from the middle, and one that names no site (keyset: still exact).
MID=$(jq -r '.[12345]' <<<"$ALL")
api GET "/sites?limit=3&after=$MID"
check "after the 12346th site: the next three" "$(jq -c '.[12346:12349]' <<<"$ALL")" "$(jb -c '[.[].id]')"
GONE=00000000-0000-7000-8000-000000000000
api GET "/sites?after=$GONE&limit=1"
check "after an id no site has" "$(jq -c '.[0:1]' <<<"$ALL")" "$(jb -c '[.[].id]')"
LAST=$(jq -r '.[-1]' <<<"$ALL")
api GET "/sites?after=$LAST&limit=10"
check "after the last site: nothing, no Link" "[] " "$BODY $(header Link)"

# Filters.
ids() { jb -c '[.[].id] | sort'; }
sorted() { printf '%s\n' "$@" | jq -Rsc 'split("\n") | map(select(. != "")) | sort'; }
api GET "/sites?has_pulse=true"
check "has_pulse=true: the four that polled" "$(sorted "$A1" "$A2" "$A3" "$A4")" "$(ids)"
api GET "/sites?has_pulse=false&limit=1000"
check "has_pulse=false pages the rest" "1000 true" "$(jb 'length') $(jb 'all(.has_pulse == false)')"
check_true "its Link keeps the filter" grep -q "&has_pulse=false>" <<<"$(header Link)"
api GET "/sites?q=ASHBURN"
check "q matches the name, any case" "$(sorted "$A1")" "$(ids)"
api GET "/sites?q=core-0"
check "q matches the identity" "$(sorted "$A1")" "$(ids)"
api GET "/sites?q=100%25"
check "q's % is a character, not a pattern" "$(sorted "$A2")" "$(ids)"
api GET "/sites?q=_"
check "q's _ is a character, not a pattern" "$(sorted "$A2")" "$(ids)"
api GET "/sites?q=fleet-2499&limit=5"
P1=$(jb -c '[.[] | {id, name}]')
check_true "its Link carries q" grep -q "&q=fleet-2499>" <<<"$(header Link)"
NEXT=$(sed -nE 's/^<([^>]*)>; rel="next"$/\1/p' <<<"$(header Link)")
api GET "$NEXT"
check "q with paging: two pages of five, in id order, then no Link" \
    "fleet-24990 fleet-24991 fleet-24992 fleet-24993 fleet-24994 fleet-24995 fleet-24996 fleet-24997 fleet-24998 fleet-24999 true " \
    "$(jq -r --argjson p2 "$(jb -c '[.[] | {id, name}]')" '. + $p2 | "\(map(.name) | sort | join(" ")) \(map(.id) == (map(.id) | sort))"' <<<"$P1") $(header Link)"
api GET "/sites?version=7.15"
check "version=7.15: 7.15 and 7.15.x, not 7.150" "$(sorted "$A1" "$A2")" "$(ids)"
api GET "/sites?version=7.15.3"
check "version=7.15.3" "$(sorted "$A1")" "$(ids)"
api GET "/sites?version=7.16.2%20(stable)"
check "version with its channel" "$(sorted "$A3")" "$(ids)"
api GET "/sites?version=7.1"
check "version=7.1 is not a prefix of 7.15" "[]" "$(ids)"
api GET "/sites?version=7.15&q=lab&has_pulse=true"
check "filters combine" "$(sorted "$A2")" "$(ids)"
api GET "/sites?version=7.15&limit=1"
check_true "a Link with a filter that needs encoding" grep -q "&version=7.15>" <<<"$(header Link)"
api GET "/sites?version=7.16.2%20(stable)&limit=1"
check "one site, no Link" "1 " "$(jb length) $(header Link)"
api GET "/sites?q=foreign"
check "another team's site is never found" "[]" "$BODY"

for bad in "limit=0" "limit=1001" "limit=x" "after=nope" "has_pulse=yes" "has_pulse=" "q=" \
    "version=" "q=$(printf 'a%.0s' $(seq 101))"; do
    api GET "/sites?$bad"
    check_error "bad parameter $bad" 422 parameter_invalid
done
jp_finish
