# SPDX-License-Identifier: MIT
# A zone route served in shards (`shards:`), with real Knot backends, each a shard, each
# answering TXT "<its name>" for any name of example. (so an answer names its shard):
#   canonical   names go to the shard whose `from` range holds them in DNSSEC's canonical
#               order (RFC 4034 §6.1): ancestors before descendants, ENT subtrees, cuts on
#               names that do not exist; UDP and TCP; a reload moves a cut
#   nsec3       names go by the NSEC3 hash of their label below the zone, with the zone's
#               parameters (dnspython computes the expected hash), wrapping below the first
#               prefix; the apex to the first shard
#   health      a shard's probe must be answered NOERROR with data: a backend serving the wrong
#               shard (here: not the zone at all) leaves the shard's pool
#   transfers   AXFR of a sharded zone REFUSED + EDE 18 even for an allowed client, unless
#               full-zone names a source of the whole zone, which then serves it
#   -t          bad shard lists are refused with FILE:LINE

import random
import subprocess

import dns.dnssec
import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

import dnsr
from test_transfers import XfrKnot, transfer, records

SHARDS = ["example.", "child22.example.", "m.ent.example.", "host43.example."]

# name -> index of the shard that must answer it (canonical order below example.:
# "child22" < "ent" < "host43"; an ancestor sorts before its descendants)
EXPECT = {
    "example.": 0, "a.example.": 0, "child21.example.": 0, "zz.child21.example.": 0,
    "child22.example.": 1, "www.child22.example.": 1, "a.b.child22.example.": 1,
    "ent.example.": 1, "a.ent.example.": 1, "l.ent.example.": 1,
    "m.ent.example.": 2, "x.m.ent.example.": 2, "zzz.ent.example.": 2, "host42.example.": 2,
    "host43.example.": 3, "host430.example.": 3, "a.host43.example.": 3, "zzzz.example.": 3,
    "CHILD22.Example.": 1, "M.ENT.example.": 2,
}


@pytest.fixture(scope="module")
def shard_knots(tmp_path_factory):
    knots = []
    for i in range(4):
        k = dnsr.KnotBackend("s%d" % i, tmp_path_factory.mktemp("knot-s%d" % i),
                             zones=("example.",))
        knots.append(k.start())
    yield knots
    for k in knots:
        k.stop()


def shard_conf(knots, starts, nsec3=None, probe=None, extra_backends=(), full_zone=None,
               transfers=None):
    backends = [{"name": k.name, "address": k.addr4, "health": {"enabled": False}}
                for k in knots]
    backends += list(extra_backends)
    shards = []
    for i, start in enumerate(starts):
        sh = {"from": start, "backends": [knots[i].name]}
        if probe and i in probe:
            sh["backends"] = probe[i][0]
            sh["probe"] = probe[i][1]
        shards.append(sh)
    route = {"zone": "example.", "shards": shards}
    if nsec3:
        route["nsec3"] = nsec3
    if full_zone:
        route["full-zone"] = full_zone
    conf = {"workers": 2, "backends": backends, "routes": [route]}
    if transfers:
        conf["transfers"] = transfers
    return conf


def who_answers(router, name, transport="udp"):
    r = router.exchange(dnsr.query(name, "TXT"), transport=transport)
    assert r is not None, "no answer for %s" % name
    assert r.rcode() == dns.rcode.NOERROR, (name, dns.rcode.to_text(r.rcode()))
    return dnsr.txt_strings(r)[0]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_canonical_ranges(tmp_path, shard_knots, transport):
    r = dnsr.Router(tmp_path / "r", conf=shard_conf(shard_knots, SHARDS)).start()
    try:
        for name, i in EXPECT.items():
            assert who_answers(r, name, transport) == "s%d" % i, name
    finally:
        r.stop()


