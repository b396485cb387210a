#!/bin/sh
# Installs what the console tests need: Debian's chromium (Playwright drives
# it; no browser is downloaded) and the npm packages of package-lock.json
# (exact versions and integrity hashes) into tests/ui/node_modules, once.
set -eu
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=""
command -v chromium >/dev/null || need="chromium"
command -v node >/dev/null && command -v npm >/dev/null || need="$need nodejs npm"
if [ -n "$need" ]; then
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
# npm ci again only when the lock file changed since the last install
if ! cmp -s package-lock.json node_modules/.jobplane-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json node_modules/.jobplane-lock
fi
