# SPDX-License-Identifier: MIT
# Timeouts, retry on another backend, and backend answers that must not be relayed
# (wrong ID, wrong question, wrong source address).

import socket
import time

import dns.message
import dns.rcode
import pytest

import dnsr
from dnsr import route_zone

TIMEOUT = 0.3
MARGIN = 0.6            # scheduling + timer-wheel granularity
LIMIT = 2 * TIMEOUT + MARGIN
# These tests are about timeouts on live traffic: no active health checks, and a `fall` so
# high that passive checks (which still apply) never take a silent backend out between the
# queries, so it is still tried.
NO_HEALTH = {"enabled": False, "fall": 1000}


def _single(fake, global_timeout=None, backend_timeout="300ms"):
    conf = {
        "workers": 2,
        "health": NO_HEALTH,
        "backends": [dict({"name": "f", "address": fake.address},
                          **({"timeout": backend_timeout} if backend_timeout else {}))],
        "routes": [route_zone(".", ["f"])],
    }
    if global_timeout:
        conf["timeout"] = global_timeout
    return conf


def _timed(r, q, transport="udp", timeout=5.0):
    start = time.monotonic()
    ans = r.exchange(q, transport=transport, timeout=timeout)
    return ans, time.monotonic() - start


def _assert_servfail(q, ans, elapsed, ede=(dnsr.EDE_NETWORK_ERROR,)):
    assert ans.id == q.id
    assert ans.rcode() == dns.rcode.SERVFAIL, "got %s (%r)" % (dnsr.rcode_text(ans),
                                                             dnsr.txt_strings(ans))
    assert ans.question == q.question
    assert not ans.answer
    assert elapsed <= LIMIT, "SERVFAIL after %.2fs, limit %.2fs" % (elapsed, LIMIT)
    if q.edns >= 0:
        codes = dnsr.ede_codes(ans)
        assert len(codes) == 1 and codes[0] in ede, "EDE %r, want one of %r" % (codes, ede)
    else:
        assert ans.edns < 0


@pytest.mark.parametrize("where", ["backend", "global"])
def test_silent_backend_servfail(router, fake_backend, where):
    fake = fake_backend("silent")
    if where == "backend":
        # the per-backend timeout overrides a long global one
        conf = _single(fake, global_timeout="5s", backend_timeout="300ms")
    else:
        conf = _single(fake, global_timeout="300ms", backend_timeout=None)
    r = router(conf)
    for transport in ("udp", "tcp"):
        for edns in (True, False):
            q = dnsr.query("silent.example.", edns=edns)
            ans, elapsed = _timed(r, q, transport)
            _assert_servfail(q, ans, elapsed)
            assert elapsed >= TIMEOUT * 0.8, "SERVFAIL after %.2fs, before the timeout" % elapsed
    assert fake.count >= 4, "the backend did not receive the queries"


