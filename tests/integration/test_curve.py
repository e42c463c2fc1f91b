# SPDX-License-Identifier: MIT
# tests/integration/test_curve.py -- the DNSCurve front, with real processes only: Knot behind
# dnsrouter, the real dq client, the real CurveDNS 0.87 as the control that each test itself
# is right, and a DNSCurve client of our own (curvetools.py, PyNaCl) for what dq cannot send.
#
#   interop     dq in all four modes (streamlined/TXT x UDP/TCP) gets what Knot gives for the
#               same question; a 730-byte answer over TCP; a big answer over UDP comes back
#               TC=1 (the router's own when the box would not fit) and dq gets it over TCP;
#               the backend sees the plain query (dq's padding stripped, EDNS size lowered);
#               TXT and unpadded streamlined run through CurveDNS too, and padded streamlined
#               through CurveDNS fails (Knot answers FORMERR to dq's padding: the finding)
#   rejects     flipped MAC bit, unknown server key, truncated box, bad x1a label: no answer,
#               the right dropped counter, plain DNS on the same port unharmed
#   rotation    two keys answer; after a reload without the old one its queries are dropped
#   nonces      distinct, in the documented layout, increasing per worker, above the previous
#               run's after a restart; 10^6 through bench/curveperf when it is built
#   flood       fresh keys from one /24 held to new-keys-per-second, another prefix unharmed;
#               the same budget over TCP
#   behaviour   the router's own answers (id.server., SERVFAIL, acl REFUSED, FORMERR, AXFR
#               refused) boxed, routing by the inner question, a retry keeps the session, a
#               mixed TCP pipeline, IPv6, odd padding, the nonce file under traffic, a reload
#               turning DNSCurve off and on
#   config      a key file open to others refused, `dnsrouter -K`, `-t` on every dnscurve key
#
# The 10^6-nonce test needs CURVEPERF_BIN (bench/curveperf/); it is skipped without it.
# Metric names are the constants below (src/admin/metrics.c).

import os
import re
import stat
import struct
import subprocess
import threading
import time
from collections import defaultdict

import dns.message
import dns.rcode
import pytest

import curvetools as ct
import dnsr
import lbtools

M_QUERIES = "dnsrouter_curve_queries_total"      # {format, transport}: boxes opened
M_ANSWERS = "dnsrouter_curve_answers_total"      # {format, transport}: boxed answers sent
M_HITS = "dnsrouter_curve_key_cache_hits_total"
M_MISSES = "dnsrouter_curve_key_cache_misses_total"
M_DROPPED = "dnsrouter_curve_dropped_total"      # {reason: malformed, box, budget}
M_TRUNC = "dnsrouter_curve_truncated_total"      # UDP answers replaced by our TC=1 answer

NONCE_INSTANCE = 0x1234
MODES = [("streamlined", "udp"), ("streamlined", "tcp"), ("txt", "udp"), ("txt", "tcp")]
T_TXT, T_A = 16, 1
NO_ANSWER_WAIT = 0.3    # how long "no answer" is waited for


# ------------------------------------------------------------------------------------ helpers


def curve_conf(knot, keyfiles, admin_port=None, workers=2, backend_addr=None, **curve):
    """A router config: every name to <knot> (or <backend_addr>), dnscurve with <keyfiles>;
    <curve> adds dnscurve keys (underscores become dashes)."""
    dc = {"keys": [str(k) for k in keyfiles]}
    for k, v in curve.items():
        dc[k.replace("_", "-")] = v
    c = lbtools.conf([lbtools.backend("b1", backend_addr or knot.addr4)],
                     [dnsr.route_zone(".", ["b1"])],
                     admin="127.0.0.1:%d" % admin_port if admin_port else None,
                     workers=workers)
    c["dnscurve"] = dc
    return c


class Counters:
    """The curve counters at one moment; a - b gives the deltas."""

    def __init__(self, admin):
        m = admin.metrics()
        self.v = {}
        for name, labels, value in m.samples:
            if name.startswith("dnsrouter_curve_"):
                self.v[(name, tuple(sorted(labels.items())))] = value

    def get(self, name, **labels):
        want = set((k, str(v)) for k, v in labels.items())
        return sum(v for (n, lab), v in self.v.items() if n == name and want <= set(lab))

    def __sub__(self, other):
        d = Counters.__new__(Counters)
        keys = set(self.v) | set(other.v)
        d.v = {k: self.v.get(k, 0) - other.v.get(k, 0) for k in keys}
        return d

    def moved(self):
        return {"%s%s" % (n, dict(lab)): v for (n, lab), v in sorted(self.v.items()) if v}


def wait_counter(admin, before, name, at_least, **labels):
    """Poll until counter <name>{labels} has risen by <at_least> since <before>; the delta."""
    def risen():
        d = (Counters(admin) - before).get(name, **labels)
        return d if d >= at_least else None
    try:
        return dnsr.wait_for(risen, timeout=3, interval=0.02,
                             what="%s%r to rise by %s" % (name, labels, at_least))
    except AssertionError:
        raise AssertionError("%s%r did not rise by %s; moved: %r" % (
            name, labels, at_least, (Counters(admin) - before).moved()))


def knot_direct(knot, msg, transport="tcp"):
    """Knot's own answer to plain query bytes <msg> (raw wire)."""
    if transport == "udp":
        data = dnsr.udp_exchange(knot.port, msg)
    else:
        data = dnsr.tcp_exchange(knot.port, msg)
    assert data is not None, "Knot did not answer directly"
    return data


def dq_suffix(fmt):
    return "example" if fmt == "txt" else None


def check_nonce(snonce, workers=2, instance=NONCE_INSTANCE):
    inst, worker, _, _ = ct.nonce_fields(snonce)
    assert inst == instance, "server nonce %s: instance %d, want %d" % (
        snonce.hex(), inst, instance)
    assert worker < workers, "server nonce %s: worker %d of %d" % (snonce.hex(), worker,
                                                                   workers)


class Setup:
    pass


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def cknot(tmp_path_factory):
    """A Knot with the test zones and the t700/t490 answers (curvetools.CurveKnot)."""
    k = ct.CurveKnot("ck", tmp_path_factory.mktemp("curve-knot"))
    k.start()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory, module_router, cknot):
    """One router with one key, 2 workers, nonce-instance 0x1234, an admin endpoint."""
    d = tmp_path_factory.mktemp("curve")
    s = Setup()
    s.knot = cknot
    s.key = ct.ServerKey()
    s.keyfile = s.key.write(d / "curve.key")
    s.admin_port = dnsr.free_port()
    s.router = module_router(curve_conf(cknot, [s.keyfile], s.admin_port,
                                        nonce_instance=NONCE_INSTANCE))
    s.port = s.router.port
    s.admin = lbtools.Admin(s.admin_port)
    dnsr.wait_for(s.admin.ready, timeout=5, what="admin endpoint")
    return s


