#!/usr/bin/env python3
"""trackswitch serve against RabbitMQ with `trackswitch perf` as the loader for both:
every scenario runs on one server, then the other, back to back, in one invocation.

    python3 docs/perf/compare.py \\
        --ours amqp://guest:guest@127.0.0.1:5673/ --ours-pid PID \\
        --rabbit amqp://guest:guest@127.0.0.1:5672/ --rabbit-pid PID \\
        [--perf target/release/trackswitch] [--count 200000] [--quick] [--out docs/perf]
    python3 docs/perf/compare.py --plot-only      # redraw the plot and the table

Writes OUT/perf-report.json (every perf summary), OUT/perf-report.svg (msgs/s per
scenario, ours vs RabbitMQ) and prints a Markdown table. The server pids give each
server's CPU time per message (from /proc, read by perf). Standard library only.

Scenarios (16-byte bodies; COUNT messages per producer; a window of 256 unconfirmed
publishes where confirms are on):
  publish 1c / 4c         -x 1|4 -y 0                        publish only
  confirm 1c / 4c         -x 1|4 -y 0 -c 256                 publish with confirms
  consume 1c / 4c         -x 1|4 -y 1|4 -c 256 --backlog     the queue filled first (COUNT
                                                             messages in all), then drained
                                                             (consume + ack)
  end-to-end 1c / 4c      -x 1|4 -y 1|4 -c 256               publish, deliver, ack at once
  latency 10k/s           -x 1 -y 1 -r 10000 -z 10           p50/p99 at a fixed rate
  topic 10k / 100k        -x 1 -y 1 -c 256 -t topic -b N     vs the direct end-to-end 1c
"""

import argparse
import html
import json
import os
import subprocess
import sys


