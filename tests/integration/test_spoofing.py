# SPDX-License-Identifier: MIT
# Blind spoofing of backend answers: a forger who sends packets with the backend's address
# must guess the router's source port as well as the 16-bit ID. Each worker spreads a
# backend's queries over several sockets with random ports and renews them every few
# seconds, so a port learned once is soon worthless; and an ICMP "port unreachable" for a
# query fails it over to another backend at once.

import heapq
import os
import random
import socket
import struct
import threading
import time

import dns.message
import dns.rcode
import dns.rrset
import pytest

import dnsr

NAME = "victim.example."


class SlowBackend:
    """A UDP backend on 127.0.0.1 that answers every query after <delay> seconds (so many are
    in flight), and a forger on the same socket: forged answers come from the backend's own
    address and port."""

    def __init__(self, delay):
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", dnsr.free_port()))
        self.port = self.sock.getsockname()[1]
        self.sources = set()        # router source ports seen
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pending = []
        self.sock.settimeout(0.005)
        while not self.stop.is_set():
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, data, addr = heapq.heappop(pending)
                self.sock.sendto(data, addr)
            try:
                wire, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            q = dns.message.from_wire(wire)
            r = dns.message.make_response(q)
            r.answer.append(dns.rrset.from_text(q.question[0].name, 0, q.question[0].rdclass,
                                                "TXT", '"real"'))
            with self.lock:
                self.sources.add(addr[1])
            heapq.heappush(pending, (now + self.delay, random.random(), r.to_wire(), addr))

    def forge(self, ports, count):
        """Send <count> forged answers to <NAME> TXT with random IDs, to random ports of
        <ports> (a list) on 127.0.0.1."""
        q = dnsr.query(NAME, "TXT")
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text(NAME, 0, "IN", "TXT", '"forged"'))
        tmpl = bytearray(r.to_wire())
        for i in range(count):
            struct.pack_into("!H", tmpl, 0, random.getrandbits(16))
            try:
                self.sock.sendto(tmpl, ("127.0.0.1", random.choice(ports)))
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()


def router_ports(backend_port):
    """Local ports of the UDP sockets connected to 127.0.0.1:<backend_port>."""
    want = "0100007F:%04X" % backend_port
    ports = set()
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


class Client:
    """Queries <NAME> TXT through the router at a steady rate from one socket; counts the
    answers that say "forged"."""

    def __init__(self, port, rate):
        self.port, self.rate = port, rate
        self.forged = self.real = self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Connected: the forger's spray of random ports reaches this socket too, and only
        # what comes through the router counts.
        s.connect(("127.0.0.1", self.port))
        s.setblocking(False)
        wire = bytearray(dnsr.query(NAME, "TXT").to_wire())
        start = time.monotonic()
        while not self.stop.is_set():
            due = start + self.sent / self.rate
            while time.monotonic() < due:
                self._drain(s)
                time.sleep(0.0005)
            struct.pack_into("!H", wire, 0, self.sent & 0xFFFF)
            s.send(wire)
            self.sent += 1
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            self._drain(s)
            time.sleep(0.01)
        s.close()

    def _drain(self, s):
        while True:
            try:
                data = s.recv(65535)
            except BlockingIOError:
                return
            if b"forged" in data:
                self.forged += 1
            elif b"real" in data:
                self.real += 1

    def finish(self):
        self.stop.set()
        self.thread.join()


def conf(port, workers=2):
    return {
        "workers": workers,
        "timeout": "3s",
        "health": {"enabled": False},
        "backends": [{"name": "slow", "address": "127.0.0.1:%d" % port}],
        "routes": [dnsr.route_zone(".", ["slow"])],
    }


def test_ports_are_many_and_renewed(router):
    be = SlowBackend(delay=0.05)
    try:
        r = router(conf(be.port))
        c = Client(r.port, rate=400)
        try:
            time.sleep(0.8)
            with be.lock:
                early = set(be.sources)
            learned = router_ports(be.port)
            # 2 workers x 4 ports once traffic flows; the health-less start opens no more
            assert len(early) >= 4, early  # one client: one worker, its 4 ports
            time.sleep(4.0)     # more than a port's life plus its linger
            with be.lock:
                be.sources.clear()
            time.sleep(0.8)
            with be.lock:
                late = set(be.sources)
        finally:
            c.finish()
        assert late and not (late & early), (early, late)
        # (a port that never carried a query, such as the idle worker's, holds nothing to hit)
        assert not (router_ports(be.port) & learned & early), "ports learned earlier still open"
        assert c.forged == 0 and c.real >= 0.99 * c.sent
    finally:
        be.close()


def test_forged_answers_do_not_get_through(router):
    """About 200 queries in flight. A forger who learned the router's ports once, and then
    one who guesses ports at random, each send 100,000 answers with random IDs. The old
    single port let about 1 in 700 through; a blind guess now has about one chance in
    10^7 per answer (200 / (28,232 ports x 65,536 IDs))."""
    be = SlowBackend(delay=0.1)
    try:
        r = router(conf(be.port))
        c = Client(r.port, rate=2000)
        try:
            dnsr.wait_for(lambda: c.real > 500, timeout=5, what="answers flowing")
            learned = sorted(router_ports(be.port))
            time.sleep(4.0)     # the ports' life and linger pass
            be.forge(learned, 100000)
            lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
            be.forge(list(range(lo, hi + 1)), 100000)
        finally:
            c.finish()
        assert c.forged == 0, "%d forged answers delivered" % c.forged
        assert c.real >= 0.95 * c.sent, (c.real, c.sent)
    finally:
        be.close()


def test_icmp_unreachable_fails_over_at_once(router, ns1, free_port):
    """A backend whose port nobody listens on (the server is gone) answers with ICMP port
    unreachable: the query goes to the other backend at once, not after the 3 s timeout."""
    gone = free_port()
    admin = "127.0.0.1:%d" % free_port()
    r = router({
        "workers": 1,
        "timeout": "3s",
        "admin": admin,
        "health": {"enabled": False},
        "backends": [{"name": "gone", "address": "127.0.0.1:%d" % gone},
                     {"name": "ns1", "address": ns1.addr4}],
        "routes": [dnsr.route_zone(".", ["gone", "ns1"])],
    })
    for i in range(10):
        start = time.monotonic()
        ans = r.exchange(dnsr.query("q%d.example." % i), timeout=4)
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1"
        assert time.monotonic() - start < 1.0
    assert dnsr.metric(admin, "dnsrouter_backend_unreachable_total") >= 3
