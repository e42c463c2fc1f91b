# SPDX-License-Identifier: MIT
# Client-address passing per backend: the PROXY protocol v2 header (HAProxy spec).
#
#   client-address: none               # none | ecs | proxy-v2, globally and per backend
#   backends:
#     - { name: pdns, address: "127.0.0.1:5310", client-address: proxy-v2 }
#
# Every query to a proxy-v2 backend, UDP and TCP, starts with a PROXY v2 header carrying the
# client's address and port and the router listener's address and port; over TCP the header
# comes once at the start of a backend connection, which carries one client's queries only.
# Answers come back plain. Health checks carry a LOCAL header with no address.
#
# The backend is a real PowerDNS Authoritative 4.7 (pdnstools.PdnsServer, started here, not
# the Debian service) with `proxy-protocol-from=127.0.0.1,::1`: it drops anything from the
# router without a header, and `who.example.` / `*.who.example.` (a LUA record) answer with
# the address and port PowerDNS took from the header; its log shows each query's header
# address. A Python echo backend (pdnstools.ProxyEchoBackend) shows the exact header bytes,
# including the destination (the router's listener) PowerDNS neither logs nor exposes.
#
# The first section checks PowerDNS itself (no router), so the harness is known good.

import socket
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import dnsr
import lbtools as lb
import pdnstools
from dnsr import route_zone
from pdnstools import SIG, local_v2, local_v2_with_addresses, proxy_v2, with_port

SOURCES = ["127.0.0.1", "127.0.1.1", "127.2.3.4", "::1"]
ROUTER_PEER = "127.0.0.1"        # where the router's packets to 127.0.0.1:<pdns> come from
NO_HEALTH = {"enabled": False}   # the query tests leave the checks to the health tests
FAST_HEALTH = {"interval": "200ms", "timeout": "200ms", "fall": 2, "rise": 2}

_seq = [0]


def uniq(tag):
    """A fresh name under *.who.example.: its log line belongs to one query."""
    _seq[0] += 1
    return "q%d-%s-%d.who.example." % (_seq[0], tag.replace(".", "-").replace(":", "x"),
                                       int(time.monotonic() * 1000) % 100000)


def fam_of(ip):
    return 6 if ":" in ip else 4


def txt_of(wire):
    return dnsr.txt_strings(dns.message.from_wire(wire))


# ------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def pdns(tmp_path_factory):
    p = pdnstools.PdnsServer(tmp_path_factory.mktemp("pdns"), name="pdns")
    p.start()
    yield p
    p.stop()


@pytest.fixture
def echo():
    e = pdnstools.ProxyEchoBackend("echo").start()
    yield e
    e.stop()


def pdns_conf(pdns, mode="proxy-v2", health=NO_HEALTH, default=None, admin=None):
    b = lb.backend("pdns", pdns.addr4, **{"client-address": mode})
    c = lb.conf([b], [route_zone("example.", ["pdns"])], health=health, admin=admin)
    if default is not None:
        c["client-address"] = default
    return c


@pytest.fixture(scope="module")
def pdns_router(module_router, pdns):
    """One router in front of pdns (proxy-v2, no health checks) for the query tests."""
    return module_router(pdns_conf(pdns))


# ------------------------------------------------------------------------ client sockets

