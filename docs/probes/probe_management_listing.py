#!/usr/bin/env python3
"""Does serving the management API slow message traffic? (issue: listing 10,000 queues
while the server moves messages changes its throughput by less than 10%.)

Declares N queues (pika), then alternates runs of `trackswitch perf` (end to end, one
producer and one consumer, confirms) without and with a lister thread that fetches
`GET /api/queues/%2F` (every queue, full JSON) every INTERVAL seconds (0: back to back),
and prints each run's msgs/s, the listings made and their latency, and the medians.

    python3 docs/probes/probe_management_listing.py --perf target/release/trackswitch \
        --amqp-url amqp://guest:guest@127.0.0.1:5673/ --http http://127.0.0.1:15673 \
        --queues 10000 --count 500000 --interval 1 --repeats 3

Loopback only; bounded by --count per run. Deletes its queues at the end.
"""
import argparse
import base64
import json
import statistics
import subprocess
import threading
import time
import urllib.request

import pika


def lister(http, auth, interval, stop, out):
    req = urllib.request.Request(http + "/api/queues/%2F", headers={"Authorization": auth})
    while not stop.is_set():
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=60) as r:
            items = json.loads(r.read())
        out.append((time.monotonic() - t0, len(items)))
        if interval > 0:
            stop.wait(interval)


def perf(args):
    cmd = [args.perf, "perf", "--url", args.amqp_url, "-x", "1", "-y", "1", "-c", "256",
           "-C", str(args.count), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(out.stdout)["receive_rate"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--perf", required=True)
    ap.add_argument("--amqp-url", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--user", default="guest")
    ap.add_argument("--password", default="guest")
    ap.add_argument("--queues", type=int, default=10000)
    ap.add_argument("--count", type=int, default=500000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    auth = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    conn = pika.BlockingConnection(pika.URLParameters(args.amqp_url))
    ch = conn.channel()
    for i in range(args.queues):
        ch.queue_declare(f"probe-list-{i}")
    print(f"declared {args.queues} queues")
    plain, listed = [], []
    try:
        for rep in range(args.repeats):
            rate = perf(args)
            plain.append(rate)
            print(f"run {rep + 1}: without listing {rate:,.0f} msgs/s", flush=True)
            stop, lists = threading.Event(), []
            t = threading.Thread(target=lister, args=(args.http, auth, args.interval, stop, lists))
            t.start()
            try:
                rate = perf(args)
            finally:
                stop.set()
                t.join()
            listed.append(rate)
            lat = [l for l, _ in lists]
            print(f"run {rep + 1}: with listing   {rate:,.0f} msgs/s; {len(lists)} listings of "
                  f"{lists[0][1] if lists else 0} queues, median {statistics.median(lat) * 1000:.0f} ms, "
                  f"max {max(lat) * 1000:.0f} ms" if lists else "", flush=True)
    finally:
        for i in range(args.queues):
            ch.queue_delete(f"probe-list-{i}")
        conn.close()
    a, b = statistics.median(plain), statistics.median(listed)
    print(f"median without {a:,.0f} msgs/s, with listing every {args.interval} s {b:,.0f} msgs/s: "
          f"{(b - a) / a * 100:+.1f}%")


if __name__ == "__main__":
    main()