def scenarios(count, quick):
    c = str(count)
    rows = [
        ("publish 1c", ["-x", "1", "-y", "0", "-C", c], "send_rate"),
        ("publish 4c", ["-x", "4", "-y", "0", "-C", c], "send_rate"),
        ("confirm 1c", ["-x", "1", "-y", "0", "-c", "256", "-C", c], "send_rate"),
        ("confirm 4c", ["-x", "4", "-y", "0", "-c", "256", "-C", c], "send_rate"),
        ("consume 1c", ["-x", "1", "-y", "1", "-c", "256", "--backlog", "-C", c], "receive_rate"),
        # A quarter each: the same backlog as with one producer (four times it would
        # pass trackswitch's default 1 GiB memory watermark and block the producers).
        ("consume 4c", ["-x", "4", "-y", "4", "-c", "256", "--backlog", "-C", str(count // 4)],
         "receive_rate"),
        ("end-to-end 1c", ["-x", "1", "-y", "1", "-c", "256", "-C", c], "receive_rate"),
        ("end-to-end 4c", ["-x", "4", "-y", "4", "-c", "256", "-C", c], "receive_rate"),
        ("latency 10k/s", ["-x", "1", "-y", "1", "-r", "10000", "-z", "3" if quick else "10"],
         "receive_rate"),
        ("topic 10k", ["-x", "1", "-y", "1", "-c", "256", "-t", "topic", "-b", "10000", "-C", c],
         "receive_rate"),
    ]
    if not quick:
        rows.append(("topic 100k", ["-x", "1", "-y", "1", "-c", "256", "-t", "topic", "-b",
                                    "100000", "-C", c], "receive_rate"))
    return rows


def run(perf, url, pid, flags):
    cmd = [perf, "perf", "--json", "--quiet", "--url", url] + flags
    if pid:
        cmd += ["--server-pid", str(pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


def fmt_rate(v):
    return f"{v:,.0f}"


def fmt_us(v):
    return "-" if v is None else f"{v:.2f} us"


def cpu(s):
    """The server CPU per message that matters for a scenario."""
    if s.get("backlog"):
        return s.get("server_cpu_us_per_delivery")
    return s.get("server_cpu_us_per_msg")


def svg(rows, path):
    """Horizontal bars, two per scenario, on a log scale of msgs/s."""
    import math

    width, left, bar, gap = 860, 150, 14, 12
    height = 60 + len(rows) * (2 * bar + gap) + 40
    lo, hi = 1e3, max(max(o, r) for _, o, r in rows) * 1.5
    scale = lambda v: left + (width - left - 120) * (math.log10(max(v, lo)) - math.log10(lo)) / (
        math.log10(hi) - math.log10(lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="10" y="20" font-size="14">msgs/s, trackswitch serve vs RabbitMQ 3.10.8, '
           'loader trackswitch perf, one run (log scale)</text>',
           '<rect x="10" y="32" width="12" height="12" fill="#2b7bba"/>'
           '<text x="26" y="43">trackswitch</text>',
           '<rect x="110" y="32" width="12" height="12" fill="#f28e2b"/>'
           '<text x="126" y="43">RabbitMQ</text>']
    y = 60
    for name, ours, rabbit in rows:
        out.append(f'<text x="10" y="{y + bar + 4}">{html.escape(name)}</text>')
        for v, color, dy in ((ours, "#2b7bba", 0), (rabbit, "#f28e2b", bar)):
            x1 = scale(v)
            out.append(f'<rect x="{left}" y="{y + dy}" width="{x1 - left:.1f}" height="{bar - 2}" '
                       f'fill="{color}"/>')
            out.append(f'<text x="{x1 + 4:.1f}" y="{y + dy + bar - 4}">{fmt_rate(v)}</text>')
        y += 2 * bar + gap
    for tick in (1e3, 1e4, 1e5, 1e6, 1e7):
        if tick <= hi:
            x = scale(tick)
            out.append(f'<line x1="{x:.1f}" y1="55" x2="{x:.1f}" y2="{y}" stroke="#ccc"/>')
            label = {1e3: "1k", 1e4: "10k", 1e5: "100k", 1e6: "1M", 1e7: "10M"}[tick]
            out.append(f'<text x="{x - 10:.1f}" y="{y + 14}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", help="trackswitch serve's amqp:// URL")
    ap.add_argument("--ours-pid", type=int, help="trackswitch serve's pid (CPU per message)")
    ap.add_argument("--rabbit", help="RabbitMQ's amqp:// URL")
    ap.add_argument("--rabbit-pid", type=int, help="RabbitMQ's beam pid (CPU per message)")
    ap.add_argument("--perf", default="target/release/trackswitch", help="the trackswitch binary")
    ap.add_argument("--count", type=int, default=200000, help="messages per producer")
    ap.add_argument("--quick", action="store_true", help="shorter runs, no 100k-binding topic")
    ap.add_argument("--only", help="run only scenarios whose name contains this")
    ap.add_argument("--out", default="docs/perf", help="where the JSON and SVG go")
    ap.add_argument("--plot-only", action="store_true",
                    help="run nothing: redraw OUT/perf-report.svg and reprint the table from "
                         "OUT/perf-report.json")
    a = ap.parse_args()
    if a.plot_only:
        with open(os.path.join(a.out, "perf-report.json")) as f:
            report(json.load(f), a.out)
        return
    if not (a.ours and a.rabbit):
        sys.exit("--ours and --rabbit are needed (or --plot-only)")
    if not os.path.exists(a.perf):
        sys.exit(f"{a.perf} is missing: cargo build --release first")
    results = []
    for name, flags, metric in scenarios(a.count, a.quick):
        if a.only and a.only not in name:
            continue
        ours = run(a.perf, a.ours, a.ours_pid, flags)
        rabbit = run(a.perf, a.rabbit, a.rabbit_pid, flags)
        results.append({"scenario": name, "flags": flags, "metric": metric,
                        "trackswitch": ours, "rabbitmq": rabbit})
        print(f"{name}: {fmt_rate(ours[metric])} vs {fmt_rate(rabbit[metric])} msgs/s",
              file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "perf-report.json"), "w") as f:
        json.dump(results, f, indent=1)
    report(results, a.out)


def report(results, out):
    """The plot and the Markdown table of a run's results."""
    svg([(r["scenario"], r["trackswitch"][r["metric"]], r["rabbitmq"][r["metric"]])
         for r in results], os.path.join(out, "perf-report.svg"))
    print("| scenario | `trackswitch perf` flags | trackswitch msgs/s | RabbitMQ msgs/s | ratio "
          "| server CPU/msg, ours | RabbitMQ | CPU ratio | p50 / p99 ours | p50 / p99 RabbitMQ |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        o, b, m = r["trackswitch"], r["rabbitmq"], r["metric"]
        co, cb = cpu(o), cpu(b)
        ratio = f"{cb / co:.1f}x" if co and cb else "-"
        lat = lambda s: ("-" if s.get("latency_p50_us") is None else
                         f"{s['latency_p50_us'] / 1000:.2f} / {s['latency_p99_us'] / 1000:.2f} ms")
        print(f"| {r['scenario']} | `{' '.join(r['flags'])}` | {fmt_rate(o[m])} | {fmt_rate(b[m])} "
              f"| {o[m] / max(b[m], 1e-9):.1f}x | {fmt_us(co)} | {fmt_us(cb)} | {ratio} "
              f"| {lat(o)} | {lat(b)} |")


if __name__ == "__main__":
    main()
