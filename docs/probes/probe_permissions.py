#!/usr/bin/env python3
"""Per-user vhost permissions: which of configure / write / read each method checks, in
which order against the other checks, and the exact 403 and 530 texts.

Users (password "pw"), made with --ctl, else expected to exist:
  pt_none     no permissions on / at all
  pt_empty    ""   ""   ""    on /
  pt_noconf   "^$" ".*" ".*"  on /
  pt_nowrite  ".*" "^$" ".*"  on /
  pt_noread   ".*" ".*" "^$"  on /
  pt_app      "^app" "^app" "^app" on /
  pt_bind     ".*" "^q-" "^x-" on /  (write on the destination, read on the source)
  pt_defx     ".*" "^amq\\.default$" ".*" on /  (is the default exchange 'amq.default'?)
  pt_conf     ".*" "^$" "^$"  on /  (the order of two checks)
  pt_unanch   "^$" "^$" "q-"  on /  (are regexes anchored?)
and the vhost pt_vh (guest only).

usage: probe_permissions.py [--url amqp://guest:guest@127.0.0.1:5672/]
                            [--ctl "bash .../shared/tools/rabbit/ctl.sh"]
--ctl is a command prefix for rabbitmqctl; with it the probe makes (and afterwards
deletes) the users and the vhost, and changes permissions mid-connection.
"""
import os
import shlex
import subprocess
import sys
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, HandshakeError, common_args, step  # noqa: E402

import argparse  # noqa: E402

ap = argparse.ArgumentParser(add_help=False)
ap.add_argument("--ctl", default=None)
known, rest = ap.parse_known_args()
sys.argv = [sys.argv[0]] + rest
args = common_args(__doc__)
CTL = shlex.split(known.ctl) if known.ctl else None

USERS = {
    "pt_none": None,
    "pt_empty": ("", "", ""),
    "pt_noconf": ("^$", ".*", ".*"),
    "pt_nowrite": (".*", "^$", ".*"),
    "pt_noread": (".*", ".*", "^$"),
    "pt_app": ("^app", "^app", "^app"),
    "pt_bind": (".*", "^q-", "^x-"),
    "pt_defx": (".*", "^amq\\.default$", ".*"),
    "pt_conf": (".*", "^$", "^$"),
    "pt_unanch": ("^$", "^$", "q-"),
}


def ctl(*a, check=True):
    out = subprocess.run(CTL + list(a), capture_output=True, text=True, timeout=90)
    if check and out.returncode != 0:
        raise RuntimeError("%s: %s %s" % (a, out.stdout, out.stderr))
    return out


def set_perms(user, perms, vhost="/"):
    ctl("set_permissions", "-p", vhost, user, *perms)


if CTL:
    for u, p in USERS.items():
        ctl("delete_user", u, check=False)
        ctl("add_user", u, "pw")
        if p is not None:
            set_perms(u, p)
    ctl("delete_vhost", "pt_vh", check=False)
    ctl("add_vhost", "pt_vh")
    ctl("set_permissions", "-p", "pt_vh", "guest", ".*", ".*", ".*")

url = urllib.parse.urlparse(args.url)


def url_for(user, vhost="/"):
    return "amqp://%s:pw@%s:%d/%s" % (user, url.hostname or "127.0.0.1", url.port or 5672,
                                      urllib.parse.quote(vhost, safe=""))


tag = uuid.uuid4().hex[:6]
Q = "q-" + tag          # made by guest
X = "x-" + tag          # made by guest (direct), Q bound with key k
X2 = "x2-" + tag        # made by guest (fanout)
APPQ = "app-q-" + tag   # made by guest

g = Conn(args.url)
g.open(1)
step(g, "guest: declare %s, %s, %s, %s; bind %s to %s; publish 3 to %s" % (Q, X, X2, APPQ, Q, X, Q),
     (1, C.Queue.Declare(queue=Q)), (1, C.Exchange.Declare(exchange=X, exchange_type="direct")),
     (1, C.Exchange.Declare(exchange=X2, exchange_type="fanout")), (1, C.Queue.Declare(queue=APPQ)),
     (1, C.Queue.Bind(queue=Q, exchange=X, routing_key="k")),
     g.publish(1, "", Q, b"1"), g.publish(1, "", Q, b"2"), g.publish(1, "", Q, b"3"))

