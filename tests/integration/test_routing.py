# SPDX-License-Identifier: MIT
# Route selection: regex routes first and in order, then the longest zone, `zone: .` as the
# default route, names matched case-insensitively, no route -> SERVFAIL (or REFUSED) + EDE 20;
# round robin inside a route.

import collections

import dns.flags
import dns.message
import dns.rcode
import pytest

import dnsr
from dnsr import route_regex, route_zone

# Each backend answers TXT "<its name>" for every name of its zones (wildcards), so the answer
# names the backend that the router chose.
TABLE_ROUTES = [
    route_regex(r"^a[^.]*\.example\.$", ["ns1"]),   # 1st regex
    route_regex(r"^a", ["ns2"]),                     # 2nd regex: only if the 1st did not match
    route_zone("example.", ["ns3"]),
    route_zone("sub.example.", ["ns1"]),
    route_zone(".", ["ns2"]),                        # default route
]

EXPECT = [
    ("alpha.example.", "ns1", "first matching regex wins (both regexes match)"),
    ("abc.sub.example.", "ns2", "a regex route beats a zone route"),
    ("x.sub.example.", "ns1", "longest zone wins over example."),
    ("sub.example.", "ns1", "the zone apex itself belongs to the zone route"),
    ("x.example.", "ns3", "zone example."),
    ("example.", "ns3", "zone apex example."),
    ("notsub.example.", "ns3", "zones match on label boundaries (notsub is not sub)"),
    ("deep.er.x.sub.example.", "ns1", "zone match below several labels"),
    ("x.test.", "ns2", "default route zone ."),
    ("ALPHA.EXAMPLE.", "ns1", "regex matched against the lower-cased name"),
    ("AbC.SuB.ExAmPlE.", "ns2", "2nd regex on lower-cased name"),
    ("wWw.ExAmPlE.", "ns3", "zone matched case-insensitively"),
    ("X.SUB.Example.", "ns1", "longest zone case-insensitively"),
    ("bx.example.", "ns3", "1st regex needs a leading a"),
    ("a.b.example.", "ns2", "1st regex has [^.]* so a.b.example. falls to the 2nd"),
]


@pytest.fixture(scope="module")
def table_router(module_router, ns1, ns2, ns3):
    return module_router({
        "workers": 2,
        "backends": [{"name": b.name, "address": b.addr4} for b in (ns1, ns2, ns3)],
        "routes": TABLE_ROUTES,
    })


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name,backend,why", EXPECT, ids=[e[0] for e in EXPECT])
def test_route_table(table_router, name, backend, why, transport):
    q = dnsr.query(name, "TXT")
    r = table_router.exchange(q, transport=transport)
    assert r.rcode() == dns.rcode.NOERROR, dnsr.rcode_text(r)
    assert dnsr.who(r) == backend, why
    # the question comes back exactly as the client spelt it
    assert r.question[0].name.to_text() == name


def test_round_robin_two_backends(router, ns1, ns2):
    r = router({
        "workers": 2,
        "backends": [{"name": "ns1", "address": ns1.addr4}, {"name": "ns2", "address": ns2.addr4}],
        "routes": [route_zone("example.", ["ns1", "ns2"], policy="round-robin")],
    })
    counts = collections.Counter()
    n = 40
    for i in range(n):
        counts[dnsr.who(r.exchange(dnsr.query("rr%d.example." % i)))] += 1
    assert set(counts) == {"ns1", "ns2"}, counts
    assert min(counts.values()) >= n * 0.3, "uneven round robin: %s" % dict(counts)


def test_round_robin_is_default_policy(router, ns1, ns2):
    r = router({
        "backends": [{"name": "ns1", "address": ns1.addr4}, {"name": "ns2", "address": ns2.addr4}],
        "routes": [route_zone(".", ["ns1", "ns2"])],
    })
    counts = collections.Counter(dnsr.who(r.exchange(dnsr.query("d%d.test." % i)))
                                 for i in range(20))
    assert set(counts) == {"ns1", "ns2"}, counts
    assert min(counts.values()) >= 6, dict(counts)