def test_cut_on_a_name_that_does_not_exist_and_reload(tmp_path, shard_knots):
    starts = ["example.", "d.example.", "hosu.example.", "p.example."]
    r = dnsr.Router(tmp_path / "r", conf=shard_conf(shard_knots, starts)).start()
    try:
        cases = {"c.example.": 0, "czzz.example.": 0, "d.example.": 1, "da.example.": 1,
                 "hos.example.": 1, "hosb.example.": 1, "hosu.example.": 2, "a.hosu.example.": 2,
                 "hosv.example.": 2, "p.example.": 3, "pa.example.": 3}
        for name, i in cases.items():
            assert who_answers(r, name) == "s%d" % i, name
        # Moving a cut by reload moves the names with it.
        offset = r.reload(shard_conf(shard_knots, ["example.", "d.example.", "hosa.example.",
                                                  "p.example."]))
        dnsr.wait_for(lambda: who_answers(r, "hosb.example.") == "s2", timeout=5,
                      what="reload applied")
        assert who_answers(r, "hos.example.") == "s1"
        assert who_answers(r, "hosa.example.") == "s2"
        assert "error" not in r.log()[offset:].lower()
    finally:
        r.stop()


NSEC3 = {"algorithm": 1, "iterations": 12, "salt": "aabbccdd"}
PREFIXES = ["4", "8", "g", "o"]


def expected_nsec3_shard(name):
    labels = dns.name.from_text(name).labels
    if len(labels) <= 2:  # example. and the root label
        return 0
    child = dns.name.Name(labels[-3:])
    h = dns.dnssec.nsec3_hash(child, "aabbccdd", 12, 1).lower()
    i = -1
    for j, p in enumerate(PREFIXES):
        if p <= h:
            i = j
    return i if i >= 0 else len(PREFIXES) - 1


def test_nsec3_hash_ranges(tmp_path, shard_knots):
    r = dnsr.Router(tmp_path / "r", conf=shard_conf(shard_knots, PREFIXES, nsec3=NSEC3)).start()
    rnd = random.Random(13)
    names = ["example.", "a.example.", "w.example.", "*.w.example.", "ns1.example."]
    names += ["%s.example." % "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-")
                                       for _ in range(rnd.randint(1, 12)))
              for _ in range(150)]
    names += ["x.y.%s" % n for n in names[5:40]]
    try:
        seen = set()
        for name in names:
            want = expected_nsec3_shard(name)
            seen.add(want)
            assert who_answers(r, name) == "s%d" % want, name
        assert seen == {0, 1, 2, 3}  # every shard, the wrap-around included
        # RFC 5155 Appendix A: a.example. hashes to 35mt..., below "4": the last shard.
        assert who_answers(r, "a.example.") == "s3"
    finally:
        r.stop()


def backend_states(router_admin):
    import json
    import urllib.request
    with urllib.request.urlopen("http://%s/api/v1/backends" % router_admin, timeout=3) as f:
        return {b["name"]: b for b in json.load(f)}


def test_probe_takes_a_wrong_shard_out(tmp_path, shard_knots, knot_factory):
    # s1b serves another zone altogether: the shard's probe finds no data there.
    wrong = knot_factory("s1b", zones=("test.",))
    admin = "127.0.0.1:%d" % dnsr.free_port()
    extra = [{"name": "s1b", "address": wrong.addr4,
              "health": {"interval": "100ms", "timeout": "200ms", "fall": 1, "rise": 1}}]
    conf = shard_conf(shard_knots, SHARDS, extra_backends=extra,
                      probe={1: (["s1", "s1b"], "mid.example. TXT")})
    conf["admin"] = admin
    # s1 is checked with the probe too: give it quick checks.
    for be in conf["backends"]:
        if be["name"] == "s1":
            be["health"] = {"interval": "100ms", "timeout": "200ms", "fall": 1, "rise": 1}
    r = dnsr.Router(tmp_path / "r", conf=conf).start()
    try:
        def states():
            st = backend_states(admin)
            return st["s1"]["up"], st["s1b"]["up"]
        dnsr.wait_for(lambda: states() == (True, False), timeout=5,
                      what="s1 up and s1b down by the probe")
        for _ in range(40):
            assert who_answers(r, "www.child22.example.") == "s1"
    finally:
        r.stop()


def axfr_rcode_and_ede(port):
    import socket
    import struct
    q = dns.message.make_query("example.", "AXFR", use_edns=0)
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(dnsr.tcp_frame(q.to_wire()))
        a = dns.message.from_wire(dnsr.tcp_read_msg(s))
    return a.rcode(), dnsr.ede_codes(a)