print("== connection.open")
for user, vhost in [("pt_none", "/"), ("pt_none", "pt_vh"), ("pt_empty", "pt_vh"),
                    ("pt_empty", "pt-missing-" + tag), ("pt_none", "pt-missing-" + tag),
                    ("pt_empty", "/")]:
    try:
        c = Conn(url_for(user, vhost))
        print("> %s opens %r: Connection.OpenOk" % (user, vhost))
        c.close()
    except HandshakeError as e:
        print("> %s opens %r: %s" % (user, vhost, e))


def run(user, label, *items, setup=(), confirm=False):
    """A fresh connection as `user`, channel 1 (in confirm mode if asked), the setup
    frames (their replies not shown), then items in one write; print what comes back."""
    c = Conn(url_for(user))
    c.open(1)
    if confirm:
        c.send((1, C.Confirm.Select()))
        c.read_all(quiet=0.3)
    if setup:
        c.send(*setup)
        c.read_all(quiet=0.3)
    fr = step(c, "%s: %s" % (user, label), *items)
    c.close()
    return fr


def grid(label, *items, users=("pt_noconf", "pt_nowrite", "pt_noread", "pt_empty"), **kw):
    print("-- %s" % label)
    for u in users:
        run(u, label, *items, **kw)


print("== exchanges")
NX = "x-new-" + tag
grid("exchange.declare %s direct (new)" % NX, (1, C.Exchange.Declare(exchange=NX, exchange_type="direct")))
grid("exchange.declare %s direct (existing)" % X, (1, C.Exchange.Declare(exchange=X, exchange_type="direct")))
grid("exchange.declare %s passive" % X, (1, C.Exchange.Declare(exchange=X, passive=True)))
grid("exchange.declare amq.direct direct durable (existing)",
     (1, C.Exchange.Declare(exchange="amq.direct", exchange_type="direct", durable=True)), users=("pt_noconf",))
grid("exchange.declare amq.new-%s (reserved prefix, new)" % tag,
     (1, C.Exchange.Declare(exchange="amq.new-" + tag, exchange_type="direct")), users=("pt_noconf",))
grid("exchange.declare '' direct", (1, C.Exchange.Declare(exchange="", exchange_type="direct")),
     users=("pt_noconf",))
grid("exchange.declare %s type bogus" % NX, (1, C.Exchange.Declare(exchange=NX, exchange_type="bogus")),
     users=("pt_noconf",))
grid("exchange.declare ae-%s with alternate-exchange %s (new)" % (tag, X2),
     (1, C.Exchange.Declare(exchange="ae-" + tag, exchange_type="direct",
                            arguments={"alternate-exchange": X2})),
     users=("pt_nowrite", "pt_noread", "pt_conf"))
grid("exchange.declare ae2-%s with alternate-exchange 42 (not a string)" % tag,
     (1, C.Exchange.Declare(exchange="ae2-" + tag, exchange_type="direct",
                            arguments={"alternate-exchange": 42})), users=("pt_noconf",))
grid("exchange.delete %s" % X2 + "-missing", (1, C.Exchange.Delete(exchange=X2 + "-missing")))
grid("exchange.delete amq.direct", (1, C.Exchange.Delete(exchange="amq.direct")), users=("pt_noconf",))
grid("exchange.delete amq.nothere-%s" % tag, (1, C.Exchange.Delete(exchange="amq.nothere-" + tag)),
     users=("pt_noconf",))
grid("exchange.delete ''", (1, C.Exchange.Delete(exchange="")), users=("pt_noconf",))

