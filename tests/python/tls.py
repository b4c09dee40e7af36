#!/usr/bin/env python3
"""TLS interop scenarios: pika (blocking) and aiormq over amqps, without and with a
client certificate, logging in with PLAIN or EXTERNAL.

The server listens for TLS at --host/--port with a certificate for `localhost` and
127.0.0.1 signed by the CA in --ca, verifies client certificates against that CA
(verify_peer: a client without one is let in), and has the user --user NAME:PASSWORD
whose NAME is also the common name of the client certificate --cert/--key. Each
scenario publishes one message and consumes it back, or records how a login is
refused. Prints one line per scenario and a summary `N passed, M failed`; exits 1 if
any failed. Every wait is bounded and the whole run is killed by an alarm. The
expected observations are RabbitMQ 3.10.8's: the same script against a node with TLS
and rabbitmq_auth_mechanism_ssl passes 8 of 8 (docs/rabbitmq-3.10.8-wire-facts.md,
section 11).

usage: tls.py --host 127.0.0.1 --port PORT --ca CA.pem --cert CLIENT.pem --key CLIENT_KEY.pem --user NAME:PASSWORD
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import traceback
import urllib.parse
import uuid

import aiormq
import pika

TOTAL_TIMEOUT = 120
RUN = uuid.uuid4().hex[:8]


def context(args, client_cert):
    """A client context trusting only the test CA, with the client certificate or not."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca)
    if client_cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


# ---------------------------------------------------------------- pika scenarios


def pika_connect(args, client_cert, credentials):
    params = pika.ConnectionParameters(
        host=args.host,
        port=args.port,
        credentials=credentials,
        # The name checked against the server certificate (its DNS name).
        ssl_options=pika.SSLOptions(context(args, client_cert), server_hostname="localhost"),
        socket_timeout=10,
        blocked_connection_timeout=10,
        connection_attempts=1,
    )
    return pika.BlockingConnection(params)


def pika_round_trip(conn, body):
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, body.encode())
    for method, _props, got in ch.consume(q, inactivity_timeout=10):
        if method is None:
            return {"error": "no delivery within 10 s"}
        ch.basic_ack(method.delivery_tag)
        break
    ch.cancel()
    conn.close()
    return {"body": got.decode()}


def pika_plain_without_certificate(args):
    user, password = args.user.split(":", 1)
    conn = pika_connect(args, False, pika.PlainCredentials(user, password))
    return pika_round_trip(conn, "pika, PLAIN, no certificate")


def pika_plain_with_certificate(args):
    user, password = args.user.split(":", 1)
    conn = pika_connect(args, True, pika.PlainCredentials(user, password))
    return pika_round_trip(conn, "pika, PLAIN, certificate")


def pika_external(args):
    conn = pika_connect(args, True, pika.credentials.ExternalCredentials())
    return pika_round_trip(conn, "pika, EXTERNAL")


def pika_external_without_certificate(args):
    try:
        conn = pika_connect(args, False, pika.credentials.ExternalCredentials())
    except pika.exceptions.AMQPConnectionError as e:
        # BlockingConnection wraps the failure of its one attempt.
        cause = e.args[0] if e.args and isinstance(e.args[0], Exception) else e
        return {"refused": type(cause).__name__, "text": str(cause)}
    conn.close()
    return {"error": "logged in with EXTERNAL and no certificate"}


# ---------------------------------------------------------------- aiormq scenarios


def aiormq_url(args, userinfo, **query):
    q = ("?" + urllib.parse.urlencode(query)) if query else ""
    return "amqps://%s%s:%d/%s" % (userinfo, args.host, args.port, q)


async def aiormq_round_trip(conn, body):
    ch = await conn.channel()
    q = (await ch.queue_declare(exclusive=True)).queue
    await ch.basic_publish(body.encode(), routing_key=q)
    got = asyncio.get_running_loop().create_future()

    async def on_message(message):
        await message.channel.basic_ack(message.delivery.delivery_tag)
        if not got.done():
            got.set_result(message.body)

    await ch.basic_consume(q, on_message)
    body = await asyncio.wait_for(got, 10)
    await conn.close()
    return {"body": body.decode()}


