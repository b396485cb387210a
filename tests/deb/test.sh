#!/usr/bin/env bash
# The Debian package: make deb (build/ untouched), lintian without errors,
# systemd-analyze verify of the unit, installed with dpkg -i, the installed
# service started (by systemd where it runs; else the installed binary with
# the installed config file, as the service's user) and answering, then
# purged with dpkg -P leaving nothing behind. Needs root (dpkg).
set -u
cd "$(dirname "$0")/../.."
PASSED=0 FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi; }
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; exit $?; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
tmp=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
VERSION=$(sed -nE 's/^VERSION := //p' Makefile)
ARCH=$(dpkg --print-architecture)
DEB=dist/jobplane_${VERSION}_${ARCH}.deb

before=$(stat -c %Y build/jobplane 2>/dev/null || echo none)
rm -f "$DEB"
if out=$(make --no-print-directory deb 2>&1); then ok "make deb"; else not_ok "make deb: $out"; finish; fi
check "it writes $DEB" "$DEB" "$(tail -1 <<<"$out")"
check "build/ is left alone" "$before" "$(stat -c %Y build/jobplane 2>/dev/null || echo none)"
check "the package's name and version" "jobplane $VERSION" "$(dpkg-deb -f "$DEB" Package Version | awk '{ print $2 }' | paste -sd' ')"

lint=$(lintian --tag-display-limit 0 "$DEB" 2>&1 | grep -v "running with root privileges")
check "lintian: no error" 0 "$(grep -c '^E:' <<<"$lint")"
echo "# lintian: $(grep -c '^W:' <<<"$lint") warnings"
grep -E '^(E|W):' <<<"$lint" | sed 's/^/# /'

$SUDO dpkg -P jobplane >/dev/null 2>&1 # an earlier run's
$SUDO dpkg -i "$DEB" >"$tmp/install.log" 2>&1
check "dpkg -i" 0 "$?"
check "installed" "install ok installed" "$(dpkg-query -W -f='${Status}' jobplane)"
dpkg -L jobplane | while read -r f; do [ -f "$f" ] && echo "$f"; done >"$tmp/files"
for f in /usr/bin/jobplane /lib/systemd/system/jobplane.service /etc/jobplane/jobplane.conf \
    /usr/share/man/man1/jobplane.1.gz /usr/share/bash-completion/completions/jobplane; do
    grep -qx "$f" "$tmp/files" && ok "ships $f" || not_ok "ships $f"
done
check "the config file is a conffile" /etc/jobplane/jobplane.conf "$(dpkg-query -W -f='${Conffiles}' jobplane | awk '{ print $1 }')"
check "a user of its own" "jobplane" "$(id -un jobplane 2>/dev/null)"
check "the secret: made at installation, root:jobplane 640" "root jobplane 640 64" \
    "$(stat -c '%U %G %a' /etc/jobplane/secret 2>/dev/null) $(wc -c </etc/jobplane/secret 2>/dev/null)"
check "the state directory" "jobplane jobplane 750" "$(stat -c '%U %G %a' /var/lib/jobplane 2>/dev/null)"
if out=$(systemd-analyze verify /lib/systemd/system/jobplane.service 2>&1); then
    ok "systemd-analyze verify: no complaint${out:+ ($out)}"
else
    not_ok "systemd-analyze verify: $out"
fi
unit=/lib/systemd/system/jobplane.service
for want in "User=jobplane" "StateDirectory=jobplane" "ProtectSystem=strict" "NoNewPrivileges=yes" \
    "ExecStart=/usr/bin/jobplane serve --config /etc/jobplane/jobplane.conf"; do
    grep -qx "$want" "$unit" && ok "the unit has $want" || not_ok "the unit has $want"
done
man -l /usr/share/man/man1/jobplane.1.gz 2>/dev/null | grep -q -- "--config FILE" &&
    ok "man jobplane: the serve options" || not_ok "man jobplane: the serve options"
check "man page: no warnings" "" "$(man --warnings -l /usr/share/man/man1/jobplane.1.gz 2>&1 >/dev/null)"

# The installed service: systemd's, or the same command line by hand.
if [ -d /run/systemd/system ]; then
    $SUDO systemctl start jobplane
    check "systemctl start jobplane" 0 "$?"
    URL=http://127.0.0.1:8080
    how="systemd"
else
    # no systemd here: the unit's command as its user, on a free port
    chown jobplane "$tmp"
    $SUDO setpriv --reuid jobplane --regid jobplane --init-groups -- /usr/bin/jobplane serve --config /etc/jobplane/jobplane.conf \
        --listen 127.0.0.1:0 --port-file "$tmp/port" 2>"$tmp/serve.log" &
    PID=$!
    for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
    URL="http://127.0.0.1:$(cat "$tmp/port" 2>/dev/null)"
    how="the installed binary with the installed config, as jobplane (no systemd here)"
fi
ans=
for _ in $(seq 100); do ans=$(curl -s "$URL/healthz") && [ -n "$ans" ] && break; sleep 0.1; done
check "started by $how: /healthz answers" ok "$(jq -r .status <<<"$ans" 2>/dev/null)"
TOK=$(/usr/bin/jobplane token --secret-file /etc/jobplane/secret --team t1)
SITE=$(/usr/bin/jobplane site add "from the package" --url "$URL" --token "$TOK" -q)
check_db=$(stat -c %U /var/lib/jobplane/jobplane.db 2>/dev/null)
check "a site created; the database in /var/lib/jobplane, the service's" "36 jobplane" "${#SITE} $check_db"
if [ -d /run/systemd/system ]; then
    $SUDO systemctl stop jobplane
else
    kill "$PID"
    wait "$PID"
    check "stopped cleanly" 0 "$?"
    PID=
fi

$SUDO dpkg -P jobplane >"$tmp/purge.log" 2>&1
check "dpkg -P" 0 "$?"
left=$(while read -r f; do [ -e "$f" ] && echo "$f"; done <"$tmp/files")
check "no file of the package is left" "" "$left"
check "nothing left in /etc/jobplane, /var/lib/jobplane" "" "$(ls -d /etc/jobplane /var/lib/jobplane 2>/dev/null)"
check "the user is gone" "" "$(id -un jobplane 2>/dev/null)"
finish