print("== queues")
NQ = "q-new-" + tag
grid("queue.declare %s (new)" % NQ, (1, C.Queue.Declare(queue=NQ)))
grid("queue.declare %s (existing)" % Q, (1, C.Queue.Declare(queue=Q)))
grid("queue.declare %s passive" % Q, (1, C.Queue.Declare(queue=Q, passive=True)))
grid("queue.declare missing passive", (1, C.Queue.Declare(queue="q-missing-" + tag, passive=True)))
grid("queue.declare '' (server-named)", (1, C.Queue.Declare(queue="")), users=("pt_noconf", "pt_app"))
grid("queue.declare '' exclusive (server-named)", (1, C.Queue.Declare(queue="", exclusive=True)),
     users=("pt_noconf",))
grid("queue.declare app-ex-%s exclusive" % tag, (1, C.Queue.Declare(queue="app-ex-" + tag, exclusive=True)),
     users=("pt_app",))
grid("queue.declare amq.q-%s (reserved prefix)" % tag, (1, C.Queue.Declare(queue="amq.q-" + tag)),
     users=("pt_noconf",))
grid("queue.declare dlx-%s with x-dead-letter-exchange %s (new)" % (tag, X),
     (1, C.Queue.Declare(queue="dlx-" + tag, arguments={"x-dead-letter-exchange": X})),
     users=("pt_nowrite", "pt_noread", "pt_conf"))
grid("queue.declare dlx0-%s with x-dead-letter-exchange '' (new)" % tag,
     (1, C.Queue.Declare(queue="dlx0-" + tag, arguments={"x-dead-letter-exchange": ""})),
     users=("pt_nowrite", "pt_defx"))
grid("queue.declare dlx2-%s with x-dead-letter-exchange 42 (not a string)" % tag,
     (1, C.Queue.Declare(queue="dlx2-" + tag, arguments={"x-dead-letter-exchange": 42})),
     users=("pt_nowrite",))
grid("queue.declare dlx3-%s with dlx %s and x-max-length 'ten'" % (tag, X),
     (1, C.Queue.Declare(queue="dlx3-" + tag, arguments={"x-dead-letter-exchange": X,
                                                         "x-max-length": "ten"})),
     users=("pt_nowrite",))
grid("queue.declare %s with x-dead-letter-exchange %s (existing, equivalent? no: args differ)" % (Q, X),
     (1, C.Queue.Declare(queue=Q, arguments={"x-dead-letter-exchange": X})), users=("pt_nowrite",))
grid("queue.purge %s" % Q, (1, C.Queue.Purge(queue=Q)), users=("pt_noconf", "pt_nowrite", "pt_noread"))
grid("queue.delete q-missing", (1, C.Queue.Delete(queue="q-missing-" + tag)))
grid("queue.purge q-missing", (1, C.Queue.Purge(queue="q-missing-" + tag)), users=("pt_noread",))

print("== bindings")
grid("queue.bind %s %s k" % (Q, X), (1, C.Queue.Bind(queue=Q, exchange=X, routing_key="k")))
grid("queue.unbind %s %s nokey" % (Q, X), (1, C.Queue.Unbind(queue=Q, exchange=X, routing_key="nokey")))
grid("queue.unbind missing queue, missing exchange",
     (1, C.Queue.Unbind(queue="q-missing-" + tag, exchange="x-missing-" + tag, routing_key="k")))
grid("exchange.bind %s <- %s" % (X2, X), (1, C.Exchange.Bind(destination=X2, source=X, routing_key="k")))
grid("exchange.unbind %s <- %s" % (X2, X), (1, C.Exchange.Unbind(destination=X2, source=X, routing_key="k")))
grid("queue.bind %s to ''" % Q, (1, C.Queue.Bind(queue=Q, exchange="", routing_key="k")),
     users=("pt_nowrite", "pt_noread"))
grid("exchange.bind '' <- %s" % X, (1, C.Exchange.Bind(destination="", source=X, routing_key="k")),
     users=("pt_nowrite", "pt_noread"))
