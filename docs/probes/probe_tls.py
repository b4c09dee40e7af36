#!/usr/bin/env python3
"""TLS listeners: Start's mechanisms on plain and TLS connections (with and without a
client certificate), EXTERNAL where it cannot succeed (plain TCP; TLS without a
certificate, with and without `authentication_failure_close`), PLAIN with a wrong
password and an unknown mechanism for comparison, and plain AMQP sent to the TLS port.

Run against a server with a plain and a TLS listener whose certificate is for
localhost, verify_peer against --ca (a client without a certificate is let in), and
EXTERNAL enabled (RabbitMQ: rabbitmq_auth_mechanism_ssl, `auth_mechanisms.3 =
EXTERNAL`, `ssl_cert_login_from = common_name`).

usage: probe_tls.py --plain-port P --tls-port T --ca CA.pem --cert CLIENT.pem --key CLIENT_KEY.pem [--host 127.0.0.1]
"""
import argparse
import socket
import ssl
import struct
import time

from pamqp import commands as C
from pamqp import frame as F
from pamqp import header as H

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--plain-port", type=int, required=True)
ap.add_argument("--tls-port", type=int, required=True)
ap.add_argument("--ca", required=True)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
args = ap.parse_args()


def connect(tls, client_cert=False):
    sock = socket.create_connection((args.host, args.tls_port if tls else args.plain_port), timeout=10)
    if not tls:
        return sock
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    if client_cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx.wrap_socket(sock, server_hostname="localhost")


def frames(sock, limit=6.0):
    """Every frame until EOF (or `limit` s), and the time EOF came."""
    t0 = time.monotonic()
    buf = bytearray()
    out = []
    sock.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, ssl.SSLError) as e:
            out.append("%s after %.1f s" % (type(e).__name__, time.monotonic() - t0))
            return out
        if not chunk:
            out.append("EOF after %.1f s" % (time.monotonic() - t0))
            return out
        buf += chunk
        while len(buf) >= 8:
            size = struct.unpack_from(">I", buf, 3)[0]
            if len(buf) < size + 8:
                break
            _, _, f = F.unmarshal(bytes(buf[: size + 8]))
            del buf[: size + 8]
            if isinstance(f, C.Connection.Close):
                out.append("Connection.Close(%d, %r, %d, %d)" % (f.reply_code, f.reply_text, f.class_id, f.method_id))
            else:
                out.append(f.name)
    out.append("still open after %.0f s" % limit)
    return out


def start(sock):
    sock.sendall(H.ProtocolHeader().marshal())
    buf = b""
    while len(buf) < 7 or len(buf) < struct.unpack_from(">I", buf, 3)[0] + 8:
        buf += sock.recv(65536)
    _, _, f = F.unmarshal(buf)
    return f


def login(sock, caps, mechanism="EXTERNAL", response=""):
    s = start(sock)
    props = {"product": "probe", "capabilities": {"authentication_failure_close": True}} if caps else {"product": "probe"}
    sock.sendall(F.marshal(C.Connection.StartOk(client_properties=props, mechanism=mechanism, response=response, locale="en_US"), 0))
    return s.mechanisms, frames(sock)


for label, tls, cert in [("plain", False, False), ("tls, no certificate", True, False), ("tls, certificate", True, True)]:
    print("Start mechanisms (%s): %r" % (label, start(connect(tls, cert)).mechanisms))

for label, tls, caps in [
    ("plain TCP", False, True),
    ("TLS, no certificate", True, True),
    ("TLS, no certificate, no authentication_failure_close", True, False),
]:
    mechanisms, got = login(connect(tls), caps)
    print("EXTERNAL on %s (offered %r): %s" % (label, mechanisms, "; ".join(got)))

for mechanism, response in [("PLAIN", "\0app\0wrong password"), ("FOO", "")]:
    _, got = login(connect(False), True, mechanism, response)
    print("%s on plain TCP: %s" % (mechanism, "; ".join(got)))

s = socket.create_connection((args.host, args.tls_port), timeout=10)
s.sendall(b"AMQP\x00\x00\x09\x01")
s.settimeout(10)
t0 = time.monotonic()
got = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except OSError as e:
    got += ("<%s>" % type(e).__name__).encode()
print("AMQP header on the TLS port: %r, then closed after %.1f s" % (got, time.monotonic() - t0))