@pytest.fixture(scope="module")
def curvedns(tmp_path_factory, cknot):
    """The control: CurveDNS 0.87 in front of the same Knot, with a key of its own."""
    key = ct.ServerKey()
    c = ct.CurveDNS(tmp_path_factory.mktemp("curvedns"), key.sk, cknot.port)
    c.key = key
    c.start()
    yield c
    c.stop()


# ==================================================================================== interop


@pytest.mark.parametrize("fmt,transport", MODES)
def test_dq_through_router_matches_knot(env, fmt, transport):
    """dq in each mode gets, through the router, the records and the message size Knot gives
    for the same question; over TCP that includes a 735-byte answer (a TXT-format response of
    several 255-byte strings). Each query is counted once as opened and once as answered, in
    its own format and transport."""
    names = [("www.example", "txt", T_TXT), ("host.example", "a", T_A),
             ("nothing.here.test", "txt", T_TXT)]
    if transport == "tcp":
        names.append(("t700.example", "txt", T_TXT))
    before = Counters(env.admin)
    for name, qtype, code in names:
        r = ct.dq(env.key.dns, env.port, name, qtype, tcp=transport == "tcp",
                  suffix=dq_suffix(fmt))
        assert r.ok, r
        direct = knot_direct(env.knot, ct.plain_query(name, code))
        want = ct.records_as_dq(dns.message.from_wire(direct))
        assert want, "Knot has no answer for %s" % name
        assert r.records == want, r
        assert r.summary.startswith("%d bytes, " % len(direct)), (r.summary, len(direct))
    d = Counters(env.admin) - before
    n = len(names)
    assert d.get(M_QUERIES, format=fmt, transport=transport) == n, d.moved()
    assert d.get(M_ANSWERS, format=fmt, transport=transport) == n, d.moved()
    assert d.get(M_QUERIES) == n and d.get(M_ANSWERS) == n, d.moved()
    assert d.get(M_DROPPED) == 0 and d.get(M_TRUNC) == 0, d.moved()


@pytest.mark.parametrize("fmt", ["streamlined", "txt"])
@pytest.mark.parametrize("name,router_truncates", [("t490.example", True),
                                                   ("t700.example", False)])
def test_dq_big_answer_over_udp_retried_over_tcp(env, fmt, name, router_truncates):
    """dq asks over UDP (no EDNS: a 512-byte limit). t490 (494 bytes) fits 512 bytes plain
    but not boxed, so the router must answer with its own TC=1; t700 (735 bytes) Knot
    truncates itself. Either way dq retries over TCP and prints the whole answer."""
    before = Counters(env.admin)
    r = ct.dq(env.key.dns, env.port, name, "txt", suffix=dq_suffix(fmt))
    assert r.ok, r
    direct = knot_direct(env.knot, ct.plain_query(name))
    assert r.records == ct.records_as_dq(dns.message.from_wire(direct)), r
    assert r.summary.startswith("%d bytes, " % len(direct)), (r.summary, len(direct))
    d = Counters(env.admin) - before
    assert d.get(M_QUERIES, format=fmt, transport="udp") == 1, d.moved()
    assert d.get(M_ANSWERS, format=fmt, transport="udp") == 1, d.moved()
    assert d.get(M_QUERIES, format=fmt, transport="tcp") == 1, d.moved()
    assert d.get(M_ANSWERS, format=fmt, transport="tcp") == 1, d.moved()
    assert d.get(M_TRUNC) == (1 if router_truncates else 0), d.moved()


@pytest.mark.parametrize("fmt,transport,pad", [
    ("streamlined", "udp", False), ("streamlined", "udp", True),
    ("streamlined", "tcp", False), ("streamlined", "tcp", True),
    ("txt", "udp", False), ("txt", "tcp", False)])
def test_own_client_gets_knots_bytes(env, fmt, transport, pad):
    """Our client in each format and transport, with and without dq's padding: the opened
    answer is byte for byte Knot's answer to the unpadded query (a no-EDNS query is
    forwarded unchanged), for an answer, an A record and a REFUSED name outside Knot's
    zones, and over TCP 21 KB and 60 KB answers; the server nonce has the configured
    instance and a worker index < 2. One client key: computed once per worker at most, then
    taken from the cache."""
    c = ct.Client(env.key.pk)
    names = [("www.example", T_TXT), ("host.example", T_A), ("x.outside.invalid", T_TXT),
             ("t700.example", T_TXT)]
    if transport == "tcp":
        names += [("big.example", T_TXT), ("wide.example", T_TXT)]
    before = Counters(env.admin)
    for name, code in names:
        msg = ct.plain_query(name, code)
        a = c.exchange(env.port, msg, fmt, transport, pad=pad)
        assert a is not None, "no answer to %s %s %s" % (fmt, transport, name)
        assert a.inner == knot_direct(env.knot, msg, transport), name
        check_nonce(a.server_nonce)
        if transport == "udp":
            assert len(a.raw) <= 512
    d = Counters(env.admin) - before
    assert d.get(M_MISSES) <= 2 and d.get(M_HITS) + d.get(M_MISSES) == len(names), d.moved()


def test_txt_format_rd_and_case(env):
    """A TXT query with RD set and its name in mixed case (as resolvers randomize it) is
    answered with flags 0x84 0x00 (all dq accepts) and its question echoed as sent."""
    c = ct.Client(env.key.pk)
    msg = ct.plain_query("www.example", rd=True)
    pkt, cn, qid = c.txt(msg, suffix="ExAmPle.", rd=True)
    # upper-case every box character of the first label: the case must not matter
    n = pkt[12]
    pkt = pkt[:13] + pkt[13:13 + n].upper() + pkt[13 + n:]
    raw = ct.send_raw(env.port, pkt)
    assert raw is not None
    snonce, inner = c.open_txt(raw, pkt, cn)     # checks flags 8400 and the echoed question
    assert inner == knot_direct(env.knot, msg, "udp")


def test_udp_limits_and_edns_lowering(env):
    """Over UDP the boxed answer must fit the client's limit: 512 without EDNS (the router's
    own TC=1, question only), the inner EDNS size otherwise, which the router lowers by the
    48-byte overhead before Knot sees it, so Knot truncates itself."""
    c = ct.Client(env.key.pk)
    adm = env.admin

    # no EDNS, a 494-byte answer: boxed 542 > 512
    before = Counters(adm)
    msg = ct.plain_query("t490.example")
    a = c.exchange(env.port, msg, "streamlined", "udp")
    assert a is not None
    assert len(a.raw) <= 512 and a.tc, (len(a.raw), a.inner[:4].hex())
    m = a.message()
    assert m.rcode() == dns.rcode.NOERROR and not m.answer and not m.authority
    assert str(m.question[0].name) == "t490.example." and m.id == struct.unpack("!H", msg[:2])[0]
    assert (Counters(adm) - before).get(M_TRUNC) == 1
    # over TCP the whole of it
    a = c.exchange(env.port, msg, "streamlined", "tcp")
    assert a.inner == knot_direct(env.knot, msg) and not a.tc

    # EDNS 1232, a 746-byte answer: fits boxed (794)
    before = Counters(adm)
    msg = ct.plain_query("t700.example", edns=1232)
    whole = knot_direct(env.knot, msg)
    a = c.exchange(env.port, msg, "streamlined", "udp")
    assert not a.tc and len(a.raw) == len(whole) + 48 <= 1232
    assert ct.records_as_dq(a.message()) == ct.records_as_dq(dns.message.from_wire(whole))

    # EDNS exactly the plain answer's size: fits plain, not boxed. Lowered by 48, Knot
    # truncates it itself (the router need not replace it).
    msg = ct.plain_query("t700.example", edns=len(whole))
    a = c.exchange(env.port, msg, "streamlined", "udp")
    assert a.tc and len(a.raw) <= len(whole)
    d = Counters(adm) - before
    assert d.get(M_TRUNC) == 0, ("the router truncated what Knot should have, so the EDNS "
                                 "size reached Knot unlowered: %r" % d.moved())

    # TXT format, EDNS 1232: the 746 bytes fit its larger overhead too
    a = c.exchange(env.port, ct.plain_query("t700.example", edns=1232), "txt", "udp")
    assert not a.tc and len(a.raw) <= 1232 and len(a.message().answer) == 1


