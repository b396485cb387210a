# Rollouts (the seed's scheduled scripts) against a simulated fleet: the
# two-person rule, an update after approval needs approval again, the canary
# then waves with the right progress, a failing canary stops everything, the
# abort threshold cancels what is pending, offline sites are skipped, a
# window delays; bad input is refused and creates nothing; templates.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1 --auto-backup off
S="scripts:read scripts:write scripts:approve jobs:read jobs:write sites:read sites:write backups:read"
ALICE=$("$JP_BIN" token --team t1 --subject alice --scope "$S")
BOB=$("$JP_BIN" token --team t1 --subject bob --scope "$S")
TOK=$ALICE
N=${ROLLOUT_ROUTERS:-200}
launch() { date -u -d "+${1:-2} sec" +%FT%TZ; }
as() { local t=$1; shift; TOK=$t api "$@"; }

"$JP_BIN" sim --url "$BASE" --token "$ALICE" --routers "$N" --interval 1 --duration 120 \
    --fail-rate 0 >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do
    api GET /sites
    [ "$(jb length)" = "$N" ] && [ "$(jb '[.[] | select(.has_pulse)] | length')" = "$N" ] && break
    sleep 0.3
done
check "the simulator adopted $N sites, all online" "$N" "$(jb '[.[] | select(.has_pulse)] | length')"
SITES=$(jb -c '[.[].id]')
CANARY=$(jb -r '.[0].id')
# two sites that never poll: offline
api POST /sites -H 'Content-Type: application/json' -d '{"name":"offline-1"}'
OFF1=$(jb -r .id)
api POST /sites -H 'Content-Type: application/json' -d '{"name":"offline-2"}'
OFF2=$(jb -r .id)

# ---- bad input: refused, nothing created --------------------------------
body() { jq -nc --arg la "$1" --argjson sites "$2" "{description: \"fleet change\", script: \":put 1\", launch_at: \$la, sites: \$sites} + ${3:-{\}}"; }
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body 2020-01-01T00:00:00Z "$SITES")"
check_error "launch_at in the past" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" '[]')"
check_error "an empty site list" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$(uuid)\"]")"
check_error "an unknown site" 404 resource_missing
OTHER=$("$JP_BIN" token --team t2 --subject eve --scope "$S")
FOREIGN=$(TOK=$OTHER api POST /sites -H 'Content-Type: application/json' -d '{"name":"foreign"}'; jb -r .id)
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$CANARY\", \"$FOREIGN\"]")"
check_error "another team's site" 404 resource_missing
check_true "  the message names it" grep -q "$FOREIGN" <<<"$BODY"
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\"]" "{test_site_id: \"$CANARY\"}")"
check_error "test_site_id not among the sites" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\", \"$OFF2\"]" '{wave_size: 5}')"
check_error "a wave larger than the sites" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\", \"$OFF2\"]" '{wave_size: 1, wave_percent: 50}')"
check_error "wave_size and wave_percent together" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\", \"$OFF1\"]")"
check_error "a site listed twice" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\"]" '{max_failures: "150%"}')"
check_error "max_failures over 100%" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\"]" '{window: {days: ["mon"], start: "25:00", end: "02:00", tz: "UTC"}}')"
check_error "a window with a bad time" 422 parameter_invalid
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 60)" "[\"$OFF1\"]" '{window: {days: ["mon"], start: "01:00", end: "02:00", tz: "Mars/Olympus"}}')"
check_error "a window in an unknown time zone" 422 parameter_invalid
api GET /scripts/scheduled
check "nothing was created" 0 "$(jb length)"

# ---- templates ------------------------------------------------------------
api POST /scripts/templates -H 'Content-Type: application/json' \
    -d "$(jq -nc --arg c "$(printf '%5001s' | tr ' ' x)" '{name: "big", content: $c}')"