def test_transfer_of_a_sharded_zone(tmp_path, shard_knots):
    conf = shard_conf(shard_knots, SHARDS, transfers=["127.0.0.0/8"])
    r = dnsr.Router(tmp_path / "r", conf=conf).start()
    try:
        rcode, ede = axfr_rcode_and_ede(r.port)
        assert rcode == dns.rcode.REFUSED and 18 in ede
    finally:
        r.stop()
    whole = XfrKnot("whole", tmp_path / "knot-whole").start()
    try:
        extra = [{"name": "whole", "address": whole.addr4, "health": {"enabled": False}}]
        conf = shard_conf(shard_knots, SHARDS, transfers=["127.0.0.0/8"],
                          extra_backends=extra, full_zone="whole")
        r = dnsr.Router(tmp_path / "r2", conf=conf).start()
        try:
            msgs = transfer(r.port, "example.")
            recs = records(msgs)
            assert recs[0].split()[3] == "SOA" and recs[-1].split()[3] == "SOA"
            assert any('"whole"' in t for t in recs)
            # Queries still go to the shards.
            assert who_answers(r, "www.child22.example.") == "s1"
        finally:
            r.stop()
    finally:
        whole.stop()


BAD = [
    ("unsorted", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["a"]}, {"from": "m.example.", "backends": ["b"]},
        {"from": "c.example.", "backends": ["c"]}]}, "must come after 'm.example.'"),
    ("duplicate", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["a"]}, {"from": "m.example.", "backends": ["b"]},
        {"from": "m.example.", "backends": ["c"]}]}, "must come after"),
    ("outside", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["a"]}, {"from": "m.other.", "backends": ["b"]}]},
     "a name in zone 'example.'"),
    ("first-not-zone", {"zone": "example.", "shards": [
        {"from": "c.example.", "backends": ["a"]}, {"from": "m.example.", "backends": ["b"]}]},
     "the first shard must start at the zone"),
    ("nsec3-bad-prefix", {"zone": "example.", "nsec3": NSEC3, "shards": [
        {"from": "0", "backends": ["a"]}, {"from": "x9", "backends": ["b"]}]},
     "starts at a base32hex prefix"),
    ("nsec3-unsorted", {"zone": "example.", "nsec3": NSEC3, "shards": [
        {"from": "8", "backends": ["a"]}, {"from": "0", "backends": ["b"]}]},
     "must come after '8'"),
    ("nsec3-no-shards", {"zone": "example.", "nsec3": NSEC3, "backends": ["a"]},
     "nsec3 needs shards"),
    ("nsec3-algorithm", {"zone": "example.", "nsec3": {"algorithm": 2}, "shards": [
        {"from": "0", "backends": ["a"]}]}, "must be 1 (SHA-1)"),
    ("two-shards-one-backend", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["a"]}, {"from": "m.example.", "backends": ["a"]}]},
     "backend 'a' serves two shards"),
    ("shards-and-backends", {"zone": "example.", "backends": ["a"], "shards": [
        {"from": "example.", "backends": ["b"]}]}, "without backends of its own"),
    ("regex-shards", {"regex": "x", "shards": [{"from": "example.", "backends": ["b"]}]},
     "without backends of its own"),
    ("unknown-backend", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["zz"]}]}, "unknown backend 'zz'"),
    ("no-backends", {"zone": "example.", "shards": [{"from": "example."}]},
     "a shard needs backends"),
    ("bad-probe", {"zone": "example.", "shards": [
        {"from": "example.", "backends": ["a"], "probe": "example."}]}, "bad shard probe"),
    ("full-zone-unknown", {"zone": "example.", "full-zone": "zz", "shards": [
        {"from": "example.", "backends": ["a"]}]}, "full-zone names unknown backend 'zz'"),
]


