#!/usr/bin/env bash
# The style kept by the test command: every C file formatted as .clang-format
# says (clang-format 14, Debian 12's), and cppcheck finding nothing. One
# "ok"/"not ok" line each; `make format` rewrites the files.
set -u
cd "$(dirname "$0")/.."
files=$(ls src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h bench/*.c bench/*.h)
if out=$(clang-format --dry-run -Werror $files 2>&1); then
    echo "ok - clang-format: $(wc -w <<<"$files") files as .clang-format says"
else
    echo "not ok - clang-format: files differ from .clang-format (make format):"
    grep -E '^[^ ].*(warning|error):' <<<"$out" | cut -d: -f1 | sort | uniq -c | head -20
fi
# ctuuninitvar is off: the store's functions take pointers to structs they
# fill (and zero first); cppcheck's cross-file pass reads handing such a
# pointer on as using the uninitialised struct.
if out=$(cppcheck -q --enable=warning,performance,portability --std=c11 -D_GNU_SOURCE -Isrc \
    --suppress=ctuuninitvar --error-exitcode=1 src tests/unit bench 2>&1); then
    echo "ok - cppcheck: src, tests/unit and bench are clean"
else
    echo "not ok - cppcheck:"
    grep -E '(error|warning|style|performance|portability):' <<<"$out" | head -20
fi
