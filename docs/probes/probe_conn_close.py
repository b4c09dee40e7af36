#!/usr/bin/env python3
"""Connection close: after the client's connection.close and the server's close-ok, who closes TCP, and when?
Also the server-initiated Connection.Close: does the server wait for close-ok before closing TCP?

usage: probe_conn_close.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Closed, Conn, common_args, show  # noqa: E402

args = common_args(__doc__)


import threading  # noqa: E402

OUT = {}


def watch(c, t0, limit, key):
    """Frames and the EOF, with times since t0, into OUT[key]."""
    lines = OUT.setdefault(key, [])
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            f = c.read(end - time.monotonic())
        except Closed:
            lines.append("    +%.3f s: EOF (server closed TCP)" % (time.monotonic() - t0))
            return
        except ConnectionResetError:
            lines.append("    +%.3f s: connection reset by server (server closed TCP)" % (time.monotonic() - t0))
            return
        if f is None:
            break
        lines.append("    +%.3f s: %s" % (time.monotonic() - t0, show(*f)))
    lines.append("    +%.3f s: socket still open, nothing more (stopped watching)" % (time.monotonic() - t0))


def t_client_close():
    c = Conn(args.url)
    c.open(1)
    t0 = time.monotonic()
    c.send((0, C.Connection.Close(reply_code=200, reply_text="client bye", class_id=0, method_id=0)))
    watch(c, t0, 40, "1 client connection.close (channel 1 open); client never closes TCP; watch 40 s")
    c.sock.close()


def t_client_close_then_open():
    c = Conn(args.url)
    t0 = time.monotonic()
    c.send((0, C.Connection.Close(reply_code=200, reply_text="client bye", class_id=0, method_id=0)),
           (2, C.Channel.Open()))
    watch(c, t0, 5, "2 client connection.close + channel.open in one write; watch 5 s")
    c.sock.close()


def t_server_close_no_ok():
    c = Conn(args.url)
    t0 = time.monotonic()
    c.send((5, C.Queue.Declare(queue="", exclusive=True)))
    watch(c, t0, 40, "3 server-initiated close (queue.declare on never-opened channel 5); "
                     "client never sends close-ok; watch 40 s")
    c.sock.close()


def t_server_close_ok():
    c = Conn(args.url)
    t0 = time.monotonic()
    c.send((5, C.Queue.Declare(queue="", exclusive=True)))
    f = c.read(5)
    key = "4 server-initiated close, client answers close-ok at once"
    OUT[key] = ["    +%.3f s: %s" % (time.monotonic() - t0, show(*f))]
    c.send((0, C.Connection.CloseOk()))
    watch(c, t0, 5, key)
    c.sock.close()


def t_server_close_other():
    c = Conn(args.url)
    t0 = time.monotonic()
    c.send((5, C.Queue.Declare(queue="", exclusive=True)))
    f = c.read(5)
    key = "5 server-initiated close, client sends channel.open + its own connection.close instead of close-ok"
    OUT[key] = ["    +%.3f s: %s" % (time.monotonic() - t0, show(*f))]
    c.send((1, C.Channel.Open()), (0, C.Connection.Close(reply_code=200, reply_text="x", class_id=0, method_id=0)))
    watch(c, t0, 5, key)
    c.sock.close()


ts = [threading.Thread(target=f) for f in (t_client_close, t_client_close_then_open, t_server_close_no_ok,
                                           t_server_close_ok, t_server_close_other)]
for t in ts:
    t.start()
for t in ts:
    t.join(60)
for k in sorted(OUT):
    print("> " + k)
    print("\n".join(OUT[k]))