def udp_from(src, port, wires, timeout=2.0):
    """Send <wires> from one socket bound to <src>; (source port, [answer or None])."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        sport = s.getsockname()[1]
        s.connect((dnsr.host_of(fam_of(src)), port))
        out = []
        for w in wires:
            s.send(w)
            s.settimeout(timeout)
            try:
                while True:
                    data = s.recv(65535)
                    if data[:2] == w[:2]:
                        break
            except socket.timeout:
                data = None
            out.append(data)
        return sport, out


def tcp_open(src, port, timeout=3.0):
    s = socket.create_connection((dnsr.host_of(fam_of(src)), port), timeout=timeout,
                                 source_address=(src, 0))
    return s


def tcp_read_by_id(s, wires):
    """Read len(wires) answers (in any order) and return them in the order of <wires>."""
    by_id = {}
    for _ in wires:
        a = dnsr.tcp_read_msg(s)
        by_id[a[:2]] = a
    return [by_id.get(w[:2]) for w in wires]


def who_queries(n, tag):
    names = [uniq(tag) for _ in range(n)]
    wires = []
    used = set()
    for name in names:
        qid = dnsr.rand_id()
        while qid in used:
            qid = dnsr.rand_id()
        used.add(qid)
        wires.append(dnsr.query(name, "TXT", qid=qid).to_wire())
    return names, wires


def assert_logged(pdns, names, transport, client, peer=ROUTER_PEER):
    """Each name reached pdns once, over <transport>, from <peer> (the router), with a PROXY
    header whose source is <client>."""
    def all_there():
        return all(pdns.queries_for(n) for n in names)
    dnsr.wait_for(all_there, 3, what="pdns log lines for %d queries" % len(names))
    for n in names:
        got = pdns.queries_for(n)
        assert len(got) == 1, "pdns logged %s %d times: %r" % (n, len(got), got)
        t, got_peer, header_src, _, qtype = got[0]
        assert (t, got_peer, header_src, qtype) == (transport, peer, client, "TXT"), (
            "pdns saw %s as %r, want %s from %s with header source %s"
            % (n, got[0], transport, peer, client))


# ==================================================== 1. PowerDNS itself (no router involved)

@pytest.mark.parametrize("family", [4, 6])
def test_pdns_drops_plain_udp_query(pdns, family):
    name = uniq("plain")
    got = pdnstools.pdns_udp(pdns.port, dnsr.query(name).to_wire(), family)
    assert got is None, "pdns answered a query without a PROXY header"
    # and the same query with a header is answered: the drop is the missing header
    src = ("192.0.2.7", 4000) if family == 4 else ("2001:db8::7", 4000)
    dst = (dnsr.host_of(family), pdns.port)
    got = pdnstools.pdns_udp(pdns.port, proxy_v2(src, dst) + dnsr.query(name).to_wire(), family)
    assert got is not None and txt_of(got) == [with_port(*src)]


def test_pdns_resets_plain_tcp(pdns):
    names, wires = who_queries(1, "plain-tcp")
    assert pdnstools.pdns_tcp(pdns.port, b"", wires) == [None]
    assert pdns.queries_for(names[0]) == []


@pytest.mark.parametrize("src,dst", [
    (("192.0.2.55", 4242), ("127.0.0.1", 53)),
    (("127.0.1.1", 40000), ("127.0.0.1", 5353)),
    (("2001:db8::9", 4249), ("::1", 53)),
], ids=["v4", "v4-loopback", "v6-over-v4"])
def test_pdns_answers_proxy_header_udp(pdns, src, dst):
    names, wires = who_queries(1, "hdr-udp")
    got = pdnstools.pdns_udp(pdns.port, proxy_v2(src, dst, "udp") + wires[0])
    assert got is not None, "no answer to a query with a PROXY v2 header"
    assert got[:2] == wires[0][:2] and not got.startswith(SIG), "answer carries a header"
    assert txt_of(got) == [with_port(*src)]
    assert_logged(pdns, names, "udp", src[0])


@pytest.mark.parametrize("family", [4, 6])
def test_pdns_answers_proxy_header_tcp_once(pdns, family):
    """Over TCP the header comes once, then several length-prefixed queries in one write."""
    src = ("192.0.2.57", 4246) if family == 4 else ("2001:db8::57", 4246)
    dst = (dnsr.host_of(family), pdns.port)
    names, wires = who_queries(3, "hdr-tcp")
    got = pdnstools.pdns_tcp(pdns.port, proxy_v2(src, dst, "tcp"), wires, family)
    assert all(g is not None for g in got), got
    assert [txt_of(g) for g in got] == [[with_port(*src)]] * 3
    assert_logged(pdns, names, "tcp", src[0], peer=dnsr.host_of(family))


def test_pdns_answers_local_header(pdns):
    names, wires = who_queries(2, "local")
    got = pdnstools.pdns_udp(pdns.port, local_v2() + wires[0])
    assert got is not None and txt_of(got) == ["0.0.0.0:0"]
    got = pdnstools.pdns_tcp(pdns.port, local_v2(), wires[1:])
    assert got[0] is not None and txt_of(got[0]) == ["0.0.0.0:0"]
    assert pdns.queries_for(names[0])[0][:3] == ("udp", "127.0.0.1", "0.0.0.0")
    assert pdns.queries_for(names[1])[0][:3] == ("tcp", "127.0.0.1", "0.0.0.0")
    # the health check's own question
    q = dnsr.query("id.server.", "TXT", "CH", qid=dnsr.rand_id())
    got = pdnstools.pdns_udp(pdns.port, local_v2() + q.to_wire())
    assert got is not None and txt_of(got) == ["pdns"]
    assert dns.message.from_wire(got).rcode() == 0


def test_pdns_drops_local_header_with_addresses(pdns):
    """PowerDNS 4.7 drops a LOCAL header that carries addresses (UDP: no answer; TCP: the
    connection is reset), which is why a health check's LOCAL header must carry none."""
    names, wires = who_queries(2, "local-addr")
    src, dst = ("192.0.2.56", 4243), ("127.0.0.1", pdns.port)
    assert pdnstools.pdns_udp(pdns.port, local_v2_with_addresses(src, dst) + wires[0]) is None
    assert pdnstools.pdns_tcp(pdns.port, local_v2_with_addresses(src, dst, "tcp"),
                              wires[1:]) == [None]
    assert pdns.queries_for(names[0]) == [] and pdns.queries_for(names[1]) == []


