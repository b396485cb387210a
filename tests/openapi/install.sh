#!/bin/sh
# Installs the OpenAPI checks' npm packages (package-lock.json: exact
# versions and integrity hashes) into tests/openapi/node_modules, once; Node.js
# and npm come from Debian when the machine has none.
set -eu
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# npm ci again only when the lock file changed since the last install
if ! cmp -s package-lock.json node_modules/.jobplane-lock 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json node_modules/.jobplane-lock
fi