def test_backend_sees_plain_query(router, fake_backend, tmp_path):
    """What the backend gets: the inner query without dq's padding, the client's own bytes
    but the ID; over UDP an EDNS size lowered by exactly the wrapping overhead: 48 bytes
    streamlined, and for TXT the largest answer whose TXT response still fits."""
    fb = fake_backend("normal", name="fb")
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    r = router(curve_conf(None, [kf], backend_addr=fb.address))
    c = ct.Client(key.pk)

    def seen(name):
        for kind, wire, q in reversed(fb.queries):
            if q is not None and q.question and str(q.question[0].name) == name + ".":
                return kind, wire
        raise AssertionError("backend never saw %s" % name)

    def ask(name, fmt, transport, pad, edns):
        msg = ct.plain_query(name, edns=edns)
        pkt, opener = c.make(msg, fmt, pad=pad)
        raw = ct.send_raw(r.port, pkt, transport)
        assert raw is not None, "no answer for %s" % name
        snonce, inner = opener(raw)
        assert dnsr.who(dns.message.from_wire(inner)) == "fake-fb"
        return msg, pkt, seen(name)

    for i, (fmt, transport) in enumerate(MODES):
        pad = fmt == "streamlined"
        msg, _, (kind, wire) = ask("plain%d.example" % i, fmt, transport, pad, None)
        assert kind == transport
        assert wire[2:] == msg[2:], "%s %s: backend got %s, client sent %s" % (
            fmt, transport, wire.hex(), msg.hex())

    # streamlined UDP, EDNS 1232: 1184 at the backend, the rest unchanged
    msg, _, (kind, wire) = ask("edns1.example", "streamlined", "udp", True, 1232)
    assert wire[2:] == ct.plain_query("edns1.example", edns=1232 - 48)[2:], wire.hex()

    # TXT UDP, EDNS 1232: response = header 12 + question + answer RR 12 + nonce and MAC 28
    # + one length byte per 255 bytes of strings + the inner answer
    msg, pkt, (kind, wire) = ask("edns2.example", "txt", "udp", False, 1232)
    qlen = ct.question_end(pkt) - 12
    size = dns.message.from_wire(wire).payload

    def txt_len(inner):
        body = 28 + inner
        return 12 + qlen + 12 + body + (body + 254) // 255
    best = max(s for s in range(512, 1233) if txt_len(s) <= 1232)
    assert size == best, "TXT: backend saw EDNS %d, the largest that fits is %d" % (size, best)


# -------------------------------------------------------------------- CurveDNS as the control


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_control_txt_format_dq(env, curvedns, transport):
    """dq in the TXT format gets the same records through CurveDNS and through the router (the
    control shows the test's expectation is what the reference server gives)."""
    for name, qtype in (("www.example", "txt"), ("host.example", "a"), ("t700.example", "txt")):
        via_cd = ct.dq(curvedns.key.dns, curvedns.port, name, qtype, tcp=transport == "tcp",
                       suffix="example")
        via_router = ct.dq(env.key.dns, env.port, name, qtype, tcp=transport == "tcp",
                           suffix="example")
        assert via_cd.ok, via_cd
        assert via_router.ok, via_router
        assert via_router.records == via_cd.records
        assert via_router.summary == via_cd.summary


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_control_unpadded_streamlined(env, curvedns, transport):
    """Our unpadded streamlined queries: CurveDNS and the router both hand back Knot's exact
    answer."""
    for name, code in (("www.example", T_TXT), ("host.example", T_A)):
        msg = ct.plain_query(name, code)
        want = knot_direct(env.knot, msg, transport)
        a = ct.Client(curvedns.key.pk).exchange(curvedns.port, msg, "streamlined", transport)
        assert a is not None and a.inner == want, "CurveDNS control"
        a = ct.Client(env.key.pk).exchange(env.port, msg, "streamlined", transport)
        assert a is not None and a.inner == want, "router"


def test_control_padded_streamlined_finding(env, curvedns):
    """The documented finding (crypto-fronts.md §1.2): CurveDNS forwards dq's padding, Knot
    answers it FORMERR, and dq in streamlined mode through CurveDNS gets no answer; the
    router strips the padding and dq gets its answer."""
    msg = ct.plain_query("www.example")
    a = ct.Client(curvedns.key.pk).exchange(curvedns.port, msg, "streamlined", "udp", pad=True)
    assert a is not None and a.message().rcode() == dns.rcode.FORMERR
    r = ct.dq(curvedns.key.dns, curvedns.port, "www.example", "txt")
    assert not r.ok and r.failed, r
    a = ct.Client(env.key.pk).exchange(env.port, msg, "streamlined", "udp", pad=True)
    assert a is not None and a.inner == knot_direct(env.knot, msg, "udp")
    r = ct.dq(env.key.dns, env.port, "www.example", "txt")
    assert r.ok, r


# ==================================================================================== rejects


def _bad_query(kind, key):
    """(packet, reason) for one malformed or unopenable DNSCurve query."""
    c = ct.Client(key.pk)
    msg = ct.plain_query("www.example")
    if kind == "flipped-mac-streamlined":
        pkt, _ = c.streamlined(msg)
        return pkt[:52] + bytes([pkt[52] ^ 0x01]) + pkt[53:], "box"
    if kind == "flipped-mac-txt":
        nonce = c.nonce()
        box = bytearray(c.box(msg, nonce))
        box[5] ^= 0x10
        return c.txt(msg, nonce=nonce, box=bytes(box))[0], "box"
    if kind == "unknown-key-streamlined":
        return ct.Client(ct.ServerKey().pk).streamlined(msg)[0], "box"
    if kind == "unknown-key-txt":
        return ct.Client(ct.ServerKey().pk).txt(msg)[0], "box"
    if kind == "zero-client-key":
        # a low-order point: X25519 gives all zeros, libsodium refuses the shared key
        pkt, _ = c.streamlined(msg)
        return pkt[:8] + bytes(32) + pkt[40:], "box"
    if kind == "truncated-box-streamlined":
        pkt, _ = c.streamlined(msg)
        return pkt[:-7], "box"            # still 68 bytes and more: the MAC fails
    if kind == "short-box-txt":
        nonce = c.nonce()
        return c.txt(msg, nonce=nonce, box=c.box(msg, nonce)[:10])[0], "malformed"
    if kind == "bad-x1a-label":
        # 54 characters, but 'a', 'e', 'i', 'o' are not DNSCurve base32
        return c.txt(msg, key_label=b"x1a" + b"a" * 51)[0], "malformed"
    if kind == "bad-box-chars-txt":
        pkt, _, _ = c.txt(msg)
        return pkt[:13] + b"i" + pkt[14:], "malformed"
    raise ValueError(kind)