def test_silent_and_real_backend_retry(router, fake_backend, ns1):
    silent = fake_backend("silent", name="silent")
    r = router({
        "workers": 2,
        "timeout": "300ms",
        "health": NO_HEALTH,
        "backends": [{"name": "silent", "address": silent.address},
                     {"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone("example.", ["silent", "ns1"])],
    })
    n = 20
    # all at once from one socket, so the test takes about one timeout, not n of them
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", r.port))
        queries = {}
        for i in range(n):
            q = dnsr.query("retry%d.example." % i, qid=0x1000 + i, edns=(i % 2 == 0))
            queries[q.id] = q
            s.send(q.to_wire())
        got = {}
        deadline = time.monotonic() + LIMIT + 1.0
        while len(got) < n and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(65535)
            except socket.timeout:
                break
            msg = dns.message.from_wire(data)
            assert msg.id not in got, "two answers for ID %#x" % msg.id
            got[msg.id] = msg
    missing = sorted(set(queries) - set(got))
    assert not missing, "%d of %d queries unanswered" % (len(missing), n)
    for qid, msg in got.items():
        assert msg.question == queries[qid].question
        assert msg.rcode() == dns.rcode.NOERROR, "%s: %s" % (queries[qid].question[0],
                                                           dnsr.rcode_text(msg))
        assert dnsr.who(msg) == "ns1"
    assert silent.count >= 1, "round robin never tried the silent backend, retry not exercised"
    # TCP clients are retried too
    for i in range(4):
        q = dnsr.query("tretry%d.example." % i)
        ans, elapsed = _timed(r, q, "tcp")
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1"
        assert elapsed <= LIMIT


def test_unreachable_backend_servfail(router, free_port):
    """Nothing listens at the backend's address (ICMP port unreachable)."""
    port = free_port()
    r = router({
        "timeout": "300ms",
        "backends": [{"name": "dead", "address": "127.0.0.1:%d" % port}],
        "routes": [route_zone(".", ["dead"])],
    })
    for transport in ("udp", "tcp"):
        for edns in (True, False):
            q = dnsr.query("dead.example.", edns=edns)
            ans, elapsed = _timed(r, q, transport)
            _assert_servfail(q, ans, elapsed, ede=(dnsr.EDE_NO_REACHABLE_AUTHORITY,
                                                   dnsr.EDE_NETWORK_ERROR))


def test_slow_backend_within_timeout_answered(router, fake_backend):
    fake = fake_backend("slow", delay=0.1)
    r = router(_single(fake, backend_timeout="500ms"))
    for transport in ("udp", "tcp"):
        q = dnsr.query("slow.example.", edns=True)
        ans, elapsed = _timed(r, q, transport)
        assert ans.rcode() == dns.rcode.NOERROR
        assert dnsr.who(ans) == "fake-fake"
        assert elapsed >= 0.09



@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_backend_error_without_question_relayed(router, fake_backend, transport):
    """A backend that answers FORMERR with no question section (as some servers do for a query
    they cannot parse) has answered: the client gets that FORMERR at once, with its own ID,
    not a SERVFAIL after the timeout, and the backend is not charged a timeout."""
    fake = fake_backend("bare-formerr")
    r = router(_single(fake, backend_timeout="2s"))
    q = dnsr.query("bare.example.")
    wire = q.to_wire()
    start = time.monotonic()
    if transport == "udp":
        data = dnsr.udp_exchange(r.port, wire, timeout=3)
    else:
        data = dnsr.tcp_exchange(r.port, wire, timeout=3)
    elapsed = time.monotonic() - start
    assert data is not None
    assert data[:2] == wire[:2] and data[2] & 0x80 and data[3] & 0x0F == dns.rcode.FORMERR
    assert elapsed < 1.0, "answered after %.2f s: the bare FORMERR was dropped" % elapsed


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_question_less_nxdomain_not_accepted(router, fake_backend, transport):
    """A 12-byte NXDOMAIN with the right ID and no question (what a forger who guessed the ID
    sends) is not an answer: only FORMERR, NOTIMP and REFUSED may come without the question.
    The client gets the backend's real answer that follows it."""
    fake = fake_backend("bare-nxdomain-then-right")
    r = router(_single(fake, backend_timeout="2s"))
    for i in range(5):
        q = dnsr.query("forged%d.example." % i)
        wire = q.to_wire()
        if transport == "udp":
            data = dnsr.udp_exchange(r.port, wire, timeout=3)
        else:
            data = dnsr.tcp_exchange(r.port, wire, timeout=3)
        assert data is not None
        ans = dns.message.from_wire(data)
        assert ans.id == q.id
        assert ans.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(ans.rcode())
        assert dnsr.who(ans) == "fake-fake"


BAD_MODES = {
    "wrong-id": ("udp", "tcp"),
    "wrong-qname": ("udp", "tcp"),
    "wrong-qtype": ("udp", "tcp"),
    "wrong-source": ("udp",),
}


@pytest.mark.parametrize("mode", sorted(BAD_MODES))
def test_bogus_backend_answer_not_relayed(router, fake_backend, mode):
    fake = fake_backend(mode)
    r = router(_single(fake))
    for transport in BAD_MODES[mode]:
        q = dnsr.query("bogus.example.", edns=True)
        wire = q.to_wire()
        start = time.monotonic()
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect(("127.0.0.1", r.port))
                s.send(wire)
                s.settimeout(LIMIT + 1)
                first = s.recv(65535)
                elapsed = time.monotonic() - start
                # anything else arriving for this client is a relayed bogus answer
                s.settimeout(0.3)
                try:
                    extra = s.recv(65535)
                except socket.timeout:
                    extra = None
        else:
            with socket.create_connection(("127.0.0.1", r.port), timeout=LIMIT + 1) as s:
                s.sendall(dnsr.tcp_frame(wire))
                first = dnsr.tcp_read_msg(s)
                elapsed = time.monotonic() - start
                s.settimeout(0.3)
                try:
                    extra = dnsr.tcp_read_msg(s)
                except (socket.timeout, ConnectionError):
                    extra = None
        ans = dns.message.from_wire(first)
        _assert_servfail(q, ans, elapsed)
        assert extra is None, "a second answer reached the client: %r" % (extra,)
    assert fake.count >= len(BAD_MODES[mode])


def test_wrong_id_then_right_answer_relayed(router, fake_backend):
    """A bogus answer is dropped without dropping the query: the real answer still gets through."""
    fake = fake_backend("wrong-id-then-right")
    r = router(_single(fake))
    for transport in ("udp", "tcp"):
        q = dnsr.query("late.example.", edns=True)
        ans, elapsed = _timed(r, q, transport)
        assert ans.rcode() == dns.rcode.NOERROR, "%s: %s after %.3fs, EDE %r" % (
            transport, dnsr.rcode_text(ans), elapsed, dnsr.ede_codes(ans))
        assert ans.id == q.id
        assert dnsr.who(ans) == "fake-fake"
        assert elapsed < TIMEOUT, "answer waited for the timeout (%.2fs)" % elapsed


def test_late_answer_after_retry_not_relayed(router, fake_backend, ns1):
    """The slow backend answers after the retry went to ns1: the client gets one answer only."""
    slow = fake_backend("slow", name="slow", delay=0.6)
    r = router({
        "workers": 1,
        "timeout": "300ms",
        "health": NO_HEALTH,
        "backends": [{"name": "slow", "address": slow.address},
                     {"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone("example.", ["slow", "ns1"])],
    })
    n = 6
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", r.port))
        for i in range(n):
            s.send(dnsr.query("late%d.example." % i, qid=0x2000 + i).to_wire())
        answers = []
        s.settimeout(3)
        while len(answers) < n:
            try:
                answers.append(dns.message.from_wire(s.recv(65535)))
            except socket.timeout:
                break
        assert slow.count >= 1, "retry path not exercised"
        # wait until the slow backend has sent its late answers, then drain
        dnsr.wait_for(lambda: slow.idle and slow.sent >= slow.count, 3,
                      what="slow backend sent its late answers")
        s.settimeout(0.3)
        try:
            while True:
                answers.append(dns.message.from_wire(s.recv(65535)))
        except socket.timeout:
            pass
    ids = sorted(a.id for a in answers)
    assert ids == [0x2000 + i for i in range(n)], "answers by ID: %r" % [hex(i) for i in ids]
    for a in answers:
        assert a.rcode() == dns.rcode.NOERROR and dnsr.who(a) == "ns1", (
            a.question[0], dnsr.rcode_text(a), dnsr.txt_strings(a))


def test_retry_once_on_another_backend(router, fake_backend):
    """Three silent backends: each query is tried on exactly two different backends, then
    SERVFAIL after about two timeouts."""
    fakes = [fake_backend("silent", name="s%d" % i) for i in range(3)]
    r = router({
        "workers": 1,
        "timeout": "300ms",
        "health": NO_HEALTH,
        "backends": [{"name": f.name, "address": f.address} for f in fakes],
        "routes": [route_zone(".", [f.name for f in fakes])],
    })
    for i, transport in enumerate(("udp", "tcp", "udp")):
        before = [f.count for f in fakes]
        q = dnsr.query("twice%d.example." % i, edns=True)
        ans, elapsed = _timed(r, q, transport)
        _assert_servfail(q, ans, elapsed)
        assert elapsed >= 2 * TIMEOUT * 0.8, "SERVFAIL after %.2fs: fewer than two tries" % elapsed
        tries = [f.count - b for f, b in zip(fakes, before)]
        assert sorted(tries) == [0, 1, 1], "tries per backend %r (want two different ones)" % tries


@pytest.mark.parametrize("mode", ["normal", "wrong-id", "wrong-source"])
def test_ipv6_backend_answer_checks(router, fake_backend, mode):
    fake = fake_backend(mode, family=6)
    r = router(_single(fake))
    q = dnsr.query("v6.example.", edns=True)
    ans, elapsed = _timed(r, q, "udp")
    if mode == "normal":
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "fake-fake"
    else:
        _assert_servfail(q, ans, elapsed)
    assert fake.count >= 1


def test_large_queries_do_not_take_retries_away(router, fake_backend, ns1):
    """The copies kept for retries: while one query waits for a backend that drops it, another
    client pushes over 4 MB of large (4 KB) queries through the router. The waiting query is
    still retried on the other backend (an ordinary query keeps its copy in its own slot;
    large ones share a ring and can only push each other out)."""
    import dns.edns
    lossy = fake_backend("drop-prefixed", name="lossy")
    good = fake_backend("normal", name="good")
    r = router({"workers": 1, "health": NO_HEALTH,
                "backends": [{"name": "lossy", "address": lossy.address, "timeout": "1s"},
                             {"name": "good", "address": good.address, "timeout": "1s"},
                             {"name": "sink", "address": ns1.addr4}],
                "routes": [route_zone("flood.", ["sink"]),
                           route_zone(".", ["lossy", "good"], policy="first-available")]})
    waiting = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        q = dnsr.query("drop1.example.")
        waiting.sendto(q.to_wire(), ("127.0.0.1", r.port))
        big = dnsr.query("x.flood.", "A",
                         options=[dns.edns.GenericOption(65001, b"\0" * 3950)]).to_wire(
                             max_size=65535)
        assert 3900 <= len(big) <= 4096
        flood.settimeout(2.0)
        answered = 0
        start = time.monotonic()
        for _ in range(110):            # 1,100 x ~4 KB: 4.4 MB, more than the 4 MiB ring
            for _ in range(10):         # (a few at a time: no socket buffer overflows)
                flood.sendto(big, ("127.0.0.1", r.port))
            for _ in range(10):
                flood.recv(65535)       # paced by the answers: every one was forwarded
                answered += 1
        assert answered == 1100
        assert time.monotonic() - start < 0.9, "the flood outlasted the 1 s timeout"
        waiting.settimeout(3.0)
        ans = dns.message.from_wire(waiting.recv(65535))
        assert ans.id == q.id
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "fake-good", \
            "the waiting query was not retried: %s" % dnsr.rcode_text(ans)
    finally:
        waiting.close()
        flood.close()
