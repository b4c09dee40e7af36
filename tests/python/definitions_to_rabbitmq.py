#!/usr/bin/env python3
"""Migration check: export definitions from a source broker, import them into RabbitMQ.

What it checks (each check prints `ok: ...` / `FAIL: ...`, then `N passed, M failed`;
exit 0 only if everything passed):
  1. On the SOURCE: `PUT /api/vhosts/mig-vh`, permissions for the source user on it, then
     through AMQP (pika) in `/` and in `mig-vh`: durable exchanges of every type
     (direct, fanout, topic with an `alternate-exchange` argument, headers, plus the
     alternate exchange itself), durable queues with arguments (x-message-ttl, x-max-length,
     x-dead-letter-exchange, x-dead-letter-routing-key, x-queue-type classic), queue bindings,
     an exchange-to-exchange binding and a headers binding with arguments (x-match all).
     A user `mig-user` (password, tags `management`) via `PUT /api/users/mig-user` and its
     permissions via `PUT /api/permissions/mig-vh/mig-user`.
  2. `GET /api/definitions` from the source; checks the export contains all of the above.
  3. `POST /api/definitions` into the TARGET (RabbitMQ) -> must answer 2xx.
  4. On the target, through its API: the vhost, every mig- exchange/queue/binding from the
     export (same type, durability, auto_delete, internal, arguments), the user (same
     password_hash, hashing_algorithm, tags), the permissions; `GET /api/whoami` as mig-user
     with its password works (the hash carried over) and a wrong password is refused (401).
  5. Cleanup of all mig- objects, the vhost and the user on both sides (also on failure).
By default only the mig- part of the export is posted (the mig-vh vhost, mig- objects in
`/`, mig-user, permissions in mig-vh), with all top-level metadata keys kept, so a shared
target is not touched otherwise; `--full` posts the export unchanged.
`--same-node`: source and target are the same broker; the source's mig- objects, vhost and
user are deleted after the export and before the import.

Against RabbitMQ (source = the shared node, target = a second node):
  (cd ../shared/tools/rabbit && RABBIT_PORT=5694 RABBIT_MANAGEMENT_PORT=15694 bash start.sh --fresh)
  python3 tests/python/definitions_to_rabbitmq.py --source http://127.0.0.1:15680 \
      --source-amqp-url amqp://guest:guest@127.0.0.1:5672/ --target http://127.0.0.1:15694
  or with one node:  ... --source http://127.0.0.1:15680 --target http://127.0.0.1:15680 --same-node
Against trackswitch as the source (`trackswitch serve --management 127.0.0.1:15672`):
  python3 tests/python/definitions_to_rabbitmq.py --source http://127.0.0.1:15672 \
      --source-amqp-url amqp://guest:guest@127.0.0.1:5672/ --target http://127.0.0.1:15694
"""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PASSED = 0
FAILED = 0
DEADLINE = time.monotonic() + 55  # whole run < 1 minute

VHOSTS = ["/", "mig-vh"]
USER = "mig-user"
USER_PASSWORD = "mig-Secret-pw-1"
USER_TAGS = ["management"]
USER_PERMS = {"configure": "^mig-.*", "write": ".*", "read": ".*"}

# name -> (type, arguments)
EXCHANGES = {
    "mig-ae": ("fanout", {}),
    "mig-direct": ("direct", {}),
    "mig-fanout": ("fanout", {}),
    "mig-topic": ("topic", {"alternate-exchange": "mig-ae"}),
    "mig-headers": ("headers", {}),
}
QUEUES = {
    "mig-q-args": {"x-message-ttl": 60000, "x-max-length": 100,
                   "x-dead-letter-exchange": "mig-direct",
                   "x-dead-letter-routing-key": "dead", "x-queue-type": "classic"},
    "mig-q-dead": {"x-queue-type": "classic"},
    "mig-q-plain": {},
    "mig-q-hdr": {"x-max-length": 5},
    "mig-q-ae": {},
}
HDR_ARGS = {"x-match": "all", "format": "pdf", "type": "report"}
# (source, destination_type, destination, routing_key, arguments)
BINDINGS = [
    ("mig-direct", "queue", "mig-q-args", "k1", {}),
    ("mig-direct", "queue", "mig-q-dead", "dead", {}),
    ("mig-fanout", "queue", "mig-q-plain", "", {}),
    ("mig-topic", "queue", "mig-q-plain", "t.#", {}),
    ("mig-topic", "exchange", "mig-fanout", "e.*", {}),
    ("mig-headers", "queue", "mig-q-hdr", "", HDR_ARGS),
    ("mig-ae", "queue", "mig-q-ae", "", {}),
]


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
        fail(msg + (" -- " + str(detail)[:400] if detail else ""))
    return bool(cond)


def q(s):
    return urllib.parse.quote(s, safe="")


