#!/usr/bin/env python3
"""Durability across a broker restart: what survives, checked with pika (BlockingConnection).

Two phases, with the server restarted in between by whoever runs the script:

  durability.py --phase setup --url amqp://user:pass@127.0.0.1:PORT/ [--state FILE] [--hold S] [--json]
      (restart the server: graceful stop + start, or kill -9 + start)
  durability.py --phase check --url amqp://user:pass@127.0.0.1:PORT/ [--restart graceful|kill]
                [--state FILE] [--keep] [--json]

Every name starts with `dur-`; setup first deletes its own leftovers, so it can be rerun.
Setup writes what the check needs (times, delivery tags, its facts) to --state
(default durability-state.json in the system temporary directory). --json prints exactly one JSON object on one line
of stdout: {"phase", "passed", "failed", "failures": ["name: reason", ...], "facts": {...},
"checks": [{"name", "ok", "detail"}, ...]}; exit status 0 only if every check passed.
Without --json the checks are printed one per line.

--hold S (setup only): after printing the result, keep the connection (m1 unacked, the
consumer on dur-q-autodel, the exclusive queue dur-q-excl) open for up to S seconds, or
until the server drops it; this is the "client still connected at the crash" variant.
Without --hold setup closes its connection before it exits (m1 requeued by the broker).

Setup (publisher confirms on every channel; each publish is mandatory and must be acked):
  exchanges  dur-x-direct (durable direct), dur-x-topic (durable topic,
             alternate-exchange=dur-x-alt), dur-x-alt (durable fanout), dur-x-transient
             (non-durable direct)
  queues     dur-q (durable classic), dur-q-args (durable, x-max-priority 5,
             x-message-ttl 600000, x-dead-letter-exchange dur-x-direct,
             x-dead-letter-routing-key dead), dur-q-dead, dur-q-ttl, dur-q-dlsrc (durable, DLX
             dur-x-direct / dead), dur-q-transient (non-durable), dur-q-autodel (durable,
             auto-delete, one consumer on a second channel; cancelled at the end of setup
             unless --hold), dur-q-autodel-idle (durable, auto-delete, never consumed),
             dur-q-excl (durable, exclusive), dur-q-quorum (x-queue-type quorum)
  bindings   dur-x-direct -k1-> dur-q; dur-x-topic -a.*-> dur-q; dur-x-alt -> dur-q-args;
             dur-x-direct -dead-> dur-q-dead; dur-x-direct -k1-> dur-q-transient (to a
             non-durable queue); dur-x-transient -t-> dur-q (from a non-durable exchange);
             exchange-to-exchange dur-x-direct -e2e-> dur-x-topic
  routing    before any message is published: pre-k1 to dur-x-direct k1 (reaches dur-q and
             dur-q-transient), pre-t to dur-x-transient t (dur-q), pre-e2e to dur-x-direct
             e2e (dur-q-args, through dur-x-topic's alternate exchange); drained at once
  messages   dur-q: m1 persistent with every property (content_type, content_encoding,
             headers {h: v, n: 7}, correlation_id, reply_to, message_id, timestamp, type,
             app_id; no expiration), m2 transient, m3, m4, m5 persistent. Then basic.get
             m1, m2, m3 (no ack), nack m3 and m2 with requeue, keep m1 unacked.
             dur-q-args: p1, p5, p3 (priorities 1, 5, 3). dur-q-dlsrc: dl1, got and rejected
             (requeue=false) -> dead-lettered into dur-q-dead, where setup reads it, checks
             x-death and nacks it back (requeue). dur-q-ttl: ttl-short (expiration 3000),
             ttl-long (expiration 3600000). dur-q-transient: tr1; dur-q-quorum: qq1;
             all persistent.

Check (after the restart; first sleeps until 4 s after ttl-short was published):
  - dur-x-direct, dur-x-topic, dur-x-alt exist (passive declare); dur-x-transient is 404.
  - dur-q, dur-q-args, dur-q-dead, dur-q-ttl, dur-q-dlsrc, dur-q-quorum exist;
    dur-q-transient, dur-q-autodel, dur-q-excl are 404; dur-q-autodel-idle: see below.
  - dur-q-args keeps its arguments: the same declare succeeds, x-max-priority 6 is 406;
    dur-q-quorum is still quorum (declare with x-queue-type quorum succeeds).
  - dur-q holds m1, m3, m4, m5 in that order (m2, transient, is gone), m1 with all its
    properties and headers; the redelivered flags are the ones in EXPECT_REDELIVERED.
  - dur-q-args gives p5, p3, p1; dur-q-dead gives dl1 with x-death [{count 1, reason
    rejected, queue dur-q-dlsrc, exchange '', routing-keys [dur-q-dlsrc]}]; dur-q-ttl gives
    only ttl-long; dur-q-quorum gives qq1.
  - After those queues were read (so markers cannot be confused with recovered messages):
    routing through the recovered bindings, with marker bodies (mandatory, confirmed):
      dur-x-direct k1  -> dur-q             (queue binding)
      dur-x-topic  a.b -> dur-q             (topic binding)
      dur-x-topic  zz  -> dur-q-args        (no binding: alternate-exchange dur-x-alt, fanout)
      dur-x-direct e2e -> dur-q-args        (exchange binding to dur-x-topic; e2e does not
                                             match a.*, so dur-x-topic's alternate exchange)
      dur-x-direct dead -> dur-q-dead
      dur-q-args: get + reject(requeue=false) -> dur-q-dead with x-death queue dur-q-args
                                            (the recovered x-dead-letter-* arguments)
  - Then every dur- object is deleted, unless --keep.

--restart graceful|kill (check only, default graceful) says how the server was restarted:
RabbitMQ's answers differ in two points (redelivered flags, dur-q-autodel), see below.

Source of every expectation: observed on RabbitMQ 3.10.8 (Debian 3.10.8-1.1+deb12u1,
Erlang 25.2.3, one node, default configuration, shared/tools/rabbit/), four variants each
from a fresh node: setup without/with --hold, then `stop.sh` (graceful) or kill -9 of
beam, `start.sh`, check. See docs/rabbitmq-3.10.8-wire-facts.md, section 14
"Durability across restart", for the commands and every observation. Where RabbitMQ
differs from what one might guess, the expectation follows RabbitMQ and says so below:
  - kill -9: every message recovered into a classic queue is redelivered=True, also the
    never-delivered m4, m5, p*, ttl-long (graceful: only m1, m3, dl1); quorum: False.
  - kill -9 while setup still holds its consumer (--hold): dur-q-autodel is recovered
    (0 consumers); in the other three variants it is gone.
  - an exclusive queue declared durable is not durable (gone after any restart).
  - a durable auto-delete queue that never had a consumer survives any restart.
The kill -9 expectations assume the kill comes at least ~3 s after setup finished: on
RabbitMQ a kill within ~1 s of setup lost things no confirm covers (the quorum queue came
back stuck - qq1 unreadable, basic.get answered after 65 s by a 541 - and dl1's
dead-lettering was undone: dl1 back in dur-q-dlsrc, not in dur-q-dead).
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import time
import traceback

import pika
from pika.exceptions import (AMQPConnectionError, ChannelClosedByBroker, NackError,
                             UnroutableError)

TOTAL_TIMEOUT = 120          # whole run (setup --hold adds its hold time)
TTL_SHORT_MS = 3000
TTL_WAIT_S = 4.0             # check runs at least this long after ttl-short was published

X_DIRECT, X_TOPIC, X_ALT, X_TRANSIENT = "dur-x-direct", "dur-x-topic", "dur-x-alt", "dur-x-transient"
Q, Q_ARGS, Q_DEAD, Q_TTL = "dur-q", "dur-q-args", "dur-q-dead", "dur-q-ttl"
Q_DLSRC, Q_TRANSIENT, Q_AUTODEL, Q_AUTODEL_IDLE = "dur-q-dlsrc", "dur-q-transient", "dur-q-autodel", "dur-q-autodel-idle"
Q_EXCL, Q_QUORUM = "dur-q-excl", "dur-q-quorum"

EXCHANGES = [  # name, type, durable, arguments (declared in this order)
    (X_DIRECT, "direct", True, None),
    (X_ALT, "fanout", True, None),
    (X_TOPIC, "topic", True, {"alternate-exchange": X_ALT}),
    (X_TRANSIENT, "direct", False, None),
]
Q_ARGS_ARGS = {"x-max-priority": 5, "x-message-ttl": 600000,
               "x-dead-letter-exchange": X_DIRECT, "x-dead-letter-routing-key": "dead"}
QUEUES = [  # name, kwargs for queue_declare
    (Q, dict(durable=True)),
    (Q_ARGS, dict(durable=True, arguments=Q_ARGS_ARGS)),
    (Q_DEAD, dict(durable=True)),
    (Q_TTL, dict(durable=True)),
    (Q_DLSRC, dict(durable=True, arguments={"x-dead-letter-exchange": X_DIRECT,
                                            "x-dead-letter-routing-key": "dead"})),
    (Q_TRANSIENT, dict(durable=False)),
    (Q_AUTODEL, dict(durable=True, auto_delete=True)),
    (Q_AUTODEL_IDLE, dict(durable=True, auto_delete=True)),
    (Q_EXCL, dict(durable=True, exclusive=True)),
    (Q_QUORUM, dict(durable=True, arguments={"x-queue-type": "quorum"})),
]
QUEUE_BINDINGS = [  # queue, exchange, key
    (Q, X_DIRECT, "k1"),
    (Q, X_TOPIC, "a.*"),
    (Q_ARGS, X_ALT, ""),
    (Q_DEAD, X_DIRECT, "dead"),
    (Q_TRANSIENT, X_DIRECT, "k1"),   # to a non-durable queue: must not survive
    (Q, X_TRANSIENT, "t"),           # from a non-durable exchange: must not survive
]
E2E_BINDING = (X_TOPIC, X_DIRECT, "e2e")  # destination, source, key (both durable)

M1_PROPS = dict(content_type="text/plain", content_encoding="identity",
                headers={"h": "v", "n": 7}, delivery_mode=2, correlation_id="dur-corr-1",
                reply_to="dur-reply-1", message_id="dur-mid-1", timestamp=1700000000,
                type="dur-type", app_id="dur-app")

# ---- expectations (all observed on RabbitMQ 3.10.8; the same in the four variants unless
# ---- they depend on --restart / --hold, as noted) ----
SURVIVING_EXCHANGES = [X_DIRECT, X_TOPIC, X_ALT]
GONE_EXCHANGES = [X_TRANSIENT]
SURVIVING_QUEUES = [Q, Q_ARGS, Q_DEAD, Q_TTL, Q_DLSRC, Q_QUORUM,
                    # RabbitMQ: a durable auto-delete queue that never had a consumer is
                    # recovered at restart like any durable queue (auto-delete only fires
                    # when its last consumer goes away).
                    Q_AUTODEL_IDLE]
# RabbitMQ: an exclusive queue is never durable (list_queues shows durable=false although
# it was declared durable=true): gone after any restart.
GONE_QUEUES = [Q_TRANSIENT, Q_EXCL]


def autodel_survives(hold, restart):
    """dur-q-autodel (durable, auto-delete, had a consumer).

    Without --hold, setup cancels the consumer and RabbitMQ deletes the queue at once.
    With --hold the consumer is alive when the node goes down: after a graceful stop the
    queue is gone (presumably the stop closes the connections first, so the last consumer
    goes away and the queue is auto-deleted), but after kill -9 RabbitMQ recovers it, with
    0 consumers (observed)."""
    return bool(hold) and restart == "kill"


DUR_Q_BODIES = ["m1", "m3", "m4", "m5"]
# Redelivered flags after the restart. m1 was unacked when the connection dropped (setup
# exit, or the stop closing it) or when the node died; m3 was nacked with requeue; dl1 was
# read by setup (to check its x-death) and nacked back. RabbitMQ, graceful stop: the
# classic queues remember which messages were delivered, m4/m5 (and p*, ttl-long) come back
# redelivered=False. RabbitMQ, kill -9: EVERY message recovered into a classic queue comes
# back redelivered=True, never-delivered ones included (the queue cannot tell after an
# unclean shutdown); the quorum queue's qq1 stays redelivered=False in both.
EXPECT_REDELIVERED = {
    "graceful": {"m1": True, "m3": True, "m4": False, "m5": False, "p": False, "ttl-long": False,
                 "dl1": True, "qq1": False},
    "kill": {"m1": True, "m3": True, "m4": True, "m5": True, "p": True, "ttl-long": True,
             "dl1": True, "qq1": False},
}
PRIORITY_ORDER = ["p5", "p3", "p1"]


class Report:
    def __init__(self, phase):
        self.phase = phase
        self.checks = []
        self.facts = {}

    def ok(self, name, cond, detail=""):
        self.checks.append({"name": name, "ok": bool(cond), "detail": str(detail)})
        return bool(cond)

    def eq(self, name, got, want):
        return self.ok(name, got == want, "got %r, want %r" % (got, want))

    def fact(self, key, value):
        self.facts[key] = value

    def result(self):
        failures = ["%s: %s" % (c["name"], c["detail"]) for c in self.checks if not c["ok"]]
        return {"phase": self.phase, "passed": sum(c["ok"] for c in self.checks),
                "failed": len(failures), "failures": failures, "facts": self.facts,
                "checks": self.checks}


def jsonable(v):
    """Make pika values (bytes, datetimes, nested tables) JSON-friendly and comparable."""
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return repr(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


PROP_FIELDS = ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
               "correlation_id", "reply_to", "expiration", "message_id", "timestamp",
               "type", "user_id", "app_id", "cluster_id"]


def props_dict(props):
    return {f: jsonable(getattr(props, f)) for f in PROP_FIELDS if getattr(props, f, None) is not None}


class Session:
    """One BlockingConnection; a confirm-mode channel that is reopened after a channel error."""

    def __init__(self, url, attempts):
        params = pika.URLParameters(url)
        params.socket_timeout = 10
        params.blocked_connection_timeout = 10
        params.connection_attempts = attempts
        params.retry_delay = 1
        self.conn = pika.BlockingConnection(params)
        self.ch = None

    def chan(self):
        if self.ch is None or not self.ch.is_open:
            self.ch = self.conn.channel()
            self.ch.confirm_delivery()
        return self.ch

    def call(self, fn):
        """-> (True, result) or (False, (reply_code, reply_text)) on a channel error."""
        try:
            return True, fn(self.chan())
        except ChannelClosedByBroker as e:
            self.ch = None
            return False, (e.reply_code, e.reply_text)

    def publish(self, exchange, key, body, props=None):
        """Mandatory publish under confirms -> 'ack', 'unroutable', 'nack' or 'error: ...'."""
        try:
            self.chan().basic_publish(exchange, key, body.encode(), properties=props, mandatory=True)
            return "ack"
        except UnroutableError:
            return "unroutable"
        except NackError:
            return "nack"
        except ChannelClosedByBroker as e:
            self.ch = None
            return "error: %d %s" % (e.reply_code, e.reply_text)

    def get(self, queue):
        """basic.get, no auto-ack -> (method, props, body str) or None (empty); raises on error."""
        method, props, body = self.chan().basic_get(queue, auto_ack=False)
        if method is None:
            return None
        return method, props, body.decode(errors="replace")

    def drain(self, queue):
        """Get and ack everything -> list of {body, redelivered, props}."""
        out = []
        while True:
            m = self.get(queue)
            if m is None:
                return out
            method, props, body = m
            out.append({"body": body, "redelivered": method.redelivered, "props": props_dict(props)})
            self.chan().basic_ack(method.delivery_tag)

    def queue_state(self, queue):
        ok, r = self.call(lambda ch: ch.queue_declare(queue, passive=True))
        if ok:
            return {"exists": True, "messages": r.method.message_count, "consumers": r.method.consumer_count}
        return {"exists": False, "code": r[0], "text": r[1]}

    def exchange_state(self, exchange):
        ok, r = self.call(lambda ch: ch.exchange_declare(exchange, passive=True))
        if ok:
            return {"exists": True}
        return {"exists": False, "code": r[0], "text": r[1]}


def step(rep, name, fn, *args):
    """Run one part; an exception becomes a failed check (the run goes on)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - report anything
        rep.ok(name, False, "exception %s: %s" % (type(e).__name__, e))
        rep.fact("traceback." + name, traceback.format_exc().splitlines()[-3:])
        return None


