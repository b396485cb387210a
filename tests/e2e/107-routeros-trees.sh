# Every script the server renders, checked against MikroTik's own command
# tree of each RouterOS version it is rendered for (tests/routeros/trees):
# the bootstrap line (pinning a CA), the adoption answer and the poll script
# it installs, the poll script's replacement, the job wrapper with and
# without a backup, as a dry run, expecting a reboot, capturing the output,
# with a confirmation window and a sensitive backup (and the answer that
# disarms its revert), and with the largest payload, the idle answer, the
# teardown; with the code carried in strings
# (source=, on-event=, [:parse "..."]). The checker is checked first: it must
# find what each version lacks, also inside strings.
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
# inside strings: a script's source=, a scheduler's on-event=, a :parse
# literal; a guarded :parse (inside :do with on-error) only with --guarded
printf '/system script add name=x source="/system scrip add name=y"\n' >"$JP_TMP/src.rsc"
printf '/system scheduler add name=x on-event="/tool fetch url=\\"http://a\\" bogus=1"\n' >"$JP_TMP/event.rsc"
printf ':local f [:parse ":return [/tool fetch url=\\$u idle-timeout=35s]"]\n' >"$JP_TMP/parse.rsc"
printf ':do { :local f [:parse ":return [/tool fetch url=\\$u idle-timeout=35s]"] } on-error={}\n' >"$JP_TMP/guarded.rsc"
printf ':onerror e in={ :put 1 } do={ :put $e }\n' >"$JP_TMP/onerror.rsc"
for f in src event parse guarded; do
    rcheck "$TREES/7.13.5.inspect.json.gz" "$JP_TMP/$f.rsc" >"$JP_TMP/$f.out"
    echo "$?" >>"$JP_TMP/$f.out"
done
check "checker: a misspelt menu in source=" "$JP_TMP/src.rsc: source=: no scrip in /system
1" "$(cat "$JP_TMP/src.out")"
check "checker: an unknown argument in on-event=" "$JP_TMP/event.rsc: on-event=: /tool fetch has no argument bogus=
1" "$(cat "$JP_TMP/event.out")"
check "checker: idle-timeout in an unguarded :parse on 7.13" "$JP_TMP/parse.rsc: [:parse]: /tool fetch has no argument idle-timeout=
1" "$(cat "$JP_TMP/parse.out")"
check "checker: a guarded :parse is not a problem" "0" "$(cat "$JP_TMP/guarded.out")"
rcheck --guarded "$TREES/7.13.5.inspect.json.gz" "$JP_TMP/guarded.rsc" >"$JP_TMP/out"
check "checker: ... but shows with --guarded" "1 $JP_TMP/guarded.rsc: [:parse]: /tool fetch has no argument idle-timeout=" "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.12.2.inspect.json.gz" "$JP_TMP/onerror.rsc" >"$JP_TMP/out"
check "checker: 7.12 has no :onerror" "1 $JP_TMP/onerror.rsc: no global command :onerror" "$? $(cat "$JP_TMP/out")"
rcheck "$TREES/7.13.5.inspect.json.gz" "$JP_TMP/onerror.rsc" >"$JP_TMP/out"
check "checker: 7.13 has it" "0 " "$? $(cat "$JP_TMP/out")"
printf ':if (1) do={ :put "x" \n' >"$JP_TMP/open.rsc"
rcheck "$TREES/7.22.3.inspect.json.gz" "$JP_TMP/open.rsc" >"$JP_TMP/out"
check "checker: an unclosed block" "1 $JP_TMP/open.rsc: does not parse: missing '}'" "$? $(cat "$JP_TMP/out")"

# the server renders for routers reaching it at an https address, and pins
# its CA in bootstrap lines
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$JP_TMP/ca.key" \
    -out "$JP_TMP/ca.pem" -days 2 -subj /CN=jobplane-test-ca 2>/dev/null
openssl rand -hex 32 >"$JP_TMP/backup.key"
jp_start --poll-interval 30 --base-url https://jp.example.net --tls-ca "$JP_TMP/ca.pem" \
    --backup-key-file "$JP_TMP/backup.key"
