# SPDX-License-Identifier: MIT
# Client-address passing per backend: EDNS Client Subnet (RFC 7871).
#
#   client-address: none               # default for every backend: none | ecs
#   ecs: { ipv4-prefix: 24, ipv6-prefix: 56, override: false }
#   backends:
#     - { name: geo, address: "127.0.0.1:5300", client-address: ecs }
#
# With `ecs` the router adds an ECS option holding the client's address cut to the prefix (an
# OPT record too when the query has none), keeps a client's own ECS unless `override: true`,
# and removes on the way back whatever it added. The backend here is a Knot with the geoip
# module in subnet mode, which answers geo.example. by the ECS subnet (or, without ECS, by the
# source address) and echoes ECS with a scope; the tests send from chosen loopback addresses.
# Where the router added ECS, the client's answer must equal byte for byte (but the ID) what
# Knot gives when asked directly with that ECS, with the OPT record (client without EDNS) or the
# ECS option (client with EDNS) taken out. A small echo backend shows the exact bytes a backend
# receives.

import ipaddress
import math
import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype
import pytest

import dnsr
from dnsr import route_zone

OPT = 41
ECS = dns.edns.ECS          # option code 8

# ------------------------------------------------------------------------------------ the table
# Knot's geoip (subnet mode) picks the most specific `net` holding the ECS address (the source
# prefix does not matter for the match) and answers with scope = that net's length. There is no
# 127.0.0.0/24 entry, so a /16-cut address of any 127.0.x.y client lands on the /16 answer.

GEO_TABLE = """\
geo.example.:
  - net: 127.0.1.0/24
    A: 192.0.2.1
  - net: 127.0.2.0/24
    A: 192.0.2.2
  - net: 127.0.0.0/16
    A: 192.0.2.16
  - net: 127.1.0.0/16
    A: 192.0.2.17
  - net: 0.0.0.0/0
    A: 192.0.2.99
  - net: ::1/128
    AAAA: 2001:db8::1
  - net: ::/56
    AAAA: 2001:db8::56
  - net: ::/0
    AAAA: 2001:db8::99
"""

# (source address or ECS network, prefix) -> (answer, scope Knot echoes)
GEO_A = {
    ("127.0.1.0", 24): ("192.0.2.1", 24),
    ("127.0.2.0", 24): ("192.0.2.2", 24),
    ("127.0.0.0", 24): ("192.0.2.16", 16),
    ("127.1.2.0", 24): ("192.0.2.17", 16),
    ("127.0.0.0", 16): ("192.0.2.16", 16),
    ("127.1.0.0", 16): ("192.0.2.17", 16),
    ("127.0.1.5", 32): ("192.0.2.1", 24),
    ("10.0.0.0", 8): ("192.0.2.99", 0),
    ("0.0.0.0", 0): ("192.0.2.99", 0),
}
GEO_AAAA = {
    ("::1", 128): ("2001:db8::1", 128),
    ("::", 56): ("2001:db8::56", 56),
    ("2001:db8::", 32): ("2001:db8::99", 0),
}

TC3_RRS = 3     # 'tc3.example.': ~840 bytes: over 512, under 1232


class GeoKnot(dnsr.KnotBackend):
    """dnsr.KnotBackend plus `edns-client-subnet: on` and the geoip module (subnet mode, the
    table above) on every zone; knotd loads geoip.so from its module directory by itself."""

    def _zone_text(self, zone):
        text = super()._zone_text(zone)
        if zone == "example.":
            text += "".join('tc3 TXT "%s"\n' % ("tc3-%d-" % i).ljust(255, "t")
                            for i in range(TC3_RRS))
        return text

    def _conf_text(self, zone_lines):
        table = self.dir / "geo.conf"
        table.write_text(GEO_TABLE)
        text = super()._conf_text(zone_lines)
        server_end = "    udp-max-payload: 4096\n"
        template = "template:\n  - id: default\n"
        assert server_end in text and template in text, "dnsr.KnotBackend config changed"
        text = text.replace(server_end, server_end + "    edns-client-subnet: on\n")
        text = text.replace(template, (
            "mod-geoip:\n"
            "  - id: geo\n"
            "    config-file: \"%s\"\n"
            "    mode: subnet\n"
            "    ttl: 60\n" % table) + template + "    module: mod-geoip/geo\n")
        return text