def delete_all(s, rep, prefix):
    for qname, _ in QUEUES:
        ok, r = s.call(lambda ch: ch.queue_delete(qname))
        if not ok:
            rep.ok("%s.delete_queue.%s" % (prefix, qname), False, "%d %s" % r)
    for xname, _, _, _ in EXCHANGES:
        ok, r = s.call(lambda ch: ch.exchange_delete(xname))
        if not ok:
            rep.ok("%s.delete_exchange.%s" % (prefix, xname), False, "%d %s" % r)


def x_death_summary(headers):
    deaths = (headers or {}).get("x-death") or []
    return [{k: jsonable(d.get(k)) for k in ("count", "reason", "queue", "exchange", "routing-keys")}
            for d in deaths]


def poll_get(s, queue, seconds=5.0):
    deadline = time.time() + seconds
    while True:
        m = s.get(queue)
        if m is not None or time.time() > deadline:
            return m
        time.sleep(0.05)


# ------------------------------------------------------------------ setup


def setup(args, rep):
    s = Session(args.url, attempts=3)
    delete_all(s, rep, "setup.cleanup")

    for xname, xtype, durable, xargs in EXCHANGES:
        ok, r = s.call(lambda ch: ch.exchange_declare(xname, xtype, durable=durable, arguments=xargs))
        rep.ok("setup.declare_exchange.%s" % xname, ok, "" if ok else "%d %s" % r)
    for qname, kw in QUEUES:
        ok, r = s.call(lambda ch: ch.queue_declare(qname, **kw))
        rep.ok("setup.declare_queue.%s" % qname, ok, "" if ok else "%d %s" % r)
    for qname, xname, key in QUEUE_BINDINGS:
        ok, r = s.call(lambda ch: ch.queue_bind(qname, xname, routing_key=key))
        rep.ok("setup.bind.%s.%s.%s" % (xname, key, qname), ok, "" if ok else "%d %s" % r)
    dest, src, key = E2E_BINDING
    ok, r = s.call(lambda ch: ch.exchange_bind(destination=dest, source=src, routing_key=key))
    rep.ok("setup.exchange_bind.%s.%s.%s" % (src, key, dest), ok, "" if ok else "%d %s" % r)

    # routing through the bindings before the restart, while the queues are still empty
    # (the markers are drained at once, so no message below is ever delivered by this)
    persistent = pika.BasicProperties(delivery_mode=2)
    rep.eq("setup.route.k1.confirm", s.publish(X_DIRECT, "k1", "pre-k1", persistent), "ack")
    rep.eq("setup.route.t.confirm", s.publish(X_TRANSIENT, "t", "pre-t", persistent), "ack")
    rep.eq("setup.route.e2e.confirm", s.publish(X_DIRECT, "e2e", "pre-e2e", persistent), "ack")
    rep.eq("setup.route.into.dur-q", [m["body"] for m in s.drain(Q)], ["pre-k1", "pre-t"])
    rep.eq("setup.route.into.dur-q-transient", [m["body"] for m in s.drain(Q_TRANSIENT)], ["pre-k1"])
    rep.eq("setup.route.into.dur-q-args", [m["body"] for m in s.drain(Q_ARGS)], ["pre-e2e"])

    # the auto-delete queue's consumer, on its own channel
    cons_ch = s.conn.channel()
    cons_ch.basic_consume(Q_AUTODEL, lambda *a: None, auto_ack=True)

    # dur-q: m1..m5
    pubs = [("m1", pika.BasicProperties(**M1_PROPS)), ("m2", pika.BasicProperties(delivery_mode=1)),
            ("m3", persistent), ("m4", persistent), ("m5", persistent)]
    for body, props in pubs:
        rep.eq("setup.confirm.%s" % body, s.publish("", Q, body, props), "ack")
    got = []
    for want in ("m1", "m2", "m3"):
        m = s.get(Q)
        got.append(None if m is None else {"body": m[2], "tag": m[0].delivery_tag,
                                           "redelivered": m[0].redelivered})
    rep.eq("setup.get.m1_m2_m3", [g and g["body"] for g in got], ["m1", "m2", "m3"])
    tags = {g["body"]: g["tag"] for g in got if g}
    rep.fact("setup.delivery_tags", tags)
    if "m3" in tags:
        s.chan().basic_nack(tags["m3"], requeue=True)
    if "m2" in tags:
        s.chan().basic_nack(tags["m2"], requeue=True)
    # m1 stays unacked on this connection
    # RabbitMQ: a passive declare right after the nacks may still count 2 (the requeue is
    # asynchronous to queue.declare), so poll until the count settles.
    counts = []
    deadline = time.time() + 3
    while time.time() < deadline:
        counts.append(s.queue_state(Q).get("messages"))
        if counts[-1] == 4:
            break
        time.sleep(0.05)
    rep.fact("setup.dur-q.ready_counts_after_nacks", counts)
    rep.eq("setup.dur-q.ready_after_nacks", counts[-1], 4)

    # priorities
    for body, prio in (("p1", 1), ("p5", 5), ("p3", 3)):
        rep.eq("setup.confirm.%s" % body,
               s.publish("", Q_ARGS, body, pika.BasicProperties(delivery_mode=2, priority=prio)), "ack")

    # dead-lettering: dl1 rejected from dur-q-dlsrc lands in dur-q-dead
    rep.eq("setup.confirm.dl1", s.publish("", Q_DLSRC, "dl1", persistent), "ack")
    m = s.get(Q_DLSRC)
    if rep.ok("setup.dlsrc.get_dl1", m is not None and m[2] == "dl1", repr(m and m[2])):
        s.chan().basic_reject(m[0].delivery_tag, requeue=False)
        d = poll_get(s, Q_DEAD)
        if rep.ok("setup.dead.got_dl1", d is not None and d[2] == "dl1", repr(d and d[2])):
            headers = d[1].headers or {}
            xd = x_death_summary(headers)
            rep.fact("setup.dl1.headers", jsonable(headers))
            rep.eq("setup.dl1.x-death", xd, [{"count": 1, "reason": "rejected", "queue": Q_DLSRC,
                                              "exchange": "", "routing-keys": [Q_DLSRC]}])
            rep.eq("setup.dl1.delivery_mode", d[1].delivery_mode, 2)
            s.chan().basic_nack(d[0].delivery_tag, requeue=True)  # back into dur-q-dead

    # TTL
    ttl_short_at = time.time()
    rep.eq("setup.confirm.ttl-short",
           s.publish("", Q_TTL, "ttl-short", pika.BasicProperties(delivery_mode=2, expiration=str(TTL_SHORT_MS))), "ack")
    rep.eq("setup.confirm.ttl-long",
           s.publish("", Q_TTL, "ttl-long", pika.BasicProperties(delivery_mode=2, expiration="3600000")), "ack")

    rep.eq("setup.confirm.tr1", s.publish("", Q_TRANSIENT, "tr1", persistent), "ack")
    rep.eq("setup.confirm.qq1", s.publish("", Q_QUORUM, "qq1", persistent), "ack")

    states = {n: s.queue_state(n) for n, _ in QUEUES}
    rep.fact("setup.queues_at_end", states)

    if not args.hold:
        cons_ch.close()                         # last consumer gone: dur-q-autodel deleted now
        rep.fact("setup.autodel_after_cancel", s.queue_state(Q_AUTODEL))
    rep.fact("setup.hold", args.hold)
    state = {"ttl_short_published": ttl_short_at, "setup_done": time.time(), "hold": args.hold,
             "delivery_tags": tags, "url_port": pika.URLParameters(args.url).port}
    with open(args.state, "w") as f:
        json.dump(state, f)
    return s