def test_pdns_header_from_unlisted_source_dropped(pdns):
    """Only proxy-protocol-from may send a header; others are answered plain."""
    names, wires = who_queries(2, "unlisted")
    hdr = proxy_v2(("192.0.2.1", 1), ("127.0.0.1", pdns.port))
    assert pdnstools.pdns_udp(pdns.port, hdr + wires[0], src="127.2.3.4") is None
    got = pdnstools.pdns_udp(pdns.port, wires[1], src="127.2.3.4")
    assert got is not None and txt_of(got)[0].startswith("127.2.3.4:")


def test_pdns_is_this_tests_own_process(pdns):
    """The process answering is the one started here with its own config dir."""
    with open("/proc/%d/cmdline" % pdns.proc.pid, "rb") as f:
        argv = f.read().split(b"\0")
    assert ("--config-dir=%s" % pdns.dir).encode() in argv
    conf = (pdns.dir / "pdns.conf").read_text()
    assert "security-poll-suffix=\n" in conf and "webserver=no" in conf and "api=no" in conf


def test_echo_backend_reads_headers(echo):
    """The echo backend (no router): a UDP header, a TCP header once before two queries."""
    src, dst = ("127.0.1.1", 4000), ("127.0.0.1", 53)
    names, wires = who_queries(3, "echo")
    got = pdnstools.pdns_udp(echo.port, proxy_v2(src, dst, "udp") + wires[0])
    assert txt_of(got) == [with_port(*src)]
    got = pdnstools.pdns_tcp(echo.port, proxy_v2(src, dst, "tcp"), wires[1:])
    assert [txt_of(g) for g in got] == [[with_port(*src)]] * 2
    recs = echo.snapshot()
    assert [(r[0], r[2]["family"], r[2]["src"], r[2]["dst"], r[3]) for r in recs] == [
        ("udp", 0x12, src, dst, names[0]), ("tcp", 0x11, src, dst, names[1]),
        ("tcp", 0x11, src, dst, names[2])]
    assert echo.bad == []


# ============================================================= 2. UDP through the router

@pytest.mark.parametrize("src", SOURCES)
def test_udp_client_address_reaches_pdns(pdns_router, pdns, src):
    names, wires = who_queries(3, "udp-" + src)
    sport, got = udp_from(src, pdns_router.port, wires)
    assert all(g is not None for g in got), "no answer through the router from %s" % src
    for g in got:
        m = dns.message.from_wire(g)
        assert m.rcode() == 0 and not g.startswith(SIG)
        assert dnsr.txt_strings(m) == [with_port(src, sport)], (
            "pdns saw another querier than the client %s:%d" % (src, sport))
    assert_logged(pdns, names, "udp", src)


