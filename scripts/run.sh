#!/bin/sh
# Starts jobplane on ./jobplane.db for a first try: generates and keeps a
# secret in ./jobplane.secret (mode 600), mints a token, prints how to call the
# server, then runs it in the foreground (Ctrl-C stops it cleanly).
set -eu
cd "$(dirname "$0")/.."
LISTEN=${JOBPLANE_LISTEN:-127.0.0.1:8080}
if [ ! -s jobplane.secret ]; then
    umask 077
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >jobplane.secret
    echo "generated a new secret in ./jobplane.secret"
fi
TOKEN=$(build/jobplane token --secret-file jobplane.secret --team default --ttl 86400)
HOST=${LISTEN%:*}
PORT=${LISTEN##*:}
[ "$HOST" = "0.0.0.0" ] && HOST=127.0.0.1
URL="http://$HOST:$PORT"
cat <<EOT

jobplane is starting on $URL with the database ./jobplane.db
An operator token for team "default", valid for 24 hours:

  export JP_URL=$URL
  export JP_TOKEN=$TOKEN

With those two set, the operator client (build/jobplane site|job|backup ...):

  build/jobplane site add my-router     # prints the line to paste into the router
  build/jobplane sim --url "\$JP_URL" --token "\$JP_TOKEN" --routers 1 --interval 5 \\
      --duration 3600 &                 # or a simulated router, adopted at once
  build/jobplane site ls
  SITE=\$(build/jobplane site ls --online -q | head -1)
  JOB=\$(echo '/system identity print' | build/jobplane job create "\$SITE" - -d 'Print identity' -q)
  build/jobplane job wait "\$SITE" "\$JOB"   # until the router ran it (exit 4: it failed)
  build/jobplane job log "\$SITE" "\$JOB"

Or keep them for later shells: build/jobplane config --url "\$JP_URL" --token "\$JP_TOKEN"

The web console: open $URL/ in a browser and paste the token above.
The same with curl:

  curl -s -X POST "\$JP_URL/site/\$SITE/job" -H "Authorization: Bearer \$JP_TOKEN" \\
      -H 'Content-Type: text/plain' -H "X-Idempotency-Key: \$(cat /proc/sys/kernel/random/uuid)" \\
      -H 'X-Description: Print identity' --data-binary '/system identity print' | jq .
  curl -s "\$JP_URL/site/\$SITE/job" -H "Authorization: Bearer \$JP_TOKEN" | jq .

More tokens: build/jobplane token --secret-file jobplane.secret --team default
Stop the server with Ctrl-C.

EOT
exec build/jobplane serve --listen "$LISTEN" --db ./jobplane.db --secret-file jobplane.secret