REJECTS = ["flipped-mac-streamlined", "flipped-mac-txt", "unknown-key-streamlined",
           "unknown-key-txt", "zero-client-key", "truncated-box-streamlined", "short-box-txt", "bad-x1a-label",
           "bad-box-chars-txt"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("kind", REJECTS)
def test_reject(env, kind, transport):
    """A query that does not open (or does not decode) gets nothing back, is counted under its
    reason and nothing else, and plain DNS and good DNSCurve on the same port keep answering."""
    pkt, reason = _bad_query(kind, env.key)
    before = Counters(env.admin)
    raw = ct.send_raw(env.port, pkt, transport, timeout=NO_ANSWER_WAIT)
    assert raw is None, "%s over %s was answered: %r" % (kind, transport, raw[:40])
    wait_counter(env.admin, before, M_DROPPED, 1, reason=reason)
    d = Counters(env.admin) - before
    assert d.get(M_DROPPED, reason=reason) == 1, d.moved()
    assert d.get(M_DROPPED) == 1 and d.get(M_ANSWERS) == 0 and d.get(M_QUERIES) == 0, d.moved()
    for tr in ("udp", "tcp"):
        m = dnsr.exchange(env.port, dnsr.query("www.example."), tr)
        assert dnsr.who(m) == "ck"
        a = ct.Client(env.key.pk).exchange(env.port, ct.plain_query("www.example"),
                                           "streamlined", tr)
        assert a is not None and dnsr.who(a.message()) == "ck"


def test_reject_tcp_connection_goes_on(env):
    """On one TCP connection, a box that does not open between two good queries: both good
    ones are answered, nothing is sent for the bad one, and the connection stays open."""
    c = ct.Client(env.key.pk)
    bad, _ = _bad_query("flipped-mac-streamlined", env.key)
    m1, m2 = ct.plain_query("one.example"), ct.plain_query("two.example")
    p1, o1 = c.make(m1)
    p2, o2 = c.make(m2)
    with socket_conn(env.port) as s:
        s.sendall(dnsr.tcp_frame(p1) + dnsr.tcp_frame(bad) + dnsr.tcp_frame(p2))
        got = [dnsr.tcp_read_msg(s), dnsr.tcp_read_msg(s)]
        s.settimeout(NO_ANSWER_WAIT)
        with pytest.raises((OSError, ConnectionError)):
            dnsr.tcp_read_msg(s)
    inners = set()
    for raw in got:
        for opener in (o1, o2):
            try:
                inners.add(opener(raw)[1][:2])
            except ct.CurveError:
                pass
    assert inners == {m1[:2], m2[:2]}


def socket_conn(port):
    import socket
    return socket.create_connection(("127.0.0.1", port), timeout=3)


def test_curve_only_on_listed_listeners(router, cknot, tmp_path):
    """dnscurve.listen naming one of two listeners: DNSCurve is answered there only; the
    other listener answers plain DNS and never a DNSCurve response."""
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    p1, p2 = dnsr.free_port(), dnsr.free_port()
    conf = curve_conf(cknot, [kf], listen=["127.0.0.1:%d" % p1])
    conf["listen"] = ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2]
    router(conf, port=p1)
    c = ct.Client(key.pk)
    msg = ct.plain_query("www.example")
    for fmt in ("streamlined", "txt"):
        a = c.exchange(p1, msg, fmt, "udp")
        assert a is not None and dnsr.who(a.message()) == "ck"
        pkt, opener = c.make(msg, fmt)
        raw = ct.send_raw(p2, pkt, "udp", timeout=NO_ANSWER_WAIT)
        assert raw is None or raw[:8] != ct.R_MAGIC
        if raw is not None and fmt == "txt":
            with pytest.raises(ct.CurveError):
                opener(raw)     # a plain answer from Knot about the carrier name, not a box
    assert dnsr.who(dnsr.exchange(p2, dnsr.query("www.example."))) == "ck"


# =================================================================================== rotation


def test_rotation(router, cknot, tmp_path):
    """keys: [new, old]: queries for either key are answered. After a reload with keys: [new]
    the old key's are dropped (counted as box), also for a client whose shared key the router
    had cached, and the new key's go on. A reload naming a key file open to others is refused
    and the keys stay as they were."""
    new, old = ct.ServerKey(), ct.ServerKey()
    fnew, fold = new.write(tmp_path / "new.key"), old.write(tmp_path / "old.key")
    admin_port = dnsr.free_port()
    r = router(curve_conf(cknot, [fnew, fold], admin_port))
    admin = lbtools.Admin(admin_port)
    dnsr.wait_for(admin.ready, timeout=5, what="admin")
    cnew, cold = ct.Client(new.pk), ct.Client(old.pk)
    msg = ct.plain_query("www.example")

    def answered(c, fmt, tr, timeout=2.0):
        a = c.exchange(r.port, msg, fmt, tr, timeout=timeout)
        return a is not None and dnsr.who(a.message()) == "ck"

    for c in (cnew, cold):
        for fmt, tr in MODES:
            assert answered(c, fmt, tr), (fmt, tr)
    for k in (new, old):
        for fmt in ("streamlined", "txt"):
            res = ct.dq(k.dns, r.port, "www.example", "txt", suffix=dq_suffix(fmt))
            assert res.ok, res

    r.reload(curve_conf(cknot, [fnew], admin_port))
    dnsr.wait_for(lambda: not answered(cold, "streamlined", "udp", timeout=0.3), timeout=5,
                  what="the old key dropped after the reload")
    before = Counters(admin)
    for fmt, tr in MODES:
        assert not answered(cold, fmt, tr, timeout=NO_ANSWER_WAIT), (fmt, tr)
        assert not answered(ct.Client(old.pk), fmt, tr, timeout=NO_ANSWER_WAIT), (fmt, tr)
    wait_counter(admin, before, M_DROPPED, 8, reason="box")
    d = Counters(admin) - before
    assert d.get(M_DROPPED) == 8 == d.get(M_DROPPED, reason="box"), d.moved()
    for fmt, tr in MODES:
        assert answered(cnew, fmt, tr), (fmt, tr)
    assert not ct.dq(old.dns, r.port, "www.example", "txt", timeout=1).ok
    assert ct.dq(new.dns, r.port, "www.example", "txt").ok

    # a bad key file at reload: refused, one line naming it; the running keys stay
    fbad = ct.ServerKey().write(tmp_path / "open.key", mode=0o644)
    offset = r.reload(curve_conf(cknot, [fbad, fold], admin_port))
    dnsr.wait_for(lambda: str(fbad) in r.log()[offset:], timeout=5,
                  what="the reload's error naming %s" % fbad)
    assert answered(cnew, "streamlined", "udp")
    assert not answered(cold, "streamlined", "udp", timeout=NO_ANSWER_WAIT)


