#!/bin/sh
# Prints the man page jobplane(1), made from the binary's own help texts
# (so it says what the binary does): scripts/man.sh build/jobplane >jobplane.1
set -eu
BIN=$1
VERSION=$("$BIN" version | awk '{ print $2 }')
# verbatim: backslashes escaped, lines that begin with . or ' made plain text
verbatim() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
section() { printf '.SH %s\n.nf\n' "$1"; verbatim; printf '.fi\n'; }
cat <<EOT
.TH JOBPLANE 1 "" "jobplane $VERSION" "User Commands"
.SH NAME
jobplane \\- job plane for MikroTik RouterOS fleets: server, operator client, simulator
.SH SYNOPSIS
.B jobplane serve
[\\fIoptions\\fR]
.br
.B jobplane
\\fIsite\\fR|\\fIjob\\fR|\\fIbackup\\fR|\\fIwebhook\\fR|\\fIkey\\fR|\\fIrollout\\fR|\\fItemplate\\fR \\fIcommand\\fR [\\fIarguments\\fR] [\\fIoptions\\fR]
.br
.B jobplane token
|
.B sim
|
.B config
|
.B version
.SH DESCRIPTION
jobplane queues RouterOS scripts ("jobs") for routers that poll it: each
router fetches its next job wrapped in a small RouterOS script, runs it and
reports the outcome through signed URLs. \\fBjobplane serve\\fR is the server;
the other commands are clients of a server (over HTTP), the token minter and
a simulated fleet.
EOT
"$BIN" --help 2>&1 | section COMMANDS
"$BIN" serve --help 2>&1 | section "SERVE OPTIONS"
for c in site job backup webhook key rollout template; do
    { "$BIN" "$c" --help
      for v in $("$BIN" "$c" --help | awk 'NR > 1 && /^  [a-z]/ { print $1 }'); do
          echo; "$BIN" "$c" "$v" --help | sed '/^common options:/,$d'
      done; } 2>&1 | section "$(echo "$c" | tr a-z A-Z) COMMANDS"
done
"$BIN" site ls --help | sed -n '/^common options:/,$p' | section "CLIENT OPTIONS"
"$BIN" token --help 2>&1 | section TOKEN
"$BIN" sim --help 2>&1 | section SIM
"$BIN" config --help 2>&1 | section CONFIG
cat <<'EOT'
.SH EXIT STATUS
0 ok; 1 an API error (its code and message are printed), a server that
cannot be reached, or job wait's timeout; 2 usage; 3 not found; 4 job wait:
a job failed or was cancelled.
.SH FILES
.TP
.I /etc/jobplane/jobplane.conf
the server's options (serve \-\-config), one "key = value" per line
.TP
.I /etc/jobplane/secret
the operator secret (made at installation)
.TP
.I /var/lib/jobplane/jobplane.db
the SQLite database
.TP
.I ~/.config/jobplane/config
the client's url and token (jobplane config)
.SH ENVIRONMENT
.TP
.B JOBPLANE_SECRET
the operator secret of serve and token
.TP
.BR JP_URL ", " JP_TOKEN
the client's server and credentials
.SH SEE ALSO
The README and docs/api.md of the project; GET /openapi.json of a server.
EOT