@pytest.mark.parametrize("src", SOURCES)
def test_udp_other_names_answered(pdns_router, src):
    """Ordinary answers (A, AAAA, SOA, wildcard TXT) come back plain and whole."""
    for name, rdtype, want in (("www.example.", "A", "192.0.2.80"),
                               ("host.example.", "AAAA", "2001:db8::1"),
                               ("anything.example.", "TXT", "pdns")):
        q = dnsr.query(name, rdtype, qid=dnsr.rand_id())
        _, (got,) = udp_from(src, pdns_router.port, [q.to_wire()])
        assert got is not None
        m = dns.message.from_wire(got)
        assert m.rcode() == 0 and m.id == q.id and m.question == q.question
        texts = [rd.to_text().strip('"') for rrset in m.answer for rd in rrset]
        assert texts == [want]


@pytest.mark.parametrize("src", SOURCES)
def test_udp_header_bytes(router, echo, src):
    """The exact header: PROXY, UDP4/UDP6, the client's address and port, the listener's."""
    b = lb.backend("echo", echo.addr4, **{"client-address": "proxy-v2"})
    r = router(lb.conf([b], [route_zone("example.", ["echo"])], health=NO_HEALTH))
    names, wires = who_queries(2, "hdr-" + src)
    sport, got = udp_from(src, r.port, wires)
    assert [txt_of(g) if g else None for g in got] == [[with_port(src, sport)]] * 2
    recs = [x for x in echo.snapshot() if x[3] in names]
    assert len(recs) == 2, recs
    for transport, _, hdr, _, _, _ in recs:
        assert transport == "udp" and hdr is not None, "query reached the backend without header"
        assert hdr["command"] == pdnstools.CMD_PROXY
        assert hdr["family"] == (0x22 if ":" in src else 0x12)
        assert hdr["src"] == (src, sport)
        assert hdr["dst"] == (dnsr.host_of(fam_of(src)), r.port)
    assert echo.bad == []


# ============================================================= 3. TCP through the router

@pytest.mark.parametrize("src", SOURCES)
def test_tcp_client_address_reaches_pdns(pdns_router, pdns, src):
    names, wires = who_queries(3, "tcp-" + src)
    with tcp_open(src, pdns_router.port) as s:
        sport = s.getsockname()[1]
        for w in wires:                         # one by one
            s.sendall(dnsr.tcp_frame(w))
            got = dnsr.tcp_read_msg(s)
            assert got[:2] == w[:2]
            assert txt_of(got) == [with_port(src, sport)]
    assert_logged(pdns, names, "tcp", src)


def _two_pipelines(port, srcs, n):
    """Open one connection per source, write all of every pipeline, then read them all."""
    socks, plan = [], []
    try:
        for src in srcs:
            s = tcp_open(src, port, timeout=5)
            socks.append(s)
            names, wires = who_queries(n, "pipe-" + src)
            plan.append((src, s.getsockname()[1], names, wires))
        for s, (_, _, _, wires) in zip(socks, plan):
            s.sendall(b"".join(dnsr.tcp_frame(w) for w in wires))
        answers = [tcp_read_by_id(s, p[3]) for s, p in zip(socks, plan)]
    finally:
        for s in socks:
            s.close()
    return plan, answers


@pytest.mark.parametrize("srcs", [("127.0.1.1", "127.2.3.4"), ("127.0.0.1", "::1")],
                         ids=["v4-v4", "v4-v6"])
def test_tcp_two_clients_pipelined_at_once(pdns_router, pdns, srcs):
    plan, answers = _two_pipelines(pdns_router.port, srcs, 20)
    for (src, sport, names, _), got in zip(plan, answers):
        assert all(g is not None for g in got)
        assert [txt_of(g) for g in got] == [[with_port(src, sport)]] * len(names), (
            "a query of %s:%d reached pdns under another client's header" % (src, sport))
        assert_logged(pdns, names, "tcp", src)


