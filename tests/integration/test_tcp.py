# SPDX-License-Identifier: MIT
# TCP: large answers arrive whole over TCP (and truncated over plain UDP), pipelined queries on
# one connection are all answered with the right IDs, framing split across writes works, idle
# connections are closed.

import collections
import os
import random
import socket
import struct
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import dnsr
import etcdtools
from dnsr import route_zone

BIG = "big.example."


@pytest.fixture(scope="module")
def tcp_router(module_router, ns1):
    return module_router({
        "workers": 2,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone("example.", ["ns1"])],
    })


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_big_txt_whole_over_tcp(tcp_router, ns1, family):
    q = dnsr.query(BIG, "TXT", qid=0x2222)
    wire = q.to_wire()
    got = dnsr.tcp_exchange(tcp_router.port, wire, family)
    want = dnsr.tcp_exchange(ns1.port, wire, family)
    assert len(want) > 20000, "test zone's big RRset is not big"
    assert len(got) == len(want), "TCP answer has %d bytes, backend's has %d" % (
        len(got), len(want))
    assert got[:2] == wire[:2]
    assert got[2:] == want[2:]
    msg = dns.message.from_wire(got)
    assert not msg.flags & dns.flags.TC
    assert sum(len(rrset) for rrset in msg.answer) == dnsr.KnotBackend.BIG_RRS


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_big_txt_truncated_over_udp_without_edns(tcp_router, ns1, family):
    q = dnsr.query(BIG, "TXT", qid=0x3333)
    wire = q.to_wire()
    got = dnsr.udp_exchange(tcp_router.port, wire, family)
    assert got is not None, "no UDP answer"
    want = dnsr.udp_exchange(ns1.port, wire, family)
    assert len(got) <= 512
    msg = dns.message.from_wire(got)
    assert msg.flags & dns.flags.TC, "UDP answer without EDNS is not truncated"
    assert got[:2] == wire[:2]
    assert got[2:] == want[2:], "truncated answer differs from the backend's"


def test_big_txt_with_edns_over_udp_is_backends_answer(tcp_router, ns1):
    q = dnsr.query(BIG, "TXT", edns=True, payload=4096, qid=0x4444)
    wire = q.to_wire()
    got = dnsr.udp_exchange(tcp_router.port, wire)
    want = dnsr.udp_exchange(ns1.port, wire)
    assert got is not None and want is not None
    assert got[2:] == want[2:]


def _pipeline(port, queries, family=4, timeout=5.0):
    """Write all <queries> (dnspython messages) in one send, read as many answers."""
    payload = b"".join(dnsr.tcp_frame(q.to_wire()) for q in queries)
    answers = []
    with socket.create_connection((dnsr.host_of(family), port), timeout=timeout) as s:
        s.sendall(payload)
        for _ in queries:
            answers.append(dnsr.tcp_read_msg(s))
    return answers


def test_pipelined_queries_all_answered(tcp_router):
    n = 50
    ids = random.sample(range(0x10000), n)
    queries = [dnsr.query("p%d.example." % i, "TXT", qid=ids[i], edns=(i % 3 == 0))
               for i in range(n)]
    answers = _pipeline(tcp_router.port, queries)
    by_id = {}
    for data in answers:
        msg = dns.message.from_wire(data)
        assert msg.id not in by_id, "two answers with ID %d" % msg.id
        by_id[msg.id] = msg
    assert set(by_id) == set(ids)
    for q in queries:
        msg = by_id[q.id]
        assert msg.question == q.question, "answer to ID %d carries another question" % q.id
    _assert_all_from_ns1(list(by_id.values()))


def _assert_all_from_ns1(answers):
    bad = collections.Counter("%s EDE %r" % (dnsr.rcode_text(a), dnsr.ede_codes(a))
                              for a in answers if dnsr.who(a) != "ns1")
    assert not bad, "%d of %d pipelined queries not answered by the backend: %s" % (
        sum(bad.values()), len(answers), dict(bad))


def test_pipelined_mixed_local_forwarded_and_no_route(tcp_router):
    queries = []
    for i in range(30):
        kind = i % 3
        if kind == 0:
            queries.append(dnsr.query("m%d.example." % i, "TXT", qid=1000 + i))
        elif kind == 1:
            queries.append(dnsr.query("id.server.", "TXT", "CH", qid=1000 + i))
        else:
            queries.append(dnsr.query("m%d.nowhere." % i, "A", qid=1000 + i))
    answers = {dns.message.from_wire(a).id: dns.message.from_wire(a)
               for a in _pipeline(tcp_router.port, queries, family=6)}
    assert len(answers) == len(queries)
    for i, q in enumerate(queries):
        msg = answers[q.id]
        assert msg.question == q.question
        want = [dns.rcode.NOERROR, dns.rcode.NOERROR, dns.rcode.SERVFAIL][i % 3]
        assert msg.rcode() == want, (q.question[0], dnsr.rcode_text(msg))


