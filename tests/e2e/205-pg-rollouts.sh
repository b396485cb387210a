# PostgreSQL only: two nodes on one database, each with its scheduler thread,
# launch each rollout once. A launch over thousands of sites (many steps, the
# nodes racing for each), several rollouts launching in the same second, and
# canary then waves over a fleet polling both nodes at random: every target
# gets exactly one job, each launch and each wave happens once (one node logs
# it), and no router runs a job twice.
. "$(dirname "$0")/lib.sh"
[ -n "${JP_PG_ADMIN:-}" ] || { echo "# PostgreSQL only"; jp_finish; }
jp_start --poll-interval 1
A=$BASE
"$JP_BIN" serve --listen 127.0.0.1:0 --db "$JP_DB" --port-file "$JP_TMP/port2" --poll-interval 1 \
    --auto-backup off >"$JP_TMP/node2.log" 2>&1 &
PID2=$!
for _ in $(seq 100); do [ -s "$JP_TMP/port2" ] && break; sleep 0.05; done
B="http://127.0.0.1:$(cat "$JP_TMP/port2")"
S="scripts:read scripts:write scripts:approve jobs:read jobs:write sites:read sites:write"
ALICE=$("$JP_BIN" token --team t1 --subject alice --scope "$S" --ttl 7200)
BOB=$("$JP_BIN" token --team t1 --subject bob --scope "$S" --ttl 7200)
TOK=$ALICE
LIVE=20
IDLE=2000
# launch S: S seconds from now, time enough to create and approve first on a
# loaded machine (a launch time past before the approval is refused)
launch() { date -u -d "+$1 sec" +%FT%TZ; }

"$JP_BIN" sim --url "$A" --url "$B" --token "$ALICE" --routers "$LIVE" --interval 1 --duration 600 \
    --fail-rate 0 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
check "$IDLE idle sites created through both nodes" "$IDLE" "$(new_sites "$IDLE" idle "$A" "$B")"
sim_online "$LIVE"
LIVE_IDS=$SIM_IDS
check "the simulator adopted $LIVE sites" "$LIVE" "$(jq length <<<"$LIVE_IDS")"
api GET "/sites?q=idle-"
IDLE_IDS=$(jb -c '[.[].id]')
check "the idle sites' ids" "$IDLE" "$(jq length <<<"$IDLE_IDS")"

# create_approved NODE BODY: created as alice on NODE, approved as bob on the other
create_approved() {
    local other=$A
    [ "$1" = "$A" ] && other=$B
    BASE=$1 api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$2"
    local id
    id=$(jb -r .id)
    BASE=$other TOK=$BOB api POST "/scripts/scheduled/$id/approve"
    [ "$STATUS" = 200 ] || echo "# approve: $STATUS $BODY" >&2
    echo "$id"
}
exact() { # exact ROLLOUT COUNT
    check "$1: $2 jobs, on $2 distinct sites" "$2 $2" \
        "$(db_exec "SELECT count(*) || ' ' || count(DISTINCT site_id) FROM jobs WHERE rollout_id='$1'")"
    check "$1: every target's row names its site's job" "$2" \
        "$(db_exec "SELECT count(*) FROM rollout_sites rs JOIN jobs j ON j.id=rs.job_id AND j.site_id=rs.site_id AND j.rollout_id=rs.rollout_id WHERE rs.rollout_id='$1'")"
}
events_of() { api GET "/scripts/scheduled/$1/events"; jb -r '.[].message'; }
launched_logs() { cat "$JP_TMP/server.log" "$JP_TMP/node2.log" | grep -c "rollout $1 launched"; }
wait_end() { # wait_end ROLLOUT
    for _ in $(seq 600); do
        api GET "/scripts/scheduled/$1"
        case $(jb -r .status) in completed | failed | aborted) return ;; esac
        sleep 0.2
    done
}

# ---- one launch over 2,000 sites, 100 a step, both nodes at it ----------------
R1=$(create_approved "$A" "$(jq -nc --arg la "$(launch 10)" --argjson s "$IDLE_IDS" \
    '{description: "big launch", script: ":put big", launch_at: $la, sites: $s}')")
for _ in $(seq 600); do
    [ "$(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R1'")" -ge "$IDLE" ] && break
    sleep 0.1
done
sleep 2 # anything a second node would queue twice, it has by now
exact "$R1" "$IDLE"
check "$R1: launched once" 1 "$(events_of "$R1" | grep -c '^Launched')"
check "$R1: one node logged the launch" 1 "$(launched_logs "$R1")"
api POST "/scripts/scheduled/$R1/abort"
check "$R1: aborted, nothing left pending" "aborted 0" \
    "$(jb -r .status) $(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R1' AND cancelled_at IS NULL")"

# ---- five rollouts launching in the same second, created on either node --------
at=$(launch 15)
RS=()
for k in 1 2 3 4 5; do
    node=$A
    [ $((k % 2)) = 0 ] && node=$B
    RS+=("$(create_approved "$node" "$(jq -nc --arg la "$at" --argjson s "$LIVE_IDS" --arg k "$k" \
        '{description: ("same second " + $k), script: (":put " + $k), launch_at: $la, sites: $s}')")")
done
for r in "${RS[@]}"; do
    wait_end "$r"
    check "$r: completed on every site" "completed $LIVE" "$(jb -r '"\(.status) \(.progress.completed | length)"')"
    exact "$r" "$LIVE"
    check "$r: launched once" 1 "$(events_of "$r" | grep -c '^Launched')"
    check "$r: one node logged the launch" 1 "$(launched_logs "$r")"
done

# ---- canary, then waves of 5, the fleet polling both nodes ----------------------
CANARY=$(jq -r '.[0]' <<<"$LIVE_IDS")
R2=$(create_approved "$B" "$(jq -nc --arg la "$(launch 10)" --argjson s "$LIVE_IDS" --arg c "$CANARY" \
    '{description: "waves", script: ":put waves", launch_at: $la, sites: $s, test_site_id: $c, wave_size: 5, wave_interval: 1}')")
wait_end "$R2"
check "$R2: canary and 4 waves completed" "completed $LIVE 4" "$(jb -r '"\(.status) \(.progress.completed | length) \(.waves)"')"
exact "$R2" "$LIVE"
ev=$(events_of "$R2")
check "$R2: launched once" 1 "$(grep -c '^Launched' <<<"$ev")"
for w in 1 2 3 4; do
    check "$R2: wave $w of 4 started once" 1 "$(grep -c "^Wave $w of 4 started" <<<"$ev")"
done
check "$R2: finished once" 1 "$(grep -c '^completed:' <<<"$ev")"

kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null
check "no job was delivered twice to the fleet" 0 "$(grep -c '^DUPLICATE ' "$JP_TMP/rec")"
check "the fleet ran $((6 * LIVE)) rollout jobs, each once" "$((6 * LIVE)) $((6 * LIVE))" \
    "$(grep -c '^done ' "$JP_TMP/rec") $(grep '^done ' "$JP_TMP/rec" | cut -d' ' -f3 | sort -u | wc -l)"
kill -TERM "$PID2"
st=0
wait "$PID2" || st=$?
check "node B exits 0 after SIGTERM" 0 "$st"
jp_finish
