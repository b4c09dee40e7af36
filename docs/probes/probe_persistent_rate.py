#!/usr/bin/env python3
"""Persistent-publish throughput: N persistent messages to durable queues under publisher confirms.

K publishers (one connection and channel each, in confirm mode) publish --count messages in
all (split evenly), delivery_mode 2, --size bytes each (8-byte sequence + 8-byte send time,
zero padded), through the default exchange to a durable queue, keeping at most --window
unconfirmed publishes in flight per publisher. The rate is messages / (last confirm - first
publish) over all publishers; confirm latency = publish -> its ack (multiple acks included).
Afterwards the queues' message counts are checked (every confirmed message must be there)
and the queues are deleted.

  --queues per-publisher  each publisher its own queue (default)
  --queues shared         all publishers the same queue
  --queue-type classic|quorum
  --client raw            pipelined raw frames (pamqp, docs/probes/rawamqp.py), one process
                          per publisher: the client costs little, the broker is measured
  --client aiormq         aiormq 7 (asyncio, all publishers in one process, a semaphore of
                          --window per channel): what a typical async client gets
  --strace-pid PID        count fsync/fdatasync of that process (the broker) during the
                          publishing with `strace -f -c` (slows the broker: use separate runs
                          for rates and for counts)

usage: probe_persistent_rate.py [--url URL] [--count 20000] [--window 256] [--size 16]
           [--publishers 1] [--queues per-publisher|shared] [--queue-type classic]
           [--client raw|aiormq] [--strace-pid PID] [--json] [--keep] [--timeout 300]
"""
import argparse
import json
import multiprocessing as mp
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import DEFAULT_URL, C, Conn, F, H  # noqa: E402


def body_for(seq, size):
    b = struct.pack(">qq", seq, time.perf_counter_ns())
    return b + b"\0" * (size - 16) if size > 16 else b[:max(size, 0)]


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


# ------------------------------------------------------------------ raw client


def raw_worker(url, queue, n, window, size, start_evt, out_q):
    """One publisher: a sliding window of `window` unconfirmed publishes, frames pipelined."""
    try:
        c = Conn(url, timeout=60)
        c.open(1)
        c.send((1, C.Confirm.Select()))
        c.expect(1, C.Confirm.SelectOk)
        method = F.marshal(C.Basic.Publish(exchange="", routing_key=queue), 1)
        header = F.marshal(H.ContentHeader(0, size, C.Basic.Properties(delivery_mode=2)), 1)
        sent_at = {}
        lat = []
        confirmed_floor = 0          # tags <= floor are confirmed
        singles = set()
        nacks = 0
        start_evt.wait()
        t0 = time.perf_counter()
        tag = 0
        while confirmed_floor + len(singles) < n:
            inflight = tag - confirmed_floor - len(singles)
            if tag < n and inflight < window:
                out = bytearray()
                while tag < n and inflight < window:
                    tag += 1
                    inflight += 1
                    body = body_for(tag, size)
                    out += method + header + struct.pack(">BHI", 3, 1, len(body)) + body + b"\xce"
                    sent_at[tag] = time.perf_counter()
                c.sock.sendall(out)
            f = c.read(timeout=30)
            if f is None:
                raise TimeoutError("no confirm for 30 s (%d of %d confirmed)" % (confirmed_floor, n))
            ch, fr = f
            name = getattr(fr, "name", "")
            if name in ("Basic.Ack", "Basic.Nack"):
                now = time.perf_counter()
                if name == "Basic.Nack":
                    nacks += 1
                if fr.multiple:
                    for t in range(confirmed_floor + 1, fr.delivery_tag + 1):
                        if t not in singles:
                            lat.append(now - sent_at.pop(t))
                    singles = {t for t in singles if t > fr.delivery_tag}
                    confirmed_floor = max(confirmed_floor, fr.delivery_tag)
                elif fr.delivery_tag > confirmed_floor:
                    singles.add(fr.delivery_tag)
                    lat.append(now - sent_at.pop(fr.delivery_tag))
                while confirmed_floor + 1 in singles:
                    confirmed_floor += 1
                    singles.discard(confirmed_floor)
            elif name in ("Channel.Close", "Connection.Close"):
                raise RuntimeError("%s %s %s" % (name, fr.reply_code, fr.reply_text))
        t1 = time.perf_counter()
        c.close()
        out_q.put({"ok": True, "t0": t0, "t1": t1, "n": n, "nacks": nacks,
                   "lat_p50_ms": 1000 * pct(lat, 50), "lat_p99_ms": 1000 * pct(lat, 99)})
    except Exception as e:  # noqa: BLE001
        out_q.put({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})