def test_pipelined_big_answers(tcp_router):
    queries = [dnsr.query(BIG if i % 2 == 0 else "s%d.example." % i, "TXT", qid=i + 1)
               for i in range(10)]
    answers = {dns.message.from_wire(a).id: dns.message.from_wire(a)
               for a in _pipeline(tcp_router.port, queries)}
    assert set(answers) == {q.id for q in queries}
    for q in queries:
        msg = answers[q.id]
        assert msg.question == q.question
        if q.question[0].name.to_text() == BIG:
            assert sum(len(r) for r in msg.answer) == dnsr.KnotBackend.BIG_RRS


def test_pipelined_burst_then_half_close_gets_every_answer(tcp_router):
    """A turn's answers gather in the worker's stage (256 KiB) and go out at the turn's end:
    320 pipelined queries, 20 of them with ~21 KB answers (more than the stage holds), local
    and forwarded mixed, then the client's FIN at once. Every query is answered exactly once,
    whole, before the router closes (it must not take an answer still staged for nothing
    owed)."""
    queries = []
    for i in range(320):
        if i % 16 == 0:
            queries.append(dnsr.query(BIG, "TXT", qid=i))
        elif i % 2:
            queries.append(dnsr.query("id.server.", "TXT", "CH", qid=i))
        else:
            queries.append(dnsr.query("b%d.example." % i, "TXT", qid=i))
    answers = []
    with socket.create_connection(("127.0.0.1", tcp_router.port), timeout=5) as s:
        s.sendall(b"".join(dnsr.tcp_frame(q.to_wire()) for q in queries))
        s.shutdown(socket.SHUT_WR)
        while True:
            head = s.recv(2, socket.MSG_WAITALL)
            if not head:
                break   # the router closed: everything owed came before
            assert len(head) == 2
            answers.append(dns.message.from_wire(dnsr.recv_exact(s, struct.unpack("!H", head)[0])))
    by_id = collections.Counter(m.id for m in answers)
    assert sorted(by_id) == list(range(320)) and set(by_id.values()) == {1}, \
        "answers per ID: %r" % {k: v for k, v in by_id.items() if v != 1}
    for m in answers:
        q = queries[m.id]
        assert m.question == q.question and m.rcode() == dns.rcode.NOERROR
        if m.id % 16 == 0:
            assert sum(len(r) for r in m.answer) == dnsr.KnotBackend.BIG_RRS


def test_sequential_queries_on_one_connection(tcp_router):
    with socket.create_connection(("127.0.0.1", tcp_router.port), timeout=3) as s:
        for i in range(20):
            q = dnsr.query("seq%d.example." % i, qid=i + 7)
            s.sendall(dnsr.tcp_frame(q.to_wire()))
            msg = dns.message.from_wire(dnsr.tcp_read_msg(s))
            assert msg.id == q.id and msg.question == q.question
            assert dnsr.who(msg) == "ns1"


def test_query_split_across_writes(tcp_router):
    """Length prefix and message arrive in separate segments, even byte by byte."""
    q = dnsr.query("split.example.", qid=0x5151)
    framed = dnsr.tcp_frame(q.to_wire())
    with socket.create_connection(("127.0.0.1", tcp_router.port), timeout=3) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in framed:
            s.send(bytes([b]))
            time.sleep(0.002)   # pacing the bytes into separate segments, not synchronisation
        msg = dns.message.from_wire(dnsr.tcp_read_msg(s))
    assert msg.id == q.id and dnsr.who(msg) == "ns1"


def test_idle_connection_closed(router, ns1):
    r = router({
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
        "tcp": {"max-connections": 64, "idle-timeout": "1s"},
    })
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        # one query first, so the connection is known to be served
        q = dnsr.query("idle.example.", qid=9)
        s.sendall(dnsr.tcp_frame(q.to_wire()))
        assert dns.message.from_wire(dnsr.tcp_read_msg(s)).id == 9
        start = time.monotonic()
        try:
            data = s.recv(100)
        except socket.timeout:
            pytest.fail("idle TCP connection still open after 5 s (idle-timeout: 1s)")
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert data == b""
    assert 0.5 <= elapsed <= 3.0, "idle connection closed after %.2fs (idle-timeout 1s)" % elapsed
    # and the router still serves new connections
    assert dnsr.who(r.exchange(dnsr.query("after.example."), transport="tcp")) == "ns1"


