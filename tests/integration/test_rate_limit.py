# SPDX-License-Identifier: MIT
# Response rate limiting (RRL) on UDP answers: one flooding source gets about the limit
# answered in full and every slip-th of the rest as an empty TC=1 answer, and kdig then gets
# its answer over TCP; other sources are untouched; errors of random names share one bucket;
# exempt prefixes and log-only limit nothing; two and four workers hold the same limit.

import random
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

import dnsr

RATE = 50


def rrl_conf(knot, workers=1, **rrl):
    limit = {"responses-per-second": RATE, "errors-per-second": 20, "slip": 2, "window": "2s"}
    limit.update(rrl)
    return {
        "workers": workers,
        "rate-limit": limit,
        "backends": [{"name": "ns1", "address": knot.addr4}],
        "routes": [dnsr.route_zone(".", ["ns1"])],
    }


def flood(port, names, seconds, source="127.0.0.1", fresh_ports=False, rdtype="TXT"):
    """Send one query per name of <names>, evenly over <seconds>, from <source>; return
    (full answers, empty TC=1 answers, other answers by rcode) once the last answer had
    0.5 s to come. With <fresh_ports> every query leaves from a socket of its own, so the
    kernel would spread them over every worker."""
    socks = []
    shared = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shared.bind((source, 0))
    shared.setblocking(False)
    socks.append(shared)
    start = time.monotonic()
    full = tc = 0
    other = {}
    seen = set()

    def drain():
        nonlocal full, tc
        for s in list(socks):
            while True:
                try:
                    data = s.recv(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                m = dns.message.from_wire(data)
                if m.id in seen:
                    continue
                seen.add(m.id)
                if m.flags & dns.flags.TC:
                    assert not m.answer, "a slipped answer carries no records"
                    tc += 1
                elif m.rcode() == dns.rcode.NOERROR and m.answer:
                    full += 1
                else:
                    other[m.rcode()] = other.get(m.rcode(), 0) + 1

    ids = random.sample(range(65536), len(names))
    for i, name in enumerate(names):
        q = dnsr.query(name, rdtype, qid=ids[i])
        s = shared
        if fresh_ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            s.setblocking(False)
            socks.append(s)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        due = start + seconds * (i + 1) / len(names)
        while time.monotonic() < due:
            drain()
            time.sleep(0.001)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        drain()
        time.sleep(0.005)
    for s in socks:
        s.close()
    return full, tc, other


def test_flood_from_one_source_is_limited_and_slips(router, ns1):
    r = router(rrl_conf(ns1))
    full, tc, other = flood(r.port, ["www.example."] * (10 * RATE), 1.0)
    # About one second's worth in full (a bucket starts with that much), then every second
    # limited answer slips and the other is dropped.
    assert 0.8 * RATE <= full <= 1.3 * RATE, (full, tc, other)
    limited = 10 * RATE - full
    assert abs(tc - limited / 2) <= 0.1 * limited, (full, tc, other)
    assert not other, other
    # A real client that meets the slip retries over TCP, which RRL never limits.
    out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(r.port), "+timeout=1", "+retry=4",
                          "www.example.", "TXT"], capture_output=True, text=True, timeout=30)
    assert "(TCP)" in out.stdout and "status: NOERROR" in out.stdout, out.stdout
    assert '"ns1"' in out.stdout, out.stdout


def test_other_source_is_not_limited(router, ns1):
    r = router(rrl_conf(ns1))
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "flood", flood(r.port, ["www.example."] * (10 * RATE), 1.5)))
    t.start()
    try:
        # Another /24, asking the same name at a normal rate meanwhile.
        full, tc, other = flood(r.port, ["www.example."] * 30, 1.5, source="127.0.1.1")
    finally:
        t.join()
    assert (full, tc, other) == (30, 0, {})
    assert result["flood"][0] <= 1.3 * RATE


def test_random_name_flood_shares_the_error_bucket(router, ns1):
    r = router(rrl_conf(ns1))
    # Names outside every zone of Knot: REFUSED, an error, whatever the name.
    names = ["n%08x.nowhere-%d." % (random.getrandbits(32), i) for i in range(400)]
    full, tc, other = flood(r.port, names, 1.0)
    answered = sum(other.values())
    assert set(other) <= {dns.rcode.REFUSED}, other
    assert 0.8 * 20 <= answered <= 1.4 * 20, (full, tc, other)
    assert abs(tc - (400 - answered) / 2) <= 40, (full, tc, other)


def test_exempt_prefix_is_never_limited(router, ns1):
    r = router(rrl_conf(ns1, exempt=["127.0.2.0/24"]))
    full, tc, other = flood(r.port, ["www.example."] * (6 * RATE), 1.0, source="127.0.2.9")
    assert (full, tc, other) == (6 * RATE, 0, {})


def test_log_only_limits_nothing_but_counts(router, ns1, free_port):
    conf = rrl_conf(ns1, **{"log-only": True})
    conf["admin"] = "127.0.0.1:%d" % free_port()
    r = router(conf)
    full, tc, other = flood(r.port, ["www.example."] * (6 * RATE), 1.0)
    assert (full, tc, other) == (6 * RATE, 0, {})
    would = dnsr.metric(conf["admin"], "dnsrouter_rrl_total", result="would")
    assert 4 * RATE <= would <= 5.3 * RATE, would


def test_limit_is_remembered_for_the_window(router, ns1):
    r = router(rrl_conf(ns1, window="3s"))
    flood(r.port, ["www.example."] * (10 * RATE), 1.0)
    # The flood ran into a debt of up to window x rate: a second later it is still limited.
    time.sleep(1.0)
    full, _, _ = flood(r.port, ["www.example."] * 10, 0.2)
    assert full == 0


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_hold_the_same_limit(router, ns1, workers):
    """Every query leaves from a port of its own, so without steering by client prefix each
    worker would see a share of the source and let through up to <workers> times the limit."""
    r = router(rrl_conf(ns1, workers=workers))
    full, tc, other = flood(r.port, ["www.example."] * (8 * RATE), 1.0, fresh_ports=True)
    assert 0.8 * RATE <= full <= 1.3 * RATE, (workers, full, tc, other)


def test_tcp_is_never_limited(router, ns1):
    r = router(rrl_conf(ns1))
    flood(r.port, ["www.example."] * (10 * RATE), 0.5)
    for i in range(3 * RATE):
        ans = r.exchange(dnsr.query("www.example."), transport="tcp")
        assert ans.rcode() == dns.rcode.NOERROR and ans.answer