@pytest.fixture(scope="module")
def geo(tmp_path_factory):
    k = GeoKnot("geo", tmp_path_factory.mktemp("knot-geo"), zones=("example.",))
    k.start()
    yield k
    k.stop()


# ------------------------------------------------------------------------- wire-level helpers

def _skip_name(wire, off):
    while True:
        n = wire[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def rr_spans(wire):
    """[(section 1..3, start, end, rtype)] of every record after the question."""
    qd, an, ns, ar = struct.unpack("!4H", wire[4:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(wire, off) + 4
    spans = []
    for sec, count in ((1, an), (2, ns), (3, ar)):
        for _ in range(count):
            start = off
            off = _skip_name(wire, off)
            rtype, _, _, rdlen = struct.unpack("!HHIH", wire[off:off + 10])
            off += 10 + rdlen
            spans.append((sec, start, off, rtype))
    assert off == len(wire), "trailing bytes after the records"
    return spans


def opt_span(wire):
    spans = [s for s in rr_spans(wire) if s[3] == OPT]
    assert len(spans) <= 1, "more than one OPT record"
    return spans[0] if spans else None


def opt_fields(wire):
    """(payload, ttl field, [(code, data), ...]) of the OPT record, or None."""
    span = opt_span(wire)
    if span is None:
        return None
    _, start, end, _ = span
    assert wire[start] == 0, "OPT owner is not the root"
    _, payload, ttl, rdlen = struct.unpack("!HHIH", wire[start + 1:start + 11])
    rdata = wire[start + 11:end]
    assert len(rdata) == rdlen
    opts, off = [], 0
    while off < len(rdata):
        code, length = struct.unpack("!HH", rdata[off:off + 4])
        opts.append((code, rdata[off + 4:off + 4 + length]))
        off += 4 + length
    assert off == len(rdata), "OPT options overrun the record"
    return payload, ttl, opts


def strip_opt(wire):
    """<wire> without its OPT record (ARCOUNT one less)."""
    _, start, end, _ = opt_span(wire)
    (ar,) = struct.unpack("!H", wire[10:12])
    return wire[:10] + struct.pack("!H", ar - 1) + wire[12:start] + wire[end:]


def strip_ecs(wire):
    """<wire> with the ECS option taken out of its OPT record."""
    _, start, end, _ = opt_span(wire)
    payload, ttl, opts = opt_fields(wire)
    rdata = b"".join(struct.pack("!HH", c, len(d)) + d for c, d in opts if c != ECS)
    rr = b"\x00" + struct.pack("!HHIH", OPT, payload, ttl, len(rdata)) + rdata
    return wire[:start] + rr + wire[end:]


def as_response(wire):
    """<wire> with QR set: what the echo backend answers."""
    return wire[:2] + bytes([wire[2] | 0x80]) + wire[3:]


def ecs_net(addr, prefix):
    return str(ipaddress.ip_network("%s/%d" % (addr, prefix), strict=False).network_address)


def ecs_data(addr, prefix, scope=0):
    """RFC 7871 option data: FAMILY, SOURCE PREFIX-LENGTH, SCOPE, the address cut to
    ceil(prefix/8) bytes with the bits past the prefix zero."""
    ip = ipaddress.ip_address(ecs_net(addr, prefix))
    return struct.pack("!HBB", 1 if ip.version == 4 else 2, prefix, scope) + \
        ip.packed[:math.ceil(prefix / 8)]


def ecs_option(addr, prefix, scope=0):
    return dns.edns.ECSOption(ecs_net(addr, prefix), prefix, scope)


def ecs_of(msg):
    opts = [o for o in msg.options if o.otype == ECS]
    assert len(opts) <= 1
    return opts[0] if opts else None


def family_of(addr):
    return 6 if ":" in addr else 4


def _client_socket(src, kind):
    fam = socket.AF_INET6 if family_of(src) == 6 else socket.AF_INET
    s = socket.socket(fam, kind)
    s.bind((src, 0))
    return s


def send_from(src, port, wire, transport, timeout=3.0):
    """Send raw <wire> to the router on loopback from source address <src>; the raw answer."""
    dst = dnsr.host_of(family_of(src))
    with _client_socket(src, socket.SOCK_DGRAM if transport == "udp"
                        else socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((dst, port))
        if transport == "tcp":
            s.sendall(dnsr.tcp_frame(wire))
            return dnsr.tcp_read_msg(s)
        s.send(wire)
        while True:
            data = s.recv(65535)
            if data[:2] == wire[:2]:
                return data


def knot_direct(k, wire, transport, family=4):
    if transport == "udp":
        data = dnsr.udp_exchange(k.port, wire, family)
        assert data is not None, "Knot did not answer directly"
        return data
    return dnsr.tcp_exchange(k.port, wire, family)


def with_ecs(q, addr, prefix, payload=512):
    """A copy of query <q> as the router would send it with `ecs`: the client's OPT (or a new
    one with a <payload>-byte buffer) holding ECS <addr>/<prefix>."""
    c = dns.message.from_wire(q.to_wire())
    if c.edns < 0:
        c.use_edns(0, 0, payload, options=[ecs_option(addr, prefix)])
    else:
        c.use_edns(c.edns, c.ednsflags, c.payload,
                   options=[o for o in c.options if o.otype != ECS] + [ecs_option(addr, prefix)])
    return c


def assert_same_sections(got, want):
    """Parsed comparison first (readable failures): rcode, flags, question and every section."""
    g, w = dns.message.from_wire(got), dns.message.from_wire(want)
    assert g.rcode() == w.rcode()
    assert dns.flags.to_text(g.flags) == dns.flags.to_text(w.flags)
    assert g.question == w.question
    assert g.answer == w.answer
    assert g.authority == w.authority
    assert g.additional == w.additional
    assert g.edns == w.edns
    assert [o.to_text() for o in g.options] == [o.to_text() for o in w.options]


def assert_stripped_equal(got, knot_answer, client_had_opt):
    """<got> (the router's answer) equals Knot's answer with what the router added removed."""
    want = strip_ecs(knot_answer) if client_had_opt else strip_opt(knot_answer)
    assert_same_sections(got, want)
    assert got[2:] == want[2:], "answer differs from Knot's own (stripped) beyond the ID"
    if client_had_opt:
        assert opt_fields(got) is not None, "client sent OPT, answer has none"
        assert all(c != ECS for c, _ in opt_fields(got)[2]), "ECS the client never sent"
    else:
        assert opt_fields(got) is None, "client sent no OPT, answer has one"


def addresses(wire, rdtype):
    m = dns.message.from_wire(wire)
    return sorted(rd.address for rrset in m.answer if rrset.rdtype == rdtype for rd in rrset)


# -------------------------------------------------------------------------------- routers

def geo_conf(geo, v4=24, v6=56, override=False, mode="ecs", default=None):
    conf = {"workers": 1}
    if default is not None:
        conf["client-address"] = default
    conf["ecs"] = {"ipv4-prefix": v4, "ipv6-prefix": v6, "override": override}
    backend = {"name": "geo", "address": geo.addr4}
    if mode is not None:
        backend["client-address"] = mode
    conf["backends"] = [backend]
    conf["routes"] = [route_zone(".", ["geo"])]
    return conf


@pytest.fixture(scope="module")
def geo_router(module_router, geo):
    """geo_router(**geo_conf keys) -> a router in front of the geo Knot, one per config."""
    cache = {}

    def get(**kw):
        key = tuple(sorted(kw.items()))
        if key not in cache:
            cache[key] = module_router(geo_conf(geo, **kw))
        return cache[key]
    return get


# ------------------------------------------------------------- the Knot setup, without router

@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_knot_geoip_answers_by_subnet(geo, transport):
    """The backend itself: answers by ECS subnet, echoes ECS with the matched net's scope, and
    without ECS answers by the source address (127.0.0.1: the /16 answer)."""
    for table, rdtype, family in ((GEO_A, "A", 4), (GEO_AAAA, "AAAA", 6)):
        for (addr, prefix), (answer, scope) in table.items():
            q = dnsr.query("geo.example.", rdtype, options=[ecs_option(addr, prefix)])
            got = knot_direct(geo, q.to_wire(), transport, family)
            assert addresses(got, getattr(dns.rdatatype, rdtype)) == [answer], (addr, prefix)
            assert opt_fields(got)[2] == [(ECS, ecs_data(addr, prefix, scope))], (addr, prefix)
    q = dnsr.query("geo.example.", "A")
    got = knot_direct(geo, q.to_wire(), transport)
    assert addresses(got, dns.rdatatype.A) == ["192.0.2.16"]
    assert opt_fields(got) is None
    got = knot_direct(geo, dnsr.query("geo.example.", "AAAA").to_wire(), transport, 6)
    assert addresses(got, dns.rdatatype.AAAA) == ["2001:db8::1"]


def test_knot_truncates_tc3_for_512_only(geo):
    """tc3.example. is over 512 bytes and under 1232: truncated for a client without EDNS (and
    for EDNS 512, also with ECS), whole for EDNS 1232 over UDP; Knot's TC answer is bare."""
    q = dnsr.query("tc3.example.", "TXT")
    bare = knot_direct(geo, q.to_wire(), "udp")
    assert dns.message.from_wire(bare).flags & dns.flags.TC
    assert not dns.message.from_wire(bare).answer
    with_512 = knot_direct(geo, with_ecs(q, "127.0.1.0", 24, 512).to_wire(), "udp")
    assert strip_opt(with_512)[2:] == bare[2:]
    full = dns.message.from_wire(knot_direct(
        geo, with_ecs(q, "127.0.1.0", 24, 1232).to_wire(), "udp"))
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == TC3_RRS


# --------------------------------------------------------------------------- 1. IPv4 sources

V4_SOURCES = ("127.0.0.1", "127.0.1.5", "127.0.2.9", "127.1.2.3")
V4_WANT = {
    24: {"127.0.0.1": "192.0.2.16", "127.0.1.5": "192.0.2.1", "127.0.2.9": "192.0.2.2",
         "127.1.2.3": "192.0.2.17"},
    16: {"127.0.0.1": "192.0.2.16", "127.0.1.5": "192.0.2.16", "127.0.2.9": "192.0.2.16",
         "127.1.2.3": "192.0.2.17"},
    32: {"127.0.0.1": "192.0.2.16", "127.0.1.5": "192.0.2.1", "127.0.2.9": "192.0.2.2",
         "127.1.2.3": "192.0.2.17"},
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("prefix", [24, 16, 32])
def test_ipv4_source_subnet_picks_answer(geo_router, geo, prefix, transport):
    r = geo_router(v4=prefix)
    for src in V4_SOURCES:
        q = dnsr.query("geo.example.", "A", qid=dnsr.rand_id())
        got = send_from(src, r.port, q.to_wire(), transport)
        assert addresses(got, dns.rdatatype.A) == [V4_WANT[prefix][src]], src
        direct = knot_direct(geo, with_ecs(q, src, prefix).to_wire(), transport)
        assert_stripped_equal(got, direct, client_had_opt=False)


# ------------------------------------------------------------------------------ 2. IPv6 ::1

@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("prefix,want", [(128, "2001:db8::1"), (56, "2001:db8::56")])
def test_ipv6_source_subnet_picks_answer(geo_router, geo, prefix, want, transport):
    r = geo_router(v6=prefix)
    for edns in (False, True):
        q = dnsr.query("geo.example.", "AAAA", edns=edns, qid=dnsr.rand_id())
        got = send_from("::1", r.port, q.to_wire(), transport)
        assert addresses(got, dns.rdatatype.AAAA) == [want]
        direct = knot_direct(geo, with_ecs(q, "::1", prefix).to_wire(), transport, 6)
        assert_stripped_equal(got, direct, client_had_opt=edns)


# ------------------------------------------------- 3. what the router added is taken back out

STRIP_CASES = {
    "no-opt": dict(),
    "opt": dict(edns=True),
    "opt-do": dict(do=True),
    "opt-nsid": dict(options=[dns.edns.GenericOption(dns.edns.NSID, b"")]),
    "opt-4096": dict(edns=True, payload=4096),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(STRIP_CASES))
@pytest.mark.parametrize("name,rdtype", [("geo.example.", "A"), ("host.example.", "AAAA"),
                                         ("nothing.example.", "A"), ("example.", "SOA"),
                                         ("mid.example.", "TXT")],
                         ids=["geo", "plain", "nodata", "apex", "mid"])
def test_added_ecs_removed_from_answer(geo_router, geo, name, rdtype, case, transport):
    r = geo_router(v4=24)
    q = dnsr.query(name, rdtype, qid=dnsr.rand_id(), **STRIP_CASES[case])
    had_opt = q.edns >= 0
    got = send_from("127.0.2.9", r.port, q.to_wire(), transport)
    direct = knot_direct(geo, with_ecs(q, "127.0.2.9", 24).to_wire(), transport)
    assert_stripped_equal(got, direct, client_had_opt=had_opt)
    if had_opt:
        assert opt_fields(got)[1] == opt_fields(direct)[1], "EDNS flags/version changed"


# ----------------------------------------------------------------------- 4. the client's ECS

KEEP_CASES = {
    # source, client's ECS, qtype, answer for the client's ECS
    "v4-other-16": ("127.0.0.1", ("127.1.0.0", 16), "A", "192.0.2.17"),
    "v4-other-24": ("127.1.2.3", ("127.0.1.0", 24), "A", "192.0.2.1"),
    "v4-opt-out-0": ("127.0.1.5", ("0.0.0.0", 0), "A", "192.0.2.99"),
    "v6-client-v4-ecs": ("::1", ("127.0.2.0", 24), "A", "192.0.2.2"),
    "v4-client-v6-ecs": ("127.0.1.5", ("2001:db8::", 32), "AAAA", "2001:db8::99"),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(KEEP_CASES))
def test_client_ecs_kept_without_override(geo_router, geo, case, transport):
    """override: false: the client's own ECS goes to the backend as it is; the answer is for
    its option, with its option echoed as Knot echoes it (the scope Knot set)."""
    src, (addr, prefix), rdtype, want = KEEP_CASES[case]
    r = geo_router(v4=24, v6=56, override=False)
    q = dnsr.query("geo.example.", rdtype, options=[ecs_option(addr, prefix)],
                   qid=dnsr.rand_id())
    got = send_from(src, r.port, q.to_wire(), transport)
    assert addresses(got, getattr(dns.rdatatype, rdtype)) == [want]
    direct = knot_direct(geo, q.to_wire(), transport)
    assert_same_sections(got, direct)
    assert got[2:] == direct[2:], "answer differs from Knot's own beyond the ID"
    table = GEO_A if rdtype == "A" else GEO_AAAA
    scope = table[(addr, prefix)][1]
    assert [d for c, d in opt_fields(got)[2] if c == ECS] == [ecs_data(addr, prefix, scope)]


OVERRIDE_CASES = {
    # source, client's ECS, qtype, answer for the source, ECS the router sends
    "v4-other-16": ("127.0.1.5", ("127.1.0.0", 16), "A", "192.0.2.1", ("127.0.1.5", 24)),
    "v4-opt-out-0": ("127.0.2.9", ("0.0.0.0", 0), "A", "192.0.2.2", ("127.0.2.9", 24)),
    "v4-narrower-32": ("127.1.2.3", ("127.0.1.7", 32), "A", "192.0.2.17", ("127.1.2.3", 24)),
    "v6-client-v4-ecs": ("::1", ("127.1.0.0", 16), "AAAA", "2001:db8::56", ("::1", 56)),
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("case", sorted(OVERRIDE_CASES))
def test_client_ecs_replaced_with_override(geo_router, geo, case, transport):
    """override: true: the backend sees the router's ECS (the real address), the client gets
    the answer for its real address, and the ECS in the answer is the client's own option
    (RFC 7871 7.3: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS must match its query or it drops
    the answer), with the backend's SCOPE PREFIX-LENGTH: 0 would tell a caching resolver
    the answer is good for every address (7.2.1), which an answer made for one network is
    not."""
    src, (addr, prefix), rdtype, want, (raddr, rprefix) = OVERRIDE_CASES[case]
    r = geo_router(v4=24, v6=56, override=True)
    mine = ecs_option(addr, prefix)
    q = dnsr.query("geo.example.", rdtype, options=[mine], qid=dnsr.rand_id())
    got = send_from(src, r.port, q.to_wire(), transport)
    assert addresses(got, getattr(dns.rdatatype, rdtype)) == [want]
    back = [d for c, d in opt_fields(got)[2] if c == ECS]
    assert len(back) == 1, "the answer must carry the client's ECS back"
    assert back[0][:3] == ecs_data(addr, prefix)[:3], "family / source prefix differ"
    assert back[0][4:] == ecs_data(addr, prefix)[4:], "address differs"
    # everything else: Knot's answer to the router's ECS
    direct = knot_direct(geo, with_ecs(q, raddr, rprefix).to_wire(), transport,
                         family_of(src))
    theirs = [d for c, d in opt_fields(direct)[2] if c == ECS]
    # the backend's scope where the families agree; else the client's own source prefix
    scope = theirs[0][3] if theirs[0][:2] == back[0][:2] else prefix
    assert back[0] == ecs_data(addr, prefix, scope), "not the client's option with the " \
        "scope it should have"
    g = dns.message.from_wire(got)
    w = dns.message.from_wire(direct)
    assert (g.rcode(), g.flags, g.answer, g.authority, g.additional) == \
        (w.rcode(), w.flags, w.answer, w.authority, w.additional)
    assert [o.to_text() for o in g.options if o.otype != ECS] == \
        [o.to_text() for o in w.options if o.otype != ECS]


# ------------------------------------------------------ 5. exact bytes a backend receives

class EchoBackend(dnsr.FakeBackend):
    """Records every query's raw bytes and answers each with a copy of itself with QR set;
    health probes (id.server. CH TXT) are answered as dnsr.FakeBackend does."""

    def _handle1(self, wire, kind, target):
        try:
            q = dns.message.from_wire(wire)
            probe = (len(q.question) == 1 and str(q.question[0].name).lower() == "id.server."
                     and q.question[0].rdclass == dns.rdataclass.CH)
        except Exception:
            probe = False
        if probe:
            return super()._handle1(wire, kind, target)
        with self._lock:
            self.queries.append((kind, wire, None))
        self._schedule(0, kind, target, as_response(wire))


@pytest.fixture
def echo_backend():
    started = []

    def make(name):
        b = EchoBackend(name=name)
        started.append(b)
        return b.start()
    yield make
    for b in started:
        b.stop()


def _capture_conf(ecs_b, none_b, default, v4, v6):
    conf = {"workers": 1}
    if default == "ecs":
        conf["client-address"] = "ecs"
        backends = [{"name": "withecs", "address": ecs_b.address},
                    {"name": "plain", "address": none_b.address, "client-address": "none"}]
    else:   # the default default: none
        backends = [{"name": "withecs", "address": ecs_b.address, "client-address": "ecs"},
                    {"name": "plain", "address": none_b.address}]
    conf["ecs"] = {"ipv4-prefix": v4, "ipv6-prefix": v6}
    conf["backends"] = backends
    conf["routes"] = [route_zone("ecs.test.", ["withecs"]), route_zone("none.test.", ["plain"])]
    return conf


CAPTURE_QUERIES = {
    "no-opt": dict(),
    "opt": dict(edns=True, payload=1400),
    "opt-do-nsid": dict(do=True, options=[dns.edns.GenericOption(dns.edns.NSID, b"")]),
    "own-ecs": dict(options=[dns.edns.ECSOption("198.51.100.0", 24)]),   # kept: no override
}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("default", ["none", "ecs"], ids=["default-none", "default-ecs"])
@pytest.mark.parametrize("src,v4,v6", [("127.0.2.9", 24, 56), ("127.1.2.3", 32, 56),
                                       ("127.0.1.5", 16, 56), ("127.1.2.3", 12, 56),
                                       ("::1", 24, 56), ("::1", 24, 128), ("::1", 24, 127)])
# /12 and /127 end inside a byte: the bits past the prefix must be zero in the option
def test_backend_sees_exact_bytes(router, echo_backend, default, src, v4, v6, transport):
    """A `none` backend gets the client's query unchanged but the ID; an `ecs` one gets the same
    query with ECS (client's address cut to the prefix, scope 0) in the client's OPT record, or
    in a new OPT record appended to the additional section. The echoed answers come back to the
    client as its own query with QR set: the router took out what it added. A client's own
    ECS reaches either backend unchanged (override is off)."""
    ecs_b, none_b = echo_backend("withecs"), echo_backend("plain")
    r = router(_capture_conf(ecs_b, none_b, default, v4, v6))
    prefix = v6 if family_of(src) == 6 else v4
    for case, kw in sorted(CAPTURE_QUERIES.items()):
        for zone, backend in (("ecs.test.", ecs_b), ("none.test.", none_b)):
            q = dnsr.query("%s.%s" % (case, zone), "TXT", qid=dnsr.rand_id(), **kw)
            wire = q.to_wire()
            before = backend.count
            got = send_from(src, r.port, wire, transport)
            assert got == as_response(wire), (case, zone, "answer is not the echo, stripped")
            assert backend.count == before + 1
            kind, seen, _ = backend.queries[-1]
            assert kind == transport
            if backend is none_b or case == "own-ecs":
                assert seen[2:] == wire[2:], (case, zone, "the backend saw changed bytes")
                continue
            spans = rr_spans(wire)
            opt = opt_span(seen)
            assert opt is not None, (case, "no OPT record at the ecs backend")
            payload, ttl, opts = opt_fields(seen)
            assert [d for c, d in opts if c == ECS] == [ecs_data(src, prefix)], case
            if q.edns < 0:
                # a new OPT record at the end; nothing else changed
                assert opt[1] == len(wire), (case, "the OPT record must be appended")
                assert seen[2:10] == wire[2:10]
                assert struct.unpack("!H", seen[10:12])[0] == \
                    struct.unpack("!H", wire[10:12])[0] + 1
                assert seen[12:len(wire)] == wire[12:]
                assert ttl == 0, "EDNS version/flags of the added OPT record"
                assert opts == [(ECS, ecs_data(src, prefix))]
            else:
                c_payload, c_ttl, c_opts = opt_fields(wire)
                assert (payload, ttl) == (c_payload, c_ttl), (case, "client's OPT fields")
                assert sorted(o for o in opts if o[0] != ECS) == sorted(c_opts), case
                assert seen[2:12] == wire[2:12], (case, "header counts changed")
                assert seen[12:spans[-1][1]] == wire[12:spans[-1][1]]
            assert dns.message.from_wire(seen).question == q.question


# ------------------------------------------------------------- 5b. none in front of the geo Knot

@pytest.mark.parametrize("mode", [None, "none"], ids=["default", "explicit"])
def test_none_backend_sees_router_address(geo_router, geo, mode):
    """client-address none (the default): Knot sees the router (127.0.0.1: the /16 answer)
    whatever the client's address, and the answer is Knot's own byte for byte but the ID."""
    r = geo_router(mode=mode)
    for src in ("127.0.1.5", "127.0.2.9", "127.1.2.3"):
        for transport in ("udp", "tcp"):
            q = dnsr.query("geo.example.", "A", qid=dnsr.rand_id())
            got = send_from(src, r.port, q.to_wire(), transport)
            assert addresses(got, dns.rdatatype.A) == ["192.0.2.16"]
            assert got[2:] == knot_direct(geo, q.to_wire(), transport)[2:]


# --------------------------------------------------------------------- 6. truncation over UDP

@pytest.mark.parametrize("name", ["tc3.example.", "mid.example.", "big.example."])
def test_no_edns_client_gets_512_byte_truncation(geo_router, geo, name):
    """A client without EDNS asking over UDP for an answer over 512 bytes gets TC=1 and no OPT,
    exactly Knot's truncation for a 512-byte client (tc3 fits 1232: a router that offered
    Knot more than 512 bytes would get it whole, too big for this client); over TCP it gets
    the whole answer, without OPT."""
    r = geo_router(v4=24)
    src = "127.0.1.5"
    q = dnsr.query(name, "TXT", qid=dnsr.rand_id())
    got = send_from(src, r.port, q.to_wire(), "udp")
    m = dns.message.from_wire(got)
    assert m.flags & dns.flags.TC, "over 512 bytes for a client without EDNS: TC=1"
    assert len(got) <= 512
    assert m.edns < 0, "client sent no OPT, answer has one"
    assert got[2:] == knot_direct(geo, q.to_wire(), "udp")[2:], "not Knot's 512-byte answer"
    assert_stripped_equal(got, knot_direct(geo, with_ecs(q, src, 24).to_wire(), "udp"), False)

    got = send_from(src, r.port, q.to_wire(), "tcp")
    m = dns.message.from_wire(got)
    assert not m.flags & dns.flags.TC and m.answer and m.edns < 0
    assert_stripped_equal(got, knot_direct(geo, with_ecs(q, src, 24).to_wire(), "tcp"), False)


@pytest.mark.parametrize("payload,tc", [(512, True), (1232, False)])
def test_edns_client_buffer_kept(geo_router, geo, payload, tc):
    """A client with EDNS: its own buffer size decides; the answer keeps OPT, without ECS."""
    r = geo_router(v4=24)
    src = "127.0.2.9"
    q = dnsr.query("tc3.example.", "TXT", edns=True, payload=payload, qid=dnsr.rand_id())
    got = send_from(src, r.port, q.to_wire(), "udp")
    assert bool(dns.message.from_wire(got).flags & dns.flags.TC) == tc
    assert_stripped_equal(got, knot_direct(geo, with_ecs(q, src, 24).to_wire(), "udp"), True)
