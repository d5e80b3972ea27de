#!/usr/bin/env python3
"""Summary of scripts/bench.sh parts (b), (c), (d) and (r) from its output
folder: every figure as the median and min–max over the rounds, and each
ratio taken per round (the cases of one round run back to back) and then
summarised the same way.

Files read (NAME is the case, R the round):
  NAME_R.json  the probe's --json report of the timed run
  NAME_R.cpu   "TICKS KB": the engine's CPU clock ticks (user + system) over
               the timed run, and its peak RSS (VmHWM) at the end
  mem.json, mem.time  part (d): the probe's report and /usr/bin/time -v
"""

import json
import os
import statistics
import sys

OUT = sys.argv[1]
PARTS = sys.argv[2]
ROUNDS = (1, 2, 3)
TCK = os.sysconf("SC_CLK_TCK")


def load(name, r):
    try:
        with open(f"{OUT}/{name}_{r}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cpu(name, r):
    """(CPU seconds over the timed run, peak RSS MB) or None."""
    try:
        ticks, kb = open(f"{OUT}/{name}_{r}.cpu").read().split()
        return int(ticks) / TCK, int(kb) / 1024
    except (OSError, ValueError):
        return None


def spread(values, fmt="%.0f"):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    med = fmt % statistics.median(values)
    if len(values) == 1:
        return med
    return f"{med} ({fmt % min(values)}–{fmt % max(values)})"


def slowest(r):
    """The slowest destination's msg/s, None when a probe failed."""
    if r is None or not r["passed"]:
        return None
    return min(d["throughput_per_s"] for d in r["destinations"])


def passed(name):
    runs = [load(name, r) for r in ROUNDS]
    ok = sum(1 for r in runs if r and r["passed"])
    return f"{ok}/{len(runs)} passed"


def part_b():
    for cfg, what in (
        ("seed", "seed settings: credit 64, kafka max_in_flight 1"),
        ("tuned", "tuned: credit 256, kafka max_in_flight 64"),
    ):
        rates = {
            c: [slowest(load(f"b_{cfg}_{c}", r)) for r in ROUNDS]
            for c in ("hop_amqp", "hop_kafka", "fanout")
        }
        print(f"(b) {what}")
        for c, label in (
            ("hop_amqp", "hop EXTERNAL → AMQP "),
            ("hop_kafka", "hop EXTERNAL → Kafka"),
            ("fanout", "fan-out (slowest)   "),
        ):
            print(f"    {label} {spread(rates[c])} msg/s   [{passed(f'b_{cfg}_{c}')}]")
        ratios = []
        for f, a, k in zip(rates["fanout"], rates["hop_amqp"], rates["hop_kafka"]):
            if None not in (f, a, k):
                ratios.append(f / min(a, k))
        print(f"    fan-out / slowest hop: {spread(ratios, '%.2f')}  (target ≥ 0.90)")


def latency(r, i=None):
    """p50 and p99 (ms) of destination i, or of the slowest destination."""
    if r is None or not r["passed"]:
        return None, None
    ds = r["destinations"] if i is None else [r["destinations"][i]]
    l = [d["latency_us"] for d in ds if d["latency_us"]]
    if not l:
        return None, None
    return max(x["p50"] for x in l) / 1000, max(x["p99"] for x in l) / 1000


def part_c():
    runs = [load("c_rate", r) for r in ROUNDS]
    for i, name in enumerate(("Kafka", "AMQP")):
        p50 = [latency(r, i)[0] for r in runs]
        p99 = [latency(r, i)[1] for r in runs]
        print(f"(c) at 1,000 msg/s, tuned, {name}: p50 {spread(p50, '%.1f')} ms, p99 {spread(p99, '%.1f')} ms   [{passed('c_rate')}]")


def part_d():
    try:
        r = json.load(open(f"{OUT}/mem.json"))
    except (OSError, ValueError):
        print("(d) memory: skipped (MEM_N=0) or no report")
        return
    rss = "n/a"
    for line in open(f"{OUT}/mem.time"):
        if "Maximum resident set size" in line:
            rss = "%.0f MB" % (int(line.split(":")[1]) / 1024)
    print(f"(d) peak RSS of streamprobe probe, {r['sent']} probes: {rss}")
    for d in r["destinations"]:
        total = d["received"] + d["lost"] + d["late"]
        sums = "adds up" if total == r["sent"] else f"DOES NOT ADD UP (differs by {r['sent'] - total})"
        print(
            f"    {d['name']}: sent {r['sent']} = received {d['received']} + lost {d['lost']}"
            f" + late {d['late']}: {sums}; duplicates {d['duplicates']}"
        )


def part_r():
    engines = ["streamprobe"] + (["bento"] if os.environ.get("BENTO") else [])
    paced_n = int(os.environ.get("PACED_N", "5000"))
    print(f"(r) runner CPU at 500 msg/s paced, seed settings ({paced_n} messages)")
    us = [c[0] * 1e6 / paced_n if c else None for c in (cpu("r_streamprobe_seed_paced", r) for r in ROUNDS)]
    print(f"    streamprobe pipeline: {spread(us)} µs CPU per message (target ≤ 60)   [{passed('r_streamprobe_seed_paced')}]")
    figures = {}
    for e in engines:
        tp = [slowest(load(f"r_{e}_c1", r)) for r in ROUNDS]
        n = [load(f"r_{e}_c1", r) for r in ROUNDS]
        tp_cpu = [
            (c[0] * 1e6 / x["sent"]) if c and x else None
            for c, x in zip((cpu(f"r_{e}_c1", r) for r in ROUNDS), n)
        ]
        paced = [load(f"r_{e}_paced", r) for r in ROUNDS]
        p_cpu = [c[0] if c else None for c in (cpu(f"r_{e}_paced", r) for r in ROUNDS)]
        rss = [c[1] if c else None for c in (cpu(f"r_{e}_paced", r) for r in ROUNDS)]
        figures[e] = (tp, tp_cpu, p_cpu)
        print(f"    {e}, credit 1 unpaced: {spread(tp)} msg/s, {spread(tp_cpu)} µs CPU per message   [{passed(f'r_{e}_c1')}]")
        print(
            f"    {e}, credit 1 at 500 msg/s: p50 {spread([latency(r)[0] for r in paced], '%.1f')} ms,"
            f" p99 {spread([latency(r)[1] for r in paced], '%.1f')} ms, {spread(p_cpu, '%.2f')} CPU s,"
            f" peak RSS {spread(rss)} MB   [{passed(f'r_{e}_paced')}]"
        )
    if "bento" in figures:
        (tp, tc, pc), (btp, btc, bpc) = figures["streamprobe"], figures["bento"]
        ratio = lambda a, b: [x / y for x, y in zip(a, b) if x is not None and y]
        print(f"    streamprobe / bento: throughput {spread(ratio(tp, btp), '%.2f')} (target ≥ 1.5),"
              f" CPU per message {spread(ratio(tc, btc), '%.2f')} (target ≤ 0.5),"
              f" paced CPU {spread(ratio(pc, bpc), '%.2f')}")


for p, f in (("b", part_b), ("c", part_c), ("d", part_d), ("r", part_r)):
    if p in PARTS:
        f()
