# SPDX-License-Identifier: MIT
# tests/integration/test_explain.py -- the router explains its routing, over HTTP
# (GET /api/v1/explain) and DNS (NAME.explain.dnsrouter. CH TXT): for a name of a regex route
# (with the regex routes tried before it), a zone route (each suffix looked up), a shard, an
# etcd entry (with its key) and no route at all; each backend's state and the pick; DNS
# answers only clients in explain-from (default loopback), the admin key guards HTTP.

import json
import urllib.error
import urllib.request
import uuid

import dns.rcode
import pytest

import dnsr
import etcdtools as et
from etcdtools import PREFIX, entry


def conf(ns1, ns2, admin, **extra):
    c = {"workers": 1, "admin": admin,
         "backends": [{"name": "ns1", "address": ns1.addr4},
                      {"name": "ns2", "address": ns2.addr4},
                      {"name": "gone", "address": "127.0.0.1:%d" % dnsr.free_port(),
                       "health": {"interval": "100ms", "timeout": "100ms", "fall": 1}}],
         "routes": [{"regex": r"^a.*\.example\.$", "backends": ["ns1"]},
                    {"regex": r"^b.*\.example\.$", "backends": ["ns2"]},
                    {"zone": "example.", "backends": ["ns2", "gone"]},
                    {"zone": "test.", "shards": [{"from": "test.", "backends": ["ns1"]},
                                                 {"from": "m.test.", "backends": ["ns2"]}]}]}
    c.update(extra)
    return c


def http_explain(admin, name, qtype=None, key=None):
    url = "http://%s/api/v1/explain?name=%s" % (admin, name) + (
        "&type=%s" % qtype if qtype else "")
    req = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(req, timeout=3) as f:
        return json.load(f)


def dns_explain(router, name):
    a = router.exchange(dnsr.query(name + "explain.dnsrouter.", "TXT", "CH"))
    return a.rcode(), [b"".join(rd.strings).decode() for rr in a.answer for rd in rr]


@pytest.fixture
def explained(router, ns1, ns2):
    admin = "127.0.0.1:%d" % dnsr.free_port()
    r = router(conf(ns1, ns2, admin))
    dnsr.wait_for(lambda: http_explain(admin, "www.example.")["backends"][1]["state"] == "down",
                  timeout=5, what="the dead backend down")
    return r, admin


def test_zone_route(explained, ns2):
    r, admin = explained
    e = http_explain(admin, "www.example.", "AAAA")
    assert e["type"] == 28 and e["route"] == {"kind": "zone", "source": "config",
                                              "pattern": "example."}
    assert e["regex_tried"] == 2 and [t["pattern"] for t in e["tried"]] == [
        r"^a.*\.example\.$", r"^b.*\.example\.$"]
    assert e["zone_lookups"] == 2      # www.example. then example.
    assert [(b["name"], b["state"]) for b in e["backends"]] == [("ns2", "up"), ("gone", "down")]
    assert e["pick"]["name"] == "ns2" and e["generation"] >= 1
    rcode, lines = dns_explain(r, "www.example.")
    assert rcode == dns.rcode.NOERROR
    assert lines[0].startswith("name www.example. generation ")
    assert "tried 2 regex routes ^a.*\\.example\\.$ ^b.*\\.example\\.$" in lines
    assert "route zone example. (config)" in lines
    assert "backend %s up" % ns2.addr4 in lines and "pick %s" % ns2.addr4 in lines
    assert any(ln.startswith("backend 127.0.0.1:") and ln.endswith(" down") for ln in lines)


def test_regex_route(explained, ns1):
    r, admin = explained
    e = http_explain(admin, "abc.example.")
    assert e["route"]["kind"] == "regex" and e["route"]["pattern"] == r"^a.*\.example\.$"
    assert e["regex_tried"] == 0 and e["zone_lookups"] == 0
    assert e["pick"]["address"] == ns1.addr4
    rcode, lines = dns_explain(r, "abc.example.")
    assert "route regex ^a.*\\.example\\.$ (config)" in lines, lines


def test_shard_route(explained, ns2):
    r, admin = explained
    e = http_explain(admin, "x.test.")
    assert e["route"]["kind"] == "shard" and e["route"]["pattern"] == "test. shard 1 from m.test."
    assert e["pick"]["address"] == ns2.addr4
    _, lines = dns_explain(r, "x.test.")
    assert "route shard test. shard 1 from m.test. (config)" in lines, lines


def test_no_route(explained):
    r, admin = explained
    e = http_explain(admin, "www.nowhere.")
    assert e["route"] is None and e["rcode"] == "SERVFAIL" and e["zone_lookups"] == 3
    _, lines = dns_explain(r, "www.nowhere.")
    assert lines[-1] == "no route: answered SERVFAIL", lines


def test_bad_request(explained):
    _, admin = explained
    with pytest.raises(urllib.error.HTTPError) as ei:
        http_explain(admin, "a..b.")
    assert ei.value.code == 400


def test_refused_outside_explain_from(router, ns1, ns2):
    admin = "127.0.0.1:%d" % dnsr.free_port()
    r = router(conf(ns1, ns2, admin, **{"explain-from": ["192.0.2.0/24"], "admin-key": "k3y"}))
    rcode, lines = dns_explain(r, "www.example.")
    assert rcode == dns.rcode.REFUSED and lines == []
    # a name that only ends like the suffix is an ordinary query (routed, no route here)
    a = r.exchange(dnsr.query("www.xexplain.dnsrouter.", "TXT", "CH"))
    assert a.rcode() == dns.rcode.SERVFAIL
    with pytest.raises(urllib.error.HTTPError) as ei:
        http_explain(admin, "www.example.")
    assert ei.value.code == 401
    assert http_explain(admin, "www.example.", key="k3y")["route"]["pattern"] == "example."


def test_etcd_route_names_its_key(router, etcd, ns1):
    cl = etcd(1)
    r, admin = et.start_router(router, cl.endpoints)
    key = PREFIX + str(uuid.uuid4())
    cl.client().put(key, entry(ns1.addr4, r"^e.*\.example\.$"))
    et.wait_answer(r.port, "e1.example.", "ns1")
    e = http_explain(admin.base[len("http://"):], "e1.example.")
    assert e["route"] == {"kind": "regex", "source": "etcd", "pattern": r"^e.*\.example\.$",
                          "etcd_keys": key}, e
    _, lines = dns_explain(r, "e1.example.")
    assert "route regex ^e.*\\.example\\.$ (etcd %s)" % key in lines, lines