@pytest.mark.parametrize("name,route,what", BAD, ids=[b[0] for b in BAD])
def test_check_rejects_bad_shard_lists(tmp_path, name, route, what):
    conf = {"backends": [{"name": n, "address": "127.0.0.1:%d" % (5300 + i)}
                         for i, n in enumerate("abc")],
            "routes": [route]}
    path = tmp_path / "dnsrouter.yaml"
    path.write_text(dnsr.render_yaml(conf))
    out = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(path) + ":"), out.stderr
    assert what in lines[0], lines[0]


class Nsec3ParamKnot(dnsr.KnotBackend):
    """A Knot whose example. apex holds an NSEC3PARAM with <salt> (12 iterations)."""

    def __init__(self, name, workdir, salt):
        super().__init__(name, workdir, zones=("example.",))
        self.salt = salt

    def _zone_text(self, zone):
        return super()._zone_text(zone) + "@ NSEC3PARAM 1 0 12 %s\n" % self.salt


@pytest.mark.parametrize("probe", [None, "mid.example. TXT"])
def test_nsec3_shard_checks_nsec3param(tmp_path, shard_knots, probe):
    """A shard of an nsec3 route is checked with the apex NSEC3PARAM (after its probe, when it
    has one): a backend whose zone hashes with other parameters (re-salted, say) would route
    names to the wrong shards' proofs, and leaves the pool."""
    good = Nsec3ParamKnot("n3good", tmp_path / "knot-good", "aabbccdd").start()
    bad = Nsec3ParamKnot("n3bad", tmp_path / "knot-bad", "aabbccde").start()
    try:
        admin = "127.0.0.1:%d" % dnsr.free_port()
        quick = {"interval": "100ms", "timeout": "200ms", "fall": 1, "rise": 1}
        extra = [{"name": "n3good", "address": good.addr4, "health": quick},
                 {"name": "n3bad", "address": bad.addr4, "health": quick}]
        conf = shard_conf(shard_knots, PREFIXES, nsec3=NSEC3, extra_backends=extra)
        conf["routes"][0]["shards"][0]["backends"] = ["n3good", "n3bad"]
        if probe:
            conf["routes"][0]["shards"][0]["probe"] = probe
        conf["admin"] = admin
        r = dnsr.Router(tmp_path / "r", conf=conf).start()
        try:
            def states():
                st = backend_states(admin)
                return st["n3good"]["up"], st["n3bad"]["up"]
            dnsr.wait_for(lambda: states() == (True, False), timeout=5,
                          what="n3good up and n3bad down by NSEC3PARAM")
            names = [n for n in ("ns1.example.", "example.") if expected_nsec3_shard(n) == 0]
            assert names
            for _ in range(20):
                for n in names:
                    assert who_answers(r, n) == "n3good", n
        finally:
            r.stop()
    finally:
        good.stop()
        bad.stop()


# ------------------------------------------------------------------ one serial for every shard

class SerialKnot(dnsr.KnotBackend):
    """A Knot whose example. has SOA serial <serial>; kill() and start() load another."""

    def __init__(self, name, workdir, serial):
        super().__init__(name, workdir, zones=("example.",))
        self.serial = serial

    def _zone_text(self, zone):
        text = super()._zone_text(zone)
        return text.replace("@ SOA ns hostmaster 1 ", "@ SOA ns hostmaster %d " % self.serial)

    def load_serial(self, serial):
        self.serial = serial
        self.kill()
        self.start()


QUICK = {"interval": "100ms", "timeout": "300ms", "fall": 1, "rise": 1}


@pytest.fixture
def serial_knots(tmp_path):
    """Shard 0 (example.) on a1 at serial 1 and b1 at serial 2; shard 1 (m.example.) on a2 at
    serial 1."""
    ks = {}
    try:
        for name, serial in (("a1", 1), ("b1", 2), ("a2", 1)):
            ks[name] = SerialKnot(name, tmp_path / ("knot-" + name), serial).start()
        yield ks
    finally:
        for k in ks.values():
            k.stop()


def serial_router(tmp_path, ks, pinned=None, shard0=("a1", "b1"), transport="tcp"):
    admin = "127.0.0.1:%d" % dnsr.free_port()
    route = {"zone": "example.", "shards": [
        {"from": "example.", "backends": list(shard0)},
        {"from": "m.example.", "backends": ["a2"]}]}
    if pinned is not None:
        route["serial"] = pinned
    conf = {"workers": 2, "admin": admin, "routes": [route],
            "backends": [{"name": n, "address": k.addr4,
                          "health": dict(QUICK, transport=transport)}
                         for n, k in ks.items()]}
    return dnsr.Router(tmp_path / "r", conf=conf).start(), admin


