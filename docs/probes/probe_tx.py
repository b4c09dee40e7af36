#!/usr/bin/env python3
"""Transactions (tx.select / commit / rollback) on the wire: what is held, what is discarded, texts.

usage: probe_tx.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, common_args, recover_channel, step  # noqa: E402

args = common_args(__doc__)
tag = uuid.uuid4().hex[:6]
Q = "probe-tx-%s" % tag
c = Conn(args.url)
c.open(1)
c.open(2)
step(c, "declare %s" % Q, (1, C.Queue.Declare(queue=Q)))


def count(label):
    return step(c, "ch2 passive declare (%s)" % label, (2, C.Queue.Declare(queue=Q, passive=True)))


print("== publishes are held until commit; mandatory unroutable publish")
step(c, "tx.select", (1, C.Tx.Select()))
step(c, "tx.select again (twice)", (1, C.Tx.Select()))
step(c, "publish m1, m2 to Q, and mandatory to missing queue, in one write",
     c.publish(1, "", Q, b"m1"), c.publish(1, "", Q, b"m2"),
     c.publish(1, "", "probe-no-such-queue-" + tag, b"lost", mandatory=True))
count("before commit")
step(c, "tx.commit", (1, C.Tx.Commit()))
count("after commit")

print("== rollback discards held publishes")
step(c, "publish m3", c.publish(1, "", Q, b"m3"))
step(c, "tx.rollback", (1, C.Tx.Rollback()))
count("after rollback")
step(c, "tx.commit (nothing pending)", (1, C.Tx.Commit()))
count("after empty commit")

print("== acks are held; rollback discards held acks (messages stay unacked)")
step(c, "basic.get x2 (no_ack=False) on tx channel", (1, C.Basic.Get(queue=Q)), (1, C.Basic.Get(queue=Q)))
step(c, "ack tag 1 (in tx)", (1, C.Basic.Ack(delivery_tag=1)))
step(c, "tx.rollback", (1, C.Tx.Rollback()))
step(c, "ack tag 1 again after rollback (still unacked?) + tx.commit",
     (1, C.Basic.Ack(delivery_tag=1)), (1, C.Tx.Commit()))
count("after ack 1 committed (tag 2 still unacked)")
step(c, "ack tag 2 (in tx), then basic.recover requeue=true (before commit)",
     (1, C.Basic.Ack(delivery_tag=2)), (1, C.Basic.Recover(requeue=True)))
count("after recover with held ack of 2")
step(c, "tx.commit after that recover", (1, C.Tx.Commit()))
count("after commit")
f = step(c, "drain with get", (1, C.Basic.Get(queue=Q)), (1, C.Basic.Get(queue=Q)), (1, C.Basic.Get(queue=Q)))
step(c, "ack multiple up to tag 10 + commit", (1, C.Basic.Ack(delivery_tag=0, multiple=True)), (1, C.Tx.Commit()))
count("after ack-all committed")

print("== nack / reject held until commit")
step(c, "publish r1, r2 + commit", c.publish(1, "", Q, b"r1"), c.publish(1, "", Q, b"r2"), (1, C.Tx.Commit()))
fr = step(c, "get x2", (1, C.Basic.Get(queue=Q)), (1, C.Basic.Get(queue=Q)))
tags = [f.delivery_tag for ch, f in fr if isinstance(f, C.Basic.GetOk)]
step(c, "reject(tag %d, requeue=true), nack(tag %d, requeue=true)" % tuple(tags),
     (1, C.Basic.Reject(delivery_tag=tags[0], requeue=True)),
     (1, C.Basic.Nack(delivery_tag=tags[1], requeue=True)))
count("before commit")
step(c, "tx.commit", (1, C.Tx.Commit()))
count("after commit")
fr = step(c, "get x2", (1, C.Basic.Get(queue=Q)), (1, C.Basic.Get(queue=Q)))
tags = [f.delivery_tag for ch, f in fr if isinstance(f, C.Basic.GetOk)]
step(c, "reject(requeue=true) both then rollback", (1, C.Basic.Reject(delivery_tag=tags[0], requeue=True)),
     (1, C.Basic.Reject(delivery_tag=tags[1], requeue=True)), (1, C.Tx.Rollback()))
count("after rollback of rejects")
step(c, "ack both (multiple) + commit", (1, C.Basic.Ack(delivery_tag=tags[1], multiple=True)), (1, C.Tx.Commit()))
count("after ack")

print("== unknown delivery tag inside a tx: at the ack or at the commit?")
fr = step(c, "ack tag 999 (in tx)", (1, C.Basic.Ack(delivery_tag=999)))
if not recover_channel(c, 1, fr):
    fr = step(c, "tx.commit", (1, C.Tx.Commit()))
    recover_channel(c, 1, fr)

print("== double ack of the same tag inside one tx")
step(c, "tx.select; publish d1 + commit", (1, C.Tx.Select()), c.publish(1, "", Q, b"d1"), (1, C.Tx.Commit()))
step(c, "get", (1, C.Basic.Get(queue=Q)))
fr = step(c, "ack 1, ack 1 (in tx)", (1, C.Basic.Ack(delivery_tag=1)), (1, C.Basic.Ack(delivery_tag=1)))
if not recover_channel(c, 1, fr):
    fr = step(c, "tx.commit", (1, C.Tx.Commit()))
    recover_channel(c, 1, fr)
count("after the channel error (d1 back in queue?)")

print("== rollback then basic.recover / channel close: held-ack messages come back")
step(c, "tx.select; get", (1, C.Tx.Select()), (1, C.Basic.Get(queue=Q)))
step(c, "ack 1 (in tx); tx.rollback; channel.close", (1, C.Basic.Ack(delivery_tag=1)), (1, C.Tx.Rollback()),
     (1, C.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)))
count("after close")
c.open(1)

print("== channel close with a pending tx discards it")
step(c, "tx.select; publish p1 (no commit); channel.close", (1, C.Tx.Select()), c.publish(1, "", Q, b"p1"),
     (1, C.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0)))
count("after close")
c.open(1)
step(c, "purge", (1, C.Queue.Purge(queue=Q)))

print("== commit / rollback without select")
fr = step(c, "tx.commit on a non-tx channel", (1, C.Tx.Commit()))
recover_channel(c, 1, fr)
fr = step(c, "tx.rollback on a non-tx channel", (1, C.Tx.Rollback()))
recover_channel(c, 1, fr)

print("== mixing tx and confirm modes")
step(c, "tx.select", (1, C.Tx.Select()))
fr = step(c, "confirm.select on tx channel", (1, C.Confirm.Select()))
recover_channel(c, 1, fr)
step(c, "confirm.select", (1, C.Confirm.Select()))
fr = step(c, "tx.select on confirm channel", (1, C.Tx.Select()))
recover_channel(c, 1, fr)

print("== publish to a missing exchange inside a tx")
step(c, "tx.select", (1, C.Tx.Select()))
fr = step(c, "publish to missing exchange", c.publish(1, "probe-no-such-x-" + tag, "k", b"x"))
recover_channel(c, 1, fr)

print("== tx + consumer: deliveries are not held, acks are")
step(c, "tx.select; publish c1 + commit", (1, C.Tx.Select()), c.publish(1, "", Q, b"c1"), (1, C.Tx.Commit()))
step(c, "consume", (1, C.Basic.Consume(queue=Q, consumer_tag="ct")))
step(c, "ack 1 then rollback then cancel", (1, C.Basic.Ack(delivery_tag=1)), (1, C.Tx.Rollback()),
     (1, C.Basic.Cancel(consumer_tag="ct")))
count("after cancel (message still unacked)")
step(c, "basic.recover requeue=true", (1, C.Basic.Recover(requeue=True)))
count("after recover")

print("== a command pipelined right behind tx.commit (before commit-ok), 5 tries")
for i in range(5):
    fr = step(c, "try %d: tx.select, publish + tx.commit + queue.declare passive in one write" % i,
              (1, C.Tx.Select()), c.publish(1, "", Q, b"x"), (1, C.Tx.Commit()),
              (1, C.Queue.Declare(queue=Q, passive=True)))
    if any(ch == 0 for ch, f in fr):
        c.send((0, C.Connection.CloseOk()))
        c.sock.close()
        c = Conn(args.url)
        c.open(1)
        c.open(2)
    else:
        recover_channel(c, 1, fr)

for label, items in [
        ("nothing pending", []),
        ("only an unroutable publish", [c.publish(1, "", "probe-no-such-queue-" + tag, b"u")]),
        ("only a held ack", None)]:
    step(c, "tx.select", (1, C.Tx.Select()))
    if items is None:
        step(c, "publish + commit, get", c.publish(1, "", Q, b"g"), (1, C.Tx.Commit()))
        fr = step(c, "get", (1, C.Basic.Get(queue=Q)))
        items = [(1, C.Basic.Ack(delivery_tag=[f for ch, f in fr if isinstance(f, C.Basic.GetOk)][0].delivery_tag))]
    fr = step(c, "%s: + tx.commit + queue.declare passive in one write" % label,
              *items, (1, C.Tx.Commit()), (1, C.Queue.Declare(queue=Q, passive=True)))
    if any(ch == 0 for ch, f in fr):
        c.send((0, C.Connection.CloseOk()))
        c.sock.close()
        c = Conn(args.url)
        c.open(1)
        c.open(2)

step(c, "delete", (2, C.Queue.Delete(queue=Q)))
c.close()