def test_client_closing_early_does_not_disturb(tcp_router):
    """Clients that send a query and hang up before the answer leave the router serving."""
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", tcp_router.port), timeout=3)
        s.sendall(dnsr.tcp_frame(dnsr.query(BIG, qid=i).to_wire()))
        s.close()
    q = dnsr.query("still.example.", qid=77)
    msg = tcp_router.exchange(q, transport="tcp")
    assert msg.id == 77 and dnsr.who(msg) == "ns1"


def test_max_connections(router, ns1):
    """Beyond tcp.max-connections a newcomer is served and the connection with the least
    recent activity is closed to make room for it; the others are left alone."""
    r = router({
        "workers": 1,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
        "tcp": {"max-connections": 3, "idle-timeout": "10s"},
    })

    def served(s, qid):
        s.sendall(dnsr.tcp_frame(dnsr.query("mc%d.example." % qid, qid=qid).to_wire()))
        return dns.message.from_wire(dnsr.tcp_read_msg(s)).id == qid

    held = []
    try:
        for i in range(3):
            s = socket.create_connection(("127.0.0.1", r.port), timeout=3)
            held.append(s)
            assert served(s, i), "connection %d of 3 not served" % (i + 1)
        assert served(held[0], 10) and served(held[2], 12)   # held[1] is now the oldest
        extra = socket.create_connection(("127.0.0.1", r.port), timeout=3)
        held.append(extra)
        assert served(extra, 99), "connection over tcp.max-connections not served"
        try:
            data = held[1].recv(100)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            pytest.fail("no connection closed for the newcomer over tcp.max-connections")
        assert data == b"", "the oldest connection got %r instead of being closed" % data
        assert served(held[0], 20) and served(held[2], 22), "a recent connection was closed"
        # UDP is unaffected
        assert dnsr.who(r.exchange(dnsr.query("udp.example."))) == "ns1"
    finally:
        for s in held:
            s.close()


def test_many_pipelined_queries_beyond_inflight_limit(tcp_router):
    """200 queries in one write, more than a connection keeps in flight at once."""
    n = 200
    queries = [dnsr.query("deep%d.example." % i, qid=i) for i in range(n)]
    answers = [dns.message.from_wire(a) for a in _pipeline(tcp_router.port, queries, timeout=10)]
    assert sorted(a.id for a in answers) == list(range(n))
    for a in answers:
        assert a.question == queries[a.id].question
    _assert_all_from_ns1(answers)


def test_slow_reader_does_not_block_others(tcp_router):
    """A client that pipelines many big answers and never reads must not stall other clients."""
    hog = socket.create_connection(("127.0.0.1", tcp_router.port), timeout=3)
    try:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        payload = b"".join(dnsr.tcp_frame(dnsr.query(BIG, qid=i).to_wire()) for i in range(60))
        hog.sendall(payload)
        for i in range(20):
            for transport in ("udp", "tcp"):
                start = time.monotonic()
                ans = tcp_router.exchange(dnsr.query("other%d.example." % i), transport,
                                          timeout=2)
                assert dnsr.who(ans) == "ns1"
                assert time.monotonic() - start < 1.0
    finally:
        hog.close()
    assert tcp_router.alive()


