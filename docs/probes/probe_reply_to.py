#!/usr/bin/env python3
"""Direct reply-to (amq.rabbitmq.reply-to): the happy path frame by frame, and the misuse errors.

usage: probe_reply_to.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, common_args, recover_channel, step, unchecked  # noqa: E402

args = common_args(__doc__)
tag = uuid.uuid4().hex[:6]
RT = "amq.rabbitmq.reply-to"
Q = "probe-rt-server-%s" % tag
cli = Conn(args.url)      # the RPC client
srv = Conn(args.url)      # the RPC server
cli.open(1)
srv.open(1)
step(srv, "server: declare request queue", (1, C.Queue.Declare(queue=Q)))


def t(c, label, *items, ch=1, **kw):
    global cli, srv
    fr = step(c, label, *items, **kw)
    if any(fc == 0 for fc, f in fr):
        c.send((0, C.Connection.CloseOk()))
        c.sock.close()
        n = Conn(args.url)
        n.open(1)
        if c is cli:
            cli = n
        else:
            srv = n
        print("    (reconnected)")
    else:
        recover_channel(c, ch, fr)
    return fr


def get_reply_to():
    fr = step(srv, "server: basic.get request (no_ack)", (1, C.Basic.Get(queue=Q, no_ack=True)))
    for ch, f in fr:
        if hasattr(f, "properties") and hasattr(f, "body_size"):
            return f.properties.reply_to
    return None


print("== happy path")
t(cli, "client: queue.declare passive %s" % RT, (1, C.Queue.Declare(queue=RT, passive=True)))
t(cli, "client: publish with reply_to before consuming it", cli.publish(
    1, "", Q, b"early", C.Basic.Properties(reply_to=RT)))
t(cli, "client: basic.consume %s no_ack=false" % RT, (1, C.Basic.Consume(queue=RT, no_ack=False)))
t(cli, "client: basic.consume %s no_ack=true, empty tag" % RT, (1, C.Basic.Consume(queue=RT, no_ack=True)))
t(cli, "client: queue.declare passive %s while consuming" % RT, (1, C.Queue.Declare(queue=RT, passive=True)))
t(cli, "client: publish request (reply_to=%s, correlation_id=c1)" % RT,
  cli.publish(1, "", Q, b"req", C.Basic.Properties(reply_to=RT, correlation_id="c1")))
rt = get_reply_to()
print("    reply_to seen by the server: %r (prefix %r, token length %d)" % (
    rt, rt[:len(RT) + 1] if rt else None, len(rt) - len(RT) - 1 if rt else 0))
t(srv, "server: publish reply to '' with routing key = that reply_to (mandatory)",
  srv.publish(1, "", rt, b"resp", C.Basic.Properties(correlation_id="c1"), mandatory=True))
t(cli, "client: what arrives")
t(cli, "client: publish a second request; server replies twice", cli.publish(
    1, "", Q, b"req2", C.Basic.Properties(reply_to=RT)))
rt2 = get_reply_to()
print("    same reply_to as before: %s" % (rt2 == rt))
t(srv, "server: two replies", srv.publish(1, "", rt2, b"r2a"), srv.publish(1, "", rt2, b"r2b"))
t(cli, "client: what arrives")
print("== delivery tags of reply-to deliveries vs other deliveries on the same channel")
t(srv, "server: declare side queue S with 2 messages", (1, C.Queue.Declare(queue=Q + "-side")),
  srv.publish(1, "", Q + "-side", b"s1"), srv.publish(1, "", Q + "-side", b"s2"))
t(cli, "client: basic.get S (no_ack=false) x2 on the reply-to channel", (1, C.Basic.Get(queue=Q + "-side")),
  (1, C.Basic.Get(queue=Q + "-side")))
t(srv, "server: two more replies", srv.publish(1, "", rt, b"r3a"), srv.publish(1, "", rt, b"r3b"))
t(cli, "client: what arrives")
t(cli, "client: basic.get S again (empty?) and ack multiple all", (1, C.Basic.Get(queue=Q + "-side")),
  (1, C.Basic.Ack(delivery_tag=0, multiple=True)))
t(srv, "server: delete S", (1, C.Queue.Delete(queue=Q + "-side")))
t(cli, "client: basic.ack tag 3 (beyond the gets; a reply-to delivery's tag was 3)", (1, C.Basic.Ack(delivery_tag=3)))

t(srv, "server: declare Q-side2", (1, C.Queue.Declare(queue=Q + "-side2", auto_delete=True)))

print("== misuse")
t(cli, "client: fresh channel 4: consume %s with explicit tag 'mytag'" % RT, (4, C.Channel.Open()),
  (4, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="mytag")), ch=4)
t(cli, "client: basic.consume %s a second time on the same channel (tag 'second')" % RT,
  (4, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="second")), ch=4)
t(cli, "client: fresh channel 7: basic.consume %s twice with the same tag 'mytag'" % RT,
  (7, C.Channel.Open()), (7, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="mytag")),
  (7, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="mytag")), ch=7)
t(cli, "client: fresh channel 8: a normal consumer on a server queue, then %s" % RT,
  (8, C.Channel.Open()), (8, C.Basic.Consume(queue=Q + "-side2", consumer_tag="x")), ch=8)
t(cli, "client: basic.consume %s exclusive=true on a fresh channel 5" % RT, (5, C.Channel.Open()),
  (5, C.Basic.Consume(queue=RT, no_ack=True, exclusive=True)), ch=5)
t(cli, "client: basic.consume %s nowait=true on a fresh channel 6, then publish a request" % RT,
  (6, C.Channel.Open()), (6, C.Basic.Consume(queue=RT, no_ack=True, nowait=True, consumer_tag="nw")),
  cli.publish(6, "", Q, b"nw", C.Basic.Properties(reply_to=RT)), ch=6)
t(srv, "server: purge (the nowait consumer's request arrived?)", (1, C.Queue.Purge(queue=Q)))
t(cli, "client: on ch8 consume %s after a normal consumer" % RT,
  (8, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="r8")), ch=8)
t(cli, "client: on ch8 cancel the normal consumer x, then basic.cancel of a missing tag",
  (8, C.Basic.Cancel(consumer_tag="x")), (8, C.Basic.Cancel(consumer_tag="nope")), ch=8)
t(cli, "client: on ch2 (not consuming): publish with reply_to=%s" % RT, (2, C.Channel.Open()),
  cli.publish(2, "", Q, b"x", C.Basic.Properties(reply_to=RT)), ch=2)
t(srv, "server: publish to '' key %s.garbage (mandatory)" % RT, srv.publish(1, "", RT + ".garbage", b"g",
                                                                           mandatory=True))
t(srv, "server: publish to '' key %s.garbage (not mandatory)" % RT, srv.publish(1, "", RT + ".garbage", b"g"))
t(srv, "server: publish to '' key %s (bare, mandatory)" % RT, srv.publish(1, "", RT, b"g", mandatory=True))
t(srv, "server: publish to amq.direct key = reply_to (mandatory)", srv.publish(1, "amq.direct", rt, b"d",
                                                                               mandatory=True))
t(srv, "server: queue.declare passive of the reply_to name", (1, unchecked(C.Queue.Declare(passive=True), queue=rt)))
t(srv, "server: queue.declare passive of %s.garbage" % RT, (1, C.Queue.Declare(queue=RT + ".garbage", passive=True)))
t(srv, "server: basic.consume of the reply_to name", (1, unchecked(C.Basic.Consume(no_ack=True), queue=rt)))
t(cli, "client: queue.declare %s (active)" % RT, (1, C.Queue.Declare(queue=RT)))
t(cli, "client: queue.declare %s exclusive" % RT, (1, C.Queue.Declare(queue=RT, exclusive=True)))
t(cli, "client: queue.bind %s to amq.direct" % RT, (1, C.Queue.Bind(queue=RT, exchange="amq.direct",
                                                                     routing_key="k")))
t(cli, "client: queue.delete %s" % RT, (1, C.Queue.Delete(queue=RT)))
t(cli, "client: queue.purge %s" % RT, (1, C.Queue.Purge(queue=RT)))
t(cli, "client: basic.get %s" % RT, (1, C.Basic.Get(queue=RT, no_ack=True)))

print("== consumer gone")
t(cli, "client: fresh channel 3, consume, publish request", (3, C.Channel.Open()),
  (3, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="c3")),
  cli.publish(3, "", Q, b"req3", C.Basic.Properties(reply_to=RT)), ch=3)
rt3 = get_reply_to()
print("    reply_to of channel 3: %r; differs from channel 1's: %s" % (rt3, rt3 != rt))
t(cli, "client: basic.cancel c3", (3, C.Basic.Cancel(consumer_tag="c3")), ch=3)
t(srv, "server: mandatory reply to channel 3 after its cancel", srv.publish(1, "", rt3, b"late", mandatory=True))
t(cli, "client: anything on ch3?", ch=3)
t(cli, "client: publish with reply_to on ch3 after cancel", cli.publish(
    3, "", Q, b"x", C.Basic.Properties(reply_to=RT)), ch=3)
t(cli, "client: consume again on ch3 after cancel", (3, C.Basic.Consume(queue=RT, no_ack=True, consumer_tag="c3b")),
  ch=3)
t(cli, "client: channel.close ch3", (3, C.Channel.Close(reply_code=200, reply_text="", class_id=0, method_id=0)),
  ch=3)
t(srv, "server: mandatory reply to channel 3 after its close", srv.publish(1, "", rt3, b"late", mandatory=True))
t(srv, "server: purge request queue", (1, C.Queue.Purge(queue=Q)))
cli.close()
t(srv, "server: mandatory reply to channel 1 after its connection closed", srv.publish(1, "", rt, b"late",
                                                                                      mandatory=True))
t(srv, "server: reply-to of a closed connection, confirm mode, not mandatory", (1, C.Confirm.Select()),
  srv.publish(1, "", rt, b"late"))
t(srv, "delete", (1, C.Queue.Delete(queue=Q)))
srv.close()
