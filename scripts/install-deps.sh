#!/bin/sh
# Installs every Debian 12 package jobplane needs to build and test.
# Idempotent and quiet when everything is present.
set -eu
PKGS="gcc make clang libclang-rt-14-dev pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev
      libcmocka-dev libcurl4-openssl-dev libpq-dev curl jq sqlite3 ca-certificates
      postgresql-15 clang-format cppcheck libgnutls28-dev openssl python3 python3-jwt
      python3-cryptography prometheus debhelper dpkg-dev fakeroot lintian systemd man-db"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
