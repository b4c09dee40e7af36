#!/usr/bin/env python3
"""Quorum queues: declare properties and arguments, redeclare as classic, x-delivery-limit and
x-delivery-count, dead-lettering on the limit, requeue position, basic.get, other x-queue-type values.

usage: probe_quorum.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, H, Conn, common_args, props, recover_channel, step  # noqa: E402

args = common_args(__doc__)
tag = uuid.uuid4().hex[:6]
c = Conn(args.url)
c.open(1)
n = [0]
QT = {"x-queue-type": "quorum"}


def qname():
    n[0] += 1
    return "probe-qq-%s-%d" % (tag, n[0])


def t(label, *items, **kw):
    global c
    fr = step(c, label, *items, **kw)
    if any(fc == 0 for fc, f in fr):
        c.send((0, C.Connection.CloseOk()))
        c.sock.close()
        c = Conn(args.url)
        c.open(1)
        print("    (reconnected)")
    else:
        recover_channel(c, 1, fr)
    return fr


def declare(label, durable=True, exclusive=False, auto_delete=False, arguments=None, q=None, keep=False):
    q = qname() if q is None else q
    fr = t("declare %s: %s" % (q.rsplit("-", 1)[-1] or "''", label),
           (1, C.Queue.Declare(queue=q, durable=durable, exclusive=exclusive, auto_delete=auto_delete,
                               arguments=arguments)))
    ok = [f.queue for ch, f in fr if isinstance(f, C.Queue.DeclareOk)]
    if ok:
        q = ok[0]
    if ok and not keep:
        c.send((1, C.Queue.Delete(queue=q)))
        c.read_all(quiet=0.3)
    return q, ok


print("== properties")
declare("quorum durable=True", arguments=QT)
declare("quorum durable=False", durable=False, arguments=QT)
declare("quorum exclusive=True", exclusive=True, arguments=QT)
declare("quorum auto_delete=True", auto_delete=True, arguments=QT)
declare("quorum durable=False exclusive=True auto_delete=True (which is reported first?)", durable=False,
        exclusive=True, auto_delete=True, arguments=QT)
declare("x-queue-type=classic explicitly", arguments={"x-queue-type": "classic"})
declare("x-queue-type=classic, durable=False", durable=False, arguments={"x-queue-type": "classic"})
declare("x-queue-type=stream durable", arguments={"x-queue-type": "stream"})
declare("x-queue-type=stream durable=False", durable=False, arguments={"x-queue-type": "stream"})
declare("x-queue-type=bogus", arguments={"x-queue-type": "bogus"})
declare("x-queue-type=bogus durable=False", durable=False, arguments={"x-queue-type": "bogus"})
declare("x-queue-type=QUORUM (case)", arguments={"x-queue-type": "QUORUM"})
declare("x-queue-type = 1 (integer)", arguments={"x-queue-type": 1})
declare("server-named quorum queue (name '')", arguments=QT, q="")

print("== arguments on a quorum queue")
for k, v in [("x-max-priority", 10), ("x-message-ttl", 1000), ("x-expires", 60000), ("x-max-length", 10),
             ("x-max-length-bytes", 10000), ("x-overflow", "drop-head"), ("x-overflow", "reject-publish"),
             ("x-overflow", "reject-publish-dlx"), ("x-overflow", "bogus"),
             ("x-dead-letter-exchange", "some-dlx"), ("x-dead-letter-routing-key", "rk"),
             ("x-single-active-consumer", True), ("x-delivery-limit", 0), ("x-delivery-limit", 1),
             ("x-delivery-limit", -1), ("x-delivery-limit", "2"), ("x-delivery-limit", "abc"),
             ("x-queue-mode", "lazy"), ("x-queue-mode", "default"), ("x-queue-master-locator", "client-local"),
             ("x-queue-master-locator", "bogus"),
             ("x-max-in-memory-length", 10), ("x-max-in-memory-bytes", 1000), ("x-dead-letter-strategy", "at-least-once"),
             ("x-dead-letter-strategy", "at-most-once"), ("x-dead-letter-strategy", "bogus"),
             ("x-quorum-initial-group-size", 1), ("x-quorum-initial-group-size", 3),
             ("x-quorum-initial-group-size", 0), ("x-quorum-initial-group-size", "x"),
             ("x-queue-leader-locator", "balanced"), ("x-foo", "bar"), ("x-message-ttl", -1),
             ("x-expires", 0), ("x-max-length", -1)]:
    declare("%s=%r" % (k, v), arguments=dict(QT, **{k: v}))
declare("x-dead-letter-strategy=at-least-once with x-overflow=reject-publish + DLX",
        arguments=dict(QT, **{"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
                              "x-dead-letter-exchange": "dlx"}))

print("== redeclare")
q, _ = declare("quorum", arguments=QT, keep=True)
t("redeclare as classic (no x-queue-type)", (1, C.Queue.Declare(queue=q, durable=True)))
t("redeclare with x-queue-type=classic", (1, C.Queue.Declare(queue=q, durable=True,
                                                              arguments={"x-queue-type": "classic"})))
t("redeclare passive (no args)", (1, C.Queue.Declare(queue=q, passive=True)))
t("redeclare quorum with an extra x-delivery-limit", (1, C.Queue.Declare(queue=q, durable=True,
                                                                          arguments=dict(QT, **{"x-delivery-limit": 5}))))
t("redeclare quorum with x-max-length (not set before)", (1, C.Queue.Declare(queue=q, durable=True,
                                                                              arguments=dict(QT, **{"x-max-length": 5}))))
t("redeclare quorum durable=False", (1, C.Queue.Declare(queue=q, durable=False, arguments=QT)))
t("redeclare quorum same", (1, C.Queue.Declare(queue=q, durable=True, arguments=QT)))
t("delete", (1, C.Queue.Delete(queue=q)))
q, _ = declare("classic durable", arguments=None, keep=True)
t("redeclare the classic queue as quorum", (1, C.Queue.Declare(queue=q, durable=True, arguments=QT)))
t("delete", (1, C.Queue.Delete(queue=q)))
q, _ = declare("classic durable with x-queue-type=classic", arguments={"x-queue-type": "classic"}, keep=True)
t("redeclare it without x-queue-type", (1, C.Queue.Declare(queue=q, durable=True)))
t("delete", (1, C.Queue.Delete(queue=q)))

print("== message_count, basic.get, requeue position")
q, _ = declare("quorum for get", arguments=QT, keep=True)
t("publish m1 m2 m3, confirm", (1, C.Confirm.Select()), c.publish(1, "", q, b"m1"), c.publish(1, "", q, b"m2"),
  c.publish(1, "", q, b"m3"))
t("passive declare: message_count", (1, C.Queue.Declare(queue=q, passive=True)))
t("basic.get (no_ack=false)", (1, C.Basic.Get(queue=q)))
t("basic.reject tag 1 requeue=true, then basic.get", (1, C.Basic.Reject(delivery_tag=1, requeue=True)),
  (1, C.Basic.Get(queue=q)))
t("basic.nack tag 2 requeue=true; get; get", (1, C.Basic.Nack(delivery_tag=2, requeue=True)),
  (1, C.Basic.Get(queue=q)), (1, C.Basic.Get(queue=q)))
t("basic.recover requeue=true (unacked tags 3 and 4); get x3", (1, C.Basic.Recover(requeue=True)),
  (1, C.Basic.Get(queue=q)), (1, C.Basic.Get(queue=q)), (1, C.Basic.Get(queue=q)))
t("consume (prefetch 0) to see the order via deliveries, then reject the first with requeue",
  (1, C.Basic.Recover(requeue=True)), (1, C.Basic.Consume(queue=q, consumer_tag="ord")))
t("reject(requeue=true) the highest tag (last delivered)", quiet=0.3)
t("cancel, delete", (1, C.Basic.Cancel(consumer_tag="ord")), (1, C.Queue.Delete(queue=q)))

print("== x-delivery-limit=2 without DLX: reject(requeue=true) every delivery")


def reject_loop(q, limit_label, max_deliveries=8, nack=False):
    c.send((1, C.Basic.Consume(queue=q, consumer_tag="dl")))
    seen = []
    while len(seen) < max_deliveries:
        fr = c.read_all(quiet=1.0, limit=5)
        dels = [f for ch, f in fr if isinstance(f, C.Basic.Deliver)]
        hdrs = [f for ch, f in fr if isinstance(f, H.ContentHeader)]
        if not dels:
            break
        for d, h in zip(dels, hdrs):
            p = props(h.properties)
            seen.append((d.delivery_tag, d.redelivered, (p.get("headers") or {}).get("x-delivery-count")))
            c.send((1, C.Basic.Nack(delivery_tag=d.delivery_tag, requeue=True) if nack
                    else C.Basic.Reject(delivery_tag=d.delivery_tag, requeue=True)))
    print("    %s: %d deliveries (tag, redelivered, x-delivery-count header): %s" % (limit_label, len(seen), seen))
    c.send((1, C.Basic.Cancel(consumer_tag="dl")))
    c.read_all(quiet=0.3)
    t("passive declare after the loop", (1, C.Queue.Declare(queue=q, passive=True)))


for lim in (2, 0, 1, -1, "2"):
    q, _ = declare("x-delivery-limit=%r" % (lim,), arguments=dict(QT, **{"x-delivery-limit": lim}), keep=True)
    t("publish one message with headers {'h': 'v'}", c.publish(1, "", q, b"dl", C.Basic.Properties(headers={"h": "v"})))
    reject_loop(q, "x-delivery-limit=%r" % (lim,), max_deliveries=6)
    t("delete", (1, C.Queue.Delete(queue=q)))
q, _ = declare("no x-delivery-limit", arguments=QT, keep=True)
t("publish one message", c.publish(1, "", q, b"dl"))
reject_loop(q, "no limit (stop after 5)", max_deliveries=5)
t("delete", (1, C.Queue.Delete(queue=q)))
q, _ = declare("x-delivery-limit=2, nack instead of reject", arguments=dict(QT, **{"x-delivery-limit": 2}), keep=True)
t("publish one message", c.publish(1, "", q, b"dl"))
reject_loop(q, "x-delivery-limit=2 with nack", nack=True)
t("delete", (1, C.Queue.Delete(queue=q)))

print("== x-delivery-limit=2 with a DLX")
dlx = "probe-qq-dlx-" + tag
dlq = "probe-qq-dlq-" + tag
t("declare DLX (fanout) and DL queue, bind", (1, C.Exchange.Declare(exchange=dlx, exchange_type="fanout")),
  (1, C.Queue.Declare(queue=dlq)), (1, C.Queue.Bind(queue=dlq, exchange=dlx)))
q, _ = declare("x-delivery-limit=2, x-dead-letter-exchange=DLX",
               arguments=dict(QT, **{"x-delivery-limit": 2, "x-dead-letter-exchange": dlx}), keep=True)
t("publish one message (routing key = q, headers {'h': 'v'}, expiration none)",
  c.publish(1, "", q, b"dl", C.Basic.Properties(headers={"h": "v"})))
reject_loop(q, "x-delivery-limit=2 + DLX")
t("basic.get from the DL queue (no_ack)", (1, C.Basic.Get(queue=dlq, no_ack=True)))
c.send(c.publish(1, "", q, b"rq"))
t("publish 'rq' to the queue; wait for its confirm", until=lambda ch, f: isinstance(f, C.Basic.Ack))
fr = t("basic.get it", (1, C.Basic.Get(queue=q)))
gtag = [f.delivery_tag for ch, f in fr if isinstance(f, C.Basic.GetOk)][0]
t("basic.reject(requeue=false) -> dead-lettered; get from the DL queue",
  (1, C.Basic.Reject(delivery_tag=gtag, requeue=False)), quiet=0.5)
t("basic.get from the DL queue (no_ack)", (1, C.Basic.Get(queue=dlq, no_ack=True)))
t("cleanup", (1, C.Queue.Delete(queue=q)), (1, C.Queue.Delete(queue=dlq)), (1, C.Exchange.Delete(exchange=dlx)))

print("== reply order on one channel: basic.cancel of a quorum consumer, then queue.delete, in one write")
for i in range(3):
    q, _ = declare("quorum", arguments=QT, keep=True)
    t("consume", (1, C.Basic.Consume(queue=q, consumer_tag="o%d" % i)))
    t("cancel + delete in one write", (1, C.Basic.Cancel(consumer_tag="o%d" % i)), (1, C.Queue.Delete(queue=q)))

print("== streams (x-queue-type=stream) over AMQP 0-9-1")
sq, _ = declare("stream durable", arguments={"x-queue-type": "stream"}, keep=True)
declare("stream exclusive", exclusive=True, arguments={"x-queue-type": "stream"})
declare("stream auto_delete", auto_delete=True, arguments={"x-queue-type": "stream"})
declare("stream x-delivery-limit", arguments={"x-queue-type": "stream", "x-delivery-limit": 2})
t("publish one message to the stream", c.publish(1, "", sq, b"s1"))
t("basic.get on a stream", (1, C.Basic.Get(queue=sq)))
t("basic.consume on a stream, no prefetch", (1, C.Basic.Consume(queue=sq)))
t("basic.consume on a stream, no_ack=true", (1, C.Basic.Qos(prefetch_count=10)), (1, C.Basic.Consume(queue=sq, no_ack=True)))
t("basic.consume on a stream, prefetch 10, x-stream-offset=first", (1, C.Basic.Qos(prefetch_count=10)),
  (1, C.Basic.Consume(queue=sq, consumer_tag="st", arguments={"x-stream-offset": "first"})))
t("delete stream", (1, C.Queue.Delete(queue=sq)))
c.close()
