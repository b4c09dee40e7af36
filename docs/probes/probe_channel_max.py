#!/usr/bin/env python3
"""channel_max: Tune values, channel 65535, channel numbers above the negotiated maximum, channel_max+1 channels.

usage: probe_channel_max.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, HandshakeError, common_args, show, step, transcript  # noqa: E402

args = common_args(__doc__)

c = Conn(args.url)
t = c.tune
print("server Connection.Tune: channel_max=%d frame_max=%d heartbeat=%d" % (t.channel_max, t.frame_max, t.heartbeat))
sp = c.start.server_properties
print("server_properties: product=%r version=%r capabilities=%r" % (
    sp.get("product"), sp.get("version"), sorted(sp.get("capabilities", {}).items())))
print("mechanisms=%r locales=%r" % (c.start.mechanisms, c.start.locales))
c.close()


def tune_ok(label, **kw):
    print("> tune-ok %s: %s" % (label, kw))
    t0 = time.monotonic()
    try:
        Conn(args.url, pause_after_tune=4.5, **kw).close()
        print("    accepted (connection.open-ok)")
    except HandshakeError as e:
        print("    refused after %.1f s: %s" % (time.monotonic() - t0, e))


tune_ok("channel_max 0 (= no limit)", channel_max=0)
tune_ok("channel_max 2048 (above the server's 2047)", channel_max=2048)
tune_ok("channel_max 1", channel_max=1)
tune_ok("frame_max 0 (= no limit)", frame_max=0)
tune_ok("frame_max 131073", frame_max=131073)
tune_ok("frame_max 4096", frame_max=4096)
tune_ok("frame_max 4095", frame_max=4095)
tune_ok("heartbeat 0", heartbeat=0)
tune_ok("heartbeat 600 (above the server's 60)", heartbeat=600)


def scenario(label, channel_max, chans, one_write=True):
    print("> %s (tune-ok channel_max=%d)" % (label, channel_max))
    c = Conn(args.url, channel_max=channel_max)
    c.send(*[(n, C.Channel.Open()) for n in chans])
    frames = c.read_all(quiet=1.0, limit=20)
    oks = sum(1 for ch, f in frames if isinstance(f, C.Channel.OpenOk))
    other = [(ch, f) for ch, f in frames if not isinstance(f, C.Channel.OpenOk)]
    print("    %d Channel.OpenOk (first on ch%s, last on ch%s)" % (
        oks, frames[0][0] if oks else "-",
        [ch for ch, f in frames if isinstance(f, C.Channel.OpenOk)][-1] if oks else "-"))
    for line in transcript(other):
        print("    " + line)
    c.sock.close()


scenario("open channel 65535 with channel_max 2047", 2047, [65535])
scenario("open channel 2047 with channel_max 2047", 2047, [2047])
scenario("open channel 2048 with channel_max 2047", 2047, [2048])
scenario("open channel 65535 with channel_max 1", 1, [65535])
scenario("open channels 65535 and 1 with channel_max 1", 1, [65535, 1])
scenario("open channel 0", 2047, [0])
scenario("open channels 1..2048 pipelined in one write (channel_max 2047)", 2047, list(range(1, 2049)))
scenario("open channels 1..11 pipelined in one write (channel_max 10)", 10, list(range(1, 12)))

print("> channel.open twice on one channel")
c = Conn(args.url)
c.open(1)
step(c, "channel.open on ch1 again", (1, C.Channel.Open()))
c.sock.close()
