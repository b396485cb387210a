# HTTP hygiene: header limits, slow clients, pipelining, connection limits.
. "$(dirname "$0")/lib.sh"
jp_start --idle-timeout 2 --max-connections 16
TOK=$(token t1)

BIG=$(head -c 12000 /dev/zero | tr '\0' a)
req GET /healthz -H "X-Big: $BIG"
check_true "a 12 KB header is refused with 4xx" test "$STATUS" -ge 400 -a "$STATUS" -lt 500
req GET /healthz
check "the server keeps serving" 200 "$STATUS"

# A client that sends half a request and stalls is dropped after the idle timeout.
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3
start=$(date +%s)
timeout 10 cat <&3 >/dev/null
elapsed=$(( $(date +%s) - start ))
exec 3>&-
check_true "a stalled client is dropped within the idle timeout (${elapsed}s)" test "$elapsed" -le 5

# A client that sends its header a byte every half second never goes idle,
# yet is cut off when the idle timeout (2 s here) has passed since it connected.
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
start=$(date +%s%3N)
( for c in G E T ' ' / h e a l t h z ' ' H T T P / 1 . 1 $'\r' $'\n' H o s t : ' ' x $'\r' $'\n'; do
      printf '%s' "$c" >&3 2>/dev/null || exit 0
      sleep 0.5
  done ) &
TRICKLE=$!
timeout 15 cat <&3 >/dev/null
elapsed=$(( $(date +%s%3N) - start ))
kill "$TRICKLE" 2>/dev/null; wait "$TRICKLE" 2>/dev/null
exec 3>&-
check_true "a byte-a-second header is cut off after about 2 s (${elapsed} ms)" test "$elapsed" -ge 1500 -a "$elapsed" -lt 5000
# A slow body is bounded the same way.
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
start=$(date +%s%3N)
( printf 'POST /sites HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n' >&3
  for _ in $(seq 40); do printf 'x' >&3 2>/dev/null || exit 0; sleep 0.5; done ) &
TRICKLE=$!
timeout 15 cat <&3 >/dev/null
elapsed=$(( $(date +%s%3N) - start ))
kill "$TRICKLE" 2>/dev/null; wait "$TRICKLE" 2>/dev/null
exec 3>&-
check_true "a byte-a-second body is cut off after about 2 s (${elapsed} ms)" test "$elapsed" -ge 1500 -a "$elapsed" -lt 5000
req GET /healthz
check "keep-alive clients are not affected" 200 "$STATUS"

# Pipelined requests on one connection are answered in order.
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
out=$(timeout 5 cat <&3 | grep -aoE 'HTTP/1.1 [0-9]{3}' | cut -d' ' -f2 | tr '\n' ' ')
exec 3>&-
check "pipelined answers" "200 404 200 " "$out"

# More connections than the limit: the extra ones are refused, the server lives on.
for i in $(seq 20); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$JP_PORT"
    eval "c$i=$fd"
done
sleep 0.3
for i in $(seq 20); do eval "exec {c$i}>&-"; done
req GET /healthz
check "healthy after a connection flood" 200 "$STATUS"

# Request line garbage.
exec 3<>"/dev/tcp/127.0.0.1/$JP_PORT"
printf 'BLAH\x00\xff /x HTTP/9.9\r\n\r\n' >&3
timeout 5 cat <&3 >/dev/null
exec 3>&-
req GET /healthz
check "healthy after a garbage request line" 200 "$STATUS"

jp_finish
