# The operator client against a real server: every command, human and
# --json output, -q, exit codes, scripts from a file and from standard input,
# jobs waited on until simulated routers finish them, the configuration
# order, and bad input (no server, a wrong token, unknown ids, unreadable or
# non-UTF-8 scripts).
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1 "jobs:read jobs:write sites:read sites:write backups:read webhooks:read webhooks:write keys:write")
export XDG_CONFIG_HOME=$JP_TMP/config HOME=$JP_TMP/home
mkdir -p "$HOME"
unset JP_URL JP_TOKEN
export TZ=UTC

# Configuration: nothing, then the file, then the environment, then flags.
cli site ls
check "no token anywhere: usage error" 2 "$RC"
check_true "it says where a token comes from" grep -q "JP_TOKEN" <<<"$ERR"
cli config --url "$BASE" --token "$TOK"
check "config writes the file" "0 600" "$RC $(stat -c %a "$XDG_CONFIG_HOME/jobplane/config")"
check_true "config masks the token" grep -qE '^token = .{8}\.\.\. \(masked\)$' <<<"$OUT"
cli site ls
check "the file's url and token are used" "0 ID NAME PULSE IDENTITY VERSION LAST SEEN" "$RC $(tr -s ' ' <<<"$OUT")"
JP_TOKEN=wrong cli site ls
check "JP_TOKEN comes before the file: a wrong token is an API error" 1 "$RC"
check_true "and says so" grep -q "unauthenticated" <<<"$ERR"
JP_TOKEN=wrong cli site ls --token "$TOK"
check "--token comes before JP_TOKEN" 0 "$RC"
cli site ls --url http://127.0.0.1:1
check "no server: exit 1" 1 "$RC"
check_true "no server: a clear message" grep -q "cannot reach http://127.0.0.1:1" <<<"$ERR"

# Sites.
cli site add "edge 1"
check "site add" 0 "$RC"
check_true "site add prints the bootstrap line" grep -qF '{:local dm [:toarray ""]; :do {:set dm [[:parse "/system device-mode get"]]}' <<<"$OUT"
S1=$(sed -n '1s/^site //p' <<<"$OUT")
cli site add "edge 2" -q
S2=$OUT
check_true "-q prints the id only" grep -qE '^[0-9a-f-]{36}$' <<<"$S2"
cli site add "core" --serial ABC123 --json
S3=$(jq -r .id <<<"$OUT")
check "--json is the API's object" "core ABC123 true" "$(jq -r '"\(.name) \(.expected_serial) \(.bootstrap | startswith("{"))"' <<<"$OUT")"
api GET /sites
cli site ls --json
check "site ls --json is GET /sites" "$(jq -c . <<<"$BODY")" "$(jq -c . <<<"$OUT")"
cli site ls -q
check "site ls -q: ids" "$(jq -r '.[].id' <<<"$BODY")" "$OUT"
cli site ls
check "site ls: a header and a row per site" 4 "$(wc -l <<<"$OUT")"
check_true "columns aligned: the names start at one column" test "$(awk '{ print index($0, $2) }' <<<"$OUT" | sort -u | wc -l)" = 1
cli site ls --search EDGE -q
check "site ls --search" "$(printf '%s\n' "$S1" "$S2" | sort)" "$(sort <<<"$OUT")"
cli site ls --limit 1 -q
check "site ls --limit 1" 1 "$(wc -l <<<"$OUT")"
cli site ls --online -q
check "site ls --online: none yet" "0 " "$RC $OUT"
cli site show "$S3"
check_true "site show: key: value lines" grep -qE '^expected_serial: +ABC123$' <<<"$OUT"
cli site show "$(uuid)"
check "site show of an unknown site: exit 3" 3 "$RC"
check_true "with the API's code" grep -q "resource_missing" <<<"$ERR"
cli site show nope
check "a malformed id: the API's 422 is exit 1" 1 "$RC"
cli site bootstrap "$S2"
check "site bootstrap of a site not adopted" 0 "$RC"
check_true "prints a new line" grep -q '/adopt/' <<<"$OUT"
cli site rm "$S2"
check "site rm" "0 site $S2 deleted: its router removes jobplane on its next poll" "$RC $OUT"