def test_pipelined_big_answers_to_a_slow_reader(router, ns1):
    """64 pipelined queries (the most read at once) for ~21 KB answers, from a client with a
    small receive buffer that waits half a second before it reads: answers pile up far past
    the point where reading stops, and every one of them still arrives (PRODUCT.md: a TCP
    client always gets the complete answer)."""
    r = router({"workers": 1, "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone(".", ["ns1"])]})
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)
    s.connect(("127.0.0.1", r.port))
    with s:
        s.sendall(b"".join(dnsr.tcp_frame(dnsr.query("big.example.", qid=i + 1).to_wire())
                           for i in range(64)))
        time.sleep(0.5)     # the pause is the scenario
        s.settimeout(10)
        ids = []
        for _ in range(64):
            msg = dns.message.from_wire(dnsr.tcp_read_msg(s))
            assert msg.rcode() == dns.rcode.NOERROR and len(msg.to_wire()) > 20000
            ids.append(msg.id)
    assert sorted(ids) == list(range(1, 65))


def test_slow_reader_of_megabytes_is_not_idle(router, ns1):
    """80 pipelined queries for ~60 KB answers, read one every 100 ms: megabytes wait in the
    kernel's send buffer, and the router's own writes stall for far longer than the idle
    timeout (0.5 s) while the client reads all the time. The client is not taken for idle,
    and every query is answered (those past the 64 read at once too)."""
    r = router({"workers": 1, "tcp": {"idle-timeout": "500ms"},
                "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone(".", ["ns1"])]})
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        s.sendall(b"".join(dnsr.tcp_frame(dnsr.query("wide.example.", qid=i).to_wire())
                           for i in range(80)))
        ids = []
        for _ in range(80):
            msg = dns.message.from_wire(dnsr.tcp_read_msg(s))
            assert msg.rcode() == dns.rcode.NOERROR and len(msg.to_wire()) > 55000
            ids.append(msg.id)
            time.sleep(0.1)     # the slow reader is the scenario
    assert sorted(ids) == list(range(80))


def _alloc_count(path):
    with open(path, "rb") as f:
        return int.from_bytes(f.read(8), "little")


def _tcp_load(port, conns, rounds, depth):
    """<conns> connections, each <rounds> times: <depth> pipelined queries, then their
    answers. Returns the number of answers other than SERVFAIL."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(conns)]
    frames = [b"".join(dnsr.tcp_frame(dnsr.query("a%d.example." % ((c * depth + i) % 100),
                                                 "TXT", qid=c * depth + i).to_wire())
                       for i in range(depth)) for c in range(conns)]
    ok = 0
    try:
        for _ in range(rounds):
            for s, f in zip(socks, frames):
                s.sendall(f)
            for s in socks:
                for _ in range(depth):
                    data = dnsr.tcp_read_msg(s)
                    ok += (data[3] & 0x0F) != dns.rcode.SERVFAIL
    finally:
        for s in socks:
            s.close()
    return ok


def test_relayed_queries_allocate_nothing(router, ns1, tmp_path):
    """A relayed TCP query takes its memory from the worker's pools (jobs, buffers), not from
    the heap: after a warm-up, 40,000 more queries over 8 pipelining connections allocate
    nothing, counted by an LD_PRELOAD shim around glibc's allocator (tests/tools/allocount.c).
    Allocating per query would count one or more per query."""
    if etcdtools.sanitized():
        pytest.skip("a sanitizer brings its own allocator")
    count = tmp_path / "allocs"
    r = router({"workers": 1, "health": {"enabled": False},
                "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone("example.", ["ns1"])]},
               env={"LD_PRELOAD": os.environ["ALLOCOUNT_SO"], "ALLOCOUNT_FILE": str(count)})
    assert _tcp_load(r.port, 8, 10, 50) == 4000  # warm-up: pools and connections fill
    before = _alloc_count(count)
    assert before > 0, "the shim counts nothing: is it loaded?"
    assert _tcp_load(r.port, 8, 100, 50) == 40000
    grew = _alloc_count(count) - before
    assert grew <= 40, "%d allocations for 40,000 relayed TCP queries" % grew


def test_stage_times_add_up_to_what_the_client_sees(router, ns1):
    """dnsrouter_tcp_stage_seconds_total splits a relayed TCP query's time into in (read to
    the backend's buffer), backend (to the answer read) and out (to the client's socket): for
    200 queries asked one at a time, every answer is counted, each stage took some time, and
    the three together are no more than the client measured from send to answer."""
    admin = "127.0.0.1:%d" % dnsr.free_port()
    r = router({"workers": 1, "health": {"enabled": False}, "admin": admin,
                "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone("example.", ["ns1"])]})
    seen = 0.0
    with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
        for i in range(200):
            frame = dnsr.tcp_frame(dnsr.query("t%d.example." % i, "TXT", qid=i).to_wire())
            t0 = time.monotonic()
            s.sendall(frame)
            msg = dns.message.from_wire(dnsr.tcp_read_msg(s))
            seen += time.monotonic() - t0
            assert msg.id == i and dnsr.who(msg) == "ns1"
    assert dnsr.metric(admin, "dnsrouter_tcp_stage_answers_total") == 200
    stages = {st: dnsr.metric(admin, "dnsrouter_tcp_stage_seconds_total", stage=st)
              for st in ("in", "backend", "out")}
    assert all(v > 0 for v in stages.values()), stages
    assert sum(stages.values()) <= seen, (stages, seen)
