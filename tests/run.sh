#!/usr/bin/env bash
# Runs every test: the style checks, each fuzz target briefly, the unit
# tests, and the end-to-end suite against SQLite and against PostgreSQL (a
# throwaway cluster on a free loopback port), once with the normal build and
# once with the AddressSanitizer/UBSan build. Prints one line per check and
# ends with "N passed, N failed".
#
# Tests run in parallel, JP_JOBS at a time (default 5: most of an
# end-to-end test's time is spent waiting on its server, not on a core); each
# has its own port, database and temporary directory (200-pg-two-nodes, which
# restarts its database, a PostgreSQL cluster of its own), and its output is
# printed whole when it ends. The long ones in HEAVY (a fleet for tens of
# seconds, servers killed under load, a flood of connections) start first,
# and at most JP_HEAVY (2) of them run at once, beside the others.
#   JP_ONLY=NAME   only the e2e files whose name contains NAME (and no others)
#   JP_JOBS=N      tests at once;  JP_HEAVY=N  heavy tests at once
#   JP_TEST_TIMEOUT=S  a test still running after S seconds (1500) is stopped and fails
set -u
cd "$(dirname "$0")/.."
# Through the OpenAPI recorder (tests/openapi), the normal build's SQLite run
# of every e2e test but these: raw sockets, TLS, floods, timing of held
# connections, a base URL of the test's own (15-config), and the heavy ones
# (their volume); the exchanges are checked against docs/openapi.json at the
# end.
OPENAPI_SKIP="15-config 25-tls 95-http-limits 300-hostile 320-overload 130-held-polls"
HEAVY="330-crash 355-retention-size 200-pg-two-nodes 336-webhook-crash 194-rollout-crash 160-sim-fleet 320-overload"
jobs_max=${JP_JOBS:-5}
heavy_max=${JP_HEAVY:-2}
passed=0
failed=0
logdir=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-tests.XXXXXX")
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-pg.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; tests/pg.sh stop "$pgdir"; rm -rf "$pgdir" "$logdir"' EXIT
t_start=$(date +%s)