TOK=$(token t1)
# the largest payload: 10,000 characters of 4 bytes each
BIG=$(python3 -c 'print(":put \"" + "\U0001F600" * 9990 + "\"", end="")')
FP=$(openssl x509 -in "$JP_TMP/ca.pem" -outform DER | sha256sum | cut -c1-64)
# job SCRIPT HEADER...: queues a job on $SITE and fetches its wrapper as the
# router would; the wrapper is in BODY, and the job is then reported done
job() {
    local s=$1
    shift
    api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: trees' \
        -H "X-Idempotency-Key: $(uuid)" "$@" --data-binary "$s"
    check "$v: a job ($*) is accepted" 201 "$STATUS"
    poll "" "$HB"
    WRAP=$BODY
    req GET "$(url_path "$(ros_local jpDone "$WRAP")")"
}
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
    # a router that runs another script (here: one that sends no revision)
    req POST /poll -H "Authorization: Bearer $DTOK" --data-binary "$HB"
    printf '%s\n' "$BODY" >"$d/update.rsc"
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
    job ':put "dry"' -H 'X-Dry-Run: true'
    printf '%s\n' "$WRAP" >"$d/wrapper-dry-run.rsc"
    job '/system reboot' -H 'X-Expects-Reboot: true'
    printf '%s\n' "$WRAP" >"$d/wrapper-reboot.rsc"
    job ':put "out"' -H 'X-Capture-Output: true'
    printf '%s\n' "$WRAP" >"$d/wrapper-output.rsc"
    job "$BIG" -H 'X-Backup: true' -H 'X-Capture-Output: true'
    printf '%s\n' "$WRAP" >"$d/wrapper-largest.rsc"
    api POST "/site/$SITE/job" -H 'Content-Type: text/plain' -H 'X-Description: trees' \
        -H "X-Idempotency-Key: $(uuid)" -H 'X-Confirm-Within: 300' -H 'X-Backup: true' \
        -H 'X-Backup-Sensitive: true' --data-binary '/ip address add address=10.0.0.1/24 interface=ether1'
    check "$v: a job with a confirmation window and a sensitive backup is accepted" 201 "$STATUS"
    JT=$(jb -r .token)
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/wrapper-confirm.rsc"
    poll "" "$HB;jobplane-armed=$JT"
    printf '%s\n' "$BODY" >"$d/disarm.rsc"
    req GET "$(url_path "$(ros_local jpDone "$BODY")")"
    check "$v: the disarm answer's done report confirms it" 200 "$STATUS"
    api DELETE "/sites/$SITE"
    poll "" "$HB"
    printf '%s\n' "$BODY" >"$d/teardown.rsc"
    files="bootstrap adoption poll update idle wrapper-backup wrapper wrapper-dry-run wrapper-reboot wrapper-output wrapper-confirm disarm wrapper-largest teardown"
    for f in $files; do
        check_true "$v: $f.rsc rendered" test -s "$d/$f.rsc"
        check_true "$v: $f.rsc fits fetch's 63 KB ($(wc -c <"$d/$f.rsc") bytes)" test "$(wc -c <"$d/$f.rsc")" -lt 64512
    done
    echo "# $v sizes (bytes): $(for f in $files; do printf '%s %s, ' "$f" "$(wc -c <"$d/$f.rsc")"; done)"
    check_true "$v: the wrapper is a job's" grep -q '^# jobplane job ' "$d/wrapper.rsc"
    check_true "$v: the dry run's runs nothing" grep -q 'dry run: the payload parses; nothing ran' "$d/wrapper-dry-run.rsc"
    check_true "$v: the reboot job's leaves its token" grep -q 'contents=$jpTok' "$d/wrapper-reboot.rsc"
    check_true "$v: the update is one" grep -q '^# jobplane poll script update' "$d/update.rsc"
    check_true "$v: the confirm wrapper arms a revert" grep -q '/system scheduler add name="jobplane-revert"' "$d/wrapper-confirm.rsc"
    if [ "$v" = 7.12.2 ]; then # no /file read: no backup, and so no change
        check_true "$v: ... unless its backup fails (before 7.13)" grep -q 'a backup needs RouterOS 7.13' "$d/wrapper-confirm.rsc"
    else
        check_true "$v: ... after a backup that shows what v7 hides" grep -q '/export terse show-sensitive' "$d/wrapper-confirm.rsc"
    fi
    check_true "$v: the disarm is one" grep -q 'its revert is disarmed$' "$d/disarm.rsc"
    check_true "$v: the teardown is one" grep -q '^# jobplane teardown' "$d/teardown.rsc"
    check_true "$v: the bootstrap pins the CA" grep -q "fingerprint=\"$FP\"" "$d/bootstrap.rsc"
    rcheck "$tree" "$d"/*.rsc >"$d/problems"
    check "$v: every menu, command and argument exists" "0 " "$? $(head -5 "$d/problems")"
    # what a version lacks is only ever reached through a guarded :parse
    rcheck --guarded "$tree" "$d/poll.rsc" >"$d/guarded"
    grep -c 'idle-timeout' "$d/guarded" >"$d/idle" || true
done
check "7.12: the poll script's held fetch does not compile (the plain one runs)" 1 "$(cat "$JP_TMP/7.12.2/idle")"
check "7.13: nor here" 1 "$(cat "$JP_TMP/7.13.5/idle")"
check "7.15: it compiles" 0 "$(cat "$JP_TMP/7.15.3/idle")"
check "7.22: it compiles" 0 "$(cat "$JP_TMP/7.22.3/idle")"
for v in 7.13.5 7.15.3 7.20.8 7.22.3; do
    check_true "the poll script of $v is 7.12's, byte for byte" cmp -s "$JP_TMP/7.12.2/poll.rsc" "$JP_TMP/$v/poll.rsc"
done
check_true "7.12: the backup wrapper fails without /file read" grep -q 'a backup needs RouterOS 7.13' "$JP_TMP/7.12.2/wrapper-backup.rsc"
check_true "7.12: no :onerror in its wrappers" bash -c "! grep -q ':onerror' '$JP_TMP/7.12.2/wrapper.rsc'"
check_true "7.13: the backup wrapper reads the file" grep -q '/file read' "$JP_TMP/7.13.5/wrapper-backup.rsc"
check_true "7.13: its wrappers say why (:onerror)" grep -q ':onerror jpE in=' "$JP_TMP/7.13.5/wrapper.rsc"
check_true "7.13: output is captured (:execute ... as-string)" grep -q ':set jpOut \[:execute script=' "$JP_TMP/7.13.5/wrapper-output.rsc"
check_true "7.12: not there, and the output says so" grep -q 'capturing the output needs RouterOS 7.13' "$JP_TMP/7.12.2/wrapper-output.rsc"
req GET /ca.pem
check "/ca.pem serves the CA" "$(cat "$JP_TMP/ca.pem")" "$BODY"

jp_finish
