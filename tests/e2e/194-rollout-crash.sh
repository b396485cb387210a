# Rollouts across crashes: the server is killed with SIGKILL in the middle of
# a launch (thousands of jobs being queued, 100 a step) and in the middle of
# a wave of a live fleet, and is down at a rollout's launch_at. After each
# restart nothing is queued twice and nothing is lost: every target has
# exactly one job, the one its row names; the launch and every wave happen
# once; the fleet runs every job once. A router's report that met the dead
# server is lost (the wrapper reports once): its job fails at the run
# timeout, so a target's outcome is the report the server acknowledged.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --run-timeout 15
JP_LISTEN="127.0.0.1:$JP_PORT" # restarts keep the port: the fleet keeps its URL
S="scripts:read scripts:write scripts:approve jobs:read jobs:write sites:read sites:write"
ALICE=$("$JP_BIN" token --team t1 --subject alice --scope "$S" --ttl 7200)
BOB=$("$JP_BIN" token --team t1 --subject bob --scope "$S" --ttl 7200)
TOK=$ALICE
LIVE=30
IDLE=${ROLLOUT_CRASH_SITES:-4000}
# launch S: S seconds from now, time enough to create and approve first on a
# loaded machine (a launch time past before the approval is refused)
launch() { date -u -d "+$1 sec" +%FT%TZ; }
restart9() { jp_kill9; jp_start "${JP_ARGS[@]}"; }

"$JP_BIN" sim --url "$BASE" --token "$ALICE" --routers "$LIVE" --interval 1 --duration 600 \
    --fail-rate 0 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
# sites that never poll: a launch over them is thousands of jobs, 100 a step
check "$IDLE idle sites created" "$IDLE" "$(new_sites "$IDLE" idle)"
sim_online "$LIVE"
LIVE_IDS=$SIM_IDS
check "the simulator adopted $LIVE sites" "$LIVE" "$(jq length <<<"$LIVE_IDS")"
api GET "/sites?q=idle-"
IDLE_IDS=$JP_TMP/idle.json
jb -c '[.[].id]' >"$IDLE_IDS"
check "their ids" "$IDLE" "$(jq length "$IDLE_IDS")"

# create_approved BODY: creates a rollout as alice, approves it as bob; sets RID
create_approved() {
    printf '%s' "$1" >"$JP_TMP/rollout.json"
    api POST /scripts/scheduled -H 'Content-Type: application/json' --data-binary @"$JP_TMP/rollout.json"
    [ "$STATUS" = 201 ] || { not_ok "a rollout is created ($STATUS ${BODY:0:300})"; jp_finish; }
    RID=$(jb -r .id)
    TOK=$BOB api POST "/scripts/scheduled/$RID/approve"
    [ "$STATUS" = 200 ] || { not_ok "a rollout is approved ($STATUS ${BODY:0:300})"; jp_finish; }
}
jobs_of() { db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$1'"; }
# exact ROLLOUT COUNT: every target has one job, the one its row names, and
# no site has two
exact() {
    check "$1: $2 jobs, on $2 distinct sites" "$2 $2" \
        "$(db_exec "SELECT count(*) || ' ' || count(DISTINCT site_id) FROM jobs WHERE rollout_id='$1'")"
    check "$1: every target's row names its site's job" "$2" \
        "$(db_exec "SELECT count(*) FROM rollout_sites rs JOIN jobs j ON j.id=rs.job_id AND j.site_id=rs.site_id AND j.rollout_id=rs.rollout_id WHERE rs.rollout_id='$1'")"
}
events_of() { TOK=$ALICE api GET "/scripts/scheduled/$1/events"; jb -r '.[].message'; }

# ---- killed in the middle of a launch ----------------------------------------
create_approved "$(jq -nc --arg la "$(launch 10)" --slurpfile s "$IDLE_IDS" \
    '{description: "big launch", script: ":put big", launch_at: $la, sites: $s[0]}')"
R1=$RID
kills=0 mid=0 seen=()
for _ in $(seq 3000); do
    n=$(jobs_of "$R1")
    [ "${n:-0}" -ge "$IDLE" ] && break
    if [ "${n:-0}" -gt "${last:-0}" ]; then
        restart9
        kills=$((kills + 1))
        # what had committed before the kill is what the restarted server has
        n2=$(jobs_of "$R1")
        seen+=("$n2")
        [ "$n2" -gt 0 ] && [ "$n2" -lt "$IDLE" ] && mid=$((mid + 1))
        last=$n2
        [ "$kills" -ge 3 ] && break
    fi
    sleep 0.02
done
echo "# killed $kills times during the launch; jobs queued at each restart: ${seen[*]}"
check_true "the server was killed in the middle of the launch ($mid times)" test "$mid" -ge 1
for _ in $(seq 600); do [ "$(jobs_of "$R1")" -ge "$IDLE" ] && break; sleep 0.1; done
exact "$R1" "$IDLE"
api GET "/scripts/scheduled/$R1"
check "  launched, every target pending" "launched $IDLE" "$(jb -r '"\(.status) \(.progress.pending | length)"')"
check "  launched once" 1 "$(events_of "$R1" | grep -c '^Launched')"
api POST "/scripts/scheduled/$R1/abort"
check "  aborted: its undelivered jobs are cancelled" "aborted 0" \
    "$(jb -r .status) $(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R1' AND cancelled_at IS NULL")"