def stale_of(admin):
    return {n: (b["up"], b.get("stale"), b.get("serial")) for n, b in
            backend_states(admin).items()}


def answers_from(r, name, n=30):
    return {who_answers(r, name) for _ in range(n)}


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_every_shard_at_one_serial(tmp_path, serial_knots, transport):
    """b1 loaded serial 2 before the other shard: it stays out of its pool, as its answers
    could contradict shard 1's. When a2 loads serial 2 too, the zone moves to 2 as a whole:
    a1 leaves and b1 serves. The checks ask the apex SOA after their own query, on one
    connection or socket."""
    r, admin = serial_router(tmp_path, serial_knots, transport=transport)
    try:
        dnsr.wait_for(lambda: stale_of(admin) == {
            "a1": (True, False, 1), "b1": (True, True, 2), "a2": (True, False, 1)},
            timeout=5, what="b1 stale at serial 2, the zone at 1")
        assert answers_from(r, "a.example.") == {"a1"}
        assert answers_from(r, "x.example.") == {"a2"}
        assert dnsr.metric(admin, "dnsrouter_backend_stale", backend="b1") == 1
        assert dnsr.metric(admin, "dnsrouter_backend_serial", backend="b1") == 2
        assert "serves serial 2, not the zone's 1" in r.log()

        serial_knots["a2"].load_serial(2)
        dnsr.wait_for(lambda: stale_of(admin) == {
            "a1": (True, True, 1), "b1": (True, False, 2), "a2": (True, False, 2)},
            timeout=5, what="the zone at serial 2: a1 stale")
        assert answers_from(r, "a.example.") == {"b1"}
        assert answers_from(r, "x.example.") == {"a2"}
        assert "zone example. is served at serial 2 by all 2 shards" in r.log()
    finally:
        r.stop()


def test_pinned_serial(tmp_path, serial_knots):
    """`serial: 2` pins the zone's target: a2 at 1 leaves its pool although it is the only
    backend of its shard, whose names then get SERVFAIL rather than an answer of another
    version; b1 serves shard 0."""
    r, admin = serial_router(tmp_path, serial_knots, pinned=2)
    try:
        dnsr.wait_for(lambda: stale_of(admin) == {
            "a1": (True, True, 1), "b1": (True, False, 2), "a2": (True, True, 1)},
            timeout=5, what="a1 and a2 stale against the pinned serial")
        assert answers_from(r, "a.example.") == {"b1"}
        a = r.exchange(dnsr.query("x.example.", "TXT"))
        assert a.rcode() == dns.rcode.SERVFAIL
    finally:
        r.stop()


def test_mixed_serials_without_a_common_one(tmp_path, serial_knots):
    """One backend per shard, half-way through a reload (b1 at 2, a2 at 1): no serial is
    served by every shard, so nothing is marked stale (marking would take a whole shard out)
    and the log says the zone is mixed."""
    r, admin = serial_router(tmp_path, serial_knots, shard0=("b1",))
    try:
        dnsr.wait_for(lambda: "has no serial that every shard serves" in r.log(), timeout=5,
                      what="the mixed-serial warning")
        st = stale_of(admin)
        assert st["b1"] == (True, False, 2) and st["a2"] == (True, False, 1), st
        assert answers_from(r, "a.example.", 5) == {"b1"}
        assert answers_from(r, "x.example.", 5) == {"a2"}
    finally:
        r.stop()


def test_serial_needs_shards(tmp_path):
    conf = {"backends": [{"name": "a", "address": "127.0.0.1:5300"}],
            "routes": [{"zone": "example.", "backends": ["a"], "serial": 3}]}
    path = tmp_path / "dnsrouter.yaml"
    path.write_text(dnsr.render_yaml(conf))
    out = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1 and "serial needs shards" in out.stderr, out.stderr
