# SPDX-License-Identifier: MIT
# Flood robustness: while 50 loopback sources, each in a /24 of its own, send random names
# (and garbage) at the flood generator's full rate, a legitimate client asking at 100 q/s
# from another prefix keeps at least 99 % of its answers, and the router survives intact.

import json
import os
import socket
import subprocess
import threading
import time

import dns.message
import dns.rcode
import pytest

import dnsr

FLOOD_BIN = os.environ.get("FLOOD_BIN", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "flood"))


def flood(port, seconds, mode="random", zone="nowhere.", sources=50):
    return subprocess.Popen(
        [FLOOD_BIN, "-s", "127.0.0.1:%d" % port, "-t", str(seconds), "-S", str(sources),
         "-B", "127.2.0.1", "--step", "256", "-m", mode, "-z", zone, "-W", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def legit_client(port, rate, seconds, name="www.example."):
    """Ask <name> at <rate> q/s for <seconds> from 127.0.0.1 (its own prefix), each query
    with 1 s to be answered; return (sent, answered)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    sent, got, seen = 0, 0, set()
    start = time.monotonic()
    end = start + seconds
    while True:
        now = time.monotonic()
        if now < end and now >= start + sent / rate:
            q = dnsr.query(name, qid=sent)
            s.send(q.to_wire())
            sent += 1
        try:
            m = dns.message.from_wire(s.recv(65535))
            if m.id not in seen and m.rcode() == dns.rcode.NOERROR and m.answer:
                seen.add(m.id)
                got += 1
        except BlockingIOError:
            if now > end + 1.0:
                break
            time.sleep(0.0005)
    s.close()
    return sent, got


@pytest.fixture
def flood_bin():
    if not os.access(FLOOD_BIN, os.X_OK):
        pytest.fail("flood generator not built at %s (make tools)" % FLOOD_BIN, pytrace=False)
    return FLOOD_BIN


@pytest.mark.parametrize("mode", ["random", "mix"])
def test_legitimate_client_keeps_its_answers(router, ns1, flood_bin, mode):
    r = router({
        "workers": 2,
        "rate-limit": {"responses-per-second": 100, "errors-per-second": 20},
        "query-limit": {"per-second": 200, "burst": 400},
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [dnsr.route_zone(".", ["ns1"])],
    })
    f = flood(r.port, 6, mode)
    try:
        time.sleep(0.5)                     # the flood is under way
        sent, got = legit_client(r.port, 100, 4.0)
    finally:
        out, err = f.communicate(timeout=30)
    stats = json.loads(out)
    assert f.returncode == 0, err
    assert stats["sent"] > 20 * sent, stats     # it was a flood
    assert got >= 0.99 * sent, (sent, got, stats)
    # and the router is still whole
    assert r.exchange(dnsr.query("www.example.")).rcode() == dns.rcode.NOERROR