def test_tcp_header_once_per_connection_one_client(router, echo):
    """Each backend connection starts with one PROXY header (TCP4/TCP6, client, listener),
    has no header later, and carries the queries of that one client only."""
    b = lb.backend("echo", echo.addr4, **{"client-address": "proxy-v2"})
    r = router(lb.conf([b], [route_zone("example.", ["echo"])], health=NO_HEALTH))
    plan, answers = _two_pipelines(r.port, ("127.0.1.1", "127.2.3.4", "::1"), 10)
    recs = echo.snapshot()
    conns_of = {}
    for (src, sport, names, _), got in zip(plan, answers):
        assert [txt_of(g) for g in got] == [[with_port(src, sport)]] * len(names)
        mine = [x for x in recs if x[3] in names]
        assert len(mine) == len(names), "%d of %d queries seen" % (len(mine), len(names))
        for transport, conn, hdr, _, _, _ in mine:
            assert transport == "tcp" and hdr is not None
            assert hdr["command"] == pdnstools.CMD_PROXY
            assert hdr["family"] == (0x21 if ":" in src else 0x11)
            assert hdr["src"] == (src, sport)
            assert hdr["dst"] == (dnsr.host_of(fam_of(src)), r.port)
        conns_of[src] = {x[1] for x in mine}
    srcs = list(conns_of)
    for i, a in enumerate(srcs):
        for b_ in srcs[i + 1:]:
            assert not conns_of[a] & conns_of[b_], "clients %s and %s share a connection" % (
                a, b_)
    # every query on a connection is under that connection's one header
    for conn in {x[1] for x in recs}:
        assert len({x[2]["raw"] if x[2] else None for x in recs if x[1] == conn}) == 1
    assert echo.bad == [], "header inside a stream or unreadable query: %r" % echo.bad


# ================================================================ 4. health checks (LOCAL)

@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("mode", ["proxy-v2", "none"])
def test_health_checks_keep_pdns_up(router, pdns, mode, transport):
    """With proxy-v2 the checks carry a LOCAL header and pdns answers them: up. The control,
    client-address none, sends plain checks that pdns drops: down."""
    admin_port = dnsr.free_port()
    health = dict(FAST_HEALTH, transport=transport)
    mark = len(pdns.queries())
    r = router(pdns_conf(pdns, mode, health=health, admin="127.0.0.1:%d" % admin_port))
    admin = lb.Admin(admin_port)
    dnsr.wait_for(admin.ready, 5, what="admin endpoint")
    time.sleep(lb.DOWN_WINDOW + lb.UP_WINDOW)    # several intervals: a failing check shows
    want_up = mode == "proxy-v2"
    b = admin.backends()["pdns"]
    assert b["up"] is want_up, b
    checks = [q for q in pdns.queries()[mark:] if q[3] == "id.server."]
    if want_up:
        assert len(checks) >= 4, "pdns logged %d checks: %r" % (len(checks), checks)
        assert {q[:3] for q in checks} == {(transport, ROUTER_PEER, "0.0.0.0")}, checks
        # still up a few intervals later, and queries flow
        time.sleep(1.0)
        assert admin.backends()["pdns"]["up"] is True
        names, wires = who_queries(1, "health")
        sport, (got,) = udp_from("127.0.1.1", r.port, wires)
        assert got is not None and txt_of(got) == [with_port("127.0.1.1", sport)]
    else:
        assert checks == [], "pdns answered plain checks: %r" % checks


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_health_check_header_bytes(router, echo, transport):
    """A check to a proxy-v2 backend starts with exactly SIG, 0x20 (LOCAL), 0x00, length 0."""
    admin_port = dnsr.free_port()
    b = lb.backend("echo", echo.addr4, **{"client-address": "proxy-v2"})
    router(lb.conf([b], [route_zone("example.", ["echo"])],
                   health=dict(FAST_HEALTH, transport=transport),
                   admin="127.0.0.1:%d" % admin_port))
    dnsr.wait_for(lambda: len([x for x in echo.snapshot() if x[3] == "id.server."]) >= 3, 5,
                  what="3 health checks at the echo backend")
    checks = [x for x in echo.snapshot() if x[3] == "id.server."]
    for x in checks:
        assert x[0] == transport and x[2] is not None, "check without a header: %r" % (x,)
        assert x[2]["raw"] == local_v2(), "check header %r" % x[2]["raw"]
    assert lb.Admin(admin_port).backends()["echo"]["up"] is True
    assert echo.bad == []