def run_raw(args, queues, counts, on_start):
    ctx = mp.get_context("fork")
    start_evt, out_q = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=raw_worker, args=(args.url, queues[i], counts[i], args.window,
                                                   args.size, start_evt, out_q))
             for i in range(args.publishers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let them connect
    on_start()
    start_evt.set()
    res = [out_q.get(timeout=args.timeout) for _ in procs]
    for p in procs:
        p.join(10)
    return res


# ------------------------------------------------------------------ aiormq client


def run_aiormq(args, queues, counts, on_start):
    import asyncio

    import aiormq
    from pamqp.commands import Basic

    async def publisher(conn, queue, n, go):
        ch = await conn.channel(publisher_confirms=True)
        sem = asyncio.Semaphore(args.window)
        lat, nacks, tasks = [], [0], []
        props = Basic.Properties(delivery_mode=2)
        await go.wait()
        t0 = time.perf_counter()

        async def one(seq):
            t = time.perf_counter()
            try:
                r = await ch.basic_publish(body_for(seq, args.size), routing_key=queue, properties=props)
                if not isinstance(r, Basic.Ack):
                    nacks[0] += 1
                lat.append(time.perf_counter() - t)
            finally:
                sem.release()

        for seq in range(1, n + 1):
            await sem.acquire()
            tasks.append(asyncio.ensure_future(one(seq)))
        await asyncio.gather(*tasks)
        t1 = time.perf_counter()
        return {"ok": True, "t0": t0, "t1": t1, "n": n, "nacks": nacks[0],
                "lat_p50_ms": 1000 * pct(lat, 50), "lat_p99_ms": 1000 * pct(lat, 99)}

    async def main():
        conns = [await aiormq.connect(args.url) for _ in range(args.publishers)]
        go = asyncio.Event()
        tasks = [asyncio.ensure_future(publisher(conns[i], queues[i], counts[i], go))
                 for i in range(args.publishers)]
        await asyncio.sleep(0.5)
        on_start()
        go.set()
        try:
            return await asyncio.wait_for(asyncio.gather(*tasks), args.timeout)
        finally:
            for c in conns:
                await c.close()

    return asyncio.run(main())


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--url", default=os.environ.get("RABBIT_URL", DEFAULT_URL))
    ap.add_argument("--count", type=int, default=20000, help="messages in all (split over publishers)")
    ap.add_argument("--window", type=int, default=256, help="unconfirmed publishes in flight per publisher")
    ap.add_argument("--size", type=int, default=16, help="body bytes")
    ap.add_argument("--publishers", type=int, default=1)
    ap.add_argument("--queues", choices=["per-publisher", "shared"], default="per-publisher")
    ap.add_argument("--queue-type", choices=["classic", "quorum"], default="classic")
    ap.add_argument("--client", choices=["raw", "aiormq"], default="raw")
    ap.add_argument("--strace-pid", type=int, help="count this process's fsync/fdatasync calls")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="leave the queues and their messages (e.g. to time a restart)")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, lambda *a: (print("probe timed out"), sys.stdout.flush(), os._exit(3)))
    signal.alarm(int(args.timeout + 60))

    tag = uuid.uuid4().hex[:6]
    nq = args.publishers if args.queues == "per-publisher" else 1
    qnames = ["probe-pr-%s-%d" % (tag, i) for i in range(nq)]
    queues = [qnames[i % nq] for i in range(args.publishers)]
    counts = [args.count // args.publishers + (1 if i < args.count % args.publishers else 0)
              for i in range(args.publishers)]
    qargs = {"x-queue-type": args.queue_type}
    admin = Conn(args.url, timeout=60)
    admin.open(1)
    for q in qnames:
        admin.send((1, C.Queue.Declare(queue=q, durable=True, arguments=qargs)))
        admin.expect(1, C.Queue.DeclareOk)

    strace = {}

    def on_start():
        if args.strace_pid:
            out = os.path.join(tempfile.gettempdir(), "probe-pr-strace-%s.txt" % tag)
            strace["out"] = out
            strace["proc"] = subprocess.Popen(
                ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-p", str(args.strace_pid), "-o", out],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2.0)  # attach to every thread before the first publish

    runner = run_raw if args.client == "raw" else run_aiormq
    res = runner(args, queues, counts, on_start)

    if strace.get("proc"):
        strace["proc"].send_signal(signal.SIGINT)
        strace["proc"].wait(30)
        calls = {}
        with open(strace["out"]) as f:
            for line in f:
                parts = line.split()
                if parts and parts[-1] in ("fsync", "fdatasync"):
                    # % time, seconds, usecs/call, calls, [errors], syscall
                    calls[parts[-1]] = int(parts[3])
        strace["calls"] = calls
        os.unlink(strace["out"])

    bad = [r for r in res if not r.get("ok")]
    report = {"client": args.client, "publishers": args.publishers, "queues": args.queues,
              "queue_type": args.queue_type, "count": args.count, "size": args.size,
              "window": args.window, "server": "%s %s" % (
                  admin.start.server_properties.get("product"), admin.start.server_properties.get("version"))}
    if bad:
        report["errors"] = [r["error"] for r in bad]
    else:
        t0 = min(r["t0"] for r in res)
        t1 = max(r["t1"] for r in res)
        report.update({
            "elapsed_s": round(t1 - t0, 3),
            "msgs_per_s": round(args.count / (t1 - t0)),
            "per_publisher_msgs_per_s": [round(r["n"] / (r["t1"] - r["t0"])) for r in res],
            "confirm_latency_p50_ms": [round(r["lat_p50_ms"], 1) for r in res],
            "confirm_latency_p99_ms": [round(r["lat_p99_ms"], 1) for r in res],
            "nacks": sum(r["nacks"] for r in res)})
    stored = {}
    for q in qnames:
        admin.send((1, C.Queue.Declare(queue=q, passive=True)))
        stored[q] = admin.expect(1, C.Queue.DeclareOk).message_count
    report["stored"] = sum(stored.values())
    if "calls" in strace:
        report["fsync_calls"] = strace["calls"]
        total = sum(strace["calls"].values())
        report["fsync_per_1000_msgs"] = round(1000.0 * total / args.count, 1)
    for q in qnames if not args.keep else []:
        admin.send((1, C.Queue.Delete(queue=q)))
        admin.expect(1, C.Queue.DeleteOk, timeout=120)
    admin.close()

    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print("%-26s %s" % (k, v))
    ok = not bad and report["stored"] == args.count and report.get("nacks") == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