def test_ipv6_backend_address(router, ns1):
    r = router({
        "backends": [{"name": "v6", "address": ns1.addr6}],
        "routes": [route_zone("example.", ["v6"])],
    })
    for fam in (4, 6):
        for transport in ("udp", "tcp"):
            ans = r.exchange(dnsr.query("v6.example."), transport=transport, family=fam)
            assert dnsr.who(ans) == "ns1"


NO_ROUTE_CONF = {
    "workers": 2,
    "routes": [route_zone("example.", ["ns1"])],
}


def _no_route_conf(ns1, **extra):
    conf = dict(NO_ROUTE_CONF)
    conf["backends"] = [{"name": "ns1", "address": ns1.addr4}]
    conf.update(extra)
    return conf


def _check_router_made(q, r, rcode, ede):
    assert r.id == q.id
    assert r.rcode() == rcode, "got %s, want %s" % (dnsr.rcode_text(r), dns.rcode.to_text(rcode))
    assert r.question == q.question, "router-made answer does not echo the question"
    assert r.flags & dns.flags.QR
    assert not r.answer
    if q.edns >= 0:
        assert r.edns >= 0, "query had EDNS, answer has no OPT"
        assert dnsr.ede_codes(r) == [ede], "EDE codes %r, want [%d]" % (dnsr.ede_codes(r), ede)
    else:
        assert r.edns < 0, "query had no EDNS, answer has an OPT record"


@pytest.mark.parametrize("setting", [None, "servfail", "refused"])
def test_no_route(router, ns1, setting):
    extra = {} if setting is None else {"no-route": setting}
    r = router(_no_route_conf(ns1, **extra))
    want = dns.rcode.REFUSED if setting == "refused" else dns.rcode.SERVFAIL
    for transport in ("udp", "tcp"):
        for edns in (False, True):
            for name in ("x.test.", "exampl.", "xexample.", "org."):
                q = dnsr.query(name, "A", edns=edns)
                ans = r.exchange(q, transport=transport)
                _check_router_made(q, ans, want, dnsr.EDE_NOT_AUTHORITATIVE)
        # and the routed zone still works
        assert dnsr.who(r.exchange(dnsr.query("x.example."), transport=transport)) == "ns1"


def test_escaped_dot_in_label(router, ns1, ns3):
    """`a\\.b.example.` (a dot inside a label) is not `a.b.example.`; binary bytes are not
    lower-cased or mistaken for separators."""
    r = router({
        "backends": [{"name": "ns1", "address": ns1.addr4}, {"name": "ns3", "address": ns3.addr4}],
        "routes": [route_regex(r"^a\.b\.example\.$", ["ns1"]),
                   route_zone("b.example.", ["ns1"]),
                   route_zone("example.", ["ns3"])],
    })
    plain = dnsr.query("a.b.example.", qid=1)
    assert dnsr.who(r.exchange(plain)) == "ns1"
    # one label "a.b" under example.
    wire = b"\x00\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x03a.b\x07example\x00" + \
        b"\x00\x10\x00\x01"
    data = dnsr.udp_exchange(r.port, wire)
    assert data is not None
    msg = dns.message.from_wire(data)
    assert msg.rcode() == dns.rcode.NOERROR and dnsr.who(msg) == "ns3", \
        "a\\.b.example. was routed like a.b.example."
    # a label with bytes >= 0x80 and a NUL byte
    wire = b"\x00\x03\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x04\xc4\x00B\xff\x01b" + \
        b"\x07example\x00" + b"\x00\x10\x00\x01"
    data = dnsr.udp_exchange(r.port, wire)
    assert data is not None
    msg = dns.message.from_wire(data)
    assert msg.rcode() == dns.rcode.NOERROR and dnsr.who(msg) == "ns1"