check "a template over 5000 characters" 413 "$STATUS"
api POST /scripts/templates -H 'Content-Type: application/json' -d '{"name":"ntp","description":"set NTP","content":"/system ntp client set enabled=yes"}'
check "a template is created" 201 "$STATUS"
TPL=$(jb -r .id)
api PUT "/scripts/templates/$TPL" -H 'Content-Type: application/json' -d '{"name":"ntp","content":":put ntp"}'
check "and replaced" ":put ntp" "$(jb -r .content)"
TOK=$OTHER api GET "/scripts/templates/$TPL"
check "another team's template is not found" 404 "$STATUS"

# ---- the two-person rule; an update needs approval again -------------------
api POST /scripts/scheduled -H 'Content-Type: application/json' \
    -d "$(jq -nc --arg la "$(launch 30)" --arg t "$TPL" --argjson s "[\"$OFF1\"]" '{description: "from a template", template_id: $t, launch_at: $la, sites: $s}')"
check "created from a template: unauthorized" "201 unauthorized :put ntp" "$STATUS $(jb -r .status) $(jb -r .script)"
R0=$(jb -r .id)
api GET "/scripts/scheduled/$R0/authorize"
check "authorize says how" "POST /scripts/scheduled/$R0/approve scripts:approve" "$(jb -r '"\(.method) \(.approve_url) \(.scope)"')"
api POST "/scripts/scheduled/$R0/approve"
check_error "the creator cannot approve" 403 forbidden
NOSUB=$("$JP_BIN" token --team t1 --scope "$S")
as "$NOSUB" POST "/scripts/scheduled/$R0/approve"
check_error "nor an anonymous caller" 403 forbidden
as "$BOB" POST "/scripts/scheduled/$R0/approve"
check "another person approves" "200 scheduled bob" "$STATUS $(jb -r .status) $(jb -r .authorized_by)"
check_true "  authorized_at is set" test "$(jb -r .authorized_at)" != null
as "$BOB" POST "/scripts/scheduled/$R0/approve"
check_error "approving twice" 409 invalid_state
api PUT "/scripts/scheduled/$R0" -H 'Content-Type: application/json' -d "$(body "$(launch 30)" "[\"$OFF1\", \"$OFF2\"]")"
check "an update after approval: unauthorized again" "200 unauthorized null 2" \
    "$STATUS $(jb -r .status) $(jb -r .authorized_at) $(jb '.sites | length')"
api GET "/scripts/scheduled/$R0/events"
check_true "its events say who approved" grep -q 'Approved by bob' <<<"$BODY"
api DELETE "/scheduled/$R0"
check "DELETE before launch cancels (the older path)" "200 cancelled" "$STATUS $(jb -r .status)"
api GET "/scripts/scheduled/$R0"
check "  cancelled_at is set" cancelled "$(jb -r .status)"

# ---- canary, then waves; offline sites skipped -----------------------------
ALL=$(jq -c --arg a "$OFF1" --arg b "$OFF2" '. + [$a, $b]' <<<"$SITES")
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 8)" "$ALL" \
    "{test_site_id: \"$CANARY\", wave_percent: 25, wave_interval: 1, abort_if_offline: true, make_backup: false}")"
R1=$(jb -r .id)
check "the waves: canary, then 4 of 25%" 4 "$(jb .waves)"
as "$BOB" POST "/scripts/scheduled/$R1/approve"
for _ in $(seq 120); do
    api GET "/scripts/scheduled/$R1"
    case $(jb -r .status) in completed | failed | aborted) break ;; esac
    sleep 0.5
done
check "the rollout completed" completed "$(jb -r .status)"
check "progress: every online site completed, the offline ones skipped" "$N 0 0 2 0" \
    "$(jb -r '.progress | "\(.completed|length) \(.failed|length) \(.pending|length) \(.skipped|length) \(.cancelled|length)"')"
api GET "/scripts/scheduled/$R1/progress"
check "the progress endpoint agrees" "$N 2" "$(jb -r '"\(.completed|length) \(.skipped|length)"')"
api GET "/site/$CANARY/job?rollout=$R1"
check "the canary's job carries the rollout" "1 $R1 completed" "$(jb -r '"\(length) \(.[0].rollout_id) \(.[0].status)"')"
CJOB=$(jb -r '.[0].completed_at')
SECOND=$(jq -r '.[1]' <<<"$SITES")
api GET "/site/$SECOND/job?rollout=$R1"
check_true "a wave's job was queued after the canary completed" test "$(jb -r '.[0].created_at')" \> "$CJOB" -o "$(jb -r '.[0].created_at')" = "$CJOB"
api GET "/scripts/scheduled/$R1/events"
check "the events: created, approved, launched, 4 waves, completed" 8 "$(jb length)"
check "each site ran it once" "$N" \
    "$(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R1'")"
