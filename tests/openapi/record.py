#!/usr/bin/env python3
"""A recording proxy for the OpenAPI check: forwards every request to the
server on 127.0.0.1 (its port read from UPSTREAM_PORT_FILE at each request,
so the server may restart on another port) and appends one JSON line per
exchange to OUT: method, path, query, request headers and body, status,
response headers and body (bodies as text, or base64 when not UTF-8).

usage: record.py PORT_FILE UPSTREAM_PORT_FILE OUT
Writes the port it listens on (loopback, a free one) to PORT_FILE."""
import base64
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, UPSTREAM, OUT = sys.argv[1:4]
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "content-length"}


def body_field(b):
    try:
        return {"text": b.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def forward(self):
        body = self.read_body()
        path, _, query = self.path.partition("?")
        # http.server reads header bytes as Latin-1; the server reads UTF-8
        hv = {k.lower(): v.encode("latin-1").decode("utf-8", "replace")
              for k, v in self.headers.items()}
        rec = {"method": self.command, "path": path, "query": query,
               "request_headers": hv,
               "request_body": body_field(body)}
        with open(UPSTREAM) as f:
            port = int(f.read().strip())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            try:
                conn.send(body)
            except OSError:
                pass  # the server answered early (a body over the limit)
            resp = conn.getresponse()
            data = resp.read()
            status, rh = resp.status, resp.getheaders()
        except OSError as e:
            status, rh, data = 502, [("Content-Type", "text/plain")], f"proxy: {e}".encode()
            rec["proxy_error"] = str(e)
        finally:
            conn.close()
        rec.update({"status": status, "response_headers": {k.lower(): v for k, v in rh},
                    "response_body": body_field(data)})
        line = json.dumps(rec) + "\n"
        with LOCK, open(OUT, "a") as f:
            f.write(line)
        self.send_response_only(status)
        for k, v in rh:
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = forward


srv = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
srv.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402

os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
