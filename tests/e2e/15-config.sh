# serve --config FILE: every option as a "key = value" line, the command line
# after it (and winning), flags, quotes, comments; bad files refused with the
# line that is wrong.
. "$(dirname "$0")/lib.sh"
CONF=$JP_TMP/jobplane.conf
cat >"$CONF" <<EOT
# as the Debian package installs it
listen = 127.0.0.1:1
base-url = "http://jobs.example.net"
relaxed-durability = true
webhook-allow-private = false
max-body = 4096

EOT
jp_start --config "$CONF"
check "the command line's --listen wins over the file's" 1 "$([ "$JP_PORT" != 1 ] && echo 1)"
check_true "a flag set true in the file" grep -q "relaxed durability" "$JP_TMP/server.log"
TOK=$(token t1)
req GET "/site/not-a-uuid/job" -H "Authorization: Bearer $TOK"
check "a quoted value: the base URL of doc_url" "http://jobs.example.net/errors/parameter_invalid" "$(jb .doc_url)"
req POST /sites -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' \
    --data-binary "{\"name\":\"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
check "the file's max-body" "413 payload_too_large" "$STATUS $(jb .code)"
jp_stop
refused() { # refused DESCRIPTION MESSAGE LINES...
    local d=$1 want=$2
    shift 2
    printf '%s\n' "$@" >"$CONF"
    out=$("$JP_BIN" serve --config "$CONF" --db "$JP_DB" 2>&1)
    check "$d: exit 2 and '$want'" "2 1" "$? $(grep -cF "$want" <<<"$out")"
}
refused "an unknown key" "jobplane.conf:2: unknown option 'colour'" "# c" "colour = red"
refused "a line without =" "jobplane.conf:1: not a 'key = value' line" "listen"
refused "a flag that is neither true nor false" "relaxed-durability takes true or false, not 'maybe'" "relaxed-durability = maybe"
refused "config inside config" "unknown option 'config'" "config = /etc/x"
refused "a bad value is the option's error" "invalid value 'lots' for --threads" "threads = lots"
out=$("$JP_BIN" serve --config "$JP_TMP/none.conf" 2>&1)
check "a missing file: exit 2" "2 jobplane serve: cannot read $JP_TMP/none.conf: No such file or directory" "$? $out"
jp_finish