# Two simulated routers (until the end of the test), then jobs through the
# client; a wait that outlives 120 s is a failure, not a hang.
"$JP_BIN" sim --url "$BASE" --token "$TOK" --routers 2 --interval 1 --duration 900 >"$JP_TMP/sim.out" 2>&1 &
SIM=$!
for _ in $(seq 100); do
    cli site ls --online -q
    [ "$(grep -c . <<<"$OUT")" = 2 ] && break
    sleep 0.2
done
check "two routers online" 2 "$(grep -c . <<<"$OUT")"
R1=$(sed -n 1p <<<"$OUT")
R2=$(sed -n 2p <<<"$OUT")
cli site bootstrap "$R1"
check "site bootstrap of an adopted site: usage error" 2 "$RC"
check_true "pointing to rotate" grep -q "jobplane site rotate" <<<"$ERR"

printf ':put "from a file"\n' >"$JP_TMP/change.rsc"
cli job create "$R1" "$JP_TMP/change.rsc" -d "from a file"
check "job create from a file" 0 "$RC"
J1=$(awk '{ print $2 }' <<<"$OUT")
cli job create "$R1" - -d "from stdin" -q <<<':put "from stdin"'
J2=$OUT
check_true "job create - reads standard input" grep -qE '^[0-9a-f-]{36}$' <<<"$J2"
J3=$(printf ':put "piped"' | "$JP_BIN" job create "$R2" -d "piped, no -" -q)
check_true "no FILE and a pipe: standard input" grep -qE '^[0-9a-f-]{36}$' <<<"$J3"
KEY=$(uuid)
cli job create "$R2" "$JP_TMP/change.rsc" -d "keyed" --key "$KEY" --backup --express --no-ack --json
J4=$(jq -r .id <<<"$OUT")
check "flags reach the job" "true true false" "$(jq -r '"\(.should_backup) \(.express_execute) \(.needs_acknowledgement)"' <<<"$OUT")"
cli job create "$R2" "$JP_TMP/change.rsc" -d "keyed" --key "$KEY" --backup --express --no-ack
check_true "the same key again: the same job" grep -q "^job $J4 already queued with this key" <<<"$OUT"
api GET "/site/$R1/job/$J1"
check "the script arrived intact" ':put "from a file"' "$(jb .script | head -1)"
cli job wait "$R1" "$J1" "$J2" --timeout 120
check "job wait: both completed, exit 0" "0 $J1 completed
$J2 completed" "$RC $OUT"
check "no progress line when not on a terminal" "" "$ERR"
# on a terminal (script(1) gives it one): the progress line
TJ=$("$JP_BIN" job create "$R1" - -d "watched" -q <<<':put "tty"')
script -qec "$JP_BIN job wait $R1 $TJ --timeout 120" /dev/null >"$JP_TMP/tty" 2>&1
check "on a terminal: exit 0" 0 "$?"
check_true "on a terminal: a progress line" grep -q "1 of 1 finished (1 completed, 0 failed or cancelled)" "$JP_TMP/tty"
cli job wait "$R2" "$J3" "$J4" --json --timeout 120
check "job wait --json: the final jobs" "completed completed" "$(jq -r 'map(.status) | join(" ")' <<<"$OUT")"
FJ=$("$JP_BIN" job create "$R1" - -d "fails" -q <<<':error "on purpose"')
OJ=$("$JP_BIN" job create "$R1" - -d "works" -q <<<':put "ok"')
cli job wait "$R1" "$FJ" "$OJ" --timeout 120
check "job wait with a failing job: exit 4" "4 $FJ failed
$OJ completed" "$RC $OUT"
cli job ls "$R1"
check "job ls: newest first" "$OJ $FJ $TJ $J2 $J1" "$(awk 'NR > 1 { printf "%s ", $1 }' <<<"$OUT" | sed 's/ $//')"
cli job ls "$R1" --status failed -q
check "job ls --status" "$FJ" "$OUT"
cli job ls "$R1" --limit 2 --json
check "job ls --limit --json" "$OJ $FJ" "$(jq -r 'map(.id) | join(" ")' <<<"$OUT")"
cli job get "$R1" "$FJ"
check_true "job get: the status line" grep -qE '^status: +failed$' <<<"$OUT"
check_true "job get: the script, indented" grep -qE '^    :error "on purpose"$' <<<"$OUT"
cli job log "$R1" "$FJ"
check_true "job log: the events of the job" grep -qE '^[0-9-]+ [0-9:]+  Job [A-Za-z0-9]+ failed' <<<"$OUT"
cli job log "$R1" "$FJ" --utc
check_true "--utc: times in UTC, marked Z" grep -qE '^[0-9-]+ [0-9:]+Z  ' <<<"$OUT"
api GET "/site/$R1/job/$FJ"
CREATED=$(jb .created_at)
TZ=Etc/GMT-9 cli job get "$R1" "$FJ"
check "local time: the TZ's" "$(TZ=Etc/GMT-9 date -d "$CREATED" '+%Y-%m-%d %H:%M:%S')" "$(sed -nE 's/^created_at: +//p' <<<"$OUT")"
check_true "which is not UTC" test "$(TZ=Etc/GMT-9 date -d "$CREATED" '+%H')" != "$(date -u -d "$CREATED" '+%H')"

