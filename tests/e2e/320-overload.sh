# Beyond its limits the server answers 503 or 429 with Retry-After instead of
# queuing without bound, and recovers when the load goes away.
. "$(dirname "$0")/lib.sh"
jp_start --max-connections 16 --max-held 3 --rate-limit 20
TOK=$(token t1)

# Connections: 40 idle ones hold the server above its limit of 16.
for i in $(seq 40); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$JP_PORT"
    eval "c$i=$fd"
done
sleep 0.3
req GET /healthz
check_error "past the connection limit" 503 overloaded
check "with Retry-After" 5 "$(header Retry-After)"
for i in $(seq 40); do eval "exec {c$i}>&-"; done
sleep 0.5
req GET /healthz
check "after the flood, served again" 200 "$STATUS"

# Held polls: three are held, the fourth is refused at once.
adopt "busy"
for i in 1 2 3; do
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $DTOK" --data-binary "name=b;jobplane-script=$JP_REV" "$BASE/poll?wait=5" &
done
sleep 0.5
req GET /healthz
check "three polls held" 3 "$(jb .held_polls)"
poll "?wait=5"
check_error "a fourth held poll" 503 overloaded
check "with Retry-After" 5 "$(header Retry-After)"
poll
check "a poll that does not ask to be held is still served" 200 "$STATUS"
wait_bg
poll "?wait=1"
check "once they are answered, polls are held again" 200 "$STATUS"

# Rate limit: 20 requests a minute per team (a burst of 20, then a token
# every 3 s); the next answers 429. Sent until the first 429: the tokens
# refilled while they ran (a loaded machine makes that more than none) pass.
TOK=$(token rl)
codes="" t0=$(date +%s.%N)
for i in $(seq 60); do
    api GET /sites
    codes="$codes$STATUS "
    [ "$STATUS" = 429 ] && break
done
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", b - a + 1 }')
passed=$(grep -o 200 <<<"$codes" | wc -l)
check_true "20 requests within the limit, plus at most one per 3 s of the $took s they took: $passed" \
    test "$passed" -ge 20 -a "$passed" -le $((20 + (took + 2) / 3))
check "  every answer before the 429 was 200" "$((passed + 1))" "$(wc -w <<<"$codes")"
check_error "the request past the limit" 429 rate_limited
check_true "Retry-After of a few seconds ($(header Retry-After))" test "$(header Retry-After)" -ge 1 -a "$(header Retry-After)" -le 4
TOK=$(token other-team)
api GET /sites
check "another team is not limited" 200 "$STATUS"
req POST /poll -H "Authorization: Bearer $DTOK" --data-binary "name=b;jobplane-script=$JP_REV"
check "routers are not rate limited" 200 "$STATUS"
jp_finish
