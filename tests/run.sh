#!/usr/bin/env bash
# Runs every test: the unit tests and the end-to-end suite, against the normal
# build and again against the AddressSanitizer/UBSan build. Prints one line per
# check and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)

count() { # reads test output, echoes it, adds ok/not ok lines to the totals
    local p f
    p=$(grep -cE '^ok ' "$1")
    f=$(grep -cE '^not ok ' "$1")
    passed=$((passed + p))
    failed=$((failed + f))
}

for build in build build-asan; do
    echo "# === $build ==="
    for t in "$build"/tests/*; do
        [ -x "$t" ] || continue
        echo "# unit: $t"
        CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1
        rc=$?
        cat "$log"
        count "$log"
        if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
            echo "not ok - $t exited $rc"; failed=$((failed + 1))
        fi
    done
    for t in tests/e2e/[0-9]*.sh; do
        [ -n "${JP_ONLY:-}" ] && [[ "$t" != *"$JP_ONLY"* ]] && continue
        echo "# e2e: $t ($build)"
        JP_BIN="$build/jobplane" bash "$t" >"$log" 2>&1
        rc=$?
        cat "$log"
        count "$log"
        if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
            echo "not ok - $t exited $rc"; failed=$((failed + 1))
        fi
    done
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
