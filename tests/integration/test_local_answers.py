# SPDX-License-Identifier: MIT
# Answers the router makes itself: identity (id.server./hostname.bind. CH TXT), version
# (version.bind./version.server. CH TXT, REFUSED unless configured), zone transfers refused
# with EDE 18, other opcodes than QUERY (UPDATE, NOTIFY) NOTIMP -- none of them reaching a
# backend.

import socket

import dns.flags
import dns.opcode
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.update
import pytest

import dnsr
from dnsr import route_zone


@pytest.fixture(scope="module")
def local_router(module_router, tmp_path_factory):
    fake = dnsr.FakeBackend(name="f", mode="normal").start()
    try:
        r = module_router({
            "workers": 2,
            "identity": "router-1",
            "version": "1.2.3",
            "backends": [{"name": "f", "address": fake.address}],
            "routes": [route_zone(".", ["f"])],
        })
        r.fake = fake
        yield r
    finally:
        fake.stop()


def _txt(msg):
    return dnsr.txt_strings(msg)


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name", ["id.server.", "hostname.bind.", "ID.SERVER.", "HostName.Bind."])
def test_identity(local_router, name, transport, family):
    q = dnsr.query(name, "TXT", "CH")
    r = local_router.exchange(q, transport=transport, family=family)
    assert r.id == q.id
    assert r.rcode() == dns.rcode.NOERROR
    assert r.question == q.question
    assert _txt(r) == ["router-1"]
    assert r.answer[0].rdclass == dns.rdataclass.CH


@pytest.mark.parametrize("name", ["version.bind.", "version.server.", "VERSION.bind."])
def test_version_configured(local_router, name):
    for transport in ("udp", "tcp"):
        q = dnsr.query(name, "TXT", "CH")
        r = local_router.exchange(q, transport=transport)
        assert r.rcode() == dns.rcode.NOERROR
        assert _txt(r) == ["1.2.3"]


def test_local_answers_do_not_reach_backend(local_router):
    before = local_router.fake.count
    for name in ("id.server.", "hostname.bind.", "version.bind.", "version.server."):
        local_router.exchange(dnsr.query(name, "TXT", "CH"))
    assert local_router.fake.count == before


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("edns", [False, True], ids=["noedns", "edns"])
@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_transfer_refused(local_router, qtype, edns, transport):
    before = local_router.fake.count
    q = dnsr.query("example.", qtype, edns=edns)
    if qtype == "IXFR":
        # an IXFR query carries the client's SOA in the authority section (RFC 1995)
        q.authority.append(dns.rrset.from_text("example.", 0, "IN", "SOA",
                                               "ns.example. h.example. 1 3600 600 86400 300"))
    r = local_router.exchange(q, transport=transport)
    assert r.id == q.id
    assert r.rcode() == dns.rcode.REFUSED, dnsr.rcode_text(r)
    assert r.question == q.question
    assert not r.answer
    if edns:
        assert dnsr.ede_codes(r) == [dnsr.EDE_PROHIBITED]
    else:
        assert r.edns < 0
    assert local_router.fake.count == before, "transfer query reached the backend"


def test_version_absent_refused(router, fake_backend):
    fake = fake_backend("normal")
    r = router({
        "identity": "router-2",
        "backends": [{"name": "f", "address": fake.address}],
        "routes": [route_zone(".", ["f"])],
    })
    for name in ("version.bind.", "version.server."):
        for transport in ("udp", "tcp"):
            q = dnsr.query(name, "TXT", "CH")
            ans = r.exchange(q, transport=transport)
            assert ans.rcode() == dns.rcode.REFUSED, dnsr.rcode_text(ans)
            assert ans.question == q.question
            assert not ans.answer
    assert _txt(r.exchange(dnsr.query("id.server.", "TXT", "CH"))) == ["router-2"]
    assert fake.count == 0


def test_default_identity_is_hostname(router, fake_backend):
    fake = fake_backend("normal")
    r = router({
        "backends": [{"name": "f", "address": fake.address}],
        "routes": [route_zone(".", ["f"])],
    })
    ans = r.exchange(dnsr.query("id.server.", "TXT", "CH"))
    assert _txt(ans) == [socket.gethostname()]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("name,rdclass", [("id.server.", "CH"), ("www.example.", "IN")])
def test_edns_version_1_gets_badvers(local_router, name, rdclass, transport):
    """RFC 6891 6.1.3: a query of an EDNS version above 0 gets BADVERS with an OPT of version
    0, whether the router would answer it itself or route it; it never reaches a backend."""
    before = local_router.fake.count
    q = dns.message.make_query(name, "TXT", rdclass)
    q.use_edns(edns=1)  # (make_query's use_edns=1 is taken as True, i.e. version 0)
    r = local_router.exchange(q, transport=transport)
    assert r.id == q.id
    assert r.rcode() == dns.rcode.BADVERS, dnsr.rcode_text(r)
    assert r.edns == 0
    assert not r.answer
    assert local_router.fake.count == before


def _update():
    u = dns.update.UpdateMessage("example.")
    u.add("evil.example.", 300, "A", "192.0.2.66")
    return u


def _notify():
    n = dns.message.make_query("example.", "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    n.flags |= dns.flags.AA
    return n


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("make", [_update, _notify], ids=["update", "notify"])
def test_other_opcodes_not_implemented(local_router, make, transport):
    """UPDATE and NOTIFY (any opcode but QUERY) get NOTIMP from the router: relayed, they
    would reach the backend from the router's address, which a backend's ACL trusts."""
    before = local_router.fake.count
    m = make()
    r = local_router.exchange(m, transport=transport)
    assert r.id == m.id
    assert r.opcode() == m.opcode()
    assert r.rcode() == dns.rcode.NOTIMP, dnsr.rcode_text(r)
    assert local_router.fake.count == before, "an UPDATE/NOTIFY reached the backend"
