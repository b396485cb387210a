#!/usr/bin/env python3
"""TLS probes for 25-tls.sh (Python's ssl, not our code).

  tls.py PORT CA serial              the serial of the certificate served
  tls.py PORT CA keepalive FLAG GO   one connection: a request, then touches
                                     FLAG and waits for GO to exist, then a
                                     second request on the same connection;
                                     prints both status codes
  tls.py PORT CA raw REQUEST         sends REQUEST (\\r\\n escapes) and prints
                                     all that comes back until the server
                                     closes (5 s at most), then "<closed>"
"""
import os
import socket
import ssl
import sys
import time

port, ca, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                    server_hostname="127.0.0.1")


def status():
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, body = buf.split(b"\r\n\r\n", 1)
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")]
    while length and len(body) < length[0]:
        body += s.recv(4096)
    return head.split(b" ")[1].decode()


if cmd == "serial":
    der = s.getpeercert(binary_form=True)
    # the serial is the first INTEGER of tbsCertificate (after the version)
    from cryptography import x509
    print(format(x509.load_der_x509_certificate(der).serial_number, "X"))
elif cmd == "keepalive":
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    s.sendall(req)
    first = status()
    open(sys.argv[4], "w").close()
    for _ in range(100):
        if os.path.exists(sys.argv[5]):
            break
        time.sleep(0.05)
    s.sendall(req)
    print(first, status())
elif cmd == "raw":
    s.sendall(sys.argv[4].encode().decode("unicode_escape").encode("latin1"))
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ssl.SSLError):
        pass
    print(out.decode(errors="replace"))
    print("<closed>")