api DELETE "/scripts/scheduled/$R1"
check_error "a finished rollout cannot be deleted" 409 invalid_state
api POST "/scripts/scheduled/$R1/pause"
check_error "nor paused" 409 invalid_state

kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null

# ---- a failing canary stops everything; the threshold aborts ---------------
TOK3=$("$JP_BIN" token --team t3 --subject carol --scope "$S")
DAVE=$("$JP_BIN" token --team t3 --subject dave --scope "$S")
"$JP_BIN" sim --url "$BASE" --token "$TOK3" --routers 40 --interval 1 --duration 40 \
    --fail-rate 1 >"$JP_TMP/sim3.out" 2>&1 &
SIM=$!
TOK=$TOK3
for _ in $(seq 100); do
    api GET /sites
    [ "$(jb '[.[] | select(.has_pulse)] | length')" = 40 ] && break
    sleep 0.3
done
S3=$(jb -c '[.[].id]')
C3=$(jb -r '.[0].id')
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 2)" "$S3" "{test_site_id: \"$C3\"}")"
R2=$(jb -r .id)
as "$DAVE" POST "/scripts/scheduled/$R2/approve"
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 2)" "$S3" '{wave_size: 5, max_failures: "10%"}')"
R3=$(jb -r .id)
as "$DAVE" POST "/scripts/scheduled/$R3/approve"
for r in $R2 $R3; do
    for _ in $(seq 120); do
        api GET "/scripts/scheduled/$r"
        case $(jb -r .status) in completed | failed | aborted) break ;; esac
        sleep 0.5
    done
done
api GET "/scripts/scheduled/$R2"
check "a failing canary: the rollout failed, nothing else queued" "failed 1 39" \
    "$(jb -r '"\(.status) \(.progress.failed|length) \(.progress.cancelled|length)"')"
check "  only the canary got a job" 1 "$(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R2'")"
api GET "/scripts/scheduled/$R3"
check "max_failures 10% of 40 (4): aborted" aborted "$(jb -r .status)"
Q3=$(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R3'")
check_true "  queueing stopped after the wave that reached it ($Q3 jobs)" test "$Q3" -le 10
check "  nothing of it is left pending" 0 "$(jb '.progress.pending | length')"
check_true "  the threshold was reached ($(jb '.progress.failed | length') failed)" test "$(jb '.progress.failed | length')" -ge 4
check "  every other site was cancelled" 40 "$(jb '(.progress.failed | length) + (.progress.cancelled | length)')"
kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null

# ---- a window delays --------------------------------------------------------
TOK=$ALICE
TOMORROW=$(date -u -d '+1 day' +%a | tr A-Z a-z)
api POST /scripts/scheduled -H 'Content-Type: application/json' -d "$(body "$(launch 2)" "[\"$OFF1\"]" \
    "{window: {days: [\"$TOMORROW\"], start: \"00:00\", end: \"00:01\", tz: \"UTC\"}}")"
R4=$(jb -r .id)
as "$BOB" POST "/scripts/scheduled/$R4/approve"
sleep 4
api GET "/scripts/scheduled/$R4"
check "outside its window a launched rollout queues nothing" "launched 0" \
    "$(jb -r .status) $(db_exec "SELECT count(*) FROM jobs WHERE rollout_id='$R4'")"
api POST "/scripts/scheduled/$R4/pause"
check "pause" paused "$(jb -r .status)"
api POST "/scripts/scheduled/$R4/resume"
check "resume" launched "$(jb -r .status)"
api POST "/scripts/scheduled/$R4/abort"
check "abort" aborted "$(jb -r .status)"
jp_finish