# A job that cannot run: no router polls a site never adopted.
PJ=$("$JP_BIN" job create "$S1" - -d "waits" -q <<<':put "x"')
cli job wait "$S1" "$PJ" --timeout 2 --interval 1
check "job wait --timeout: exit 1" 1 "$RC"
check_true "with how many were left" grep -q "1 of 1 jobs still unfinished after 2 s" <<<"$ERR"
cli job cancel "$S1" "$PJ"
check "job cancel" "0 job $PJ cancelled" "$RC $OUT"
cli job cancel "$S1" "$PJ"
check "a cancelled job is gone: exit 3" 3 "$RC"
cli job cancel "$R1" "$OJ"
check "cancelling a finished job: the API's 409, exit 1" 1 "$RC"
check_true "job_already_started" grep -q "job_already_started" <<<"$ERR"
cli job get "$R1" "$(uuid)"
check "job get of an unknown job: exit 3" 3 "$RC"
cli job wait "$R1" "$(uuid)"
check "job wait for an unknown job: exit 3" 3 "$RC"

# Bad scripts and options.
cli job create "$R1" "$JP_TMP/missing.rsc" -d "x"
check "a script file that does not exist: exit 2" 2 "$RC"
check_true "and why" grep -q "cannot read $JP_TMP/missing.rsc: No such file or directory" <<<"$ERR"
printf ':put "\xff\xfe"' >"$JP_TMP/latin1.rsc"
cli job create "$R1" "$JP_TMP/latin1.rsc" -d "x"
check "a script that is not UTF-8: exit 2" "2 jobplane job create: $JP_TMP/latin1.rsc: not UTF-8 text" "$RC $ERR"
: >"$JP_TMP/empty.rsc"
cli job create "$R1" "$JP_TMP/empty.rsc" -d "x"
check "an empty script: exit 2" 2 "$RC"
cli job create "$R1" "$JP_TMP/change.rsc"
check "no description: exit 2" 2 "$RC"
cli job create "$R1" "$JP_TMP/change.rsc" -d "x"
check "a description the API refuses (3..100): exit 1" 1 "$RC"
cli job ls "$R1" --backup
check "an option of another command: exit 2" "2 jobplane job ls: --backup does not apply here" "$RC $ERR"
cli job ls "$R1" --bogus
check "an unknown option: exit 2" 2 "$RC"
cli job frob
check "an unknown command: exit 2" 2 "$RC"
cli job get "$R1"
check "a missing argument: exit 2" 2 "$RC"
cli job ls "$(uuid)"
check "job ls of an unknown site: exit 3" 3 "$RC"