# ======================================================== 5. a plain backend beside pdns

@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("default", ["none", "proxy-v2"])
def test_none_backend_beside_proxy_v2(router, pdns, ns1, fake_backend, default, transport):
    """test. goes to a Knot and plain.example. to a fake backend, both client-address none
    (explicit, or by the global default), example. to pdns with proxy-v2 (explicit or by
    default): the plain ones get plain DNS, pdns gets the header."""
    fake = fake_backend("normal", name="plain")
    own = {"client-address": "proxy-v2"} if default == "none" else {}
    plain = {"client-address": "none"} if default == "proxy-v2" else {}
    c = lb.conf([lb.backend("pdns", pdns.addr4, **own),
                 lb.backend("ns1", ns1.addr4, **plain),
                 lb.backend("plain", "127.0.0.1:%d" % fake.port, **plain)],
                [route_zone("plain.example.", ["plain"]), route_zone("test.", ["ns1"]),
                 route_zone("example.", ["pdns"])], health=NO_HEALTH)
    c["client-address"] = default
    r = router(c)
    src = "127.0.1.1"
    names, wires = who_queries(2, "beside")
    knot_q = dnsr.query("x.test.", "TXT", qid=dnsr.rand_id()).to_wire()
    fake_q = dnsr.query("y.plain.example.", "TXT", qid=dnsr.rand_id()).to_wire()
    all_wires = wires + [knot_q, fake_q]
    if transport == "udp":
        sport, got = udp_from(src, r.port, all_wires)
    else:
        with tcp_open(src, r.port) as s:
            sport = s.getsockname()[1]
            s.sendall(b"".join(dnsr.tcp_frame(w) for w in all_wires))
            got = tcp_read_by_id(s, all_wires)
    assert all(g is not None for g in got), got
    assert [txt_of(g) for g in got] == [[with_port(src, sport)]] * 2 + [["ns1"],
                                                                         ["fake-plain"]]
    assert_logged(pdns, names, transport, src)
    seen = [(k, w) for k, w, q in fake.queries if q is not None and
            str(q.question[0].name) == "y.plain.example."]
    assert seen, "the plain backend got no parsable query: %r" % fake.queries
    for kind, wire in seen:
        assert kind == transport and not wire.startswith(SIG), "header sent to a none backend"
    assert not any(w.startswith(SIG) for _, w, _ in fake.queries)


# ============================================================= 5. zone transfers

@pytest.mark.parametrize("src,allowed", [("127.0.1.1", True), ("127.0.0.1", False)])
def test_zone_transfer_carries_client_address(router, pdns, src, allowed):
    """A relayed AXFR opens its own backend connection: the PROXY header goes first on it, so
    PowerDNS (allow-axfr-ips=127.0.1.0/24) decides by the client's address."""
    c = pdns_conf(pdns)
    c["transfers"] = ["127.0.0.0/8"]
    r = router(c)
    q = dnsr.query("example.", "AXFR")
    rrsets = []
    with tcp_open(src, r.port) as s:
        s.sendall(dnsr.tcp_frame(q.to_wire()))
        first = dns.message.from_wire(dnsr.tcp_read_msg(s), one_rr_per_rrset=True)
        rrsets += first.answer
        # The transfer ends with the SOA it began with.
        while allowed and (len(rrsets) < 2 or rrsets[-1].rdtype != dns.rdatatype.SOA):
            rrsets += dns.message.from_wire(dnsr.tcp_read_msg(s), one_rr_per_rrset=True).answer
    if allowed:
        assert first.rcode() == dns.rcode.NOERROR
        assert rrsets[0].rdtype == dns.rdatatype.SOA
        names = {rrset.name.to_text() for rrset in rrsets}
        assert "host.example." in names, names
    else:
        assert first.rcode() != dns.rcode.NOERROR or not first.answer, first
