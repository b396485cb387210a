#!/usr/bin/env bash
# The OpenAPI checks: docs/openapi.json is a valid document with the routing
# table's endpoints; the exchange validator refuses known-bad exchanges; and
# every exchange recorded by the e2e tests (the JSON lines files given)
# matches the document.
#   tests/openapi/check.sh RECORDS...
set -u
cd "$(dirname "$0")/../.."
V=tests/openapi/validate.js
node tests/openapi/lint.js docs/openapi.json src/api/routes.c
rc=$?
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# exchange METHOD PATH QUERY STATUS CONTENT_TYPE BODY
exchange() {
    jq -cn --arg m "$1" --arg p "$2" --arg q "$3" --argjson s "$4" --arg ct "$5" --arg b "$6" \
        '{method: $m, path: $p, query: $q, request_headers: {}, request_body: {text: ""},
          status: $s, response_headers: {"content-type": $ct}, response_body: {text: $b}}'
}
SITE='{"id":"01a23534-ad08-7b42-b21a-c66bd75f4353","name":"x","has_pulse":false}'
exchange GET /sites "" 200 application/json "[$SITE]" >"$tmp/bad-body.jsonl"
exchange GET /sites "" 418 application/json '{}' >"$tmp/bad-status.jsonl"
exchange GET /sites "colour=red" 200 application/json '[]' >"$tmp/bad-query.jsonl"
exchange GET /nowhere "" 200 text/plain 'hi' >"$tmp/bad-path.jsonl"
exchange GET /healthz "" 200 text/html '<p>ok</p>' >"$tmp/bad-type.jsonl"
exchange DELETE /healthz "" 405 application/json \
    '{"type":"invalid_request_error","code":"method_not_allowed","message":"m","doc_url":"http://x/errors/method_not_allowed"}' \
    >"$tmp/good-405.jsonl"
for f in "$tmp"/bad-*.jsonl; do
    n=$(basename "$f" .jsonl)
    if node "$V" docs/openapi.json "$f" >"$tmp/out" 2>&1; then
        echo "not ok - the validator refuses a known-bad exchange ($n)"
        rc=1
    else
        echo "ok - the validator refuses a known-bad exchange ($n): $(grep -m1 '^# 1x' "$tmp/out" | cut -c6-)"
    fi
done
if node "$V" docs/openapi.json "$tmp/good-405.jsonl" >/dev/null; then
    echo "ok - the validator takes a 405 of a path with other methods"
else
    echo "not ok - the validator takes a 405 of a path with other methods"
    rc=1
fi
if [ "$#" -eq 0 ]; then
    echo "not ok - exchanges were recorded"
    exit 1
fi
node "$V" docs/openapi.json "$@" || rc=1
exit $rc