class Api:
    def __init__(self, base, user, password):
        self.base = base.rstrip("/")
        if self.base.endswith("/api"):
            self.base = self.base[:-4]
        self.user, self.password = user, password

    def req(self, method, path, body=None, user=None, password=None, raw=None):
        """-> (status, parsed JSON or text or None)."""
        url = self.base + "/api" + path
        data = None
        headers = {}
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        cred = "%s:%s" % (user or self.user, password if password is not None else self.password)
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        r = urllib.request.Request(url, data=data, method=method, headers=headers)
        timeout = max(1.0, min(10.0, DEADLINE - time.monotonic()))
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                status, text = resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode("utf-8", "replace")
        except Exception as e:
            return None, repr(e)
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text


def amqp_params(url, vhost):
    import pika
    p = pika.URLParameters(url)
    p.virtual_host = vhost
    p.client_properties = {"connection_name": "mig-setup"}
    p.socket_timeout = 5
    p.blocked_connection_timeout = 10
    return p


def create_on_source(src, amqp_url, src_user):
    st, body = src.req("PUT", "/vhosts/mig-vh", {"description": "migration test", "tags": ""})
    check(st in (201, 204), "source: PUT /api/vhosts/mig-vh", (st, body))
    st, body = src.req("PUT", "/permissions/mig-vh/" + q(src_user),
                       {"configure": ".*", "write": ".*", "read": ".*"})
    check(st in (201, 204), "source: PUT /api/permissions/mig-vh/%s" % src_user, (st, body))
    st, body = src.req("PUT", "/users/" + USER,
                       {"password": USER_PASSWORD, "tags": ",".join(USER_TAGS)})
    check(st in (201, 204), "source: PUT /api/users/mig-user (password, tags)", (st, body))
    st, body = src.req("PUT", "/permissions/mig-vh/" + USER, USER_PERMS)
    check(st in (201, 204), "source: PUT /api/permissions/mig-vh/mig-user", (st, body))
    st, body = src.req("GET", "/whoami", user=USER, password=USER_PASSWORD)
    check(st == 200 and isinstance(body, dict) and body.get("name") == USER,
          "source: GET /api/whoami as mig-user", (st, body))

    import pika
    for vh in VHOSTS:
        try:
            conn = pika.BlockingConnection(amqp_params(amqp_url, vh))
        except Exception as e:
            fail("source: AMQP connect to vhost %r: %r" % (vh, e))
            continue
        try:
            ch = conn.channel()
            for name, (typ, args) in EXCHANGES.items():
                ch.exchange_declare(name, exchange_type=typ, durable=True, arguments=args or None)
            for name, args in QUEUES.items():
                ch.queue_declare(name, durable=True, arguments=args or None)
            for s, dt, d, rk, args in BINDINGS:
                if dt == "queue":
                    ch.queue_bind(d, s, routing_key=rk, arguments=args or None)
                else:
                    ch.exchange_bind(d, s, routing_key=rk, arguments=args or None)
            ok("source: AMQP declared %d exchanges, %d queues, %d bindings in vhost %r"
               % (len(EXCHANGES), len(QUEUES), len(BINDINGS), vh))
        except Exception as e:
            fail("source: AMQP declarations in vhost %r: %r" % (vh, e))
        finally:
            try:
                conn.close()
            except Exception:
                pass


def find(items, **kv):
    for it in items or []:
        if isinstance(it, dict) and all(it.get(k) == v for k, v in kv.items()):
            return it
    return None


def tags_of(v):
    if isinstance(v, list):
        return sorted(v)
    if isinstance(v, str):
        return sorted(t for t in v.split(",") if t)
    return v


def check_export(defs):
    ok_all = True
    for vh in VHOSTS:
        for name, (typ, args) in EXCHANGES.items():
            e = find(defs.get("exchanges"), vhost=vh, name=name)
            good = (e is not None and e.get("type") == typ and e.get("durable") is True
                    and e.get("auto_delete") is False and e.get("internal") is False
                    and e.get("arguments") == args)
            ok_all &= check(good, "export: exchange %s/%s %s args %s" % (vh, name, typ, args), e)
        for name, args in QUEUES.items():
            x = find(defs.get("queues"), vhost=vh, name=name)
            good = (x is not None and x.get("durable") is True and x.get("auto_delete") is False
                    and x.get("arguments") == args)
            ok_all &= check(good, "export: queue %s/%s args %s" % (vh, name, args), x)
        for s, dt, d, rk, args in BINDINGS:
            b = find(defs.get("bindings"), vhost=vh, source=s, destination=d,
                     destination_type=dt, routing_key=rk)
            ok_all &= check(b is not None and b.get("arguments") == args,
                            "export: binding %s %s -> %s %s %r" % (vh, s, dt, d, rk), b)
    check(find(defs.get("vhosts"), name="mig-vh") is not None, "export: vhost mig-vh")
    u = find(defs.get("users"), name=USER)
    check(u is not None and isinstance(u.get("password_hash"), str) and u["password_hash"]
          and isinstance(u.get("hashing_algorithm"), str)
          and tags_of(u.get("tags")) == USER_TAGS,
          "export: user mig-user with password_hash, hashing_algorithm, tags", u)
    p = find(defs.get("permissions"), user=USER, vhost="mig-vh")
    check(p is not None and all(p.get(k) == v for k, v in USER_PERMS.items()),
          "export: permissions mig-user@mig-vh", p)
    return ok_all


