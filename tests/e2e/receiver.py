#!/usr/bin/env python3
"""A webhook receiver for the tests, on 127.0.0.1, independent of jobplane's
code: it checks Standard Webhooks signatures with Python's hmac, logs every
request as a JSON line, and answers what its path asks for.

    receiver.py DIR     port in DIR/port, secrets read from DIR/secrets (one
                        "whsec_..." per line, read again for every request),
                        one JSON line per request appended to DIR/log

Paths: /ok/...                200
       /status/CODE[:RA]/...  CODE, with Retry-After: RA when given
       /seq/NAME/S1,S2,...    the n-th request to this path gets Sn (the last
                              one repeats); Sn is CODE or CODE:RA
       /hang/...              never answers (sleeps 120 s)
       /sleep/MS/...          200 after MS milliseconds
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
LOCK = threading.Lock()
COUNTS = {}


def secrets():
    try:
        with open(os.path.join(DIR, "secrets")) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def verify(msg_id, ts, body, header):
    """The Standard Webhooks check: any v1 signature made with any secret."""
    given = [p.split(",", 1)[1] for p in header.split() if p.startswith("v1,")]
    for s in secrets():
        key = base64.b64decode(s[len("whsec_"):])
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
        want = base64.b64encode(mac).decode()
        if any(hmac.compare_digest(want, g) for g in given):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        start = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        sig = self.headers.get("webhook-signature", "")
        parts = self.path.strip("/").split("/")
        status, retry_after = 200, None
        if parts[0] == "status":
            code = parts[1].split(":")
            status = int(code[0])
            retry_after = code[1] if len(code) > 1 else None
        elif parts[0] == "seq":
            with LOCK:
                n = COUNTS.get(self.path, 0)
                COUNTS[self.path] = n + 1
            steps = parts[2].split(",")
            code = steps[min(n, len(steps) - 1)].split(":")
            status = int(code[0])
            retry_after = code[1] if len(code) > 1 else None
        elif parts[0] == "hang":
            time.sleep(120)
        elif parts[0] == "sleep":
            time.sleep(int(parts[1]) / 1000)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        line = {
            "path": self.path,
            "id": msg_id,
            "ts": ts,
            "sig_ok": bool(msg_id and fresh and verify(msg_id, ts, body, sig)),
            "signatures": len(sig.split()),
            "type": doc.get("type") if isinstance(doc, dict) else None,
            "content_type": self.headers.get("Content-Type"),
            "status": status,
            "t": start,
            "end": time.time(),
            "body": doc,
        }
        with LOCK:
            with open(os.path.join(DIR, "log"), "a") as f:
                f.write(json.dumps(line) + "\n")
        reply = b'{"received":true}'
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a sender that went away mid-request (the crash tests kill it)


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
