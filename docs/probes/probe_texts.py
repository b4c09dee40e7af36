#!/usr/bin/env python3
"""Assorted error texts: declares of the default exchange, queue.delete if_empty / if_unused, channel.flow,
basic.recover requeue=false, basic.qos prefetch_size, basic.publish immediate, amq.* names.

usage: probe_texts.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, common_args, recover_channel, step  # noqa: E402

args = common_args(__doc__)
tag = uuid.uuid4().hex[:6]
Q = "probe-texts-%s" % tag
c = Conn(args.url)
c.open(1)
c.open(2)


def t(label, *items, ch=1, **kw):
    global c
    fr = step(c, label, *items, **kw)
    if any(fc == 0 for fc, f in fr):
        c.send((0, C.Connection.CloseOk()))
        c.sock.close()
        c = Conn(args.url)
        c.open(1)
        c.open(2)
        print("    (reconnected)")
    else:
        recover_channel(c, ch, fr)
    return fr


print("== the default exchange")
t("exchange.declare '' passive", (1, C.Exchange.Declare(exchange="", passive=True)))
t("exchange.declare '' direct (active)", (1, C.Exchange.Declare(exchange="", exchange_type="direct")))
t("exchange.declare '' direct durable (active)", (1, C.Exchange.Declare(exchange="", exchange_type="direct",
                                                                        durable=True)))
t("exchange.declare '' topic (active)", (1, C.Exchange.Declare(exchange="", exchange_type="topic")))
t("exchange.declare amq.direct passive", (1, C.Exchange.Declare(exchange="amq.direct", passive=True)))
t("exchange.declare amq.direct direct durable (active, equivalent)",
  (1, C.Exchange.Declare(exchange="amq.direct", exchange_type="direct", durable=True)))
t("exchange.declare amq.probe-%s (active, reserved prefix)" % tag,
  (1, C.Exchange.Declare(exchange="amq.probe-" + tag, exchange_type="direct")))
t("exchange.declare amq.probe-%s passive (missing)" % tag,
  (1, C.Exchange.Declare(exchange="amq.probe-" + tag, passive=True)))
t("exchange.declare amq.default passive", (1, C.Exchange.Declare(exchange="amq.default", passive=True)))
t("exchange.declare missing passive", (1, C.Exchange.Declare(exchange="probe-missing-" + tag, passive=True)))
t("exchange.declare bogus type", (1, C.Exchange.Declare(exchange="probe-bogus-" + tag, exchange_type="bogus")))
t("queue.declare amq.probe (reserved prefix)", (1, C.Queue.Declare(queue="amq.probe-" + tag)))
t("queue.declare passive ''", (1, C.Queue.Declare(queue="", passive=True)))

print("== queue.delete if_empty / if_unused")
t("declare Q, publish 1 message", (1, C.Queue.Declare(queue=Q)), c.publish(1, "", Q, b"x"))
t("queue.delete Q if_empty=true (1 message)", (1, C.Queue.Delete(queue=Q, if_empty=True)))
t("consume Q on ch2", (2, C.Basic.Consume(queue=Q, consumer_tag="c1", no_ack=False)), ch=2)
t("queue.delete Q if_unused=true (1 consumer)", (1, C.Queue.Delete(queue=Q, if_unused=True)))
t("queue.delete Q if_unused=true if_empty=true", (1, C.Queue.Delete(queue=Q, if_unused=True, if_empty=True)))
t("queue.delete missing queue if_empty=true", (1, C.Queue.Delete(queue="probe-missing-" + tag, if_empty=True)))
t("queue.delete Q (with its consumer on ch2)", (1, C.Queue.Delete(queue=Q)))
t("(what ch2 sees)", ch=2)

print("== channel.flow")
t("channel.flow active=false", (1, C.Channel.Flow(active=False)))
t("channel.flow active=true", (1, C.Channel.Flow(active=True)))

print("== basic.recover / recover-async / qos / publish immediate")
t("basic.recover requeue=false", (1, C.Basic.Recover(requeue=False)))
t("basic.recover requeue=true", (1, C.Basic.Recover(requeue=True)))
t("basic.recover-async requeue=true", (1, C.Basic.RecoverAsync(requeue=True)))
t("basic.recover-async requeue=false", (1, C.Basic.RecoverAsync(requeue=False)))
t("basic.qos prefetch_size=1", (1, C.Basic.Qos(prefetch_size=1, prefetch_count=0)))
t("basic.qos prefetch_count=10 global=true", (1, C.Basic.Qos(prefetch_count=10, global_=True)))
t("basic.qos prefetch_count=65535", (1, C.Basic.Qos(prefetch_count=65535)))
t("basic.publish immediate=true (to a missing queue via '')",
  c.publish(1, "", "probe-missing-" + tag, b"x", immediate=True))
t("basic.publish immediate=true to amq.direct", c.publish(1, "amq.direct", "k", b"x", immediate=True))

c.close()