grid("exchange.bind %s <- ''" % X2, (1, C.Exchange.Bind(destination=X2, source="", routing_key="k")),
     users=("pt_nowrite", "pt_noread"))
grid("queue.bind %s %s (write ^q-, read ^x-)" % (Q, X), (1, C.Queue.Bind(queue=Q, exchange=X, routing_key="k2")),
     users=("pt_bind",))
grid("queue.bind %s %s (destination not writable)" % (APPQ, X),
     (1, C.Queue.Bind(queue=APPQ, exchange=X, routing_key="k2")), users=("pt_bind",))
grid("queue.bind %s %s (source not readable)" % (Q, X2),
     (1, C.Queue.Bind(queue=Q, exchange=X2, routing_key="k2")), users=("pt_bind",))
grid("queue.bind q-missing x-missing", (1, C.Queue.Bind(queue="q-missing-" + tag, exchange="x-missing-" + tag)),
     users=("pt_nowrite", "pt_noread"))
grid("queue.bind '' (no queue declared on the channel) %s" % X, (1, C.Queue.Bind(queue="", exchange=X)),
     users=("pt_nowrite",))

print("== publish")
grid("basic.publish %s k" % X, g.publish(1, X, "k", b"m"), users=("pt_nowrite", "pt_noconf", "pt_noread"))
grid("basic.publish '' %s (default exchange)" % Q, g.publish(1, "", Q, b"m"),
     users=("pt_nowrite", "pt_empty", "pt_defx", "pt_app"))
grid("basic.publish x-missing", g.publish(1, "x-missing-" + tag, "k", b"m"), users=("pt_nowrite",))
grid("basic.publish %s k, confirm mode" % X, g.publish(1, X, "k", b"m"), users=("pt_nowrite",), confirm=True)
grid("basic.publish %s k, tx mode" % X, (1, C.Tx.Select()), g.publish(1, X, "k", b"m"), users=("pt_nowrite",))
grid("basic.publish '' amq.rabbitmq.reply-to.x (reply)", g.publish(1, "", "amq.rabbitmq.reply-to.x", b"m"),
     users=("pt_nowrite",))

print("== consume / get")
grid("basic.consume %s" % Q, (1, C.Basic.Consume(queue=Q, consumer_tag="c")),
     users=("pt_noconf", "pt_nowrite", "pt_noread"))
grid("basic.get %s" % Q, (1, C.Basic.Get(queue=Q, no_ack=False)),
     users=("pt_noconf", "pt_nowrite", "pt_noread"))
grid("basic.get %s (read 'q-' unanchored?) and basic.get %s" % (APPQ, Q),
     (1, C.Basic.Get(queue=APPQ)), (1, C.Basic.Get(queue=Q)), users=("pt_unanch",))
grid("basic.consume q-missing", (1, C.Basic.Consume(queue="q-missing-" + tag)), users=("pt_noread",))
grid("basic.get q-missing", (1, C.Basic.Get(queue="q-missing-" + tag)), users=("pt_noread",))
grid("basic.consume amq.rabbitmq.reply-to no_ack",
     (1, C.Basic.Consume(queue="amq.rabbitmq.reply-to", no_ack=True)), users=("pt_noread", "pt_empty"))
grid("queue.declare amq.rabbitmq.reply-to passive",
     (1, C.Queue.Declare(queue="amq.rabbitmq.reply-to", passive=True)), users=("pt_empty",))
grid("queue.declare '' then basic.get '' (last declared, server-named)",
     (1, C.Queue.Declare(queue="", exclusive=True)), (1, C.Basic.Get(queue="")), users=("pt_noread",))

print("== exclusive queue of another connection")
g.open(2)
EXQ = "q-ex-" + tag
step(g, "guest: declare %s exclusive on its connection" % EXQ, (2, C.Queue.Declare(queue=EXQ, exclusive=True)))
grid("basic.consume %s (another connection's exclusive queue)" % EXQ, (1, C.Basic.Consume(queue=EXQ)),
     users=("pt_noread", "pt_nowrite"))
