"""A tiny raw AMQP 0-9-1 client for wire probes (frames via pamqp, which aiormq installs).

Everything a probe sends goes out exactly as written (several frames can share one
write, to pipeline); everything the server sends is read frame by frame and can be
rendered compactly, so a probe can print the exact order of frames it received.

    c = Conn(url)                      # handshake; c.tune = server's Connection.Tune
    c.send((1, C.Channel.Open()))      # one write, any number of (channel, frame)
    c.open(1)                          # channel.open + wait for open-ok
    c.send(*c.publish(1, "", "q", b"body", mandatory=True))
    for ch, f in c.read_all(0.5): print(show(ch, f))
"""
import socket
import struct
import time
import urllib.parse

from pamqp import body as B
from pamqp import commands as C
from pamqp import frame as F
from pamqp import header as H
from pamqp import heartbeat as HB

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


class Closed(Exception):
    """The server closed the TCP connection."""


class HandshakeError(Exception):
    """The server refused the connection during tune / open."""


def props(p):
    """The set properties of a Basic.Properties as a dict."""
    return {k: getattr(p, k) for k in p.attributes() if getattr(p, k) not in (None, {}, "")} if p else {}


def unchecked(method, **fields):
    """A method frame with fields pamqp's client-side validation would refuse (e.g. queue names
    with '/', '+', '=' as in direct reply-to names): built valid, then overwritten."""
    for k, v in fields.items():
        setattr(method, k, v)
    method.validate = lambda: None
    return method


def show(ch, f):
    """One-line rendering of a received frame, with the fields that matter."""
    n = getattr(f, "name", type(f).__name__)
    if isinstance(f, (C.Channel.Close, C.Connection.Close)):
        return "ch%d %s(%d, %r, class_id=%d, method_id=%d)" % (
            ch, n, f.reply_code, f.reply_text, f.class_id, f.method_id)
    if isinstance(f, (C.Basic.Ack, C.Basic.Nack)):
        return "ch%d %s(tag=%d, multiple=%s)" % (ch, n, f.delivery_tag, f.multiple)
    if isinstance(f, C.Basic.Return):
        return "ch%d Basic.Return(%d, %r, exchange=%r, routing_key=%r)" % (
            ch, f.reply_code, f.reply_text, f.exchange, f.routing_key)
    if isinstance(f, C.Basic.Deliver):
        return "ch%d Basic.Deliver(ctag=%r, tag=%d, redelivered=%s, exchange=%r, routing_key=%r)" % (
            ch, f.consumer_tag, f.delivery_tag, f.redelivered, f.exchange, f.routing_key)
    if isinstance(f, C.Basic.GetOk):
        return "ch%d Basic.GetOk(tag=%d, redelivered=%s, exchange=%r, routing_key=%r, message_count=%d)" % (
            ch, f.delivery_tag, f.redelivered, f.exchange, f.routing_key, f.message_count)
    if isinstance(f, H.ContentHeader):
        p = props(f.properties)
        return "ch%d ContentHeader(size=%d, %s)" % (ch, f.body_size, p)
    if isinstance(f, B.ContentBody):
        v = f.value
        return "ch%d ContentBody(%d bytes%s)" % (ch, len(v), ", %r" % v if len(v) <= 40 else "")
    if isinstance(f, C.Queue.DeclareOk):
        return "ch%d Queue.DeclareOk(%r, message_count=%d, consumer_count=%d)" % (
            ch, f.queue, f.message_count, f.consumer_count)
    if isinstance(f, C.Basic.ConsumeOk):
        return "ch%d Basic.ConsumeOk(%r)" % (ch, f.consumer_tag)
    if isinstance(f, C.Channel.FlowOk):
        return "ch%d Channel.FlowOk(active=%s)" % (ch, f.active)
    if isinstance(f, C.Queue.DeleteOk) or isinstance(f, C.Queue.PurgeOk):
        return "ch%d %s(message_count=%d)" % (ch, n, f.message_count)
    return "ch%d %s" % (ch, n)


