# The operator client for fleet changes: jobplane template and jobplane
# rollout against a real server and a simulated fleet: a template from
# standard input, a rollout over the sites `site ls -q` prints (canary, waves,
# relative launch time), the two-person rule, progress, events, the table,
# cancel, pause of a cancelled rollout, and bad input with its exit codes.
. "$(dirname "$0")/lib.sh"
jp_start --poll-interval 1
S="scripts:read scripts:write scripts:approve jobs:read jobs:write sites:read sites:write"
ALICE=$("$JP_BIN" token --team t1 --subject alice --scope "$S")
BOB=$("$JP_BIN" token --team t1 --subject bob --scope "$S")
export XDG_CONFIG_HOME=$JP_TMP/config HOME=$JP_TMP/home JP_URL=$BASE JP_TOKEN=$ALICE TZ=UTC
mkdir -p "$HOME"
N=5
"$JP_BIN" sim --url "$BASE" --token "$ALICE" --routers "$N" --interval 1 --duration 600 \
    --fail-rate 0 --record "$JP_TMP/rec" >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do
    cli site ls --online -q
    [ "$(wc -l <<<"$OUT")" = "$N" ] && [ -n "$OUT" ] && break
    sleep 0.2
done
check "the fleet is online" "$N" "$(wc -l <<<"$OUT")"
printf '%s\n' "$OUT" >"$JP_TMP/sites"
CANARY=$(head -1 "$JP_TMP/sites")

# Templates.
printf '/system ntp client set enabled=yes\n' >"$JP_TMP/ntp.rsc"
CLI_IN=$JP_TMP/ntp.rsc cli template add ntp - -d "turn NTP on" -q
check "template add from standard input" 0 "$RC"
TPL=$OUT
cli template ls
check_true "template ls shows it" grep -q "$TPL  *ntp" <<<"$OUT"
cli template show "$TPL" --json
check "template show --json: the content" "/system ntp client set enabled=yes" "$(jq -r .content <<<"$OUT")"

# Bad input: exit 2, nothing sent.
cli rollout create -d "no sites" --launch-at +1m --template "$TPL"
check "rollout create without --sites: usage" 2 "$RC"
check_true "  says so" grep -q -- "--sites is required" <<<"$ERR"
cli rollout create -d "x" --sites "$CANARY" --launch-at +5x --template "$TPL"
check "a relative --launch-at that is no time: usage" 2 "$RC"
cli rollout create -d "x" --sites "$CANARY" --launch-at +1m --template "$TPL" --wave-size 1 --wave-percent 50
check "--wave-size with --wave-percent: usage" 2 "$RC"
cli rollout create -d "x" --sites - --launch-at +1m -
check "script and sites both on standard input: usage" 2 "$RC"
cli rollout create -d "x" --sites "@$JP_TMP/none" --launch-at +1m --template "$TPL"
check "an unreadable --sites file: usage" 2 "$RC"
# Refused by the server: exit 1 with its code.
cli rollout create -d "past" --sites "$CANARY" --launch-at 2020-01-01T00:00:00Z --template "$TPL"
check "a launch time in the past: API error" "1 yes" "$RC $(grep -q parameter_invalid <<<"$ERR" && echo yes)"
cli rollout create -d "x" --sites "$CANARY" --launch-at tomorrowish --template "$TPL"
check "a --launch-at that is no RFC 3339 time: the server's error" "1 yes" "$RC $(grep -q parameter_invalid <<<"$ERR" && echo yes)"
cli rollout show 01a24bb2-0000-7000-8000-000000000000
check "an unknown rollout: not found" 3 "$RC"
cli rollout ls -q
check "nothing was created" "" "$OUT"

# A rollout over the fleet: sites from standard input, canary, waves of 2.
# (+15s: time enough to approve it first on a loaded machine)
CLI_IN=$JP_TMP/sites cli rollout create -d "NTP on the fleet" --sites - --launch-at +15s \
    --template "$TPL" --canary "$CANARY" --wave-size 2 --wave-interval 1 --max-failures 50% --backup
check "rollout create" 0 "$RC"
check_true "  says who must approve" grep -q "once another person approves it: jobplane rollout approve" <<<"$OUT"
check "  the sites are counted, not listed" "$N" "$(sed -nE 's/^sites: +//p' <<<"$OUT")"
R=$(sed -nE 's/^id: +//p' <<<"$OUT")
cli rollout show "$R" --json
check "the request as sent" "$CANARY 2 1 50% true unauthorized" \
    "$(jq -r '"\(.test_site_id) \(.wave_size) \(.wave_interval) \(.max_failures) \(.make_backup) \(.status)"' <<<"$OUT")"
check "  launch_at is 15 s from when the client ran (less the request's time)" 1 \
    "$(jq -r '(.launch_at | fromdateiso8601) - (.created_at | fromdateiso8601) | if . >= 5 and . <= 16 then 1 else . end' <<<"$OUT")"
cli rollout approve "$R"
check "the creator cannot approve: API error" "1 yes" "$RC $(grep -q forbidden <<<"$ERR" && echo yes)"
JP_TOKEN=$BOB cli rollout approve "$R"
check "another person approves" "0 rollout $R approved" "$RC $OUT"
for _ in $(seq 120); do
    cli rollout show "$R" --json
    case $(jq -r .status <<<"$OUT") in completed | failed | aborted) break ;; esac
    sleep 0.5
done
check "the rollout completed" completed "$(jq -r .status <<<"$OUT")"
cli rollout progress "$R"
check "progress counts each state" "completed $N failed 0 pending 0 skipped 0 cancelled 0" "$(tr -s ' \n' ' ' <<<"$OUT" | sed 's/ $//')"
cli rollout progress "$R" -q
check "progress -q: the failed sites (none)" "" "$OUT"
cli rollout events "$R"
check_true "events: the launch" grep -q "Launched: the canary first" <<<"$OUT"
check_true "events: who approved" grep -q "Approved by bob" <<<"$OUT"
cli rollout ls
check_true "rollout ls: done/failed/pending" grep -qE "^$R +completed +.* $N +$N/0/0 +NTP on the fleet$" <<<"$OUT"
check "each site ran the template once" "$N" "$(grep -c '^done ' "$JP_TMP/rec")"

# Cancel before launch; a cancelled rollout cannot be paused.
cli rollout create -d "later" --sites "$CANARY" --launch-at +1h --template "$TPL" -q
R2=$OUT
cli rollout rm "$R2"
check "rm before launch cancels" "0 rollout $R2 cancelled" "$RC $OUT"
cli rollout pause "$R2"
check "pause of a cancelled rollout: API error" "1 yes" "$RC $(grep -q invalid_state <<<"$ERR" && echo yes)"
cli template rm "$TPL"
check "template rm" "0 template $TPL deleted" "$RC $OUT"
cli template show "$TPL"
check "  then it is not found" 3 "$RC"
cli rollout --help
check_true "rollout --help lists its commands" grep -q "approve ID" <<<"$OUT"

kill "$SIM" 2>/dev/null
wait "$SIM" 2>/dev/null
jp_finish
