#!/usr/bin/env python3
"""Large messages: a 17 MiB round trip, and the max message size limit (exactly at it, one byte over).

usage: probe_max_size.py [--url URL] [--limit 134217728] [--sizes 17825792,...]
  --limit  the node's max_message_size (default 128 MiB, RabbitMQ's default);
           the probe publishes limit and limit+1 bytes
  --sizes  further body sizes to publish and read back (default 17 MiB)
"""
import argparse
import hashlib
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import DEFAULT_URL, C, Conn, recover_channel, step  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
ap.add_argument("--url", default=os.environ.get("RABBIT_URL", DEFAULT_URL))
ap.add_argument("--limit", type=int, default=134217728)
ap.add_argument("--sizes", default=str(17 * 1024 * 1024))
ap.add_argument("--timeout", type=float, default=180)
args = ap.parse_args()
signal.signal(signal.SIGALRM, lambda *a: (print("probe timed out"), sys.stdout.flush(), os._exit(3)))
signal.alarm(int(args.timeout))

Q = "probe-size-%s" % uuid.uuid4().hex[:6]
c = Conn(args.url, timeout=60)
print("tune: channel_max=%d frame_max=%d heartbeat=%d" % (c.tune.channel_max, c.tune.frame_max, c.tune.heartbeat))
c.open(1)
step(c, "declare", (1, C.Queue.Declare(queue=Q)))


def body(n):
    seed = hashlib.sha256(str(n).encode()).digest()
    return (seed * (n // len(seed) + 1))[:n]


for n in [int(s) for s in args.sizes.split(",") if s]:
    b = body(n)
    t0 = time.monotonic()
    fr = step(c, "publish %d bytes + queue.declare passive" % n, c.publish(1, "", Q, b),
              (1, C.Queue.Declare(queue=Q, passive=True)), quiet=2.0, limit=60)
    if recover_channel(c, 1, fr):
        continue
    c.send((1, C.Basic.Get(queue=Q, no_ack=True)))
    got = bytearray()
    size = None
    end = time.monotonic() + 60
    while time.monotonic() < end and (size is None or len(got) < size):
        ch, f = c.read(30)
        if hasattr(f, "body_size"):
            size = f.body_size
        elif hasattr(f, "value"):
            got += f.value
    print("    get: body_size=%s received=%d equal=%s (%.1f s)" % (size, len(got), bytes(got) == b,
                                                                  time.monotonic() - t0))

for n in [args.limit, args.limit + 1]:
    b = body(n)
    t0 = time.monotonic()
    fr = step(c, "publish %d bytes (limit %s) + queue.declare passive" % (n, "+1" if n > args.limit else "exactly"),
              c.publish(1, "", Q, b), (1, C.Queue.Declare(queue=Q, passive=True)), quiet=3.0, limit=90)
    print("    (%.1f s)" % (time.monotonic() - t0))
    recover_channel(c, 1, fr)
    del b
# Is the limit checked on the content header's body_size, before the body arrives?
from rawamqp import F, H, struct  # noqa: E402
c.send(F.marshal(C.Basic.Publish(exchange="", routing_key=Q), 1)
       + F.marshal(H.ContentHeader(0, args.limit * 2, C.Basic.Properties()), 1))
step(c, "method + header announcing %d bytes, no body yet (wait 2 s)" % (args.limit * 2), quiet=2.0)
c.send(struct.pack(">BHI", 3, 1, 10) + b"0123456789" + b"\xce")
step(c, "10 body bytes of it", quiet=2.0)
c.sock.close()
c = Conn(args.url, timeout=60)
c.open(1)
step(c, "delete", (1, C.Queue.Delete(queue=Q)), quiet=2.0)
c.close()
