#!/usr/bin/python3
"""Ground truth for AMQP 1.0: receive messages with Apache Qpid Proton (not
streamprobe's code) and print one JSON object per message on stdout.

Receives from --address until --count messages arrived and then --quiet
seconds passed without another (to catch extras), or --timeout passed.
Every message is accepted (removed from the queue).
"""
import argparse
import json
import sys
import time

from proton import Message, symbol
from proton.handlers import MessagingHandler
from proton.reactor import Container


def jsonable(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def content_type(m):
    # proton 0.37 wraps an unset content type as symbol(None) == "None"
    ct = m.content_type
    return None if ct is None or str(ct) in ("", "None") else str(ct)


class Drain(MessagingHandler):
    def __init__(self, url, address, count, quiet, timeout, ca=None):
        super().__init__(prefetch=500, auto_accept=True)
        self.url, self.address, self.count = url, address, count
        self.ca = ca
        self.quiet, self.deadline = quiet, time.monotonic() + timeout
        self.got = 0
        self.last = time.monotonic()

    def on_start(self, event):
        ssl = None
        if self.ca:  # amqps: trust this CA and check the host name
            from proton import SSLDomain
            ssl = SSLDomain(SSLDomain.MODE_CLIENT)
            ssl.set_trusted_ca_db(self.ca)
            ssl.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        self.conn = event.container.connect(
            self.url, allowed_mechs="PLAIN", allow_insecure_mechs=True, ssl_domain=ssl
        )
        event.container.create_receiver(self.conn, self.address)
        self.timer = event.container.schedule(0.2, self)

    def on_timer_task(self, event):
        now = time.monotonic()
        if now > self.deadline or (self.got >= self.count and now - self.last >= self.quiet):
            self.conn.close()
            return
        self.timer = event.container.schedule(0.2, self)

    def on_transport_error(self, event):
        # a TLS or login failure must fail the test, not read as "no message"
        cond = event.transport.condition
        sys.stderr.write(f"amqp_drain.py: transport error: {cond}\n")
        sys.exit(3)

    def on_message(self, event):
        m = event.message
        body = m.body
        if isinstance(body, (bytes, bytearray, memoryview)):
            kind, raw = "data", bytes(body)
        elif isinstance(body, str):
            kind, raw = "value-string", body.encode()
        elif body is None:
            kind, raw = "none", b""
        else:
            kind, raw = "other", repr(body).encode()
        print(json.dumps({
            "body_type": kind,
            "body_hex": raw.hex(),
            "content_type": content_type(m),
            "properties": jsonable(m.properties or {}),
            "annotations": jsonable(m.annotations or {}),
        }), flush=True)
        self.got += 1
        self.last = time.monotonic()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--address", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--quiet", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--ca", help="CA file (PEM) for an amqps:// URL")
    a = p.parse_args()
    Container(Drain(a.url, a.address, a.count, a.quiet, a.timeout, a.ca)).run()


if __name__ == "__main__":
    sys.exit(main())