def hold(s, seconds):
    """Keep the connection (and m1's delivery) until the server drops it or time runs out."""
    deadline = time.time() + seconds
    try:
        while time.time() < deadline and s.conn.is_open:
            s.conn.process_data_events(time_limit=0.5)
    except Exception:  # noqa: BLE001 - the broker going away is the point
        pass


# ------------------------------------------------------------------ check


def check(args, rep):
    state = {}
    try:
        with open(args.state) as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        rep.fact("check.state_file", "unreadable (%s): no TTL wait" % e)
    if state:
        wait = state["ttl_short_published"] + TTL_WAIT_S - time.time()
        rep.fact("check.seconds_since_ttl_short_publish", round(time.time() - state["ttl_short_published"], 1))
        if wait > 0:
            time.sleep(wait)
        rep.fact("check.setup_hold", state.get("hold"))

    s = Session(args.url, attempts=args.connect_attempts)

    redeliv = EXPECT_REDELIVERED[args.restart]
    rep.fact("check.restart", args.restart)

    # --- what exists
    xs = {x: s.exchange_state(x) for x, _, _, _ in EXCHANGES}
    qs = {q: s.queue_state(q) for q, _ in QUEUES}
    rep.fact("check.exchanges", xs)
    rep.fact("check.queues", qs)
    for x in SURVIVING_EXCHANGES:
        rep.ok("check.exchange_exists.%s" % x, xs[x]["exists"], xs[x])
    for x in GONE_EXCHANGES:
        rep.ok("check.exchange_gone.%s" % x, not xs[x]["exists"] and xs[x]["code"] == 404, xs[x])
    for q in SURVIVING_QUEUES:
        rep.ok("check.queue_exists.%s" % q, qs[q]["exists"], qs[q])
    for q in GONE_QUEUES:
        rep.ok("check.queue_gone.%s" % q, not qs[q]["exists"] and qs[q]["code"] == 404, qs[q])
    hold_was = state.get("hold", 0)
    if autodel_survives(hold_was, args.restart):
        rep.ok("check.queue_exists.%s" % Q_AUTODEL, qs[Q_AUTODEL]["exists"], qs[Q_AUTODEL])
        if qs[Q_AUTODEL]["exists"]:
            rep.eq("check.%s.consumers" % Q_AUTODEL, qs[Q_AUTODEL]["consumers"], 0)
    else:
        rep.ok("check.queue_gone.%s" % Q_AUTODEL,
               not qs[Q_AUTODEL]["exists"] and qs[Q_AUTODEL]["code"] == 404, qs[Q_AUTODEL])

    # --- arguments kept
    ok, r = s.call(lambda ch: ch.queue_declare(Q_ARGS, durable=True, arguments=Q_ARGS_ARGS))
    rep.ok("check.dur-q-args.same_declare_ok", ok, "" if ok else "%d %s" % r)
    other = dict(Q_ARGS_ARGS, **{"x-max-priority": 6})
    ok, r = s.call(lambda ch: ch.queue_declare(Q_ARGS, durable=True, arguments=other))
    rep.ok("check.dur-q-args.other_priority_406", not ok and r[0] == 406, r)
    if not ok:
        rep.fact("check.dur-q-args.other_priority_reply", list(r))
    ok, r = s.call(lambda ch: ch.queue_declare(Q_ARGS, durable=True))
    rep.ok("check.dur-q-args.no_args_406", not ok and r[0] == 406, r)
    if not ok:
        rep.fact("check.dur-q-args.no_args_reply", list(r))
    ok, r = s.call(lambda ch: ch.queue_declare(Q_QUORUM, durable=True, arguments={"x-queue-type": "quorum"}))
    rep.ok("check.dur-q-quorum.quorum_declare_ok", ok, "" if ok else "%d %s" % r)
    ok, r = s.call(lambda ch: ch.queue_declare(Q, durable=False))
    rep.ok("check.dur-q.nondurable_declare_406", not ok and r[0] == 406, r)
    ok, r = s.call(lambda ch: ch.exchange_declare(X_TOPIC, "topic", durable=True,
                                                  arguments={"alternate-exchange": X_ALT}))
    rep.ok("check.dur-x-topic.same_declare_ok", ok, "" if ok else "%d %s" % r)
    ok, r = s.call(lambda ch: ch.exchange_declare(X_ALT, "fanout", durable=False))
    rep.ok("check.dur-x-alt.nondurable_declare_406", not ok and r[0] == 406, r)

    # --- recovered messages
    msgs = s.drain(Q) if qs[Q]["exists"] else []
    rep.fact("check.dur-q.messages", [{"body": m["body"], "redelivered": m["redelivered"]} for m in msgs])
    rep.eq("check.dur-q.bodies", [m["body"] for m in msgs], DUR_Q_BODIES)
    by_body = {m["body"]: m for m in msgs}
    for body in DUR_Q_BODIES:
        want = redeliv[body]
        if body in by_body:
            rep.eq("check.dur-q.%s.redelivered" % body, by_body[body]["redelivered"], want)
    if "m1" in by_body:
        rep.fact("check.dur-q.m1.props", by_body["m1"]["props"])
        rep.eq("check.dur-q.m1.props", by_body["m1"]["props"], jsonable(M1_PROPS))
    for body in ("m3", "m4", "m5"):
        if body in by_body:
            rep.eq("check.dur-q.%s.props" % body, by_body[body]["props"], {"delivery_mode": 2})

    msgs = s.drain(Q_ARGS) if qs[Q_ARGS]["exists"] else []
    rep.fact("check.dur-q-args.messages", [{k: m[k] for k in ("body", "redelivered")} for m in msgs])
    rep.eq("check.dur-q-args.priority_order", [m["body"] for m in msgs], PRIORITY_ORDER)
    rep.eq("check.dur-q-args.priorities", [m["props"].get("priority") for m in msgs], [5, 3, 1])
    rep.eq("check.dur-q-args.redelivered", [m["redelivered"] for m in msgs], [redeliv["p"]] * 3)

    msgs = s.drain(Q_DEAD) if qs[Q_DEAD]["exists"] else []
    rep.eq("check.dur-q-dead.bodies", [m["body"] for m in msgs], ["dl1"])
    if msgs:
        hdr = msgs[0]["props"].get("headers") or {}
        rep.fact("check.dur-q-dead.dl1.headers", hdr)
        rep.fact("check.dur-q-dead.dl1.redelivered", msgs[0]["redelivered"])
        rep.eq("check.dur-q-dead.dl1.x-death", x_death_summary(hdr),
               [{"count": 1, "reason": "rejected", "queue": Q_DLSRC, "exchange": "",
                 "routing-keys": [Q_DLSRC]}])
        rep.eq("check.dur-q-dead.dl1.x-first-death",
               [hdr.get("x-first-death-%s" % k) for k in ("exchange", "queue", "reason")],
               ["", Q_DLSRC, "rejected"])
        rep.eq("check.dur-q-dead.dl1.redelivered", msgs[0]["redelivered"], redeliv["dl1"])

    msgs = s.drain(Q_TTL) if qs[Q_TTL]["exists"] else []
    rep.fact("check.dur-q-ttl.messages", [{k: m[k] for k in ("body", "redelivered", "props")} for m in msgs])
    rep.eq("check.dur-q-ttl.bodies", [m["body"] for m in msgs], ["ttl-long"])
    if msgs:
        rep.eq("check.dur-q-ttl.ttl-long.expiration", msgs[0]["props"].get("expiration"), "3600000")
        rep.eq("check.dur-q-ttl.ttl-long.redelivered", msgs[0]["redelivered"], redeliv["ttl-long"])

    msgs = s.drain(Q_DLSRC) if qs[Q_DLSRC]["exists"] else []
    rep.eq("check.dur-q-dlsrc.bodies", [m["body"] for m in msgs], [])

    # --- routing through the recovered bindings (queues read above are empty now)
    persistent = pika.BasicProperties(delivery_mode=2)
    routes = [("k1", X_DIRECT, "k1", "r-k1", Q), ("topic", X_TOPIC, "a.b", "r-ab", Q),
              ("alternate", X_TOPIC, "zz", "r-ae", Q_ARGS), ("e2e", X_DIRECT, "e2e", "r-e2e", Q_ARGS),
              ("dead", X_DIRECT, "dead", "r-dead", Q_DEAD)]
    for label, x, key, body, _ in routes:
        rep.eq("check.route.%s.confirm" % label, s.publish(x, key, body, persistent), "ack")
    rep.eq("check.route.transient_exchange", s.publish(X_TRANSIENT, "t", "r-t", persistent).split(":")[0], "error")
    for queue in (Q, Q_ARGS, Q_DEAD):
        want = [b for _, _, _, b, dq in routes if dq == queue]
        got = [m["body"] for m in s.drain(queue)] if qs[queue]["exists"] else []
        rep.eq("check.route.into.%s" % queue, got, want)

    # --- dur-q-args' dead-letter arguments still act
    rep.eq("check.dlx.confirm", s.publish("", Q_ARGS, "r-dlx", persistent), "ack")
    m = s.get(Q_ARGS) if qs[Q_ARGS]["exists"] else None
    if rep.ok("check.dlx.get", m is not None and m[2] == "r-dlx", repr(m and m[2])):
        s.chan().basic_reject(m[0].delivery_tag, requeue=False)
        d = poll_get(s, Q_DEAD)
        if rep.ok("check.dlx.dead_lettered", d is not None and d[2] == "r-dlx", repr(d and d[2])):
            rep.eq("check.dlx.x-death", x_death_summary(d[1].headers),
                   [{"count": 1, "reason": "rejected", "queue": Q_ARGS, "exchange": "",
                     "routing-keys": [Q_ARGS]}])
            s.chan().basic_ack(d[0].delivery_tag)

    # --- the quorum queue last, on its own connection: on RabbitMQ a quorum queue whose Ra
    # server did not come back (kill -9 right after it was declared) answers basic.get
    # only after ~65 s, with a 541 that closes the connection.
    if qs[Q_QUORUM]["exists"]:
        step(rep, "check.dur-q-quorum.read", check_quorum, args, rep, redeliv)

    if not args.keep:
        if not s.conn.is_open:
            s = Session(args.url, attempts=args.connect_attempts)
        delete_all(s, rep, "check.cleanup")
    s.conn.close()


