# Every script the server renders, checked against MikroTik's own command
# tree of each RouterOS version it is rendered for (tests/routeros/trees):
# the bootstrap line, the adoption answer and the poll script it installs,
# the job wrapper with and without a backup, the idle answer, the teardown.
# The checker is checked first: it must find what each version lacks.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")/.." && pwd)
TREES=$HERE/routeros/trees
CHECK=("$HERE/routeros/check.py")
rcheck() { python3 "${CHECK[@]}" "$@"; }

# The checker finds what a version lacks, and a command nobody has.
printf ':local r [/tool fetch url="http://a" idle-timeout=35s as-value]\n' >"$JP_TMP/idle.rsc"
printf ':local c ([/file read file=x offset=0 chunk-size=32768 as-value]->"data")\n' >"$JP_TMP/read.rsc"
printf '/system script ad name=x\n:onerror e in={ :put 1 } else={}\n/export terse bogus\n' >"$JP_TMP/typo.rsc"
rcheck "$TREES/7.13.5.inspect.json.gz" "$JP_TMP/idle.rsc" >"$JP_TMP/out"
check "checker: 7.13 has no idle-timeout (exit 1)" "1 $JP_TMP/idle.rsc: /tool fetch has no argument idle-timeout=" "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.15.3.inspect.json.gz" "$JP_TMP/idle.rsc" >"$JP_TMP/out"
check "checker: 7.15 has it" "0 " "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.12.2.inspect.json.gz" "$JP_TMP/read.rsc" >"$JP_TMP/out"
check "checker: 7.12 has no /file read" "1 $JP_TMP/read.rsc: no read in /file" "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.13.5.inspect.json.gz" "$JP_TMP/read.rsc" >"$JP_TMP/out"
check "checker: 7.13 has it" "0 " "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.22.3.inspect.json.gz" "$JP_TMP/typo.rsc" >"$JP_TMP/out"
check "checker: a misspelt command, :onerror's unknown argument, a bogus flag" 3 "$(wc -l <"$JP_TMP/out")"
printf ':if (1) do={ :put "x" \n' >"$JP_TMP/open.rsc"
rcheck "$TREES/7.22.3.inspect.json.gz" "$JP_TMP/open.rsc" >"$JP_TMP/out"
check "checker: an unclosed block" "1 $JP_TMP/open.rsc: does not parse: missing '}'" "$? $(cat "$JP_TMP/out")"

jp_start --poll-interval 30
TOK=$(token t1)
for tree in "$TREES"/*.inspect.json.gz; do
    v=$(basename "$tree" .inspect.json.gz)
    d=$JP_TMP/$v
    mkdir -p "$d"
    api POST /sites -H 'Content-Type: application/json' -d "{\"name\":\"ros-$v\"}"
    jb -r .bootstrap >"$d/bootstrap.rsc"
    at=$(grep -oE '/adopt/[0-9A-Za-z]{22}' "$d/bootstrap.rsc")
    SITE=$(jb .id)
    HB="name=ros;version=$v (stable);board-name=CHR;serial-number=;uptime=00:01:00"
    req POST "$at" --data-binary "$HB"
    printf '%s\n' "$BODY" >"$d/adoption.rsc"
    DTOK=$(device_token "$BODY")
    rcheck --source "$d/adoption.rsc" >"$d/poll.rsc"
    check_true "$v: the poll script was extracted" grep -q '^# jobplane-poll' "$d/poll.rsc"
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/idle.rsc"
    api POST "/backup/$SITE"
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/wrapper-backup.rsc"
    req GET "$(url_path "$(ros_local jpFail "$BODY")")"
    new_job "$SITE" ':put "hello"' >/dev/null
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/wrapper.rsc"
    req GET "$(url_path "$(ros_local jpDone "$BODY")")"
    api DELETE "/sites/$SITE"
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/teardown.rsc"
    for f in bootstrap adoption poll idle wrapper-backup wrapper teardown; do
        check_true "$v: $f.rsc rendered" test -s "$d/$f.rsc"
    done
    check_true "$v: the wrapper is a job's" grep -q '^# jobplane job ' "$d/wrapper.rsc"
    check_true "$v: the teardown is one" grep -q '^# jobplane teardown' "$d/teardown.rsc"
    rcheck "$tree" "$d"/*.rsc >"$d/problems"
    check "$v: every menu, command and argument exists" "0 " "$? $(head -5 "$d/problems")"
done
check_true "7.12: the backup wrapper fails without /file read" grep -q 'a backup needs RouterOS 7.13' "$JP_TMP/7.12.2/wrapper-backup.rsc"
check_true "7.13: the backup wrapper reads the file" grep -q '/file read' "$JP_TMP/7.13.5/wrapper-backup.rsc"
check_true "7.13: no idle-timeout" bash -c "! grep -q idle-timeout '$JP_TMP/7.13.5/poll.rsc'"
check_true "7.15: idle-timeout" grep -q idle-timeout "$JP_TMP/7.15.3/poll.rsc"

jp_finish