# Backups.
cli backup request "$R2" -q
BJ=$OUT
cli job wait "$R2" "$BJ" --timeout 120
check "backup request: a job that completes" 0 "$RC"
cli backup request "$R2" -q
cli job wait "$R2" "$OUT" --timeout 120 >/dev/null
cli backup ls "$R2"
check "backup ls: a header and the backups" "FILENAME SIZE CREATED UNCHANGED" "$(head -1 <<<"$OUT" | tr -s ' ')"
cli backup ls "$R2" -q
F1=$(sed -n 1p <<<"$OUT")
F0=$(sed -n '$p' <<<"$OUT")
check_true "three backups (the keyed job's too)" test "$(wc -l <<<"$OUT")" -ge 3
cli backup get "$R2" "$F1"
req GET "/backup/$R2/$F1" -H "Authorization: Bearer $TOK" -H "X-View: true"
check "backup get: the text, byte for byte" "$(md5sum <"$JP_TMP/body")" "$(md5sum <"$JP_TMP/out")"
cli backup get "$R2" "$F1" -o "$JP_TMP/b.rsc"
check "backup get -o FILE" "$(md5sum <"$JP_TMP/body")" "$(md5sum <"$JP_TMP/b.rsc")"
cli backup get "$R2" "$F1" --json
check "backup get --json" "$F1" "$(jq -r .filename <<<"$OUT")"
cli backup diff "$R2" "$F0" "$F1"
check_true "backup diff: a unified diff" grep -q "^--- $F0" <<<"$OUT"
cli backup get "$R2" nope.rsc
check "an unknown backup: exit 3" 3 "$RC"

# Webhooks and API keys.
cli webhook add https://hooks.example.net/jp -d "pager" --events job.failed,site.offline --json
WH=$(jq -r .id <<<"$OUT")
check "webhook add: the events given, the secret once" "job.failed,site.offline true" \
    "$(jq -r '"\(.events | join(",")) \(.secret | startswith("whsec_"))"' <<<"$OUT")"
cli webhook add https://hooks.example.net/all -q
check_true "webhook add without --events: every event" test "$(curl -s -H "Authorization: Bearer $TOK" "$BASE/webhooks/$OUT" | jq '.events | length')" -ge 11
cli webhook ls -q
check "webhook ls -q" 2 "$(wc -l <<<"$OUT")"
cli webhook show "$WH"
check_true "webhook show" grep -qE '^description: +pager$' <<<"$OUT"
cli webhook test "$WH" --json
check "webhook test" ping "$(jq -r .type <<<"$OUT")"
cli webhook deliveries "$WH" --json
check "webhook deliveries" 1 "$(jq length <<<"$OUT")"
cli webhook rotate "$WH" --json
check_true "webhook rotate" grep -q whsec_ <<<"$OUT"
cli webhook rm "$WH"
check "webhook rm" "0 webhook $WH deleted" "$RC $OUT"
cli webhook show "$WH"
check "a deleted webhook: exit 3" 3 "$RC"
cli key add "ci" --scopes "jobs:read,sites:read" -q
AK=$OUT
check_true "key add -q: the key itself" grep -qE '^[0-9a-f-]{36}:t1:[0-9A-Za-z]{62}$' <<<"$AK"
JP_TOKEN=$AK cli site ls --token "$AK" -q
check "the new key lists sites" 0 "$RC"
cli key ls --token "$AK"
check "the key's own scopes do not list keys: 403, exit 1" 1 "$RC"
cli key ls
check_true "key ls" grep -q " ci " <<<"$OUT"
KID=${AK%%:*}
cli key rm "$KID"
check "key rm" "0 API key $KID revoked" "$RC $OUT"
cli site ls --token "$AK"
check "a revoked key: exit 1" 1 "$RC"

# Help everywhere.
bad=0
for c in site job backup webhook key; do
    "$JP_BIN" "$c" --help | grep -q "^usage: jobplane $c <command>" || bad=$((bad + 1))
    for v in $("$JP_BIN" "$c" --help | awk 'NR > 1 && /^  [a-z]/ { print $1 }'); do
        "$JP_BIN" "$c" "$v" --help | grep -q "^usage: jobplane $c $v" || { bad=$((bad + 1)); echo "# no help: $c $v"; }
    done
done
check "--help for every command" 0 "$bad"
"$JP_BIN" config --help | grep -q "^usage: jobplane config"
check "config --help" 0 "$?"
# bash completion reads the binary's own help
COMPS=$(bash -c '. scripts/jobplane.bash-completion
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _jobplane; echo "${COMPREPLY[*]}"; }
c "$0" job ""; c "$0" job create --expr; c "$0" si' "$JP_BIN")
check "bash completion: verbs, options, commands" "create ls get cancel log output wait
--express
sim site" "$COMPS"
kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null
jp_finish
