#!/usr/bin/env bash
# Runs every test: the unit tests, then the end-to-end suite against SQLite and
# against PostgreSQL (a throwaway cluster on a free loopback port), once with
# the normal build and once with the AddressSanitizer/UBSan build. Prints one
# line per check and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/jobplane-pg.XXXXXX")
trap 'tests/pg.sh stop "$pgdir"; rm -rf "$pgdir" "$log"' EXIT

count() {
    local p f
    p=$(grep -cE '^ok ' "$1")
    f=$(grep -cE '^not ok ' "$1")
    passed=$((passed + p))
    failed=$((failed + f))
}

run_one() { # run_one LABEL COMMAND...: runs a test, echoes and counts its lines
    echo "# $1"
    shift
    "$@" >"$log" 2>&1
    local rc=$?
    cat "$log"
    count "$log"
    if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
        echo "not ok - $1 exited $rc"
        failed=$((failed + 1))
    fi
}

if ! pg_admin=$(tests/pg.sh start "$pgdir"); then
    echo "not ok - a PostgreSQL cluster for the tests starts"
    failed=$((failed + 1))
    pg_admin=
fi

# Each fuzz target briefly on its corpus (make fuzz runs them longer).
run_one "fuzz: every target for ${FUZZ_SECONDS:-5}s" tests/fuzz/run.sh "${FUZZ_SECONDS:-5}"

for build in build build-asan; do
    for t in "$build"/tests/*; do
        [ -x "$t" ] && run_one "unit: $t" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
    done
    for store in sqlite postgres; do
        [ "$store" = postgres ] && [ -z "$pg_admin" ] && continue
        for t in tests/e2e/[0-9]*.sh; do
            [ -n "${JP_ONLY:-}" ] && [[ "$t" != *"$JP_ONLY"* ]] && continue
            case "$t" in *-pg-*) [ "$store" = postgres ] || continue ;; esac
            admin=""
            [ "$store" = postgres ] && admin=$pg_admin
            run_one "e2e: $t ($build, $store)" env JP_BIN="$build/jobplane" JP_PG_ADMIN="$admin" \
                JP_PG_DIR="$pgdir" bash "$t"
        done
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