# ---- killed in the middle of waves over a live fleet -------------------------
CANARY=$(jq -r '.[0]' <<<"$LIVE_IDS")
create_approved "$(jq -nc --arg la "$(launch 10)" --argjson s "$LIVE_IDS" --arg c "$CANARY" \
    '{description: "waves", script: ":put waves", launch_at: $la, sites: $s, test_site_id: $c, wave_size: 5, wave_interval: 1}')"
R2=$RID
kills=0
for at in 8 19; do # completed targets at which the server dies: in waves 2 and 4
    for _ in $(seq 600); do
        api GET "/scripts/scheduled/$R2"
        [ "$(jb '.progress.completed | length')" -ge "$at" ] && break
        sleep 0.1
    done
    queued=$(jobs_of "$R2")
    restart9
    kills=$((kills + 1))
    echo "# killed at $(jb '.progress.completed | length') completed, $queued queued (wave $(jb .wave) of $(jb .waves))"
done
for _ in $(seq 600); do
    api GET "/scripts/scheduled/$R2"
    case $(jb -r .status) in completed | failed | aborted) break ;; esac
    sleep 0.2
done
# its outcome, target by target, is what the fleet reported: every done the
# server acknowledged is completed; a report that met the dead server is
# failed by the run timeout (or completed, when it committed before the kill)
db_exec "SELECT id FROM jobs WHERE rollout_id='$R2' AND completed_at IS NOT NULL" | sort >"$JP_TMP/r2.done"
grep '^done ' "$JP_TMP/rec" | cut -d' ' -f3 | sort -u >"$JP_TMP/rec.done"
acked=$(comm -12 "$JP_TMP/r2.done" "$JP_TMP/rec.done" | wc -l)
ndone=$(wc -l <"$JP_TMP/r2.done")
lost=$(db_exec "SELECT id FROM jobs WHERE rollout_id='$R2'" | sort | comm -12 - "$JP_TMP/rec.done" | comm -23 - "$JP_TMP/r2.done" | wc -l)
echo "# $ndone of $LIVE completed, $acked of them acknowledged to the router"
check "after $kills kills in its waves, no acknowledged done report was lost" 0 "$lost"
want=completed
[ "$ndone" -lt "$LIVE" ] && want=failed
check "  the rollout finished: its completed targets are the completed jobs, the rest failed, none pending" \
    "$want $ndone $((LIVE - ndone)) 0" \
    "$(jb -r '"\(.status) \(.progress.completed | length) \(.progress.failed | length) \(.progress.pending | length)"')"
check_true "  at most 5 reports a kill lost (one wave's; $((LIVE - ndone)) lost)" test $((LIVE - ndone)) -le $((5 * kills))
exact "$R2" "$LIVE"
ev=$(events_of "$R2")
check "  launched once" 1 "$(grep -c '^Launched' <<<"$ev")"
for w in 1 2 3 4 5 6; do
    check "  wave $w of 6 started once" 1 "$(grep -c "^Wave $w of 6 started" <<<"$ev")"
done
check "  finished once" 1 "$(grep -cE '^(completed|failed):' <<<"$ev")"

# ---- down at launch_at ----------------------------------------------------------
create_approved "$(jq -nc --arg la "$(launch 10)" --argjson s "$LIVE_IDS" \
    '{description: "late", script: ":put late", launch_at: $la, sites: $s}')"
R3=$RID
jp_kill9
while [ "$(date +%s)" -le "$(jq -r '.launch_at | fromdateiso8601' "$JP_TMP/rollout.json")" ]; do sleep 0.5; done
sleep 2 # down past its launch time
jp_start "${JP_ARGS[@]}"
for _ in $(seq 600); do
    api GET "/scripts/scheduled/$R3"
    case $(jb -r .status) in completed | failed | aborted) break ;; esac
    sleep 0.2
done
check "a rollout whose launch_at passed while the server was down launches when it is back" \
    "completed $LIVE" "$(jb -r '"\(.status) \(.progress.completed | length)"')"
check_true "  after its launch_at" test "$(jb -r '.started_at | fromdateiso8601')" -gt "$(jb -r '.launch_at | fromdateiso8601')"
exact "$R3" "$LIVE"
check "  launched once" 1 "$(events_of "$R3" | grep -c '^Launched')"

kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null
check_delivered_once "$JP_TMP/rec"
jp_finish
