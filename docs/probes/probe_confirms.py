#!/usr/bin/env python3
"""Publisher confirms: how acks for pipelined publishes are coalesced (multiple=true), and the order of
basic.deliver N vs the ack of N when a consumer on the same connection consumes the queue.

usage: probe_confirms.py [--url URL] [--count 1000]
"""
import argparse
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import DEFAULT_URL, C, Conn, show, step  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
ap.add_argument("--url", default=os.environ.get("RABBIT_URL", DEFAULT_URL))
ap.add_argument("--count", type=int, default=1000)
ap.add_argument("--timeout", type=float, default=120)
args = ap.parse_args()
signal.signal(signal.SIGALRM, lambda *a: (print("probe timed out"), sys.stdout.flush(), os._exit(3)))
signal.alarm(int(args.timeout))
N = args.count
tag = uuid.uuid4().hex[:6]


def run(label, queue_args=None, durable=False, persistent=False, consumer_ch=None, unroutable_every=0):
    q = "probe-cf-%s-%s" % (tag, label.split()[0])
    c = Conn(args.url, timeout=30)
    c.open(1)
    if consumer_ch and consumer_ch != 1:
        c.open(consumer_ch)
    c.send((1, C.Queue.Declare(queue=q, durable=durable, arguments=queue_args or {})))
    c.expect(1, C.Queue.DeclareOk)
    c.send((1, C.Confirm.Select()))
    c.expect(1, C.Confirm.SelectOk)
    if consumer_ch:
        c.send((consumer_ch, C.Basic.Consume(queue=q, consumer_tag="ctag", no_ack=True)))
        c.expect(consumer_ch, C.Basic.ConsumeOk)
    props = C.Basic.Properties(delivery_mode=2 if persistent else 1)
    out = bytearray()
    for i in range(1, N + 1):
        if unroutable_every and i % unroutable_every == 0:
            out += c.publish(1, "", "probe-nowhere-" + tag, b"%d" % i, props, mandatory=True)
        else:
            out += c.publish(1, "", q, b"%d" % i, props)
    t0 = time.monotonic()
    c.send(bytes(out))
    acks = multi = nacks = returns = 0
    confirmed = 0          # highest tag covered by the acks seen so far
    deliveries = 0
    deliver_before_ack = deliver_after_ack = 0
    first = []
    pending_body = False
    end = time.monotonic() + 60
    while (confirmed < N or (consumer_ch and deliveries < N - (N // unroutable_every if unroutable_every else 0))) \
            and time.monotonic() < end:
        f = c.read(10)
        if f is None:
            break
        ch, fr = f
        if len(first) < 12:
            first.append(show(ch, fr))
        if isinstance(fr, C.Basic.Ack):
            acks += 1
            multi += fr.multiple
            confirmed = max(confirmed, fr.delivery_tag)
        elif isinstance(fr, C.Basic.Nack):
            nacks += 1
        elif isinstance(fr, C.Basic.Return):
            returns += 1
        elif isinstance(fr, C.Basic.Deliver):
            pending_body = True
        elif hasattr(fr, "value") and pending_body:
            pending_body = False
            deliveries += 1
            n = int(fr.value)
            if n > confirmed:
                deliver_before_ack += 1
            else:
                deliver_after_ack += 1
    dt = time.monotonic() - t0
    print("> %s: %d publishes in one write" % (label, N))
    print("    %d Basic.Ack frames (%d with multiple=true), %d nacks, %d returns, highest tag %d, %.2f s"
          % (acks, multi, nacks, returns, confirmed, dt))
    if consumer_ch:
        print("    %d deliveries on ch%d: %d arrived before the ack covering them, %d after"
              % (deliveries, consumer_ch, deliver_before_ack, deliver_after_ack))
    print("    first frames: " + "; ".join(first))
    c.send((1, C.Queue.Delete(queue=q)))
    c.read_all(quiet=0.5, limit=5)
    c.close()


run("classic transient")
run("classic-persistent durable queue, persistent messages", durable=True, persistent=True)
run("quorum queue", queue_args={"x-queue-type": "quorum"}, durable=True)
run("unroutable mandatory every 10th (classic)", unroutable_every=10)
run("consumer2 classic, consumer on ch2 of the same connection, no_ack", consumer_ch=2)
run("consumer1 classic, consumer on the publishing channel ch1, no_ack", consumer_ch=1)
run("consumerp persistent, consumer on ch2", durable=True, persistent=True, consumer_ch=2)
run("consumerq quorum, consumer on ch2", queue_args={"x-queue-type": "quorum"}, durable=True, consumer_ch=2)

print("> channels are independent: queue.declare on ch1 and basic.consume of that queue on ch2 in one write")
c = Conn(args.url)
c.open(1)
c.open(2)
q = "probe-cf-%s-race" % tag
step(c, "declare on ch1 + consume on ch2, one write", (1, C.Queue.Declare(queue=q)),
     (2, C.Basic.Consume(queue=q, consumer_tag="ctag", no_ack=True)))
step(c, "delete", (1, C.Queue.Delete(queue=q)))
c.close()

for kind, dur, qargs, pers in [("classic transient", False, {}, False), ("classic durable, persistent", True, {}, True),
                               ("quorum", True, {"x-queue-type": "quorum"}, False)]:
    print("> single publish, consumer on ch2 (%s): exact frame order, 5 tries" % kind)
    c = Conn(args.url)
    c.open(1)
    c.open(2)
    q = "probe-cf-%s-single" % tag
    step(c, "declare, confirm.select", (1, C.Queue.Declare(queue=q, durable=dur, arguments=qargs)),
         (1, C.Confirm.Select()))
    step(c, "consume on ch2", (2, C.Basic.Consume(queue=q, consumer_tag="ctag", no_ack=True)))
    for i in range(5):
        step(c, "publish one message", c.publish(1, "", q, b"one", C.Basic.Properties(delivery_mode=2 if pers else 1)))
    step(c, "delete", (1, C.Queue.Delete(queue=q)))
    c.close()