def is_mine(section, o):
    if not isinstance(o, dict):
        return False
    if section == "vhosts":
        return o.get("name") == "mig-vh"
    if section == "users":
        return str(o.get("name", "")).startswith("mig-")
    if section in ("permissions", "topic_permissions"):
        return o.get("vhost") == "mig-vh" or str(o.get("user", "")).startswith("mig-")
    if o.get("vhost") == "mig-vh":
        return True
    if section == "bindings":
        return (str(o.get("source", "")).startswith("mig-")
                or str(o.get("destination", "")).startswith("mig-"))
    return str(o.get("name", "")).startswith("mig-")


def filter_defs(defs):
    out = {}
    for k, v in defs.items():
        if k == "global_parameters":
            continue  # cluster_name / internal_cluster_id belong to the source node
        if isinstance(v, list) and k in ("vhosts", "users", "permissions", "topic_permissions",
                                          "exchanges", "queues", "bindings", "parameters",
                                          "policies"):
            out[k] = [o for o in v if is_mine(k, o)]
        else:
            out[k] = v
    return out


def verify_target(tgt, defs):
    # vhost (the import may be applied asynchronously by some servers: poll briefly)
    end = time.monotonic() + 5
    while True:
        st, body = tgt.req("GET", "/vhosts/mig-vh")
        if st == 200 or time.monotonic() > end:
            break
        time.sleep(0.3)
    check(st == 200 and isinstance(body, dict) and body.get("name") == "mig-vh",
          "target: GET /api/vhosts/mig-vh", (st, body))

    for e in [o for o in defs.get("exchanges", []) if is_mine("exchanges", o)]:
        st, t = tgt.req("GET", "/exchanges/%s/%s" % (q(e["vhost"]), q(e["name"])))
        good = st == 200 and isinstance(t, dict) and all(
            t.get(k) == e.get(k) for k in ("name", "vhost", "type", "durable", "auto_delete",
                                           "internal", "arguments"))
        check(good, "target: exchange %s/%s %s durable=%s arguments=%s"
              % (e["vhost"], e["name"], e.get("type"), e.get("durable"), e.get("arguments")),
              (st, t))
    for x in [o for o in defs.get("queues", []) if is_mine("queues", o)]:
        st, t = tgt.req("GET", "/queues/%s/%s" % (q(x["vhost"]), q(x["name"])))
        good = st == 200 and isinstance(t, dict) and all(
            t.get(k) == x.get(k) for k in ("name", "vhost", "durable", "auto_delete",
                                           "arguments"))
        check(good, "target: queue %s/%s durable=%s arguments=%s"
              % (x["vhost"], x["name"], x.get("durable"), x.get("arguments")),
              (st, t if not isinstance(t, dict) else {k: t.get(k) for k in
                                                     ("durable", "auto_delete", "arguments")}))
    for b in [o for o in defs.get("bindings", []) if is_mine("bindings", o)]:
        dc = "q" if b["destination_type"] == "queue" else "e"
        st, t = tgt.req("GET", "/bindings/%s/e/%s/%s/%s" % (q(b["vhost"]), q(b["source"]), dc,
                                                           q(b["destination"])))
        m = find(t if isinstance(t, list) else [], routing_key=b["routing_key"],
                 arguments=b.get("arguments", {}), destination_type=b["destination_type"])
        check(st == 200 and m is not None,
              "target: binding %s %s -> %s %s %r args %s" % (
                  b["vhost"], b["source"], b["destination_type"], b["destination"],
                  b["routing_key"], b.get("arguments")), (st, t))

    u = find(defs.get("users"), name=USER) or {}
    st, t = tgt.req("GET", "/users/" + USER)
    check(st == 200 and isinstance(t, dict) and t.get("password_hash") == u.get("password_hash")
          and t.get("hashing_algorithm") == u.get("hashing_algorithm")
          and tags_of(t.get("tags")) == tags_of(u.get("tags")),
          "target: user mig-user (same password_hash, hashing_algorithm, tags)", (st, t))
    for p in [o for o in defs.get("permissions", []) if is_mine("permissions", o)]:
        st, t = tgt.req("GET", "/permissions/%s/%s" % (q(p["vhost"]), q(p["user"])))
        check(st == 200 and isinstance(t, dict)
              and all(t.get(k) == p.get(k) for k in ("configure", "write", "read")),
              "target: permissions %s@%s %s/%s/%s" % (p["user"], p["vhost"], p.get("configure"),
                                                      p.get("write"), p.get("read")), (st, t))
    st, t = tgt.req("GET", "/whoami", user=USER, password=USER_PASSWORD)
    check(st == 200 and isinstance(t, dict) and t.get("name") == USER
          and tags_of(t.get("tags")) == USER_TAGS,
          "target: GET /api/whoami as mig-user with its password (hash carried over)", (st, t))
    st, t = tgt.req("GET", "/whoami", user=USER, password="wrong-" + USER_PASSWORD)
    check(st == 401, "target: GET /api/whoami as mig-user with a wrong password -> 401", (st, t))


