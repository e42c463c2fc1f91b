# SPDX-License-Identifier: MIT
# Two workers under a query loop while the configuration is reloaded 100 times with changing
# routes: no answer is lost, and every answer comes from a backend that a configuration in
# force while the query was on its way allowed.

import socket
import threading
import time

import dns.message
import dns.rcode

import dnsr
from dnsr import route_zone

RELOADS = 100
POOLS = [["ns1"], ["ns2"], ["ns3"], ["ns1", "ns2"], ["ns2", "ns3"]]


def _conf(ns1, ns2, ns3, k):
    routes = [route_zone("example.", POOLS[k % len(POOLS)])]
    # The number of routes changes too, so route indices shift between snapshots.
    routes += [route_zone("d%d.invalid." % i, ["ns3"]) for i in range(k % 7)]
    routes.append(route_zone(".", ["ns1"]))
    return {
        "workers": 2,
        "timeout": "2s",
        "backends": [{"name": "ns1", "address": ns1.addr4},
                     {"name": "ns2", "address": ns2.addr4},
                     {"name": "ns3", "address": ns3.addr4}],
        "routes": routes,
    }


class TimedLoop(threading.Thread):
    """Sequential UDP queries, each recorded with its send and receive time."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.answers = []        # (sent, received, backend)
        self.failures = []
        self.halt = threading.Event()

    def run(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", self.port))
            s.settimeout(5)
            i = 0
            while not self.halt.is_set() and i < 200000:
                i += 1
                q = dnsr.query("q%d.example." % i, qid=i & 0xFFFF)
                wire = q.to_wire()
                sent = time.monotonic()
                s.send(wire)
                try:
                    data = s.recv(65535)
                    while data[:2] != wire[:2]:
                        data = s.recv(65535)
                except socket.timeout:
                    self.failures.append("query %d: no answer" % i)
                    continue
                received = time.monotonic()
                msg = dns.message.from_wire(data)
                if msg.rcode() != dns.rcode.NOERROR or msg.question != q.question:
                    self.failures.append("query %d: %s" % (i, dnsr.rcode_text(msg)))
                    continue
                self.answers.append((sent, received, dnsr.who(msg)))


def test_hundred_reloads_under_load(router, ns1, ns2, ns3):
    r = router(_conf(ns1, ns2, ns3, 0))
    # windows[k] = (time config k may start serving, time config k+1 was seen serving)
    starts = [time.monotonic()]
    seen = [time.monotonic()]
    loop = TimedLoop(r.port)
    loop.start()
    try:
        dnsr.wait_for(lambda: len(loop.answers) >= 20, 5, what="query loop running")
        for k in range(1, RELOADS + 1):
            starts.append(time.monotonic())
            r.reload(_conf(ns1, ns2, ns3, k))
            marker = "(generation %d)" % (k + 1)
            dnsr.wait_for(lambda: marker in r.log(), 5, interval=0.002,
                          what="reload %d applied" % k)
            seen.append(time.monotonic())
        mark = len(loop.answers)
        dnsr.wait_for(lambda: len(loop.answers) >= mark + 20, 5, what="answers after the last reload")
    finally:
        loop.halt.set()
        loop.join(10)
    assert not loop.failures, loop.failures[:10]
    assert r.alive()
    assert len(loop.answers) > 200, "too few queries ran across the reloads"
    wrong = []
    for sent, received, backend in loop.answers:
        allowed = set()
        for k in range(RELOADS + 1):
            # config k served from its SIGHUP until config k+1 was seen applied
            until = seen[k + 1] if k + 1 < len(seen) else float("inf")
            if starts[k] <= received and until >= sent:
                allowed.update(POOLS[k % len(POOLS)])
        if backend not in allowed:
            wrong.append((sent, received, backend, sorted(allowed)))
    assert not wrong, wrong[:5]
    # every pool was really used: the reloads changed routing
    assert {a[2] for a in loop.answers} == {"ns1", "ns2", "ns3"}