class Conn:
    def __init__(self, url=DEFAULT_URL, channel_max=None, frame_max=None, heartbeat=0,
                 timeout=10.0, product="probe", pause_after_tune=0):
        u = urllib.parse.urlparse(url)
        host = u.hostname or "127.0.0.1"
        self.sock = socket.create_connection((host, u.port or 5672), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout
        user = urllib.parse.unquote(u.username or "guest")
        pw = urllib.parse.unquote(u.password or "guest")
        vhost = urllib.parse.unquote(u.path[1:]) if u.path and u.path != "/" else "/"
        self.sock.sendall(H.ProtocolHeader().marshal())
        self.start = self.expect(0, C.Connection.Start)
        self.send((0, C.Connection.StartOk(
            client_properties={"product": product,
                               "capabilities": {"publisher_confirms": True,
                                                "basic.nack": True,
                                                "consumer_cancel_notify": True,
                                                "connection.blocked": True}},
            mechanism="PLAIN", response="\0%s\0%s" % (user, pw), locale="en_US")))
        self.tune = self.expect(0, C.Connection.Tune)
        self.channel_max = self.tune.channel_max if channel_max is None else channel_max
        self.frame_max = self.tune.frame_max if frame_max is None else frame_max
        self.send((0, C.Connection.TuneOk(channel_max=self.channel_max,
                                          frame_max=self.frame_max, heartbeat=heartbeat)))
        if pause_after_tune:  # to see a refusal of the tune-ok before connection.open is sent
            early = self.read_all(quiet=pause_after_tune, limit=pause_after_tune * 2)
            if early:
                raise HandshakeError("after tune-ok: " + "; ".join(transcript(early)))
        self.send((0, C.Connection.Open(virtual_host=vhost)))
        try:
            f = self.read()
        except (Closed, ConnectionResetError) as e:
            raise HandshakeError("after connection.open: %s" % type(e).__name__)
        if f is None or not isinstance(f[1], C.Connection.OpenOk):
            raise HandshakeError("after connection.open: %s" % (show(*f) if f else "timeout"))

    # ------------------------------------------------------------------ frames
    def send(self, *items):
        """One write with every (channel, frame) or raw bytes given."""
        out = bytearray()
        for it in items:
            if isinstance(it, (bytes, bytearray)):
                out += it
            else:
                ch, fr = it
                out += F.marshal(fr, ch)
        self.sock.sendall(out)

    def publish(self, ch, exchange, key, body, props=None, mandatory=False, immediate=False):
        """Bytes of a complete publish (method, header, body frames split by frame_max)."""
        out = bytearray(F.marshal(C.Basic.Publish(exchange=exchange, routing_key=key,
                                                  mandatory=mandatory, immediate=immediate), ch))
        out += F.marshal(H.ContentHeader(0, len(body), props or C.Basic.Properties()), ch)
        step = (self.frame_max or 131072) - 8
        for i in range(0, len(body), step):
            chunk = body[i:i + step]
            out += struct.pack(">BHI", 3, ch, len(chunk)) + chunk + b"\xce"
        return bytes(out)

    def read(self, timeout=None):
        """Next frame as (channel, frame); None on timeout; raises Closed on EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 7:
                _, ch, size = struct.unpack_from(">BHI", self.buf, 0)
                if len(self.buf) >= size + 8:
                    raw = bytes(self.buf[:size + 8])
                    del self.buf[:size + 8]
                    _, ch, fv = F.unmarshal(raw)
                    if isinstance(fv, HB.Heartbeat):
                        continue
                    return ch, fv
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                return None
            except ConnectionResetError:
                raise Closed()
            if not data:
                raise Closed()
            self.buf += data

    def read_all(self, quiet=0.5, limit=30.0, until=None):
        """Frames until `quiet` s pass with nothing, `limit` s in all, EOF (("EOF", None)
        is appended) or until(ch, frame) is true for a frame (which is included)."""
        out = []
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                f = self.read(min(quiet, end - time.monotonic()))
            except Closed:
                out.append(("EOF", None))
                return out
            if f is None:
                return out
            out.append(f)
            if until and until(*f):
                return out
        return out

    def expect(self, ch, cls, timeout=None):
        f = self.read(timeout)
        if f is None:
            raise TimeoutError("waiting for %s" % cls.__name__)
        if f[0] != ch or not isinstance(f[1], cls):
            raise AssertionError("expected ch%d %s, got %s" % (ch, cls.__name__, show(*f)))
        return f[1]

    def call(self, ch, method, reply_cls=None, timeout=None):
        """Send one method and return the next frame (rendered list of everything seen
        until a frame on `ch`, for error cases)."""
        self.send((ch, method))
        return self.read(timeout)

    def open(self, ch):
        self.send((ch, C.Channel.Open()))
        return self.expect(ch, C.Channel.OpenOk)

    def close(self):
        try:
            self.send((0, C.Connection.Close(reply_code=200, reply_text="bye",
                                             class_id=0, method_id=0)))
            self.read_all(quiet=1.0, limit=3.0,
                          until=lambda ch, f: isinstance(f, C.Connection.CloseOk))
        except Exception:  # noqa: BLE001
            pass
        self.sock.close()


def transcript(frames):
    return [("EOF (server closed TCP)" if ch == "EOF" else show(ch, f)) for ch, f in frames]


def step(c, label, *items, quiet=0.4, limit=20.0, until=None):
    """Send items in one write, print what comes back (until quiet), return the frames."""
    if items:
        c.send(*items)
    frames = c.read_all(quiet=quiet, limit=limit, until=until)
    print("> %s" % label)
    for line in transcript(frames):
        print("    " + line)
    if not frames:
        print("    (nothing)")
    return frames


def recover_channel(c, ch, frames):
    """If the frames hold a Channel.Close for ch: reply close-ok and reopen ch."""
    if any(fc == ch and isinstance(f, C.Channel.Close) for fc, f in frames):
        c.send((ch, C.Channel.CloseOk()))
        c.open(ch)
        return True
    return False


def common_args(doc):
    import argparse
    import os
    import signal
    import sys
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("RABBIT_URL", DEFAULT_URL))
    ap.add_argument("--timeout", type=float, default=120.0, help="hard limit for the whole probe")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *a: (print("probe timed out"), sys.stdout.flush(), os._exit(3)))
    signal.alarm(int(args.timeout))
    return args
