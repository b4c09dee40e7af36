#!/usr/bin/env python3
"""Drive a RabbitMQ-compatible management HTTP API with RabbitMQ's own CLI, rabbitmqadmin.

What it checks (every check prints `ok: ...` or `FAIL: ...`, then `N passed, M failed`;
exit 0 only if everything passed, exit 2 if rabbitmqadmin cannot be found):
  * `show overview`, `list vhosts` (contains `/`)
  * `declare exchange/queue/binding` (topic exchange adm-x, durable queue adm-q,
    non-durable queue adm-q2 with x-max-length, queue binding adm-x -> adm-q `a.*`,
    exchange-to-exchange binding adm-x -> adm-x2) and that `list exchanges/queues/bindings`
    (raw_json) report type, durable, arguments, routing_key, destination_type
  * `publish` (routed), `list queues name messages` (tsv, polled <= 15 s for stats),
    `get` returns the payload; the same through the default exchange into adm-q2
  * `export FILE` contains the adm- objects; `delete binding/queue/exchange` removes them;
    `import FILE` brings adm-x, adm-q and the binding back
  * a pika connection (connection_name "adm-client") with one channel shows in
    `list connections` and `list channels`; `close connection name=...` closes it and the
    client sees connection.close 320 "CONNECTION_FORCED - ..."
Everything the script creates is named adm-*, and it is deleted again in a finally block.
The definitions imported back are the export *filtered to adm- objects*, so that on a shared
node other people's objects (and users) are never re-created or overwritten.

Against RabbitMQ (management on 15680, AMQP on 5672):
  python3 tests/python/management_admin.py --host 127.0.0.1 --port 15680 \
      --amqp-url amqp://guest:guest@127.0.0.1:5672/ --user guest --password guest
Against trackswitch (`trackswitch serve --management 127.0.0.1:15672`, AMQP on 5672):
  python3 tests/python/management_admin.py --host 127.0.0.1 --port 15672 \
      --amqp-url amqp://guest:guest@127.0.0.1:5672/
`--rabbitmqadmin PATH` overrides the lookup (PATH, then the Debian rabbitmq-server package).
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

PASSED = 0
FAILED = 0
DEADLINE = time.monotonic() + 110  # whole run < 2 minutes


def ok(msg):
    global PASSED
    PASSED += 1
    print("ok: " + msg, flush=True)


def fail(msg):
    global FAILED
    FAILED += 1
    print("FAIL: " + msg, flush=True)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (" -- " + detail if detail else ""))
    return bool(cond)


def find_rabbitmqadmin(explicit):
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    p = shutil.which("rabbitmqadmin")
    if p:
        return p
    cands = ["/usr/bin/rabbitmqadmin", "/usr/sbin/rabbitmqadmin", "/usr/local/bin/rabbitmqadmin"]
    cands += sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/"
                              "rabbitmq_management-*/priv/www/cli/rabbitmqadmin"), reverse=True)
    try:
        out = subprocess.run(["dpkg", "-L", "rabbitmq-server"], capture_output=True,
                             text=True, timeout=10).stdout
        cands += [l.strip() for l in out.splitlines() if l.strip().endswith("/rabbitmqadmin")]
    except Exception:
        pass
    for c in cands:
        if os.path.isfile(c):
            return c
    return None


class Admin:
    def __init__(self, path, host, port, user, password):
        with open(path, "rb") as f:
            first = f.readline()
        if first.startswith(b"#!") and b"python" in first or not os.access(path, os.X_OK):
            self.cmd = [sys.executable, path]
        else:
            self.cmd = [path]
        self.base = ["-H", host, "-P", str(port), "-u", user, "-p", password, "-t", "10"]

    def run(self, *args, timeout=20):
        timeout = max(1, min(timeout, DEADLINE - time.monotonic()))
        argv = self.cmd + self.base + list(args)
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            return r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            return -1, "", "timeout after %.0fs: %s" % (timeout, " ".join(args))

    def json(self, *args):
        rc, out, err = self.run("-f", "raw_json", *args)
        if rc != 0:
            return None, "rc=%s %s %s" % (rc, out.strip(), err.strip())
        try:
            return json.loads(out), ""
        except ValueError as e:
            return None, "bad JSON (%s): %r" % (e, out[:300])


def find(items, **kv):
    for it in items or []:
        if all(it.get(k) == v for k, v in kv.items()):
            return it
    return None


def truthy(v):
    # RabbitMQ answers JSON booleans; be strict about that.
    return v is True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=15672)
    ap.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    ap.add_argument("--rabbitmqadmin", default=None)
    a = ap.parse_args()

    path = find_rabbitmqadmin(a.rabbitmqadmin)
    if not path:
        print("ERROR: rabbitmqadmin not found (looked at --rabbitmqadmin, PATH and the "
              "rabbitmq-server Debian package); pass --rabbitmqadmin PATH", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2
    print("using rabbitmqadmin: %s" % path, flush=True)
    adm = Admin(path, a.host, a.port, a.user, a.password)
    tmpdir = tempfile.mkdtemp(prefix="adm-")
    try:
        scenario(adm, a, tmpdir)
    except Exception as e:  # unexpected: count it, still clean up
        fail("unexpected exception: %r" % (e,))
    finally:
        cleanup(adm)
        shutil.rmtree(tmpdir, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 and PASSED > 0 else 1


def cleanup(adm):
    # Everything the scenario may have left behind; errors ignored (may not exist).
    adm.run("delete", "binding", "source=adm-x", "destination_type=queue",
            "destination=adm-q", "properties_key=a.*", timeout=10)
    for name in ("adm-q", "adm-q2"):
        adm.run("delete", "queue", "name=" + name, timeout=10)
    for name in ("adm-x", "adm-x2"):
        adm.run("delete", "exchange", "name=" + name, timeout=10)
    # verify nothing named adm- is left
    qs, _ = adm.json("list", "queues", "name")
    xs, _ = adm.json("list", "exchanges", "name")
    left = [o["name"] for o in (qs or []) + (xs or []) if o.get("name", "").startswith("adm-")]
    check(not left, "cleanup: no adm- queues/exchanges left", "left: %s" % left)


def poll(fn, secs):
    end = min(time.monotonic() + secs, DEADLINE)
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(0.5)


def scenario(adm, a, tmpdir):
    # --- overview / vhosts ---------------------------------------------------------------
    ov, err = adm.json("show", "overview")
    check(isinstance(ov, list) and len(ov) == 1 and isinstance(ov[0], dict)
          and "rabbitmq_version" in ov[0] and "management_version" in ov[0],
          "show overview returns an object with rabbitmq_version/management_version",
          err or repr(ov)[:200])
    rc, out, err = adm.run("show", "overview")  # default table format with default columns
    check(rc == 0 and "rabbitmq_version" in out, "show overview (table, default columns)",
          "rc=%s %s" % (rc, err.strip()))
    vh, err = adm.json("list", "vhosts")
    check(vh is not None and find(vh, name="/") is not None, "list vhosts includes /",
          err or repr(vh)[:200])

    # --- declare -------------------------------------------------------------------------
    steps = [
        ("declare exchange adm-x topic durable",
         ["declare", "exchange", "name=adm-x", "type=topic", "durable=true"]),
        ("declare exchange adm-x2 fanout durable",
         ["declare", "exchange", "name=adm-x2", "type=fanout", "durable=true"]),
        ("declare queue adm-q durable", ["declare", "queue", "name=adm-q", "durable=true"]),
        ("declare queue adm-q2 non-durable x-max-length 10",
         ["declare", "queue", "name=adm-q2", "durable=false", 'arguments={"x-max-length": 10}']),
        ("declare binding adm-x -> adm-q a.*",
         ["declare", "binding", "source=adm-x", "destination=adm-q", "routing_key=a.*"]),
        ("declare binding adm-x -> exchange adm-x2 b.#",
         ["declare", "binding", "source=adm-x", "destination=adm-x2",
          "destination_type=exchange", "routing_key=b.#"]),
    ]
    for msg, args in steps:
        rc, out, err = adm.run(*args)
        check(rc == 0 and "declared" in out, msg, "rc=%s %s %s" % (rc, out.strip(), err.strip()))

    # --- list ----------------------------------------------------------------------------
    xs, err = adm.json("list", "exchanges")
    x = find(xs, name="adm-x", vhost="/")
    check(x is not None and x.get("type") == "topic" and truthy(x.get("durable"))
          and x.get("auto_delete") is False and x.get("internal") is False
          and x.get("arguments") == {},
          "list exchanges: adm-x topic durable, auto_delete/internal false, arguments {}",
          err or repr(x))
    x2 = find(xs, name="adm-x2", vhost="/")
    check(x2 is not None and x2.get("type") == "fanout" and truthy(x2.get("durable")),
          "list exchanges: adm-x2 fanout durable", err or repr(x2))
    rc, out, err = adm.run("-f", "tsv", "list", "exchanges", "name", "type")
    check(rc == 0 and "adm-x\ttopic" in out.splitlines(), "list exchanges name type (tsv)",
          "rc=%s %r" % (rc, out[-300:]))

    qs, err = adm.json("list", "queues")
    q = find(qs, name="adm-q", vhost="/")
    check(q is not None and truthy(q.get("durable")) and q.get("auto_delete") is False
          and q.get("arguments") == {},
          "list queues: adm-q durable, arguments {}", err or repr(q)[:300])
    q2 = find(qs, name="adm-q2", vhost="/")
    check(q2 is not None and q2.get("durable") is False
          and q2.get("arguments") == {"x-max-length": 10},
          "list queues: adm-q2 non-durable, arguments {x-max-length: 10}", err or repr(q2)[:300])

    bs, err = adm.json("list", "bindings")
    b = find(bs, source="adm-x", destination="adm-q", vhost="/")
    check(b is not None and b.get("destination_type") == "queue"
          and b.get("routing_key") == "a.*" and b.get("arguments") == {}
          and b.get("properties_key") == "a.%2A",
          "list bindings: adm-x -> adm-q queue a.* (properties_key percent-encoded 'a.%2A')",
          err or repr(b))
    be = find(bs, source="adm-x", destination="adm-x2", vhost="/")
    check(be is not None and be.get("destination_type") == "exchange"
          and be.get("routing_key") == "b.#",
          "list bindings: adm-x -> adm-x2 destination_type exchange b.#", err or repr(be))
    dq = find(bs, source="", destination="adm-q", vhost="/")
    check(dq is not None and dq.get("routing_key") == "adm-q"
          and dq.get("destination_type") == "queue",
          "list bindings: default-exchange binding for adm-q (source '')", err or repr(dq))
    rc, out, err = adm.run("-f", "tsv", "list", "bindings", "source", "destination",
                           "destination_type", "routing_key")
    check(rc == 0 and "adm-x\tadm-x2\texchange\tb.#" in out.splitlines(),
          "list bindings (tsv columns)", "rc=%s %r" % (rc, out[-300:]))

    # --- publish / messages / get ---------------------------------------------------------
    rc, out, err = adm.run("publish", "exchange=adm-x", "routing_key=a.b", "payload=hello-admin")
    check(rc == 0 and "Message published" in out and "NOT routed" not in out,
          "publish to adm-x a.b is routed", "rc=%s %r %r" % (rc, out, err))
    rc, out, err = adm.run("publish", "exchange=adm-x", "routing_key=zzz", "payload=nowhere")
    check(rc == 0 and "NOT routed" in out, "publish with an unmatched key reports NOT routed",
          "rc=%s %r %r" % (rc, out, err))

    def messages_of(name):
        rc, out, err = adm.run("-f", "tsv", "list", "queues", "name", "messages")
        if rc != 0:
            return None
        lines = out.splitlines()
        if not lines or lines[0] != "name\tmessages":
            return None
        for l in lines[1:]:
            parts = l.split("\t")
            if parts[0] == name and len(parts) == 2:
                return parts[1]
        return None
    got = poll(lambda: messages_of("adm-q") == "1", 15)
    check(got, "list queues name messages (tsv) shows adm-q with 1 message (polled <= 15 s)",
          "last: %r" % messages_of("adm-q"))

    msgs, err = adm.json("get", "queue=adm-q", "ackmode=ack_requeue_false")
    m = msgs[0] if isinstance(msgs, list) and len(msgs) == 1 else {}
    check(m.get("payload") == "hello-admin" and m.get("routing_key") == "a.b"
          and m.get("exchange") == "adm-x" and m.get("payload_encoding") == "string"
          and m.get("message_count") == 0 and m.get("redelivered") is False
          and m.get("payload_bytes") == len("hello-admin"),
          "get queue=adm-q ackmode=ack_requeue_false returns hello-admin (fields)",
          err or repr(msgs))
    msgs, err = adm.json("get", "queue=adm-q")
    check(msgs == [], "queue adm-q is empty after ack_requeue_false", err or repr(msgs))

    rc, out, err = adm.run("publish", "routing_key=adm-q2", "payload=hello-default")
    check(rc == 0 and "Message published" in out and "NOT routed" not in out,
          "publish via the default exchange (amq.default) to adm-q2 is routed",
          "rc=%s %r %r" % (rc, out, err))
    msgs, err = adm.json("get", "queue=adm-q2")  # default ackmode ack_requeue_true
    m = msgs[0] if isinstance(msgs, list) and len(msgs) == 1 else {}
    check(m.get("payload") == "hello-default" and m.get("exchange") == ""
          and m.get("routing_key") == "adm-q2",
          "get queue=adm-q2 (default ackmode requeue) returns hello-default", err or repr(msgs))
    msgs, err = adm.json("get", "queue=adm-q2", "ackmode=ack_requeue_false")
    m = msgs[0] if isinstance(msgs, list) and len(msgs) == 1 else {}
    check(m.get("payload") == "hello-default" and m.get("redelivered") is True,
          "requeued message comes back redelivered, then is removed", err or repr(msgs))

    # --- export --------------------------------------------------------------------------
    export = os.path.join(tmpdir, "export.json")
    rc, out, err = adm.run("export", export)
    defs = None
    try:
        with open(export) as f:
            defs = json.load(f)
    except Exception as e:
        err += " %r" % (e,)
    check(rc == 0 and isinstance(defs, dict), "export FILE writes definitions JSON",
          "rc=%s %s %s" % (rc, out.strip(), err.strip()))
    defs = defs if isinstance(defs, dict) else {}
    ex = defs.get("exchanges", [])
    qu = defs.get("queues", [])
    bi = defs.get("bindings", [])
    check(find(ex, name="adm-x", vhost="/", type="topic", durable=True) is not None
          and find(ex, name="adm-x2", vhost="/", type="fanout") is not None,
          "export contains exchanges adm-x (topic, durable) and adm-x2")
    check(find(qu, name="adm-q", vhost="/", durable=True) is not None
          and find(qu, name="adm-q2", vhost="/", durable=False,
                   arguments={"x-max-length": 10}) is not None,
          "export contains queues adm-q and adm-q2 (non-durable, x-max-length 10)")
    check(find(bi, source="adm-x", destination="adm-q", destination_type="queue",
               routing_key="a.*", vhost="/") is not None
          and find(bi, source="adm-x", destination="adm-x2", destination_type="exchange",
                   routing_key="b.#", vhost="/") is not None,
          "export contains both bindings")
    check(all(k in defs for k in ("vhosts", "users", "permissions")),
          "export has vhosts/users/permissions sections", repr(sorted(defs))[:200])

    # --- delete --------------------------------------------------------------------------
    rc, out, err = adm.run("delete", "binding", "source=adm-x", "destination_type=queue",
                           "destination=adm-q", "properties_key=a.*")
    check(rc == 0 and "deleted" in out, "delete binding adm-x -> adm-q (properties_key a.*)",
          "rc=%s %r %r" % (rc, out, err))
    bs, err = adm.json("list", "bindings")
    check(bs is not None and find(bs, source="adm-x", destination="adm-q") is None
          and find(bs, source="adm-x", destination="adm-x2") is not None,
          "binding adm-x -> adm-q gone, adm-x -> adm-x2 still there", err)
    rc, out, err = adm.run("delete", "queue", "name=adm-q")
    check(rc == 0 and "deleted" in out, "delete queue adm-q", "rc=%s %r %r" % (rc, out, err))
    rc, out, err = adm.run("delete", "exchange", "name=adm-x")
    check(rc == 0 and "deleted" in out, "delete exchange adm-x", "rc=%s %r %r" % (rc, out, err))
    qs, e1 = adm.json("list", "queues")
    xs, e2 = adm.json("list", "exchanges")
    bs, e3 = adm.json("list", "bindings")
    check(qs is not None and find(qs, name="adm-q") is None and find(qs, name="adm-q2"),
          "adm-q gone from list queues (adm-q2 still there)", e1)
    check(xs is not None and find(xs, name="adm-x") is None and find(xs, name="adm-x2"),
          "adm-x gone from list exchanges (adm-x2 still there)", e2)
    check(bs is not None and find(bs, source="adm-x") is None
          and find(bs, destination="adm-q") is None,
          "no bindings from adm-x / to adm-q left", e3)
    rc, out, err = adm.run("delete", "queue", "name=adm-q")
    check(rc != 0 and "Not found" in (out + err), "deleting adm-q again -> 404 Not found",
          "rc=%s %r %r" % (rc, out, err))

    # --- import --------------------------------------------------------------------------
    # Only our objects go back in (shared node: never re-create/overwrite others' objects).
    mine = {
        "rabbit_version": defs.get("rabbit_version"),
        "exchanges": [o for o in ex if o.get("name", "").startswith("adm-")],
        "queues": [o for o in qu if o.get("name", "").startswith("adm-")],
        "bindings": [o for o in bi if o.get("source", "").startswith("adm-")
                     or o.get("destination", "").startswith("adm-")
                     and o.get("source", "") != ""],
    }
    mine = {k: v for k, v in mine.items() if v is not None}
    imp = os.path.join(tmpdir, "import.json")
    with open(imp, "w") as f:
        json.dump(mine, f)
    rc, out, err = adm.run("import", imp)
    check(rc == 0 and "Uploaded definitions" in out, "import FILE (adm- part of the export)",
          "rc=%s %r %r" % (rc, out, err))
    qs, e1 = adm.json("list", "queues")
    xs, e2 = adm.json("list", "exchanges")
    bs, e3 = adm.json("list", "bindings")
    check(find(xs, name="adm-x", type="topic", durable=True) is not None,
          "after import: adm-x is back (topic, durable)", e2)
    check(find(qs, name="adm-q", durable=True) is not None, "after import: adm-q is back", e1)
    check(find(bs, source="adm-x", destination="adm-q", routing_key="a.*",
               destination_type="queue") is not None
          and find(bs, source="adm-x", destination="adm-x2", routing_key="b.#",
                   destination_type="exchange") is not None,
          "after import: both bindings are back", e3)
    for args in (["delete", "queue", "name=adm-q"], ["delete", "exchange", "name=adm-x"]):
        rc, out, err = adm.run(*args)
        check(rc == 0, " ".join(args) + " (after import)", "rc=%s %r" % (rc, err))

    # --- connections / channels / close --------------------------------------------------
    connections_scenario(adm, a)


def connections_scenario(adm, a):
    try:
        import pika
    except ImportError:
        fail("pika not importable")
        return
    params = pika.URLParameters(a.amqp_url)
    params.client_properties = {"connection_name": "adm-client"}
    params.socket_timeout = 5
    params.blocked_connection_timeout = 10
    params.heartbeat = 60
    try:
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
    except Exception as e:
        fail("pika connect to %s: %r" % (a.amqp_url, e))
        return
    try:
        def find_conn():
            cs, _ = adm.json("list", "connections", "name", "user", "client_properties")
            for c in cs or []:
                if (c.get("client_properties") or {}).get("connection_name") == "adm-client":
                    return c
            conn.process_data_events(0)
            return None
        c = poll(find_conn, 15)
        check(c is not None and c.get("user") == a.user and isinstance(c.get("name"), str),
              "list connections name user client_properties shows adm-client",
              repr(c))
        if c is None:
            return
        name = c["name"]
        print("   connection name: %r" % name)
        cs, err = adm.json("list", "connections")
        full = find(cs, name=name) or {}
        check(full.get("user") == a.user and full.get("vhost") == "/"
              and full.get("protocol", "").startswith("AMQP 0-9-1")
              and full.get("client_properties", {}).get("connection_name") == "adm-client",
              "list connections (all columns): user, vhost, protocol, client_properties",
              err or repr(full)[:300])
        rc, out, err = adm.run("list", "connections")  # default table: name user channels
        check(rc == 0 and name in out, "list connections (table, default columns)",
              "rc=%s %s" % (rc, err.strip()))

        def find_chan():
            chs, _ = adm.json("list", "channels")
            for x in chs or []:
                if (x.get("connection_details") or {}).get("name") == name:
                    return x
            conn.process_data_events(0)
            return None
        chn = poll(find_chan, 15)
        check(chn is not None and chn.get("number") == 1 and chn.get("user") == a.user
              and chn.get("name") == "%s (1)" % name,
              "list channels shows channel 1 of adm-client (name 'CONN (1)')", repr(chn)[:300])
        rc, out, err = adm.run("close", "connection", "name=" + name)
        check(rc == 0 and "closed" in out, "close connection name=...",
              "rc=%s %r %r" % (rc, out, err))
        closed = None
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                conn.process_data_events(0.5)
            except pika.exceptions.ConnectionClosedByBroker as e:
                closed = e
                break
            except Exception as e:
                closed = e
                break
        code = getattr(closed, "reply_code", None)
        text = getattr(closed, "reply_text", "")
        print("   server close: %r %r" % (code, text))
        check(isinstance(closed, pika.exceptions.ConnectionClosedByBroker) and code == 320
              and text.startswith("CONNECTION_FORCED"),
              "client sees ConnectionClosedByBroker 320 CONNECTION_FORCED", repr(closed))
        gone = poll(lambda: (lambda cs: cs is not None and find(cs, name=name) is None)(
            adm.json("list", "connections", "name")[0]), 10)
        check(gone, "closed connection disappears from list connections")
    finally:
        try:
            if conn.is_open:
                conn.close()
        except Exception:
            pass


if __name__ == "__main__":
    sys.exit(main())
