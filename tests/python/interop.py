#!/usr/bin/env python3
"""Client interop scenarios: pika (blocking) and aiormq against any AMQP 0-9-1 server.

Each scenario does what an application does and records what it observes; the
expected observations are RabbitMQ 3.10.8's (the same script was run against one from
shared/tools/rabbit/, see the README). Prints one line per scenario and a summary
`N passed, M failed`; exits 1 if any failed. Hard timeouts everywhere: each scenario
has a deadline, and the whole run is killed by an alarm.

usage: interop.py --url amqp://guest:guest@127.0.0.1:PORT/ [--only NAME] [--json FILE]
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid

import aiormq
import pika
from pika.exceptions import ChannelClosedByBroker, UnroutableError

TOTAL_TIMEOUT = 240
RUN = uuid.uuid4().hex[:8]


def name(s):
    return "interop-%s-%s" % (RUN, s)


def connect(url):
    params = pika.URLParameters(url)
    params.socket_timeout = 10
    params.blocked_connection_timeout = 10
    params.connection_attempts = 3
    params.retry_delay = 0.5
    return pika.BlockingConnection(params)


def drain(ch, queue):
    out = []
    while True:
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())


# ---------------------------------------------------------------- pika scenarios


def pika_publish_consume_ack(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("ack")
    ch.queue_declare(q, auto_delete=False)
    for i in range(3):
        ch.basic_publish("", q, ("m%d" % i).encode())
    got = []

    def on_message(c, method, props, body):
        got.append(body.decode())
        c.basic_ack(method.delivery_tag)
        if len(got) == 3:
            c.stop_consuming()

    ch.basic_consume(q, on_message, auto_ack=False)
    deadline = time.time() + 10
    while len(got) < 3 and time.time() < deadline:
        conn.process_data_events(time_limit=0.2)
    left = ch.queue_declare(q, passive=True).method.message_count
    ch.queue_delete(q)
    conn.close()
    return {"bodies": got, "left": left}


def pika_prefetch(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("prefetch")
    ch.queue_declare(q)
    for i in range(5):
        ch.basic_publish("", q, ("p%d" % i).encode())
    ch.basic_qos(prefetch_count=2)
    held = []
    ch.basic_consume(q, lambda c, m, p, b: held.append(m.delivery_tag), auto_ack=False)
    deadline = time.time() + 1.0
    while time.time() < deadline:
        conn.process_data_events(time_limit=0.1)
    before = len(held)
    ch.basic_ack(held[0])
    deadline = time.time() + 1.0
    while time.time() < deadline:
        conn.process_data_events(time_limit=0.1)
    after = len(held)
    ch.basic_ack(0, multiple=True)  # pika's "everything outstanding"
    ch.queue_delete(q)
    conn.close()
    return {"delivered_before_ack": before, "delivered_after_one_ack": after}


def pika_nack_requeue(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("nack")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"again")
    seen = []

    def on_message(c, method, props, body):
        seen.append(method.redelivered)
        if len(seen) == 1:
            c.basic_nack(method.delivery_tag, requeue=True)
        else:
            c.basic_ack(method.delivery_tag)

    ch.basic_consume(q, on_message, auto_ack=False)
    deadline = time.time() + 10
    while len(seen) < 2 and time.time() < deadline:
        conn.process_data_events(time_limit=0.2)
    ch.queue_delete(q)
    conn.close()
    return {"redelivered_flags": seen}


def pika_confirms(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("confirm")
    ch.queue_declare(q)
    ch.confirm_delivery()
    out = []
    ch.basic_publish("", q, b"c1")
    out.append("ack")
    try:
        ch.basic_publish("", name("nowhere"), b"c2", mandatory=True)
        out.append("ack")
    except UnroutableError as e:
        out.append("unroutable:%d" % len(e.messages))
    left = ch.queue_declare(q, passive=True).method.message_count
    ch.queue_delete(q)
    conn.close()
    return {"outcomes": out, "queued": left}


def pika_mandatory_return(url):
    conn = connect(url)
    ch = conn.channel()
    returned = []

    def on_return(c, method, props, body):
        returned.append(
            {
                "reply_code": method.reply_code,
                "reply_text": method.reply_text,
                "routing_key": method.routing_key,
                "message_id": props.message_id,
                "headers": props.headers,
                "body": body.decode(),
            }
        )

    ch.add_on_return_callback(on_return)
    props = pika.BasicProperties(message_id="mid-1", headers={"h": "v"})
    ch.basic_publish("amq.direct", name("nokey"), b"lost", props, mandatory=True)
    deadline = time.time() + 5
    while not returned and time.time() < deadline:
        conn.process_data_events(time_limit=0.1)
    conn.close()
    r = returned[0] if returned else None
    if r:
        r["routing_key"] = r["routing_key"].replace(RUN, "RUN")
    return {"returned": r}


def pika_topic(url):
    conn = connect(url)
    ch = conn.channel()
    x = name("topic")
    ch.exchange_declare(x, "topic", auto_delete=True)
    queues = {"crit": ["*.critical"], "kern": ["kern.*"], "all": ["#", "kern.#"]}
    for q, keys in queues.items():
        ch.queue_declare(name(q))
        for k in keys:
            ch.queue_bind(name(q), x, k)
    for key in ["kern.critical", "kern.info", "cron.critical", "a.b.c", ""]:
        ch.basic_publish(x, key, key.encode() or b"<empty>")
    out = {q: drain(ch, name(q)) for q in queues}
    for q in queues:
        ch.queue_delete(name(q))
    conn.close()
    return out


def pika_exclusive_and_errors(url):
    a = connect(url)
    b = connect(url)
    cha = a.channel()
    q = name("excl")
    cha.queue_declare(q, exclusive=True)
    codes = {}
    chb = b.channel()
    try:
        chb.queue_declare(q, passive=True)
        codes["passive_other_connection"] = 200
    except ChannelClosedByBroker as e:
        codes["passive_other_connection"] = e.reply_code
    chb = b.channel()
    try:
        chb.basic_consume(q, lambda *args: None)
        codes["consume_other_connection"] = 200
    except ChannelClosedByBroker as e:
        codes["consume_other_connection"] = e.reply_code
    chb = b.channel()
    try:
        chb.queue_declare(name("missing"), passive=True)
        codes["passive_missing"] = 404
    except ChannelClosedByBroker as e:
        codes["passive_missing"] = e.reply_code
    chb = b.channel()
    try:
        chb.exchange_declare(name("x"), "topic")
        chb.exchange_declare(name("x"), "direct")
        codes["inequivalent_exchange"] = 200
    except ChannelClosedByBroker as e:
        codes["inequivalent_exchange"] = e.reply_code
    # The connection survives channel errors.
    chb = b.channel()
    chb.exchange_delete(name("x"))
    publish_ok = True
    chb.basic_publish("", q, b"to an exclusive queue: allowed")
    a.close()  # the exclusive queue goes with its connection
    chb = b.channel()
    try:
        chb.queue_declare(q, passive=True)
        codes["after_owner_closed"] = 200
    except ChannelClosedByBroker as e:
        codes["after_owner_closed"] = e.reply_code
    b.close()
    codes["publish_to_exclusive"] = publish_ok
    return codes


def closed_by_broker(fn):
    """Run fn(); return "CODE TEXT" of the ChannelClosedByBroker it raises, or "ok"."""
    try:
        fn()
        return "ok"
    except ChannelClosedByBroker as e:
        return "%d %s" % (e.reply_code, e.reply_text.replace(RUN, "RUN"))


def pika_transactions(url):
    conn = connect(url)
    ch = conn.channel()
    watch = conn.channel()
    q = name("tx")
    ch.queue_declare(q)

    def count():
        return watch.queue_declare(q, passive=True).method.message_count

    out = {}
    ch.tx_select()
    ch.basic_publish("", q, b"t1")
    ch.basic_publish("", q, b"t2")
    out["before_commit"] = count()
    ch.tx_commit()
    out["after_commit"] = count()
    ch.basic_publish("", q, b"t3")
    ch.tx_rollback()
    out["after_rollback"] = count()
    # An ack inside the transaction is held: rolled back, the message stays unacked ...
    method, _, body = ch.basic_get(q)
    ch.basic_ack(method.delivery_tag)
    ch.tx_rollback()
    out["ready_after_ack_rolled_back"] = count()
    # ... so the same tag can be acked again, and the commit settles it.
    ch.basic_ack(method.delivery_tag)
    ch.tx_commit()
    out["acked_body"] = body.decode()
    # A rejection (requeue) is held until the commit as well.
    method, _, _ = ch.basic_get(q)
    ch.basic_reject(method.delivery_tag, requeue=True)
    out["ready_before_reject_commit"] = count()
    ch.tx_commit()
    out["ready_after_reject_commit"] = count()
    # Closing a channel with a pending transaction discards it.
    ch.basic_publish("", q, b"t4")
    ch.close()
    out["after_close_with_pending_tx"] = count()
    out["commit_without_select"] = closed_by_broker(lambda: conn.channel().tx_commit())
    out["rollback_without_select"] = closed_by_broker(lambda: conn.channel().tx_rollback())

    def confirm_on_tx():
        c2 = conn.channel()
        c2.tx_select()
        c2.confirm_delivery()

    def tx_on_confirm():
        c2 = conn.channel()
        c2.confirm_delivery()
        c2.tx_select()

    out["confirm_on_tx_channel"] = closed_by_broker(confirm_on_tx)
    out["tx_on_confirm_channel"] = closed_by_broker(tx_on_confirm)
    watch.queue_delete(q)
    conn.close()
    return out


def pika_unbind_idempotent(url):
    conn = connect(url)
    ch = conn.channel()
    q, x, x2 = name("ub-q"), name("ub-x"), name("ub-x2")
    ch.queue_declare(q)
    ch.exchange_declare(x, "direct")
    ch.exchange_declare(x2, "direct")
    ch.queue_bind(q, x, "k")
    ch.exchange_bind(x2, x, "k")
    out = {}
    ch.queue_unbind(q, x, "never-bound")
    out["unbind_missing_binding"] = "ok"
    ch.queue_delete(q)
    ch.exchange_delete(x)
    ch.exchange_delete(x2)
    ch.queue_unbind(q, x, "k")
    out["queue_unbind_both_gone"] = "ok"
    ch.exchange_unbind(x2, x, "k")
    out["exchange_unbind_both_gone"] = "ok"
    out["queue_bind_both_gone"] = closed_by_broker(lambda: ch.queue_bind(q, x, "k"))
    ch = conn.channel()
    out["exchange_bind_both_gone"] = closed_by_broker(lambda: ch.exchange_bind(x2, x, "k"))
    ch = conn.channel()
    out["queue_unbind_default_exchange"] = closed_by_broker(lambda: ch.queue_unbind(q, "", q))
    conn.close()
    return out


def pika_large_message(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("large")
    ch.queue_declare(q)
    body = bytes(range(256)) * (17 * 1024 * 1024 // 256)  # 17 MiB
    ch.basic_publish("", q, body, pika.BasicProperties(message_id="big"))
    got = None
    deadline = time.time() + 15
    while got is None and time.time() < deadline:
        method, props, data = ch.basic_get(q, auto_ack=True)
        if method is not None:
            got = (props.message_id, len(data), data == body)
        else:
            conn.process_data_events(time_limit=0.1)
    ch.queue_delete(q)
    conn.close()
    return {"received": list(got) if got else None}


def pika_default_exchange_declare(url):
    conn = connect(url)
    out = {
        "passive": closed_by_broker(lambda: conn.channel().exchange_declare("", passive=True)),
        "active": closed_by_broker(lambda: conn.channel().exchange_declare("", "direct")),
        "amq_direct_passive": closed_by_broker(lambda: conn.channel().exchange_declare("amq.direct", passive=True)),
    }
    conn.close()
    return out


def pika_channel_numbers(url):
    params = pika.URLParameters(url)
    params.socket_timeout = 10
    params.channel_max = 3  # the client asks for 3, below RabbitMQ's 2047: 3 is negotiated
    conn = pika.BlockingConnection(params)
    out = {}
    # The channel number is not bounded by channel_max; the count of open channels is.
    high = conn.channel(channel_number=65535)
    q = name("ch65535")
    high.queue_declare(q)
    high.basic_publish("", q, b"on 65535")
    deadline = time.time() + 5
    body = None
    while body is None and time.time() < deadline:
        method, _, data = high.basic_get(q, auto_ack=True)
        body = data.decode() if method else None
    out["channel_65535"] = body
    conn.channel(channel_number=1)
    conn.channel(channel_number=2)
    try:
        conn.channel(channel_number=3)
        out["fourth_channel"] = "ok"
    except pika.exceptions.ConnectionClosedByBroker as e:
        out["fourth_channel"] = "%d %s" % (e.reply_code, e.reply_text)
    conn2 = connect(url)
    conn2.channel().queue_delete(q)
    conn2.close()
    return out


def pika_quorum_delivery_limit(url):
    conn = connect(url)
    ch = conn.channel()
    q = name("quorum")
    ok = ch.queue_declare(q, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 2})
    out = {"declare_ok_count": ok.method.message_count}
    ch.confirm_delivery()
    ch.basic_publish("", q, b"poison", pika.BasicProperties(headers={"h": "v"}))
    out["message_count"] = ch.queue_declare(q, passive=True).method.message_count
    seen = []

    def on_message(c, method, props, body):
        headers = props.headers or {}
        seen.append([method.redelivered, headers.get("x-delivery-count"), headers.get("h")])
        c.basic_reject(method.delivery_tag, requeue=True)

    ch.basic_consume(q, on_message)
    deadline = time.time() + 3
    while time.time() < deadline:
        conn.process_data_events(time_limit=0.2)
    out["deliveries"] = seen  # [redelivered, x-delivery-count, h]
    out["left"] = ch.queue_declare(q, passive=True).method.message_count
    ch.queue_delete(q)
    errors = {}
    for label, kwargs in [
        ("non_durable", {"durable": False, "arguments": {"x-queue-type": "quorum"}}),
        ("exclusive", {"durable": True, "exclusive": True, "arguments": {"x-queue-type": "quorum"}}),
        ("max_priority", {"durable": True, "arguments": {"x-queue-type": "quorum", "x-max-priority": 5}}),
        ("stream_non_durable", {"durable": False, "arguments": {"x-queue-type": "stream"}}),
        ("bogus_type", {"durable": True, "arguments": {"x-queue-type": "bogus"}}),
    ]:
        errors[label] = closed_by_broker(lambda: conn.channel().queue_declare(name("qq-" + label), **kwargs))
    out["refused"] = errors
    conn.close()
    return out


# ---------------------------------------------------------------- aiormq scenarios


async def aiormq_confirms_and_nack(url):
    conn = await asyncio.wait_for(aiormq.connect(url), 10)
    try:
        ch = await conn.channel()  # aiormq channels are in confirm mode
        q = name("aio")
        await ch.queue_declare(q)
        confirm = await ch.basic_publish(b"a1", routing_key=q)
        got = []
        done = asyncio.Event()

        async def on_message(m):
            got.append(m.delivery.redelivered)
            if len(got) == 1:
                await ch.basic_nack(m.delivery.delivery_tag, requeue=True)
            else:
                await ch.basic_ack(m.delivery.delivery_tag)
                done.set()

        await ch.basic_qos(prefetch_count=1)
        await ch.basic_consume(q, on_message, no_ack=False)
        await asyncio.wait_for(done.wait(), 10)
        try:
            r = await ch.basic_publish(
                b"lost",
                exchange="amq.direct",
                routing_key=name("nokey"),
                mandatory=True,
                properties=aiormq.spec.Basic.Properties(message_id="m-2"),
            )
            unroutable = type(r).__name__
        except aiormq.exceptions.PublishError as e:
            # aiormq matches the Return to its publish (by message id) and raises.
            d = e.message.delivery
            mid = e.message.header.properties.message_id
            unroutable = "%s(%s, %s)" % (type(e).__name__, d.reply_code, mid)
        await ch.queue_delete(q)
        return {
            "confirm": type(confirm).__name__,
            "redelivered_flags": got,
            "unroutable_mandatory": unroutable,
        }
    finally:
        await asyncio.wait_for(conn.close(), 10)


async def seed_story(url):
    """The origin story: the aiormq consumer from the project's seed, unchanged but for
    the URL, receives and acks what a pika publisher sends."""
    received = []
    done = asyncio.Event()

    async def on_message(message):
        received.append(message.body.decode())
        await message.channel.basic_ack(message.delivery.delivery_tag)
        if len(received) >= 3:
            done.set()

    connection = await asyncio.wait_for(aiormq.connect(url), 10)
    try:
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=1)
        await channel.exchange_declare(exchange="test_exchange", exchange_type="direct")
        declare_ok = await channel.queue_declare("test_queue")
        await channel.queue_bind("test_queue", "test_exchange", routing_key="test_routing_key")
        await channel.basic_consume(declare_ok.queue, on_message, no_ack=False)

        def publish():
            pc = connect(url)
            pch = pc.channel()
            for i in range(3):
                pch.basic_publish("test_exchange", "test_routing_key", ("Hello %d" % i).encode())
            pc.close()

        await asyncio.get_running_loop().run_in_executor(None, publish)
        await asyncio.wait_for(done.wait(), 15)
        await asyncio.sleep(0.2)
        left = await channel.queue_declare("test_queue", passive=True)
        return {"received": received, "left": left.message_count}
    finally:
        await asyncio.wait_for(connection.close(), 10)


async def aiormq_direct_reply_to(url):
    client = await asyncio.wait_for(aiormq.connect(url), 10)
    server = await asyncio.wait_for(aiormq.connect(url), 10)
    try:
        q = name("rpc")
        sch = await server.channel()
        await sch.queue_declare(q, auto_delete=True)
        seen_reply_to = []

        async def serve(m):
            rt = m.header.properties.reply_to
            seen_reply_to.append(rt)
            await sch.basic_publish(
                b"pong:" + m.body,
                routing_key=rt,
                properties=aiormq.spec.Basic.Properties(correlation_id=m.header.properties.correlation_id),
            )

        await sch.basic_consume(q, serve, no_ack=True)
        cch = await client.channel()
        replies = asyncio.Queue()
        ok = await cch.basic_consume("amq.rabbitmq.reply-to", replies.put, no_ack=True, consumer_tag="rpc-client")
        await cch.basic_publish(
            b"ping",
            routing_key=q,
            properties=aiormq.spec.Basic.Properties(reply_to="amq.rabbitmq.reply-to", correlation_id="c-1"),
        )
        reply = await asyncio.wait_for(replies.get(), 10)
        rt = seen_reply_to[0]
        d = reply.delivery
        out = {
            "consume_ok_tag": ok.consumer_tag,
            "reply_to_prefix": rt.startswith("amq.rabbitmq.reply-to.") and len(rt) > len("amq.rabbitmq.reply-to."),
            "reply": [reply.body.decode(), reply.header.properties.correlation_id],
            "deliver": [d.consumer_tag, d.exchange, d.routing_key == rt, d.redelivered],
        }

        async def error_of(coro):
            try:
                await coro
                return "ok"
            except aiormq.exceptions.AMQPError as e:
                return "%s: %s" % (type(e).__name__, e.args[0] if e.args else "")

        ch = await client.channel()
        out["consume_with_ack"] = await error_of(
            ch.basic_consume("amq.rabbitmq.reply-to", replies.put, no_ack=False))
        ch = await client.channel()
        out["publish_without_reply_consumer"] = await error_of(ch.basic_publish(
            b"x", routing_key=q, properties=aiormq.spec.Basic.Properties(reply_to="amq.rabbitmq.reply-to")))
        out["consume_twice"] = await error_of(
            cch.basic_consume("amq.rabbitmq.reply-to", replies.put, no_ack=True))
        return out
    finally:
        await asyncio.wait_for(client.close(), 10)
        await asyncio.wait_for(server.close(), 10)


async def aiormq_pipelined_confirms(url):
    conn = await asyncio.wait_for(aiormq.connect(url), 10)
    try:
        ch = await conn.channel()  # confirm mode
        q = name("pipelined")
        await ch.queue_declare(q)
        n = 500
        confirms = await asyncio.wait_for(
            asyncio.gather(*(ch.basic_publish(b"%d" % i, routing_key=q) for i in range(n))), 20)
        kinds = sorted({type(c).__name__ for c in confirms})
        queued = (await ch.queue_declare(q, passive=True)).message_count
        first = await ch.basic_get(q, no_ack=True)
        await ch.queue_delete(q)
        return {"confirmed": len(confirms), "kinds": kinds, "queued": queued, "first": first.body.decode()}
    finally:
        await asyncio.wait_for(conn.close(), 10)


# ---------------------------------------------------------------- expectations

EXPECTED = {
    "pika_publish_consume_ack": {"bodies": ["m0", "m1", "m2"], "left": 0},
    "pika_prefetch": {"delivered_before_ack": 2, "delivered_after_one_ack": 3},
    "pika_nack_requeue": {"redelivered_flags": [False, True]},
    "pika_confirms": {"outcomes": ["ack", "unroutable:1"], "queued": 1},
    "pika_mandatory_return": {
        "returned": {
            "reply_code": 312,
            "reply_text": "NO_ROUTE",
            "routing_key": "interop-RUN-nokey",
            "message_id": "mid-1",
            "headers": {"h": "v"},
            "body": "lost",
        }
    },
    "pika_topic": {
        "crit": ["kern.critical", "cron.critical"],
        "kern": ["kern.critical", "kern.info"],
        "all": ["kern.critical", "kern.info", "cron.critical", "a.b.c", "<empty>"],
    },
    "pika_exclusive_and_errors": {
        "passive_other_connection": 405,
        "consume_other_connection": 405,
        "passive_missing": 404,
        "inequivalent_exchange": 406,
        "after_owner_closed": 404,
        "publish_to_exclusive": True,
    },
    "aiormq_confirms_and_nack": {
        "confirm": "Ack",
        "redelivered_flags": [False, True],
        "unroutable_mandatory": "PublishError(312, m-2)",
    },
    "seed_story": {"received": ["Hello 0", "Hello 1", "Hello 2"], "left": 0},
    "pika_transactions": {
        "before_commit": 0,
        "after_commit": 2,
        "after_rollback": 2,
        "ready_after_ack_rolled_back": 1,
        "acked_body": "t1",
        "ready_before_reject_commit": 0,
        "ready_after_reject_commit": 1,
        "after_close_with_pending_tx": 1,
        "commit_without_select": "406 PRECONDITION_FAILED - channel is not transactional",
        "rollback_without_select": "406 PRECONDITION_FAILED - channel is not transactional",
        "confirm_on_tx_channel": "406 PRECONDITION_FAILED - cannot switch from tx to confirm mode",
        "tx_on_confirm_channel": "406 PRECONDITION_FAILED - cannot switch from confirm to tx mode",
    },
    "pika_unbind_idempotent": {
        "unbind_missing_binding": "ok",
        "queue_unbind_both_gone": "ok",
        "exchange_unbind_both_gone": "ok",
        "queue_bind_both_gone": "404 NOT_FOUND - no exchange 'interop-RUN-ub-x' in vhost '/'",
        "exchange_bind_both_gone": "404 NOT_FOUND - no exchange 'interop-RUN-ub-x' in vhost '/'",
        "queue_unbind_default_exchange": "403 ACCESS_REFUSED - operation not permitted on the default exchange",
    },
    "pika_large_message": {"received": ["big", 17825792, True]},
    "pika_default_exchange_declare": {
        "passive": "403 ACCESS_REFUSED - operation not permitted on the default exchange",
        "active": "403 ACCESS_REFUSED - operation not permitted on the default exchange",
        "amq_direct_passive": "ok",
    },
    "pika_channel_numbers": {
        "channel_65535": "on 65535",
        "fourth_channel": "530 NOT_ALLOWED - number of channels opened (3) has reached the negotiated channel_max (3)",
    },
    "pika_quorum_delivery_limit": {
        "declare_ok_count": 0,
        "message_count": 1,
        "deliveries": [[False, None, "v"], [True, 1, "v"], [True, 2, "v"]],
        "left": 0,
        "refused": {
            "non_durable": "406 PRECONDITION_FAILED - invalid property 'non-durable' "
            "for queue 'interop-RUN-qq-non_durable' in vhost '/'",
            "exclusive": "406 PRECONDITION_FAILED - invalid property 'exclusive-owner' "
            "for queue 'interop-RUN-qq-exclusive' in vhost '/'",
            "max_priority": "406 PRECONDITION_FAILED - invalid arg 'x-max-priority' "
            "for queue 'interop-RUN-qq-max_priority' in vhost '/' of queue type rabbit_quorum_queue",
            "stream_non_durable": "406 PRECONDITION_FAILED - invalid property 'non-durable' "
            "for queue 'interop-RUN-qq-stream_non_durable' in vhost '/'",
            "bogus_type": "406 PRECONDITION_FAILED - invalid arg 'x-queue-type' "
            "for queue 'interop-RUN-qq-bogus_type' in vhost '/': \"unsupported queue type 'bogus'\"",
        },
    },
    "aiormq_direct_reply_to": {
        "consume_ok_tag": "rpc-client",
        "reply_to_prefix": True,
        "reply": ["pong:ping", "c-1"],
        "deliver": ["rpc-client", "", True, False],
        "consume_with_ack": "ChannelPreconditionFailed: PRECONDITION_FAILED - reply consumer cannot acknowledge",
        "publish_without_reply_consumer": "ChannelPreconditionFailed: "
        "PRECONDITION_FAILED - fast reply consumer does not exist",
        "consume_twice": "ChannelPreconditionFailed: PRECONDITION_FAILED - reply consumer already set",
    },
    "aiormq_pipelined_confirms": {"confirmed": 500, "kinds": ["Ack"], "queued": 500, "first": "0"},
}

SCENARIOS = [
    ("pika_publish_consume_ack", pika_publish_consume_ack),
    ("pika_prefetch", pika_prefetch),
    ("pika_nack_requeue", pika_nack_requeue),
    ("pika_confirms", pika_confirms),
    ("pika_mandatory_return", pika_mandatory_return),
    ("pika_topic", pika_topic),
    ("pika_exclusive_and_errors", pika_exclusive_and_errors),
    ("aiormq_confirms_and_nack", aiormq_confirms_and_nack),
    ("seed_story", seed_story),
    ("pika_transactions", pika_transactions),
    ("pika_unbind_idempotent", pika_unbind_idempotent),
    ("pika_large_message", pika_large_message),
    ("pika_default_exchange_declare", pika_default_exchange_declare),
    ("pika_channel_numbers", pika_channel_numbers),
    ("pika_quorum_delivery_limit", pika_quorum_delivery_limit),
    ("aiormq_direct_reply_to", aiormq_direct_reply_to),
    ("aiormq_pipelined_confirms", aiormq_pipelined_confirms),
]


def run(fn, url):
    if asyncio.iscoroutinefunction(fn):
        return asyncio.run(asyncio.wait_for(fn(url), 60))
    result = {}

    def target():
        try:
            result["value"] = fn(url)
        except BaseException as e:  # reported below
            result["error"] = "%s: %s" % (type(e).__name__, e)
            result["trace"] = traceback.format_exc()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(60)
    if t.is_alive():
        raise TimeoutError("scenario did not finish in 60 s")
    if "error" in result:
        raise RuntimeError(result["error"] + "\n" + result["trace"])
    return result["value"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("RABBIT_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    ap.add_argument("--only")
    ap.add_argument("--json", help="write the observations to this file")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *a: os._exit(3))
    signal.alarm(TOTAL_TIMEOUT)
    passed = failed = 0
    observed = {}
    for scenario, fn in SCENARIOS:
        if args.only and args.only != scenario:
            continue
        try:
            got = run(fn, args.url)
        except Exception as e:
            got = {"error": str(e)}
        observed[scenario] = got
        ok = got == EXPECTED[scenario]
        passed += ok
        failed += not ok
        print("%s %s" % ("ok  " if ok else "FAIL", scenario), flush=True)
        if not ok:
            print("     expected %s\n     got      %s" % (json.dumps(EXPECTED[scenario]), json.dumps(got)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(observed, f, indent=2, sort_keys=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