grid("queue.declare %s (another connection's exclusive queue)" % EXQ, (1, C.Queue.Declare(queue=EXQ)),
     users=("pt_noconf", "pt_nowrite"))

if CTL:
    import time
    print("== permissions changed while a channel is open")
    set_perms("pt_app", ("^app", ".*", "^app"))
    c = Conn(url_for("pt_app"))
    c.open(1)
    c.open(2)
    step(c, "pt_app (write .*, read ^app): publish amq.direct on ch1, get %s on ch2" % APPQ,
         c.publish(1, "amq.direct", "k", b"m"), (2, C.Basic.Get(queue=APPQ, no_ack=True)))
    set_perms("pt_app", ("^app", "^$", "^$"))
    step(c, "(now write ^$, read ^$) at once: the same on the same channels",
         c.publish(1, "amq.direct", "k", b"m"), (2, C.Basic.Get(queue=APPQ, no_ack=True)))
    c.open(3)
    step(c, "(write ^$) at once: publish amq.direct on a new ch3", c.publish(3, "amq.direct", "k", b"m"))
    time.sleep(6)
    step(c, "(write ^$, read ^$) 6 s later: the same on ch1 and ch2",
         c.publish(1, "amq.direct", "k", b"m"), (2, C.Basic.Get(queue=APPQ, no_ack=True)))
    c.open(4)
    step(c, "(read ^$) get %s on a new ch4" % APPQ, (4, C.Basic.Get(queue=APPQ, no_ack=True)))
    set_perms("pt_app", ("^app", ".*", "^app"))
    c.send((1, C.Channel.CloseOk()), (2, C.Channel.CloseOk()))
    c.open(1)
    step(c, "(write .* again) publish amq.direct on a new ch1", c.publish(1, "amq.direct", "k", b"m"))
    ctl("clear_permissions", "-p", "/", "pt_app")
    c.open(5)
    step(c, "(permissions cleared) at once: publish amq.direct on ch1, declare app-z on a new ch5",
         c.publish(1, "amq.direct", "k", b"m"), (5, C.Queue.Declare(queue="app-z-" + tag)))
    time.sleep(6)
    step(c, "(permissions cleared) 6 s later: publish amq.direct on ch1", c.publish(1, "amq.direct", "k", b"m"))
    c.close()
    set_perms("pt_app", USERS["pt_app"])
    print("== rabbitmqctl set_permissions with bad regexes")
    for pat in ["(", "[a", "a{2,1}", "(?<=a)b", "\\", "a**"]:
        out = ctl("set_permissions", "-p", "/", "pt_app", pat, ".*", ".*", check=False)
        print("> set_permissions configure %r: rc=%d %s" % (pat, out.returncode,
                                                           (out.stdout + out.stderr).strip().replace("\n", " | ")))
    out = ctl("set_permissions", "-p", "/", "pt-nobody", ".*", ".*", ".*", check=False)
    print("> set_permissions for a missing user: rc=%d %s" % (out.returncode, (out.stdout + out.stderr).strip()))
    out = ctl("set_permissions", "-p", "pt-novhost", "pt_app", ".*", ".*", ".*", check=False)
    print("> set_permissions on a missing vhost: rc=%d %s" % (out.returncode, (out.stdout + out.stderr).strip()))

step(g, "guest: clean up", (1, C.Queue.Delete(queue=Q)), (1, C.Queue.Delete(queue=APPQ)),
     (1, C.Exchange.Delete(exchange=X)), (1, C.Exchange.Delete(exchange=X2)),
     (1, C.Exchange.Delete(exchange="ae-" + tag)), (1, C.Queue.Delete(queue="dlx-" + tag)),
     (1, C.Queue.Delete(queue="dlx0-" + tag)), (1, C.Exchange.Delete(exchange=NX)),
     (1, C.Queue.Delete(queue=NQ)))
g.close()
if CTL:
    for u in USERS:
        ctl("delete_user", u, check=False)
    ctl("delete_vhost", "pt_vh", check=False)
