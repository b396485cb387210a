# Held polls: ?wait=N returns at once when a job is queued, at N seconds when
# none comes; an express job wakes a held poll; the server stops cleanly with
# polls held.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
adopt "holder"

ms() { date +%s%3N; }
t0=$(ms)
poll "?wait=2"
t1=$(ms)
check "no job: the held poll answers idle" "# jobplane: nothing to do" "$(head -1 <<<"$BODY")"
check_true "after about 2 s ($((t1 - t0)) ms)" test $((t1 - t0)) -ge 1900 -a $((t1 - t0)) -lt 4000

# An express job created while the poll is held is delivered at once.
# (measured from the moment the create is sent, not from the poll's start:
# the test's own sleep and process starts are no part of the wake)
( poll "?wait=20"; t1=$(ms); echo "$t1 $(head -1 <<<"$BODY")" >"$JP_TMP/held" ) &
HELD=$!
sleep 1
tc=$(ms)
curl -s -o /dev/null -X POST -H "Authorization: Bearer $TOK" -H 'Content-Type: text/plain' \
    -H "X-Idempotency-Key: $(uuid)" -H 'X-Description: express' -H 'X-Express-Execute: true' \
    --data-binary ':put now' "$BASE/site/$SITE/job"
wait "$HELD"
read -r t1 first <"$JP_TMP/held"
took=$((t1 - tc))
check "the held poll got the express job" "# jobplane job" "$(cut -c1-14 <<<"$first")"
check_true "within 1 s of the create (answered ${took} ms after it was sent)" test "$took" -lt 1500
# (with PostgreSQL the NOTIFY listener may wake the poll before the creating
# request does, so the count in this line can be 0 or 1)
grep -qE "job [0-9A-Za-z]{10} express execution requested: [01] held poll\(s\) woken" "$JP_TMP/server.log"
check "the express request is logged with its token" 0 $?

# A client that goes away while held is released.
curl -s -o /dev/null --max-time 30 -X POST -H "Authorization: Bearer $DTOK" --data-binary "name=h;jobplane-script=$JP_REV" "$BASE/poll?wait=30" &
GONE=$!
sleep 0.5
req GET /healthz
check "one poll held" 1 "$(jb .held_polls)"
kill "$GONE"; wait "$GONE" 2>/dev/null
sleep 1.5
req GET /healthz
check "released within about a second after its client left" 0 "$(jb .held_polls)"
adopt "holder-2"
for i in $(seq 20); do
    curl -s -o /dev/null --max-time 30 -X POST -H "Authorization: Bearer $DTOK" --data-binary "name=h;jobplane-script=$JP_REV" "$BASE/poll?wait=30" &
done
sleep 1
req GET /healthz
check "the server answers while 20 polls are held" "200 20" "$STATUS $(jb .held_polls)"
# Stopping with polls held: they are answered, and the server exits cleanly.
t0=$(ms)
jp_stop
t1=$(ms)
check_true "stop with held polls takes less than 5 s ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 5000
wait_bg
jp_start
jp_finish
