# SPDX-License-Identifier: MIT
# The router forwards a query's own bytes with a fresh ID and restores the ID on the way back:
# the client's answer equals the backend's direct answer byte for byte except the 2-byte ID.

import socket
import struct

import dns.edns
import dns.flags
import dns.message
import pytest

import dnsr
from dnsr import route_zone

CASES = {
    "wildcard-txt": dict(name="foo.example.", rdtype="TXT"),
    "apex-soa-edns": dict(name="example.", rdtype="SOA", edns=True),
    "aaaa-do": dict(name="host.example.", rdtype="AAAA", do=True),
    "nodata-edns": dict(name="host.example.", rdtype="TXT", edns=True),
    "nsid-option": dict(name="a.b.sub.example.", rdtype="TXT",
                        options=[dns.edns.GenericOption(dns.edns.NSID, b"")]),
    "mixed-case": dict(name="MiXeD.ExAmPlE.", rdtype="A"),
    "other-zone": dict(name="x.test.", rdtype="TXT", edns=True),
    "mid-edns-4096": dict(name="mid.example.", rdtype="TXT", edns=True, payload=4096),
    "mid-edns-1232": dict(name="mid.example.", rdtype="TXT", edns=True, payload=1232),
    "root-refused-by-backend": dict(name=".", rdtype="NS"),
    "not-served-by-backend": dict(name="nowhere.", rdtype="A", edns=True),
}


@pytest.fixture(scope="module")
def fwd_router(module_router, ns1):
    return module_router({
        "workers": 2,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
    })


def _direct(ns, wire, transport, family):
    if transport == "udp":
        data = dnsr.udp_exchange(ns.port, wire, family)
        assert data is not None, "backend did not answer directly"
        return data
    return dnsr.tcp_exchange(ns.port, wire, family)


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_answer_identical_to_backend(fwd_router, ns1, case, transport, family):
    q = dnsr.query(**CASES[case])
    q.id = 0xBEEF if family == 4 else 0x0102
    wire = q.to_wire()
    if transport == "udp":
        got = dnsr.udp_exchange(fwd_router.port, wire, family)
        assert got is not None, "no answer from router"
    else:
        got = dnsr.tcp_exchange(fwd_router.port, wire, family)
    want = _direct(ns1, wire, transport, family)
    assert got[:2] == wire[:2], "answer does not carry the client's ID"
    assert got[2:] == want[2:], "answer differs from the backend's own answer"


def test_many_ids_restored(fwd_router):
    """Client IDs of every value class come back unchanged (including 0 and 0xffff)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.connect(("127.0.0.1", fwd_router.port))
        ids = [0, 1, 0xFFFF, 0x8000, 0x7FFF] + [dnsr.rand_id() for _ in range(15)]
        for qid in ids:
            q = dnsr.query("id%d.example." % qid, qid=qid)
            s.send(q.to_wire())
            data = s.recv(65535)
            assert struct.unpack("!H", data[:2])[0] == qid
            r = dns.message.from_wire(data)
            assert r.question == q.question
            assert dnsr.who(r) == "ns1"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_query_bytes_forwarded_unchanged_with_fresh_ids(router, fake_backend, transport):
    """The backend sees the client's bytes except the ID, and the ID is fresh for each query."""
    fake = fake_backend("normal", name="f")
    r = router({
        "workers": 2,
        "backends": [{"name": "f", "address": fake.address}],
        "routes": [route_zone(".", ["f"])],
    })
    client_id = 0x4242
    sent = []
    for i in range(20):
        q = dnsr.query("q%d.example." % i, "TXT", edns=(i % 2 == 0), do=(i % 4 == 0),
                       options=[dns.edns.GenericOption(dns.edns.NSID, b"")] if i % 5 == 0
                       else None)
        q.id = client_id
        wire = q.to_wire()
        sent.append(wire)
        ans = r.exchange(q, transport=transport)
        assert ans.id == client_id
        assert dnsr.who(ans) == "fake-f"
    assert fake.count == 20
    seen_ids = []
    for (kind, wire, _), orig in zip(fake.queries, sent):
        assert kind == transport, "a %s client query reached the backend over %s" % (
            transport, kind)
        assert wire[2:] == orig[2:], "query bytes changed on the way to the backend"
        seen_ids.append(wire[:2])
    assert sum(1 for x in seen_ids if x == struct.pack("!H", client_id)) <= 1, \
        "the router forwarded the client's own ID instead of a fresh one"
    assert len(set(seen_ids)) >= 15, "backend-side IDs are not fresh: %r" % seen_ids


def test_mid_size_udp_answer_not_truncated_by_router(fwd_router):
    """A 2.8 KB answer within the client's EDNS size arrives whole over UDP."""
    q = dnsr.query("mid.example.", "TXT", edns=True, payload=4096)
    r = fwd_router.exchange(q)
    assert not r.flags & dns.flags.TC
    assert sum(len(x) for x in r.answer) == dnsr.KnotBackend.MID_RRS


def test_burst_of_concurrent_queries(fwd_router):
    """1000 UDP queries from 10 sockets with up to 10 in flight each (IPv4 and IPv6), every
    socket using the same IDs: every query answered once, with its own ID and question."""
    import selectors
    import time

    per_sock, window = 100, 10
    sel = selectors.DefaultSelector()
    state = []
    for k in range(10):
        fam = 4 if k % 2 == 0 else 6
        s = socket.socket(dnsr.sock_family(fam), socket.SOCK_DGRAM)
        s.connect((dnsr.host_of(fam), fwd_router.port))
        s.setblocking(False)
        st = {"sock": s, "next": 0, "out": {}, "done": 0, "k": k}
        state.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    problems = []

    def fill(st):
        while len(st["out"]) < window and st["next"] < per_sock:
            i = st["next"]
            st["next"] += 1
            q = dnsr.query("b%d-%d.example." % (st["k"], i), qid=i)   # same IDs on every socket
            st["out"][q.id] = q
            st["sock"].send(q.to_wire())

    try:
        for st in state:
            fill(st)
        deadline = time.monotonic() + 15
        while any(st["done"] < per_sock for st in state):
            if time.monotonic() > deadline:
                missing = sum(per_sock - st["done"] for st in state)
                problems.append("%d queries unanswered after 15 s" % missing)
                break
            for key, _ in sel.select(timeout=1):
                st = key.data
                while True:
                    try:
                        data = st["sock"].recv(65535)
                    except BlockingIOError:
                        break
                    msg = dns.message.from_wire(data)
                    q = st["out"].pop(msg.id, None)
                    if q is None:
                        problems.append("unexpected or duplicate answer ID %#x" % msg.id)
                        continue
                    if msg.question != q.question or dnsr.who(msg) != "ns1":
                        problems.append("wrong answer for %s: %s" % (q.question[0], msg))
                    st["done"] += 1
                fill(st)
    finally:
        for st in state:
            sel.unregister(st["sock"])
            st["sock"].close()
        sel.close()
    assert not problems, problems[:10]
