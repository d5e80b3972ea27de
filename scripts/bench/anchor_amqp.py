#!/usr/bin/python3
"""The bench's independent anchor for latency (scripts/bench.sh part e):
Apache Qpid Proton, not streamprobe's code, times the same EXTERNAL → AMQP
hop the same way the probe does: paced sends at --rate, latency from each
message's INTENDED send time (time.monotonic) to its arrival at --target.

A sender thread and a receiver thread, each with its own blocking
connection. Prints one JSON object: latency p50/p99/max in microseconds,
the sender lag (actual − intended send time) p50/p99, received and sent.
"""
import argparse
import json
import threading
import time

from proton import Message
from proton.utils import BlockingConnection


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672")
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()

    intended = {}
    latency = []
    lag = []
    rconn = BlockingConnection(a.url, timeout=10)
    receiver = rconn.create_receiver(a.target, credit=256)
    sconn = BlockingConnection(a.url, timeout=10)
    sender = sconn.create_sender(a.source)
    run = "anchor-%d" % int(time.time() * 1000)
    done = threading.Event()

    def receive():
        deadline = time.monotonic() + a.timeout
        while len(latency) < a.count and time.monotonic() < deadline:
            try:
                m = receiver.receive(timeout=1)
            except Exception:  # proton.Timeout: nothing within 1 s
                continue
            now = time.monotonic()
            receiver.accept()
            try:
                body = json.loads(m.body)
            except Exception:
                continue
            if body.get("run") != run:
                continue
            t = intended.get(body.get("seq"))
            if t is not None:
                latency.append((now - t) * 1e6)
        done.set()

    rt = threading.Thread(target=receive)
    rt.start()
    start = time.monotonic() + 0.1
    for seq in range(a.count):
        due = start + seq / a.rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        intended[seq] = due
        lag.append((time.monotonic() - due) * 1e6)
        sender.send(Message(body=json.dumps({"run": run, "seq": seq})))
    done.wait(a.timeout)
    rt.join(1)
    sconn.close()
    rconn.close()
    print(json.dumps({
        "sent": a.count,
        "received": len(latency),
        "latency_us": {"p50": pct(latency, 0.5), "p99": pct(latency, 0.99),
                       "max": max(latency) if latency else None},
        "sender_lag_us": {"p50": pct(lag, 0.5), "p99": pct(lag, 0.99)},
    }))


if __name__ == "__main__":
    main()
