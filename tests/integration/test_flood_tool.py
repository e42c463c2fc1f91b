# SPDX-License-Identifier: MIT
# tests/tools/flood (build/flood, $FLOOD_BIN): the load generator the bench and load tests use.
# Runs it for about a second against a small responder of the test's own that records every
# datagram's source and answers it, and once through dnsrouter to Knot: what it sends is what
# it reports, what is answered is counted by rcode, its sources are the addresses asked for.

import ipaddress
import json
import os
import socket
import subprocess
import threading

import dns.message
import dns.name
import dns.rdatatype
import pytest

import dnsr
from dnsr import route_zone

FLOOD_BIN = os.environ.get("FLOOD_BIN", str(dnsr.REPO / "build" / "flood"))


@pytest.fixture(scope="module", autouse=True)
def _flood_binary():
    if not os.access(FLOOD_BIN, os.X_OK):
        pytest.fail("flood tool not found at %s (build it with `make tools`, or set FLOOD_BIN)"
                    % FLOOD_BIN, pytrace=False)


class Responder:
    """UDP on 127.0.0.1: records (source, datagram) and answers each datagram of 12 bytes or
    more with its own bytes, QR set and rcode <rcode>; shorter ones are not answered."""

    def __init__(self, rcode=0):
        self.rcode = rcode
        self.seen = []
        self.answered = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", dnsr.free_port()))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stopping.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            self.seen.append((addr[0], data))
            if len(data) >= 12:
                self.sock.sendto(data[:2] + bytes([data[2] | 0x80, (data[3] & 0xf0) | self.rcode])
                                 + data[4:], addr)
                self.answered += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()


def flood(*args, timeout=30):
    r = subprocess.run([FLOOD_BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, "flood %s failed (%d): %s" % (args, r.returncode, r.stderr)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    return json.loads(lines[0])


def test_paced_random_names_from_distinct_sources():
    with Responder(rcode=3) as resp:
        out = flood("-s", "127.0.0.1:%d" % resp.port, "-t", "1", "-r", "2000", "-S", "8",
                    "-B", "127.3.0.1", "--step", "256", "-m", "random", "-z", "example.",
                    "-W", "2000")
    # Paced at 2,000 q/s for a second: never ahead of the rate, not far behind it.
    assert 1800 <= out["sent"] <= 2001, out
    assert 0.9 <= out["elapsed"] <= 1.5, out
    assert len(resp.seen) == out["sent"], (len(resp.seen), out)
    assert out["answers"] == resp.answered == out["sent"], out
    assert out["rcodes"] == {"NXDOMAIN": out["sent"]}, out
    assert out["tc"] == 0 and out["not_dns"] == 0 and out["send_errors"] == 0, out
    # Eight sources, base 127.3.0.1 in steps of 256: each in its own /24, sharing the load.
    sources = {}
    for src, _ in resp.seen:
        sources[src] = sources.get(src, 0) + 1
    assert set(sources) == {"127.3.%d.1" % i for i in range(8)}, sorted(sources)
    assert len({ipaddress.ip_network(s + "/24", strict=False) for s in sources}) == 8
    assert min(sources.values()) >= out["sent"] // 8 - 50, sources
    # Random single labels under example., type A, no EDNS.
    names = set()
    for _, q in resp.seen:
        m = dns.message.from_wire(q)
        assert m.edns < 0
        assert m.question[0].rdtype == dns.rdatatype.A
        assert m.question[0].name.parent() == dns.name.from_text("example.")
        names.add(m.question[0].name)
    assert len(names) >= 0.99 * len(resp.seen)


def test_count_bound_and_garbage():
    with Responder() as resp:
        # Short datagrams get no answer, so the tool waits all of -W for late ones.
        out = flood("-s", "127.0.0.1:%d" % resp.port, "-t", "5", "-n", "300", "-m", "garbage",
                    "-W", "1000")
    assert out["sent"] == 300 and len(resp.seen) == 300, out
    assert out["elapsed"] < 1.0, out
    lengths = [len(d) for _, d in resp.seen]
    assert min(lengths) >= 1 and max(lengths) <= 600
    assert len(set(lengths)) > 100, "garbage lengths should vary"
    # Some of them have a header that looks like a query's: QR=0, opcode 0, QDCOUNT 1.
    looks_valid = [d for d in (d for _, d in resp.seen)
                   if len(d) >= 12 and d[2] & 0xf8 == 0 and d[4:12] == b"\0\1" + b"\0" * 6]
    assert 30 <= len(looks_valid) <= 150, len(looks_valid)
    assert out["answers"] == resp.answered == sum(1 for n in lengths if n >= 12), out


def test_fixed_name_with_edns_through_dnsrouter(ns1, router):
    r = router({"workers": 1, "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone(".", ["ns1"])]})
    out = flood("-s", "127.0.0.1:%d" % r.port, "-t", "3", "-n", "1000", "-r", "5000", "-S", "4",
                "-m", "fixed", "-q", "www.example.", "-T", "TXT", "-e")
    assert out["sent"] == 1000, out
    assert out["answers"] == 1000 and out["rcodes"] == {"NOERROR": 1000}, out


def test_mix_through_dnsrouter_is_answered_or_dropped(ns1, router):
    r = router({"workers": 1, "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone(".", ["ns1"])]})
    out = flood("-s", "127.0.0.1:%d" % r.port, "-t", "1", "-r", "2000", "-m", "mix",
                "-z", "example.", "-W", "500")
    assert out["sent"] >= 1800, out
    # The random names (about half) are answered by Knot's wildcard; garbage that passes the
    # header check gets FORMERR; the rest is dropped.
    assert out["sent"] * 0.4 <= out["rcodes"].get("NOERROR", 0) <= out["sent"] * 0.6, out
    assert out["rcodes"].get("FORMERR", 0) > 0, out
    assert r.alive()


@pytest.mark.parametrize("args", [
    ["-s", "192.0.2.1:53", "-t", "1"],                    # not loopback
    ["-s", "127.0.0.1:53"],                               # no time bound
    ["-s", "127.0.0.1:53", "-t", "100000"],               # time bound too long
    ["-s", "127.0.0.1:53", "-t", "1", "-S", "2", "-B", "127.255.255.255"],  # leaves 127/8
    ["-s", "127.0.0.1:53", "-t", "1", "-m", "fixed"],     # fixed without -q
    ["-s", "127.0.0.1:53", "-t", "1", "-m", "nope"],
])
def test_refuses_bad_options(args):
    r = subprocess.run([FLOOD_BIN] + args, capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and r.stdout == "" and "flood:" in r.stderr, (args, r)