labels=() # by job number
cmds=()   # by job number: the command, as one shell string
heavy=()  # job numbers of heavy tests, in the order they start
light=()  # the others
add() {   # add LABEL COMMAND [heavy]
    labels+=("$1")
    cmds+=("$2")
    if [ "${3:-}" = heavy ]; then heavy+=($((${#labels[@]} - 1))); else light+=($((${#labels[@]} - 1))); fi
}

report() { # report N: prints job N's output and counts its lines
    local n=$1 log="$logdir/$1.log" rc
    rc=$(cat "$logdir/$n.rc" 2>/dev/null || echo 1)
    echo "# ${labels[$n]} ($(cat "$logdir/$n.secs" 2>/dev/null || echo ?) s)"
    cat "$log"
    local p f
    p=$(grep -cE '^ok ' "$log")
    f=$(grep -cE '^not ok ' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - ${labels[$n]} exited $rc"
        failed=$((failed + 1))
    fi
}

start() { # start N: runs job N in the background
    local n=$1
    (
        t0=$(date +%s)
        # a test that hangs fails alone, after JP_TEST_TIMEOUT seconds, and the
        # run goes on (the longest, 355-retention-size under ASan, takes ~600 s)
        timeout -k 10 "${JP_TEST_TIMEOUT:-1500}" bash -c "${cmds[$n]}" >"$logdir/$n.log" 2>&1
        rc=$?
        [ "$rc" -eq 124 ] && echo "not ok - ${labels[$n]} ran past ${JP_TEST_TIMEOUT:-1500} s and was stopped" >>"$logdir/$n.log"
        echo "$rc" >"$logdir/$n.rc"
        echo $(($(date +%s) - t0)) >"$logdir/$n.secs"
    ) &
    pids[$n]=$!
}

if ! pg_admin=$(tests/pg.sh start "$pgdir"); then
    echo "not ok - a PostgreSQL cluster for the tests starts"
    failed=$((failed + 1))
    pg_admin=
fi

# The console's browser test (400-console): chromium and its npm packages,
# once, before the tests that use them run side by side.
if ! tests/ui/install.sh; then
    echo "not ok - the console tests' chromium and npm packages install (tests/ui/install.sh)"
    failed=$((failed + 1))
fi

mkdir -p "$logdir/openapi"
openapi=1
if ! tests/openapi/install.sh; then
    echo "not ok - the OpenAPI checks' npm packages install (tests/openapi/install.sh)"
    failed=$((failed + 1))
    openapi=
fi

# What runs. Unit tests of the store get a database of their own per build.
if [ -z "${JP_ONLY:-}" ]; then
    add "style: clang-format and cppcheck" "tests/style.sh"
    add "deb: make deb, lintian, dpkg -i, the service, dpkg -P" "tests/deb/test.sh"
    for t in heartbeat routeros jwt sign jobreq text; do
        add "fuzz: $t for ${FUZZ_SECONDS:-5}s" "tests/fuzz/run.sh ${FUZZ_SECONDS:-5} $t"
    done
fi
for build in build build-asan; do
    if [ -z "${JP_ONLY:-}" ]; then
        for t in "$build"/tests/*; do
            [ -x "$t" ] || continue
            pgurl=
            if [ -n "$pg_admin" ] && [[ "$t" == *test_store ]]; then
                db="jp_unit_${build//-/_}"
                psql -q "$pg_admin/postgres" -c "CREATE DATABASE $db" >/dev/null && pgurl="$pg_admin/$db"
            fi
            add "unit: $t" "env CMOCKA_MESSAGE_OUTPUT=TAP JP_TEST_PG='$pgurl' '$t'"
        done
    fi
    for store in sqlite postgres; do
        [ "$store" = postgres ] && [ -z "$pg_admin" ] && continue
        for t in tests/e2e/[0-9]*.sh; do
            [ -n "${JP_ONLY:-}" ] && [[ "$t" != *"$JP_ONLY"* ]] && continue
            case "$t" in *-pg-*) [ "$store" = postgres ] || continue ;; esac
            admin=""
            [ "$store" = postgres ] && admin=$pg_admin
            name=$(basename "$t" .sh)
            mode=
            [[ " $HEAVY " == *" $name "* ]] && mode=heavy
            rec= label=
            if [ -n "$openapi" ] && [ "$build/$store" = build/sqlite ] && [ -z "$mode" ] &&
                [[ " $OPENAPI_SKIP " != *" $name "* ]]; then
                rec=$logdir/openapi/$name.jsonl label=", recorded for OpenAPI"
            fi
            add "e2e: $t ($build, $store$label)" \
                "env JP_BIN='$build/jobplane' JP_PG_ADMIN='$admin' JP_PG_DIR='$pgdir' JP_OPENAPI_RECORD='$rec' bash '$t'" $mode
        done
    done
done

# Heavy tests first (the longest, 330-crash, at the head), each test reported
# when it ends.
declare -A pids=() is_heavy=()
for n in "${heavy[@]}"; do is_heavy[$n]=1; done
queue=()
for name in $HEAVY; do
    for n in "${heavy[@]}"; do [[ "${labels[$n]}" == *"/$name.sh "* ]] && queue+=("$n"); done
done
queue+=("${light[@]}")
running_heavy() {
    local m c=0
    for m in "${!pids[@]}"; do [ -n "${is_heavy[$m]:-}" ] && c=$((c + 1)); done
    echo $c
}
reap() { # waits for one test to end, reports every test that ended
    local m
    wait -n
    for m in "${!pids[@]}"; do
        if [ -e "$logdir/$m.rc" ]; then
            wait "${pids[$m]}" 2>/dev/null
            unset "pids[$m]"
            report "$m"
        fi
    done
}
while [ "${#queue[@]}" -gt 0 ]; do
    if [ "${#pids[@]}" -ge "$jobs_max" ]; then
        reap
        continue
    fi
    pick=-1
    hr=$(running_heavy)
    for i in "${!queue[@]}"; do
        n=${queue[$i]}
        if [ -z "${is_heavy[$n]:-}" ] || [ "$hr" -lt "$heavy_max" ]; then
            pick=$i
            break
        fi
    done
    if [ "$pick" -lt 0 ]; then # only heavy tests are left, and enough run
        reap
        continue
    fi
    start "${queue[$pick]}"
    unset "queue[$pick]"
    queue=("${queue[@]}")
done
while [ "${#pids[@]}" -gt 0 ]; do reap; done
# Every exchange recorded above, against the OpenAPI document.
if [ -n "$openapi" ] && compgen -G "$logdir/openapi/*.jsonl" >/dev/null; then
    echo "# openapi: docs/openapi.json and the recorded exchanges"
    tests/openapi/check.sh "$logdir"/openapi/*.jsonl >"$logdir/openapi.log" 2>&1
    rc=$?
    cat "$logdir/openapi.log"
    passed=$((passed + $(grep -cE '^ok ' "$logdir/openapi.log")))
    f=$(grep -cE '^not ok ' "$logdir/openapi.log")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    failed=$((failed + f))
fi
echo "# the whole run took $(($(date +%s) - t_start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