def check_quorum(args, rep, redeliv):
    qs = Session(args.url, attempts=args.connect_attempts)
    t0 = time.time()
    try:
        msgs = qs.drain(Q_QUORUM)
    finally:
        rep.fact("check.dur-q-quorum.read_seconds", round(time.time() - t0, 2))
    rep.fact("check.dur-q-quorum.messages", [{k: m[k] for k in ("body", "redelivered", "props")} for m in msgs])
    rep.eq("check.dur-q-quorum.bodies", [m["body"] for m in msgs], ["qq1"])
    if msgs:
        rep.eq("check.dur-q-quorum.qq1.redelivered", msgs[0]["redelivered"], redeliv["qq1"])
        # RabbitMQ: basic.get on a quorum queue always carries x-delivery-count (0 the first time)
        rep.eq("check.dur-q-quorum.qq1.props", msgs[0]["props"],
               {"delivery_mode": 2, "headers": {"x-delivery-count": 0}})
    qs.conn.close()


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    ap.add_argument("--phase", required=True, choices=["setup", "check"])
    ap.add_argument("--state", default=os.path.join(tempfile.gettempdir(), "durability-state.json"))
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--restart", choices=["graceful", "kill"], default="graceful",
                    help="check: how the server was restarted (the redelivered flags and "
                         "dur-q-autodel depend on it)")
    ap.add_argument("--keep", action="store_true", help="check: do not delete the dur- objects")
    ap.add_argument("--hold", type=float, default=0.0,
                    help="setup: keep the connection open this many seconds after reporting")
    ap.add_argument("--connect-attempts", type=int, default=10,
                    help="check: connection attempts, 1 s apart (the server may be starting)")
    args = ap.parse_args()
    signal.alarm(int(TOTAL_TIMEOUT + args.hold))

    rep = Report(args.phase)
    session = None
    try:
        if args.phase == "setup":
            session = setup(args, rep)
        else:
            check(args, rep)
    except AMQPConnectionError as e:
        rep.ok("%s.connection" % args.phase, False, "%s: %s" % (type(e).__name__, e))
    except Exception as e:  # noqa: BLE001
        rep.ok("%s.unexpected" % args.phase, False, "%s: %s" % (type(e).__name__, e))
        rep.fact("traceback", traceback.format_exc().splitlines()[-6:])
    res = rep.result()
    if args.json:
        print(json.dumps(res, default=str), flush=True)
    else:
        for c in res["checks"]:
            print("%s %s%s" % ("ok  " if c["ok"] else "FAIL", c["name"],
                               "" if c["ok"] else "  -- " + c["detail"]))
        print("facts: " + json.dumps(res["facts"], default=str, indent=1))
        print("%d passed, %d failed" % (res["passed"], res["failed"]), flush=True)
    if session is not None:
        if args.hold:
            hold(session, args.hold)
        else:
            try:
                session.conn.close()
            except Exception:  # noqa: BLE001
                pass
    sys.exit(0 if res["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