def delete_mine(api, label, report=True):
    """Delete what this script creates: mig- objects in '/', the mig-vh vhost, mig-user."""
    errors = []
    for name in QUEUES:
        st, _ = api.req("DELETE", "/queues/%2F/" + name)
        if st not in (204, 404):
            errors.append(("queue", name, st))
    for name in EXCHANGES:
        st, _ = api.req("DELETE", "/exchanges/%2F/" + name)
        if st not in (204, 404):
            errors.append(("exchange", name, st))
    st, _ = api.req("DELETE", "/vhosts/mig-vh")
    if st not in (204, 404):
        errors.append(("vhost", "mig-vh", st))
    st, _ = api.req("DELETE", "/users/" + USER)
    if st not in (204, 404):
        errors.append(("user", USER, st))
    if not report:
        return
    st1, qs = api.req("GET", "/queues/%2F?columns=name")
    st2, xs = api.req("GET", "/exchanges/%2F?columns=name")
    st3, vh = api.req("GET", "/vhosts/mig-vh")
    st4, us = api.req("GET", "/users/" + USER)
    left = [o.get("name") for o in (qs if isinstance(qs, list) else []) +
            (xs if isinstance(xs, list) else []) if o.get("name") in QUEUES or
            o.get("name") in EXCHANGES]
    check(not errors and not left and st1 == 200 and st2 == 200 and st3 == 404 and st4 == 404,
          "%s: cleanup (mig- queues/exchanges in /, vhost mig-vh, user mig-user gone)" % label,
          {"errors": errors, "left": left, "vhost": st3, "user": st4})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="http://127.0.0.1:15672")
    ap.add_argument("--source-amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    ap.add_argument("--target", default="http://127.0.0.1:15694")
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    ap.add_argument("--source-user")
    ap.add_argument("--source-password")
    ap.add_argument("--target-user")
    ap.add_argument("--target-password")
    ap.add_argument("--same-node", action="store_true",
                    help="source and target are one broker: delete the source's mig- objects "
                         "between export and import")
    ap.add_argument("--full", action="store_true",
                    help="post the export unchanged (default: only its mig- part)")
    a = ap.parse_args()
    try:
        import pika  # noqa: F401
    except ImportError:
        print("ERROR: pika is required", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2
    src_user = a.source_user or a.user
    src = Api(a.source, src_user, a.source_password or a.password)
    tgt = Api(a.target, a.target_user or a.user, a.target_password or a.password)
    same = a.same_node or src.base == tgt.base
    if same and not a.same_node:
        print("note: source == target, running in --same-node mode")
    try:
        st, ov = tgt.req("GET", "/overview")
        check(st == 200 and isinstance(ov, dict), "target: GET /api/overview (%s %s)" % (
            (ov or {}).get("product_name", "?") if isinstance(ov, dict) else "?",
            (ov or {}).get("rabbitmq_version", "?") if isinstance(ov, dict) else "?"), (st, ov))
        if not same:
            delete_mine(tgt, "target (before)", report=False)  # leftovers of an earlier run
        create_on_source(src, a.source_amqp_url, src_user)

        st, defs = src.req("GET", "/definitions")
        check(st == 200 and isinstance(defs, dict), "source: GET /api/definitions", (st,))
        defs = defs if isinstance(defs, dict) else {}
        check_export(defs)

        if same:
            delete_mine(src, "source (same node, before import)")
        payload = defs if a.full else filter_defs(defs)
        raw = json.dumps(payload).encode()
        st, body = tgt.req("POST", "/definitions", raw=raw)
        check(st is not None and 200 <= st < 300,
              "target: POST /api/definitions (%s, %d bytes) -> %s" % (
                  "full export" if a.full else "mig- part of the export", len(raw), st), body)
        verify_target(tgt, defs)
    except Exception as e:
        fail("unexpected exception: %r" % (e,))
    finally:
        delete_mine(src, "source")
        if not same:
            delete_mine(tgt, "target")
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 and PASSED > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