def test_reload_turns_curve_off_and_on(router, cknot, tmp_path):
    """A reload without the dnscurve key turns the front off: a streamlined query gets no
    DNSCurve answer, a TXT-format one is plain DNS again (Knot answers its carrier name, no
    box). Put back, the same client is answered again."""
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    conf = curve_conf(cknot, [kf])
    r = router(conf)
    c = ct.Client(key.pk)
    msg = ct.plain_query("www.example")
    assert c.exchange(r.port, msg, "streamlined", "udp") is not None
    off = dict(conf)
    del off["dnscurve"]
    r.reload(off)

    def is_off():
        pkt, opener = c.make(msg, "txt")
        raw = ct.send_raw(r.port, pkt, "udp", timeout=1.0)
        return raw is not None and raw[2] & 0x04 and dnsr.who(dns.message.from_wire(raw)) == "ck"
    dnsr.wait_for(is_off, timeout=5, what="TXT-format queries answered as plain DNS")
    pkt, _ = c.streamlined(msg)
    raw = ct.send_raw(r.port, pkt, "udp", timeout=NO_ANSWER_WAIT)
    assert raw is None or raw[:8] != ct.R_MAGIC
    r.reload(conf)

    def is_on():
        try:
            return c.exchange(r.port, msg, "streamlined", "udp", timeout=0.3)
        except ct.CurveError:
            return None     # still the plain NOTIMP answer to "opcode 12"
    dnsr.wait_for(is_on, timeout=5, what="DNSCurve back after the reload")
    for fmt, tr in MODES:
        assert c.exchange(r.port, msg, fmt, tr) is not None


# ===================================================================================== nonces


def _nonce_run(router, conf, key, sources, n=3000):
    """Start a router, get <n> streamlined answers from a socket per source address, stop it.
    Returns (answers as (server nonce, socket number), wall ns before start, wall ns after)."""
    t0 = time.time_ns()
    r = router(conf)
    clients = [ct.Client(key.pk) for _ in range(16)]
    items = [(clients[i % 16], ct.plain_query("n%d.example" % (i % 97))) for i in range(n)]
    b = ct.Blast(r.port, items, src=sources, sockets=len(sources), window=4,
                 timeout=2.0).run()
    t1 = time.time_ns()
    assert r.stop() == 0
    assert b.bad == 0
    assert len(b.answers) >= n * 0.99, "%d of %d answered" % (len(b.answers), n)
    return [(sn, k) for _, sn, _, k in b.answers], t0, t1


def test_nonces_layout_unique_restart(router, cknot, tmp_path):
    """Thousands of answers from 2 workers: every server nonce distinct; bytes 0-1 the
    nonce-instance, byte 2 a worker index < 2, both workers seen (clients from 16 prefixes);
    the counter (bytes 3-10) near the wall clock in ns and increasing per worker on each
    socket. After a restart every worker's counters start above the previous run's."""
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    conf = curve_conf(cknot, [kf], nonce_instance=NONCE_INSTANCE)
    sources = ["127.0.%d.1" % i for i in range(16)]
    runs = []
    for run in range(2):
        answers, t0, t1 = _nonce_run(router, conf, key, sources)
        per_worker = defaultdict(list)
        last = {}
        for sn, sock in answers:
            inst, worker, counter, _ = ct.nonce_fields(sn)
            assert inst == NONCE_INSTANCE, sn.hex()
            assert worker < 2, sn.hex()
            assert t0 - 2_000_000_000 <= counter <= t1 + 1_000_000, (
                "counter %d not near the wall clock (%d..%d ns)" % (counter, t0, t1))
            prev = last.get((sock, worker))
            assert prev is None or counter > prev, (
                "worker %d: counter %d after %d on one socket" % (worker, counter, prev))
            last[(sock, worker)] = counter
            per_worker[worker].append(counter)
        assert set(per_worker) == {0, 1}, "workers seen: %r" % sorted(per_worker)
        nonces = [sn for sn, _ in answers]
        assert len(set(nonces)) == len(nonces), "a server nonce repeated"
        runs.append((set(nonces), {w: (min(v), max(v)) for w, v in per_worker.items()}))
    (n1, w1), (n2, w2) = runs
    assert not (n1 & n2), "a server nonce repeated across the restart"
    for w in (0, 1):
        assert w2[w][0] > w1[w][1], "worker %d: run 2 starts at %d, run 1 reached %d" % (
            w, w2[w][0], w1[w][1])


CURVEPERF = os.environ.get("CURVEPERF_BIN")
MILLION = 1_000_000


def curveperf(port, key, n, nfile, host="127.0.0.1"):
    """One bench/curveperf run: <n> unpadded streamlined queries (16 client keys, 100
    outstanding) to <host>:<port>, every server nonce appended to <nfile>. Its JSON."""
    import json
    cmd = [CURVEPERF, "-s", host, "-p", str(port), "-k", key.pk.hex(), "-f", "streamlined",
           "-q", "www.example.", "-t", "TXT", "-K", "16", "-c", "100", "-l", "60",
           "-n", str(n), "-j", "1", "--nonces", str(nfile)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr)
    out = json.loads(p.stdout)
    assert out["bad"] == 0 and out["nonce_errors"] == 0, p.stdout
    return out


@pytest.mark.skipif(not CURVEPERF or not os.access(CURVEPERF, os.X_OK),
                    reason="CURVEPERF_BIN (bench/curveperf/, built as build/curveperf) is "
                    "unset or not executable")
