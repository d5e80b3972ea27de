#!/usr/bin/python3
"""Attach AMQP 1.0 receivers with Apache Qpid Proton (not streamprobe's code)
and hold them: each --link ADDRESS=CREDIT grants that much credit once (0 =
never any) and never settles what it receives, so the messages stay
unacknowledged on the broker. Prints "attached" once every link is open,
then one line "got ADDRESS N" per message; exits after --seconds.
"""
import argparse
import sys

from proton.handlers import MessagingHandler
from proton.reactor import Container


class Hold(MessagingHandler):
    def __init__(self, url, links, seconds):
        super().__init__(prefetch=0, auto_accept=False, auto_settle=False)
        self.url, self.links, self.seconds = url, links, seconds
        self.opened = 0
        self.got = {}

    def on_start(self, event):
        conn = event.container.connect(self.url, allowed_mechs="PLAIN", allow_insecure_mechs=True)
        for i, (address, credit) in enumerate(self.links):
            r = event.container.create_receiver(conn, address, name=f"hold-{i}")
            if credit > 0:
                r.flow(credit)
        event.container.schedule(self.seconds, self)

    def on_link_opened(self, event):
        if event.receiver is not None:
            self.opened += 1
            if self.opened == len(self.links):
                print("attached", flush=True)

    def on_message(self, event):
        a = event.link.source.address
        self.got[a] = self.got.get(a, 0) + 1
        print("got", a, self.got[a], flush=True)

    def on_timer_task(self, event):
        event.container.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--link", action="append", required=True, help="ADDRESS=CREDIT")
    p.add_argument("--seconds", type=float, default=60)
    a = p.parse_args()
    links = []
    for spec in a.link:
        address, _, credit = spec.rpartition("=")
        links.append((address, int(credit)))
    Container(Hold(a.url, links, a.seconds)).run()


if __name__ == "__main__":
    sys.exit(main())
