#!/usr/bin/env bash
# Runs every fuzz target (or those named after SECONDS) for SECONDS (default 5)
# on a copy of its corpus.
# One "ok"/"not ok" line per target; a crash leaves its input in build-fuzz/.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-5}
shift
targets=${*:-heartbeat routeros jwt sign jobreq text}
for t in $targets; do
    work=$(mktemp -d)
    cp tests/fuzz/corpus/$t/* "$work"/
    out=$(build-fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=build-fuzz/crash-$t- "$work" 2>&1)
    rc=$?
    runs=$(grep -oE 'Done [0-9]+ runs' <<<"$out" | grep -oE '[0-9]+' | tail -1)
    if [ $rc -eq 0 ]; then
        echo "ok - fuzz $t: ${runs:-?} runs in ${secs}s, no finding"
    else
        echo "not ok - fuzz $t found a failure:"
        grep -E 'ERROR|property failed|SUMMARY|Test unit written' <<<"$out" | head -5
    fi
    rm -rf "$work"
done