async def aiormq_plain_without_certificate(args):
    user, password = args.user.split(":", 1)
    userinfo = "%s:%s@" % (urllib.parse.quote(user, safe=""), urllib.parse.quote(password, safe=""))
    # The CA from the URL's query, as aiormq documents; no client certificate.
    conn = await aiormq.connect(aiormq_url(args, userinfo, cafile=args.ca))
    return await aiormq_round_trip(conn, "aiormq, PLAIN, no certificate")


async def aiormq_external_with_context(args):
    # An ssl.SSLContext holding the client certificate; EXTERNAL from the URL.
    url = aiormq_url(args, "", auth="external")
    conn = await aiormq.connect(url, context=context(args, True))
    return await aiormq_round_trip(conn, "aiormq, EXTERNAL, SSLContext")


async def aiormq_external_with_url_files(args):
    # The CA, certificate and key named in the URL's query.
    url = aiormq_url(args, "", auth="external", cafile=args.ca, certfile=args.cert, keyfile=args.key)
    conn = await aiormq.connect(url)
    return await aiormq_round_trip(conn, "aiormq, EXTERNAL, URL files")


async def aiormq_external_without_certificate(args):
    try:
        conn = await aiormq.connect(aiormq_url(args, "", auth="external"), context=context(args, False))
    except Exception as e:
        return {"refused": type(e).__name__, "text": str(e)}
    await conn.close()
    return {"error": "logged in with EXTERNAL and no certificate"}


REFUSED = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile."

SCENARIOS = [
    ("pika_plain_without_certificate", pika_plain_without_certificate, {"body": "pika, PLAIN, no certificate"}),
    ("pika_plain_with_certificate", pika_plain_with_certificate, {"body": "pika, PLAIN, certificate"}),
    ("pika_external", pika_external, {"body": "pika, EXTERNAL"}),
    (
        "pika_external_without_certificate",
        pika_external_without_certificate,
        {"refused": "ProbableAuthenticationError", "text": "ConnectionClosedByBroker: (403) %r" % REFUSED},
    ),
    ("aiormq_plain_without_certificate", aiormq_plain_without_certificate, {"body": "aiormq, PLAIN, no certificate"}),
    ("aiormq_external_with_context", aiormq_external_with_context, {"body": "aiormq, EXTERNAL, SSLContext"}),
    ("aiormq_external_with_url_files", aiormq_external_with_url_files, {"body": "aiormq, EXTERNAL, URL files"}),
    (
        "aiormq_external_without_certificate",
        aiormq_external_without_certificate,
        {"refused": "ProbableAuthenticationError", "text": REFUSED},
    ),
]


def run(fn, args):
    if asyncio.iscoroutinefunction(fn):
        return asyncio.run(asyncio.wait_for(fn(args), 30))
    return fn(args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5671)
    ap.add_argument("--ca", required=True, help="the CA certificate (PEM) the server's certificate chains to")
    ap.add_argument("--cert", required=True, help="the client certificate (PEM); its common name is the user")
    ap.add_argument("--key", required=True, help="the client certificate's key (PEM)")
    ap.add_argument("--user", required=True, help="NAME:PASSWORD of the user the certificate names")
    ap.add_argument("--only")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *a: os._exit(3))
    signal.alarm(TOTAL_TIMEOUT)
    passed = failed = 0
    for scenario, fn, expected in SCENARIOS:
        if args.only and args.only != scenario:
            continue
        try:
            got = run(fn, args)
        except Exception as e:
            got = {"error": "%s: %s" % (type(e).__name__, e)}
            traceback.print_exc()
        ok = got == expected
        passed += ok
        failed += not ok
        print("%s %s" % ("ok  " if ok else "FAIL", scenario), flush=True)
        if not ok:
            print("     expected %s\n     got      %s" % (json.dumps(expected), json.dumps(got)), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
