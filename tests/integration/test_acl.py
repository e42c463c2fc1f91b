# SPDX-License-Identifier: MIT
# Access rules and the query limit, before routing: allow, refuse (REFUSED with EDE 18) and
# drop (no answer; on TCP the connection closes), globally and per route, IPv4 and IPv6,
# and after a reload.

import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

import dnsr

EDE_PROHIBITED = 18


def ask(port, name, source="127.0.0.1", transport="udp", timeout=1.0):
    """One query from <source>: the parsed answer, or None (no answer, or TCP closed)."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    q = dnsr.query(name, edns=True)
    wire = q.to_wire()
    if transport == "udp":
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((source, 0))
            s.settimeout(timeout)
            s.sendto(wire, (host, port))
            try:
                return dns.message.from_wire(s.recv(65535))
            except socket.timeout:
                return None
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        try:
            s.sendall(dnsr.tcp_frame(wire))
            return dns.message.from_wire(dnsr.tcp_read_msg(s))
        except (ConnectionError, socket.timeout, OSError):
            return None


def refused(ans):
    return (ans is not None and ans.rcode() == dns.rcode.REFUSED
            and EDE_PROHIBITED in dnsr.ede_codes(ans))


def answered(ans):
    return ans is not None and ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1"


def base(knot, **kw):
    c = {"backends": [{"name": "ns1", "address": knot.addr4}],
         "routes": [dnsr.route_zone(".", ["ns1"])]}
    c.update(kw)
    return c


GLOBAL = [{"from": "127.0.0.2", "action": "drop"},
          {"from": "127.0.0.3/32", "action": "refuse"},
          {"from": "::1", "action": "refuse"},
          {"from": "0.0.0.0/0", "action": "allow"}]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_global_acl_actions(router, ns1, transport):
    r = router(base(ns1, acl=GLOBAL))
    assert answered(ask(r.port, "www.example.", "127.0.0.1", transport))
    assert ask(r.port, "www.example.", "127.0.0.2", transport) is None
    assert refused(ask(r.port, "www.example.", "127.0.0.3", transport))
    assert refused(ask(r.port, "www.example.", "::1", transport))


def test_global_drop_closes_tcp_at_once(router, ns1):
    r = router(base(ns1, acl=GLOBAL))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", r.port))
        start = time.monotonic()
        try:
            data = s.recv(1)
        except ConnectionResetError:
            data = b""
        assert data == b"" and time.monotonic() - start < 1.0


ROUTES = [
    dnsr.route_zone("sub.example.", ["ns1"],
                    acl=[{"from": "127.0.0.1/32", "action": "allow"},
                         {"from": "::/0", "action": "refuse"},
                         {"from": "0.0.0.0/0", "action": "drop"}]),
    dnsr.route_zone(".", ["ns1"]),
]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_route_acl(router, ns1, transport):
    r = router(base(ns1, routes=ROUTES))
    assert answered(ask(r.port, "x.sub.example.", "127.0.0.1", transport))
    assert ask(r.port, "x.sub.example.", "127.0.0.2", transport) is None
    assert refused(ask(r.port, "x.sub.example.", "::1", transport))
    # the route without rules serves everyone
    for source in ("127.0.0.1", "127.0.0.2", "::1"):
        assert answered(ask(r.port, "www.example.", source, transport)), source


def test_acl_reloads(router, ns1):
    r = router(base(ns1))
    assert answered(ask(r.port, "www.example.", "127.0.0.1"))
    r.reload(base(ns1, acl=[{"from": "127.0.0.0/8", "action": "refuse"}]))
    dnsr.wait_for(lambda: refused(ask(r.port, "www.example.", "127.0.0.1")), timeout=5,
                  what="the reloaded rule")
    assert answered(ask(r.port, "www.example.", "::1"))
    r.reload(base(ns1, routes=ROUTES))
    dnsr.wait_for(lambda: ask(r.port, "x.sub.example.", "127.0.0.5") is None and
                  answered(ask(r.port, "www.example.", "127.0.0.5")), timeout=5,
                  what="the reloaded route rules")


def burst(port, n, source="127.0.0.1"):
    """<n> queries at once from <source>; count answers by rcode (None: no answer)."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    got = {}
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for i in range(n):
            s.sendto(dnsr.query("q%d.example." % i, qid=i).to_wire(), (host, port))
        s.settimeout(0.5)
        seen = set()
        try:
            while True:
                m = dns.message.from_wire(s.recv(65535))
                if m.id not in seen:
                    seen.add(m.id)
                    got[m.rcode()] = got.get(m.rcode(), 0) + 1
        except socket.timeout:
            pass
    got[None] = n - len(seen)
    return got


@pytest.mark.parametrize("source", ["127.0.0.1", "::1"])
def test_query_limit_refuse(router, ns1, source):
    r = router(base(ns1, **{"query-limit": {"per-second": 20, "burst": 30,
                                            "action": "refuse"}}))
    got = burst(r.port, 200, source)
    assert 28 <= got.get(dns.rcode.NOERROR, 0) <= 36, got  # the start-up probe takes one
    assert got.get(dns.rcode.REFUSED, 0) + got.get(dns.rcode.NOERROR, 0) == 200, got
    # another prefix has its own bucket
    got = burst(r.port, 25, "127.0.9.1")
    assert got.get(dns.rcode.NOERROR, 0) == 25, got


def test_query_limit_drop_and_tcp(router, ns1):
    r = router(base(ns1, **{"query-limit": {"per-second": 20, "burst": 20}}))
    got = burst(r.port, 100)
    assert 18 <= got.get(dns.rcode.NOERROR, 0) <= 25 and got[None] >= 75, got
    # Over TCP the same bucket: a client past it is closed rather than left waiting.
    time.sleep(1.2)     # refill the bucket: 20 a second
    with socket.create_connection(("127.0.0.1", r.port), timeout=2) as s:
        frames = b"".join(dnsr.tcp_frame(dnsr.query("t%d.example." % i, qid=i).to_wire())
                          for i in range(60))
        try:
            s.sendall(frames)
        except OSError:
            pass        # closed while we were still sending: what is read back counts
        n = 0
        try:
            while True:
                dnsr.tcp_read_msg(s)
                n += 1
        except (ConnectionError, socket.timeout, OSError):
            pass
    assert 20 <= n <= 30, n


def test_query_limit_reloads(router, ns1):
    r = router(base(ns1))
    assert burst(r.port, 60).get(dns.rcode.NOERROR, 0) == 60
    r.reload(base(ns1, **{"query-limit": {"per-second": 10, "action": "refuse"}}))
    dnsr.wait_for(lambda: burst(r.port, 30).get(dns.rcode.REFUSED, 0) >= 15, timeout=5,
                  what="the reloaded query limit")
