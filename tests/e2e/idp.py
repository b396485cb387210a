#!/usr/bin/env python3
"""A stand-in identity provider for the tests, on python3-jwt and
python3-cryptography (not the server's code): makes key pairs and JWKS
documents, and mints tokens, honest ones and attacks.

  idp.py DIR keys                     RSA 2048 (rsa, rsa2), P-256 (ec, ec2),
                                      RSA 1024 (rsa1024), P-384 (p384)
  idp.py DIR jwks OUT KEY:KID...      a JWKS of those public keys
  idp.py DIR token ATTACK KEY [KID] [CLAIMS-JSON]
     ATTACK: ok, none, hs-pem (HS256 keyed with KEY's public PEM text),
             der (ES256 with a DER signature), truncated, ps256, rs384
"""
import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def load(d, name):
    with open(f"{d}/{name}.key", "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def pub_pem(d, name):
    with open(f"{d}/{name}.pub.pem", "rb") as f:
        return f.read()


def keys(d):
    made = {
        "rsa": rsa.generate_private_key(65537, 2048),
        "rsa2": rsa.generate_private_key(65537, 2048),
        "rsa1024": rsa.generate_private_key(65537, 1024),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ec2": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
    }
    for name, k in made.items():
        with open(f"{d}/{name}.key", "wb") as f:
            f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
        with open(f"{d}/{name}.pub.pem", "wb") as f:
            f.write(k.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))


def jwk(d, name, kid):
    pub = load(d, name).public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        j = {"kty": "RSA", "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
             "e": b64(n.e.to_bytes(3, "big")), "alg": "RS256", "use": "sig"}
    else:
        n = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        j = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
             "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}
    if kid != "-":
        j["kid"] = kid
    return j


def token(d, attack, name, kid, claims):
    now = int(time.time())
    payload = {"team": "t1", "scope": "sites:read sites:write jobs:read", "sub": "alice",
               "iss": "https://idp.example", "aud": "jobplane", "exp": now + 600}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {"kid": kid} if kid and kid != "-" else {}
    if attack == "none":
        h = {"alg": "none", "typ": "JWT", **headers}
        return f"{b64(json.dumps(h).encode())}.{b64(json.dumps(payload).encode())}."
    if attack == "hs-pem":
        h = {"alg": "HS256", "typ": "JWT", **headers}
        signing = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(payload).encode())}"
        mac = hmac.new(pub_pem(d, name), signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{b64(mac)}"
    key = load(d, name)
    if attack == "der":
        h = {"alg": "ES256", "typ": "JWT", **headers}
        signing = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(payload).encode())}"
        return f"{signing}.{b64(key.sign(signing.encode(), ec.ECDSA(hashes.SHA256())))}"
    if attack == "ps256":
        return jwt.encode(payload, key, algorithm="PS256", headers=headers)
    if attack == "rs384":
        return jwt.encode(payload, key, algorithm="RS384", headers=headers)
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    t = jwt.encode(payload, key, algorithm=alg, headers=headers)
    return t[:-4] if attack == "truncated" else t


def main():
    d, cmd = sys.argv[1], sys.argv[2]
    if cmd == "keys":
        keys(d)
    elif cmd == "jwks":
        out = sys.argv[3]
        doc = {"keys": [jwk(d, *spec.split(":", 1)) for spec in sys.argv[4:]]}
        with open(out, "w") as f:
            json.dump(doc, f)
    elif cmd == "token":
        attack, name = sys.argv[3], sys.argv[4]
        kid = sys.argv[5] if len(sys.argv) > 5 else None
        claims = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
        print(token(d, attack, name, kid, claims))


main()