def test_nonces_million(router, cknot, tmp_path):
    """10^6 answers from 2 workers (bench/curveperf's --nonces file) repeat no server nonce
    and keep the layout; after a restart, 10^5 more repeat none either. One curveperf run
    uses one socket, which one worker serves, so the million is sent in chunks from fresh
    sockets, over IPv4 and IPv6 in turn, until both workers have answered."""
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    conf = curve_conf(cknot, [kf], nonce_instance=NONCE_INSTANCE, new_keys_per_second=0)
    nfile = tmp_path / "nonces.bin"
    chunk = MILLION // 8
    recorded = 0
    for run, want in enumerate((MILLION, MILLION // 10)):
        r = router(conf)
        got, chunks, workers = 0, 0, set()
        while got < want or len(workers) < 2:
            assert chunks < 24, "run %d: %d chunks, only worker(s) %r answered" % (
                run, chunks, workers)
            n = min(chunk, want - got) if got < want else chunk // 10
            out = curveperf(r.port, key, n, nfile, host="127.0.0.1" if chunks % 2 == 0
                            else "::1")
            assert out["ok"] >= n * 0.99, out
            size = nfile.stat().st_size
            assert size % 12 == 0
            new = size // 12 - recorded
            assert new == out["nonces_written"] and new >= out["ok"], out
            with open(nfile, "rb") as f:
                f.seek(recorded * 12)
                workers |= {f.read(12)[2]}
            recorded += new
            got += new
            chunks += 1
        assert r.stop() == 0
    data = nfile.read_bytes()
    total = len(data) // 12
    assert total == recorded and total >= MILLION * 1.1 * 0.99
    nonces = {data[i:i + 12] for i in range(0, len(data), 12)}
    assert len(nonces) == total, "%d server nonces repeated" % (total - len(nonces))
    assert {n[2] for n in nonces} == {0, 1}
    assert {n[:2] for n in nonces} == {struct.pack("!H", NONCE_INSTANCE)}


# ====================================================================================== flood


def test_fresh_key_flood_held_to_budget(router, cknot, tmp_path):
    """One /24 (127.0.0.0/24) sends ~1500 fresh client keys a second for 2 s against
    new-keys-per-second 50: about 50 a second of them are answered (a burst of up to one
    second's budget allowed) and the rest dropped as over budget, while a client from another
    prefix (127.0.1.0/24) whose key is cached keeps at least 99 % of its 200 q/s."""
    budget, rate, duration = 50, 1500, 2.0
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    admin_port = dnsr.free_port()
    r = router(curve_conf(cknot, [kf], admin_port, new_keys_per_second=budget))
    admin = lbtools.Admin(admin_port)
    dnsr.wait_for(admin.ready, timeout=5, what="admin")

    fresh = [ct.Client(key.pk) for _ in range(int(rate * duration) + 100)]
    legit = ct.Client(key.pk)
    a = legit.exchange(r.port, ct.plain_query("warm.example"), src="127.0.1.7")
    assert a is not None, "the legitimate client's first query"

    before = Counters(admin)
    flood = ct.Blast(r.port, [(c, ct.plain_query("f.example")) for c in fresh],
                     src="127.0.0.9", sockets=2, window=None, rate=rate, duration=duration,
                     timeout=1.0)
    good = ct.Blast(r.port, [(legit, ct.plain_query("g%d.example" % i))
                             for i in range(int(200 * duration))],
                    src="127.0.1.7", sockets=1, window=8, rate=200, duration=duration,
                    timeout=1.0)
    threads = [threading.Thread(target=b.run) for b in (flood, good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    d = Counters(admin) - before

    assert flood.sent >= rate * duration * 0.8, "the flood sent only %d" % flood.sent
    got = len(flood.answers)
    low, high = budget * duration * 0.6, budget * (duration + 1) * 1.2 + 5
    assert low <= got <= high, "%d fresh keys answered of %d sent, want %d..%d" % (
        got, flood.sent, low, high)
    dropped = d.get(M_DROPPED, reason="budget")
    assert dropped >= flood.sent - got - flood.sent * 0.02, (dropped, flood.sent, got, d.moved())
    assert dropped <= flood.sent - got, (dropped, flood.sent, got)
    assert len(good.answers) >= good.sent * 0.99, "legitimate client: %d of %d answered" % (
        len(good.answers), good.sent)
    assert good.sent >= 200 * duration * 0.8
    assert d.get(M_HITS) >= len(good.answers) * 0.9, d.moved()


def test_fresh_key_budget_over_tcp(router, cknot, tmp_path):
    """new-keys-per-second is per client prefix: a client of one /24 asking over TCP with a
    fresh key each time at 4x the budget gets about the budget, as over UDP. (TCP from one
    prefix is always steered to one worker, so a budget split between the workers would
    give it only budget / workers.)"""
    budget, rate, duration = 50, 200, 3.0
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    admin_port = dnsr.free_port()
    r = router(curve_conf(cknot, [kf], admin_port, new_keys_per_second=budget))
    admin = lbtools.Admin(admin_port)
    dnsr.wait_for(admin.ready, timeout=5, what="admin")
    fresh = [ct.Client(key.pk) for _ in range(int(rate * duration) + 10)]
    before = Counters(admin)
    sent, answers = ct.tcp_blast(r.port, [(c, ct.plain_query("t.example")) for c in fresh],
                                 src="127.0.0.33", conns=4, rate=rate, duration=duration)
    d = Counters(admin) - before
    assert sent >= rate * duration * 0.8
    low, high = budget * duration * 0.8, budget * (duration + 1) * 1.2 + 5
    assert low <= len(answers) <= high, (
        "%d of %d fresh keys over TCP answered at new-keys-per-second %d for %.0f s, want "
        "%d..%d; by worker: %r; %r" % (
            len(answers), sent, budget, duration, low, high,
            sorted(collections_counter(a[1][2] for a in answers).items()), d.moved()))
    assert d.get(M_DROPPED, reason="budget") == sent - len(answers), d.moved()


def collections_counter(it):
    from collections import Counter
    return Counter(it)


# ============================================================================== more behaviour


def test_router_answers_boxed(router, cknot, fake_backend, tmp_path):
    """The answers the router makes itself go back boxed too, in the query's format and
    transport: id.server. CH TXT, SERVFAIL for no route and for a silent backend, REFUSED by
    an acl, FORMERR for an inner message that does not parse; an acl drop sends nothing. A
    TXT-format query is routed by its inner question, not by its carrier name."""
    silent = fake_backend("silent", name="silent")
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    conf = lbtools.conf(
        [lbtools.backend("k", cknot.addr4), lbtools.backend("s", silent.address,
                                                             timeout="150ms")],
        [dnsr.route_zone("example.", ["k"]), dnsr.route_zone("silent.", ["s"])],
        workers=2, identity="curve-router", transfers=["127.0.0.0/8"],
        acl=[{"from": "127.0.5.0/24", "action": "refuse"},
             {"from": "127.0.6.0/24", "action": "drop"}])
    conf["dnscurve"] = {"keys": [str(kf)]}
    r = router(conf)
    c = ct.Client(key.pk)
    ch = ct.plain_query("id.server")[:-2] + b"\x00\x03"
    cases = [("id.server", ch, None, "NOERROR"),
             ("no route", ct.plain_query("x.nowhere"), None, "SERVFAIL"),
             ("silent backend", ct.plain_query("x.silent"), None, "SERVFAIL"),
             ("acl refuse", ct.plain_query("www.example"), "127.0.5.1", "REFUSED"),
             ("no questions though 5 are counted",
              struct.pack("!HHHHHH", 0x1234, 0, 5, 0, 0, 0), None, "FORMERR"),
             ("acl drop", ct.plain_query("www.example"), "127.0.6.1", None),
             ("AXFR (a transfer is not offered boxed; Knot would say NOTAUTH)",
              ct.plain_query("example", 252, edns=1232), None, "REFUSED")]
    for fmt, tr in MODES:
        for what, msg, src, rcode in cases:
            if what.startswith("AXFR") and tr == "udp":
                continue
            a = c.exchange(r.port, msg, fmt, tr, src=src,
                           timeout=NO_ANSWER_WAIT if rcode is None else 2.0)
            if rcode is None:
                assert a is None, (what, fmt, tr)
                continue
            assert a is not None, (what, fmt, tr)
            m = a.message()
            assert dns.rcode.to_text(m.rcode()) == rcode, (what, fmt, tr, m)
            if what == "id.server":
                assert dnsr.who(m) == "curve-router"
            if what.startswith("AXFR"):
                assert dnsr.ede_codes(m) == [dnsr.EDE_PROHIBITED]
    # routed by the inner question: a TXT-format carrier under silent. (whose backend never
    # answers) asking www.example gets Knot's answer at once
    for tr in ("udp", "tcp"):
        n = silent.count
        a = c.exchange(r.port, ct.plain_query("www.example"), "txt", tr, suffix="silent.")
        assert a is not None and dnsr.who(a.message()) == "ck", tr
        assert silent.count == n


def test_tcp_pipeline_mixed(env):
    """60 queries on one TCP connection at once: streamlined, TXT and plain DNS mixed, from
    several client keys; every one answered, each in its own kind, matched by nonce or ID."""
    import socket
    clients = [ct.Client(env.key.pk) for _ in range(3)]
    expect = {}     # key -> (kind, inner ID, opener)
    frames = b""
    for i in range(60):
        msg = ct.plain_query("p%d.example" % i, qid=i)
        kind = ("streamlined", "txt", "plain")[i % 3]
        c = clients[i % 3]
        if kind == "streamlined":
            pkt, cn = c.streamlined(msg, pad=i % 2 == 0)
            expect[("s", cn)] = (i, lambda raw, c=c, cn=cn: c.open_streamlined(raw, cn)[1])
        elif kind == "txt":
            pkt, cn, qid = c.txt(msg, qid=1000 + i)
            expect[("t", qid)] = (i, lambda raw, c=c, pkt=pkt, cn=cn: c.open_txt(raw, pkt, cn)[1])
        else:
            pkt = msg
            expect[("p", i)] = (i, lambda raw: raw)
        frames += dnsr.tcp_frame(pkt)
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        s.sendall(frames)
        for _ in range(60):
            raw = dnsr.tcp_read_msg(s)
            if raw[:8] == ct.R_MAGIC:
                k = ("s", raw[8:20])
            else:
                qid = struct.unpack("!H", raw[:2])[0]
                k = ("t", qid) if ("t", qid) in expect else ("p", qid)
            assert k in expect, "an answer to nothing sent: %r" % raw[:20]
            i, opener = expect.pop(k)
            inner = opener(raw)
            assert struct.unpack("!H", inner[:2])[0] == i
            m = dns.message.from_wire(inner)
            assert str(m.question[0].name) == "p%d.example." % i and dnsr.who(m) == "ck"
    assert not expect


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ipv6(env, transport):
    """DNSCurve on the [::1] listener, both formats."""
    c = ct.Client(env.key.pk)
    for fmt in ("streamlined", "txt"):
        msg = ct.plain_query("www.example")
        a = c.exchange(env.port, msg, fmt, transport, host="::1")
        assert a is not None and a.inner == knot_direct(env.knot, msg, transport)


def test_odd_padding(env):
    """A decrypted query followed by bytes that are not dq's padding: the message alone goes
    to Knot (counted), dq's padding is not counted."""
    c = ct.Client(env.key.pk)
    msg = ct.plain_query("www.example")
    before = Counters(env.admin)
    for pad in (True, 192):
        a = c.exchange(env.port, msg, "streamlined", "udp", pad=pad)
        assert a.inner == knot_direct(env.knot, msg, "udp")
    assert (Counters(env.admin) - before).get("dnsrouter_curve_odd_padding_total") == 0
    pkt, cn = c.streamlined(msg + b"\x01\x02\x03garbage")
    raw = ct.send_raw(env.port, pkt)
    assert raw is not None
    assert c.open_streamlined(raw, cn)[1] == knot_direct(env.knot, msg, "udp")
    assert (Counters(env.admin) - before).get("dnsrouter_curve_odd_padding_total") == 1


def test_nonce_file(router, cknot, tmp_path):
    """dnscurve.nonce-file under traffic on both workers: what is saved at stop (0600) is
    exactly the highest counter any worker answered with, and the next run starts above it.
    (The refusals are in test_curve_nonce_file.py.)"""
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    nf = tmp_path / "nonce.counter"
    conf = curve_conf(cknot, [kf], nonce_file=str(nf))
    r = router(conf)
    clients = [ct.Client(key.pk) for _ in range(4)]
    b = ct.Blast(r.port, [(clients[i % 4], ct.plain_query("www.example")) for i in range(400)],
                 src=["127.0.%d.1" % i for i in range(8)], sockets=8, window=4).run()
    assert len(b.answers) == 400
    highest = max(ct.nonce_fields(sn)[2] for _, sn, _, _ in b.answers)
    workers = {sn[2] for _, sn, _, _ in b.answers}
    assert r.stop() == 0
    assert stat.S_IMODE(os.stat(nf).st_mode) == 0o600
    saved = int(nf.read_text())
    # A worker that answered nothing still holds its starting counter (the clock at its
    # start), which may be the highest: exact only when both answered.
    if workers == {0, 1}:
        assert saved == highest, "saved %d, the highest counter answered was %d" % (
            saved, highest)
    else:
        assert highest <= saved <= time.time_ns()

    # restart: above the floor
    r = router(conf)
    a = clients[0].exchange(r.port, ct.plain_query("www.example"))
    assert ct.nonce_fields(a.server_nonce)[2] > saved
    assert r.stop() == 0


def test_retry_keeps_the_session(router, cknot, fake_backend, tmp_path):
    """A backend that never answers: the query is retried on the next one, and that answer
    still goes back boxed for the client, in its format and transport."""
    silent = fake_backend("silent", name="silent")
    key = ct.ServerKey()
    kf = key.write(tmp_path / "curve.key")
    conf = lbtools.conf(
        [lbtools.backend("s", silent.address, timeout="150ms", health={"fall": 100}),
         lbtools.backend("k", cknot.addr4)],
        [dnsr.route_zone(".", ["s", "k"], policy="first-available")],
        workers=2, health={"enabled": False})
    conf["dnscurve"] = {"keys": [str(kf)]}
    r = router(conf)
    c = ct.Client(key.pk)
    for i, (fmt, tr) in enumerate(MODES):
        n = silent.count
        msg = ct.plain_query("retry%d.example" % i)
        a = c.exchange(r.port, msg, fmt, tr, timeout=2.0)
        assert a is not None and a.inner == knot_direct(cknot, msg, tr), (fmt, tr)
        assert silent.count == n + 1, "the silent backend was not asked first"


# ===================================================================================== config


def test_key_file_open_to_others_refused(router, cknot, tmp_path):
    """A key file with mode 0644 is refused by `-t` and at start, with one line naming the
    file; 0600 and 0400 start."""
    key = ct.ServerKey()
    bad = key.write(tmp_path / "open.key", mode=0o644)
    conf = curve_conf(cknot, [bad])
    r = router(conf, ready=False)
    r.expect_exit = True
    rc = r.proc.wait(10)
    assert rc != 0
    lines = [x for x in r.log().splitlines() if str(bad) in x]
    assert len(lines) == 1, r.log()
    conf_path = r.conf_path
    p = dnsr.check_config(conf_path)
    assert p.returncode == 1
    errs = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(errs) == 1 and str(bad) in errs[0], p.stderr
    for mode in (0o600, 0o400):
        good = key.write(tmp_path / ("k%o.key" % mode), mode=mode)
        r = router(curve_conf(cknot, [good]))
        a = ct.Client(key.pk).exchange(r.port, ct.plain_query("www.example"))
        assert a is not None


def test_keygen(tmp_path, router, cknot):
    """`dnsrouter -K FILE`: curvedns-keygen's three lines, a 0600 file holding the secret the
    lines show, keys that belong together, and the key serves dq. On an existing file it
    fails and leaves the file as it was."""
    path = tmp_path / "new.key"
    p = subprocess.run([dnsr.ROUTER_BIN, "-K", str(path)], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3, p.stdout
    assert re.fullmatch(r"DNS public key:\tuz5[0-9b-df-hj-np-z]{51}", lines[0]), lines[0]
    assert re.fullmatch(r"Hex public key:\t[0-9a-f]{64}", lines[1]), lines[1]
    assert re.fullmatch(r"Hex secret key:\t[0-9a-f]{64}", lines[2]), lines[2]
    # the same shape as curvedns-keygen's own
    ref = subprocess.run(["/usr/sbin/curvedns-keygen"], capture_output=True, text=True,
                         timeout=10).stdout.splitlines()
    assert [x.split("\t")[0] for x in ref] == [x.split("\t")[0] for x in lines]
    f = ct.keygen_fields(p.stdout)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert path.read_text().strip() == f["Hex secret key"]
    sk = bytes.fromhex(f["Hex secret key"])
    assert ct.public(sk).hex() == f["Hex public key"]
    assert ct.dns_key(ct.public(sk)) == f["DNS public key"]
    assert ct.key_from_dns(f["DNS public key"]) == ct.public(sk)

    r = router(curve_conf(cknot, [path]))
    res = ct.dq(f["DNS public key"], r.port, "www.example", "txt")
    assert res.ok, res

    # an existing file: refused, untouched
    other = tmp_path / "existing.key"
    other.write_text("keep me\n")
    os.chmod(other, 0o640)
    p = subprocess.run([dnsr.ROUTER_BIN, "-K", str(other)], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode != 0
    assert str(other) in p.stderr
    assert "Hex secret key" not in p.stdout
    assert other.read_text() == "keep me\n"
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o640


def _conf_text(dnscurve_lines, listen='"127.0.0.1:15353"'):
    return ("listen: %s\nbackends:\n  - { name: b, address: \"127.0.0.1:5300\" }\n"
            "routes:\n  - { zone: ., backends: [b] }\n" % listen) + dnscurve_lines


@pytest.mark.parametrize("name", ["open-key", "missing-key", "not-hex", "four-keys",
                                  "same-key-twice", "no-keys", "listen-not-a-listener",
                                  "listen-bad", "key-cache-not-power", "nonce-instance-big",
                                  "budget-negative", "unknown-key"])
def test_bad_curve_config(tmp_path, name):
    """`dnsrouter -t` rejects each bad dnscurve setting with one `FILE:LINE: problem` at the
    line that holds it."""
    key = ct.ServerKey()
    k1 = key.write(tmp_path / "k1.key")
    k1copy = key.write(tmp_path / "k1copy.key")
    k2, k3, k4 = (ct.ServerKey().write(tmp_path / ("k%d.key" % i)) for i in (2, 3, 4))
    kopen = ct.ServerKey().write(tmp_path / "open.key", mode=0o640)
    notkey = tmp_path / "not.key"
    notkey.write_text("this is not a key\n")
    os.chmod(notkey, 0o600)
    q = '"%s"'
    texts = {
        "open-key": "dnscurve:\n  keys:\n    - %s\n    - %s  # @@\n" % (q % k1, q % kopen),
        "missing-key": "dnscurve:\n  keys: [ %s ]  # @@\n" % (q % (tmp_path / "none.key")),
        "not-hex": "dnscurve:\n  keys: [ %s ]  # @@\n" % (q % notkey),
        "four-keys": "dnscurve:\n  keys:\n    - %s\n    - %s\n    - %s\n    - %s  # @@\n"
                     % (q % k1, q % k2, q % k3, q % k4),
        "same-key-twice": "dnscurve:\n  keys:\n    - %s\n    - %s  # @@\n"
                          % (q % k1, q % k1copy),
        "no-keys": "dnscurve: { listen: both }  # @@\n",
        "listen-not-a-listener": "dnscurve: { keys: [ %s ], listen: [ \"127.0.0.1:15354\" ] }"
                                 "  # @@\n" % (q % k1),
        "listen-bad": "dnscurve:\n  keys: [ %s ]\n  listen: [ nowhere ]  # @@\n" % (q % k1),
        "key-cache-not-power": "dnscurve:\n  keys: [ %s ]\n  key-cache: 1000  # @@\n"
                               % (q % k1),
        "nonce-instance-big": "dnscurve:\n  keys: [ %s ]\n  nonce-instance: 65536  # @@\n"
                              % (q % k1),
        "budget-negative": "dnscurve:\n  keys: [ %s ]\n  new-keys-per-second: -1  # @@\n"
                           % (q % k1),
        "unknown-key": "dnscurve:\n  keys: [ %s ]\n  nonce-instanse: 1  # @@\n" % (q % k1),
    }
    problem = dnsr.assert_config_error_at_marker(tmp_path, _conf_text(texts[name]), name)
    named = {"open-key": kopen, "missing-key": tmp_path / "none.key", "not-hex": notkey,
             "same-key-twice": k1copy}.get(name)
    if named is not None:
        assert str(named) in problem, problem


def test_good_curve_config(tmp_path):
    """`dnsrouter -t` accepts every dnscurve key at a good value."""
    k1 = ct.ServerKey().write(tmp_path / "k1.key")
    k2 = ct.ServerKey().write(tmp_path / "k2.key", mode=0o400)
    text = _conf_text(
        "dnscurve:\n  keys: [ \"%s\", \"%s\" ]\n  listen: [ \"127.0.0.1:15353\" ]\n"
        "  nonce-instance: 65535\n  key-cache: 1024\n  new-keys-per-second: 0\n"
        "  nonce-file: \"%s\"\n" % (k1, k2, tmp_path / "nonces"),
        listen='[ "127.0.0.1:15353", "[::1]:15353" ]')
    path = tmp_path / "good.yaml"
    path.write_text(text)
    p = dnsr.check_config(path)
    assert p.returncode == 0, p.stderr
