#!/usr/bin/env python3
"""queue.unbind / exchange.unbind (and bind) with missing ends, missing bindings, the default exchange.

usage: probe_unbind.py [--url amqp://guest:guest@127.0.0.1:5672/]
"""
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import C, Conn, common_args, recover_channel, step  # noqa: E402

args = common_args(__doc__)
tag = uuid.uuid4().hex[:6]
Q = "probe-ub-q-%s" % tag
X = "probe-ub-x-%s" % tag
X2 = "probe-ub-x2-%s" % tag
MQ = "probe-ub-missing-q-%s" % tag
MX = "probe-ub-missing-x-%s" % tag
MX2 = "probe-ub-missing-x2-%s" % tag
c = Conn(args.url)
c.open(1)
step(c, "declare queue Q, exchanges X and X2 (direct)", (1, C.Queue.Declare(queue=Q)),
     (1, C.Exchange.Declare(exchange=X, exchange_type="direct")),
     (1, C.Exchange.Declare(exchange=X2, exchange_type="direct")))


def t(label, method):
    fr = step(c, label, (1, method))
    recover_channel(c, 1, fr)


print("== queue.unbind")
t("queue.unbind Q from X, binding missing (both ends exist)", C.Queue.Unbind(queue=Q, exchange=X, routing_key="k"))
t("queue.unbind missing queue from X", C.Queue.Unbind(queue=MQ, exchange=X, routing_key="k"))
t("queue.unbind Q from missing exchange", C.Queue.Unbind(queue=Q, exchange=MX, routing_key="k"))
t("queue.unbind missing queue from missing exchange", C.Queue.Unbind(queue=MQ, exchange=MX, routing_key="k"))
t("queue.unbind Q from default exchange '' (key = Q)", C.Queue.Unbind(queue=Q, exchange="", routing_key=Q))
t("queue.unbind Q from default exchange '' (key other)", C.Queue.Unbind(queue=Q, exchange="", routing_key="zz"))
t("queue.unbind missing queue from default exchange ''", C.Queue.Unbind(queue=MQ, exchange="", routing_key=MQ))
t("queue.unbind Q from amq.direct (binding missing)", C.Queue.Unbind(queue=Q, exchange="amq.direct", routing_key="k"))
t("queue.bind Q X k", C.Queue.Bind(queue=Q, exchange=X, routing_key="k"))
t("queue.unbind Q X k (exists)", C.Queue.Unbind(queue=Q, exchange=X, routing_key="k"))
t("queue.unbind Q X k again", C.Queue.Unbind(queue=Q, exchange=X, routing_key="k"))

print("== queue.bind for contrast")
t("queue.bind missing queue to X", C.Queue.Bind(queue=MQ, exchange=X, routing_key="k"))
t("queue.bind Q to missing exchange", C.Queue.Bind(queue=Q, exchange=MX, routing_key="k"))
t("queue.bind missing queue to missing exchange", C.Queue.Bind(queue=MQ, exchange=MX, routing_key="k"))
t("queue.bind Q to default exchange ''", C.Queue.Bind(queue=Q, exchange="", routing_key="k"))
t("queue.bind Q to amq.default (name)", C.Queue.Bind(queue=Q, exchange="amq.default", routing_key="k"))

print("== exchange.unbind (destination, source)")
t("exchange.unbind X2 <- X, binding missing", C.Exchange.Unbind(destination=X2, source=X, routing_key="k"))
t("exchange.unbind X2 <- missing source", C.Exchange.Unbind(destination=X2, source=MX, routing_key="k"))
t("exchange.unbind missing destination <- X", C.Exchange.Unbind(destination=MX2, source=X, routing_key="k"))
t("exchange.unbind missing <- missing", C.Exchange.Unbind(destination=MX2, source=MX, routing_key="k"))
t("exchange.unbind X2 <- default ''", C.Exchange.Unbind(destination=X2, source="", routing_key="k"))
t("exchange.unbind default '' <- X", C.Exchange.Unbind(destination="", source=X, routing_key="k"))
t("exchange.bind X2 <- X k", C.Exchange.Bind(destination=X2, source=X, routing_key="k"))
t("exchange.unbind X2 <- X k (exists)", C.Exchange.Unbind(destination=X2, source=X, routing_key="k"))
t("exchange.unbind X2 <- X k again", C.Exchange.Unbind(destination=X2, source=X, routing_key="k"))

print("== exchange.bind for contrast")
t("exchange.bind X2 <- missing source", C.Exchange.Bind(destination=X2, source=MX, routing_key="k"))
t("exchange.bind missing destination <- X", C.Exchange.Bind(destination=MX2, source=X, routing_key="k"))
t("exchange.bind missing <- missing", C.Exchange.Bind(destination=MX2, source=MX, routing_key="k"))
t("exchange.bind X2 <- default ''", C.Exchange.Bind(destination=X2, source="", routing_key="k"))
t("exchange.bind default '' <- X", C.Exchange.Bind(destination="", source=X, routing_key="k"))

print("== after both ends are gone")
t("queue.bind Q X k2; exchange.bind X2 <- X k2", C.Queue.Bind(queue=Q, exchange=X, routing_key="k2"))
t("exchange.bind X2 <- X k2", C.Exchange.Bind(destination=X2, source=X, routing_key="k2"))
t("queue.delete Q", C.Queue.Delete(queue=Q))
t("exchange.delete X", C.Exchange.Delete(exchange=X))
t("exchange.delete X2", C.Exchange.Delete(exchange=X2))
t("queue.unbind Q X k2 (both gone)", C.Queue.Unbind(queue=Q, exchange=X, routing_key="k2"))
t("exchange.unbind X2 <- X k2 (both gone)", C.Exchange.Unbind(destination=X2, source=X, routing_key="k2"))
t("exchange.delete missing exchange", C.Exchange.Delete(exchange=MX))
t("queue.delete missing queue", C.Queue.Delete(queue=MQ))
t("exchange.delete '' (default)", C.Exchange.Delete(exchange=""))
t("exchange.delete amq.direct", C.Exchange.Delete(exchange="amq.direct"))
c.close()
