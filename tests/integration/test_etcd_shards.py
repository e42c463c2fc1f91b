# SPDX-License-Identifier: MIT
# tests/integration/test_etcd_shards.py -- sharded zones through etcd, with a real etcd, Knot
# backends (each answers TXT "<its name>" for any name of example., so an answer names its
# shard) and dnsrouter: the map at PREFIX_shards/<zone>/map makes the route, registrations at
# PREFIX_shards/<zone>/<index>/<id> fill its shards' pools and leave them when deleted, a new
# map moves a cut; a bad map, a backend in two shards, an index past the map and other
# reserved ids are skipped with a line naming the key, without harm to the rest; the map that
# dnsrouter-split writes is taken as it is.

import json
import subprocess

import pytest

import dnsr
import etcdtools as et
from etcdtools import PREFIX
from splittools import SPLIT_BIN

SHARDS = PREFIX + "_shards/example./"
QUICK = {"interval": "100ms", "timeout": "300ms", "fall": 1, "rise": 1}


@pytest.fixture(scope="module")
def knots(tmp_path_factory):
    ks = []
    try:
        for i in range(3):
            k = dnsr.KnotBackend("s%d" % i, tmp_path_factory.mktemp("knot-s%d" % i),
                                 zones=("example.",))
            ks.append(k.start())
        yield ks
    finally:
        for k in ks:
            k.stop()


def start(router, cl):
    return et.start_router(router, cl.endpoints, extra={"health": QUICK})


def the_map(*starts):
    return json.dumps({"shards": [{"from": s, "probe": "host.example. A"} for s in starts]})


def shard_routes(admin):
    """{pattern: sorted backends} of the routes of example.'s shards."""
    return {r["pattern"]: sorted(r["backends"]) for r in admin.routes()
            if r["pattern"].startswith("example. shard")}


def two_shards(router, etcd, knots, before_registering=None):
    """A router following a new etcd in which example. is cut at m.example., shard 0 served by
    s0 and shard 1 by s1; (router, admin, etcd client)."""
    cl = etcd(1)
    c = cl.client()
    r, admin = start(router, cl)
    c.put(SHARDS + "map", the_map("example.", "m.example."))
    if before_registering:
        before_registering(r)
    c.put(SHARDS + "0/s0", knots[0].addr4)
    c.put(SHARDS + "1/s1", knots[1].addr4)
    et.wait_answer(r.port, "a.example.", "s0")
    et.wait_answer(r.port, "x.example.", "s1")
    return r, admin, c


def test_map_and_registrations(router, etcd, knots):
    s0, s1, s2 = knots
    # a shard with no backend yet answers SERVFAIL
    r, admin, c = two_shards(router, etcd, knots, before_registering=lambda r: et.wait_answer(
        r.port, "a.example.", "SERVFAIL"))
    assert shard_routes(admin) == {"example. shard 0 from example.": [s0.addr4],
                                   "example. shard 1 from m.example.": [s1.addr4]}

    # a second backend of shard 0 shares its pool; deleted, it leaves it
    c.put(SHARDS + "0/s2", s2.addr4)
    names = ["a%02d.example." % i for i in range(20)]
    et.wait_outcomes(r.port, names, lambda o: set(o) == {"s0", "s2"}, timeout=5,
                     what="shard 0 answered by s0 and s2")
    c.delete(SHARDS + "0/s2")
    et.wait_outcomes(r.port, names, lambda o: set(o) == {"s0"}, timeout=5,
                     what="s2 out of shard 0")

    # a new map moves the cut: b.example. now belongs to shard 1
    assert et.ask(r.port, "b.example.") == "s0"
    c.put(SHARDS + "map", the_map("example.", "a.example."))
    et.wait_answer(r.port, "b.example.", "s1")
    assert et.ask(r.port, "example.") == "s0"
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 3, 2)
    assert admin.metric("dnsrouter_etcd_invalid_keys") == 0

    # the zone's map deleted: no route for it any more
    c.delete(SHARDS + "map")
    et.wait_answer(r.port, "b.example.", "SERVFAIL")


BAD_KEYS = [
    ("not JSON", "_shards/test./map", "{shards", "map is not JSON"),
    ("unsorted", "_shards/test./map", json.dumps({"shards": [
        {"from": "test."}, {"from": "m.test."}, {"from": "c.test."}]}), "must come after"),
    ("outside the zone", "_shards/test./map", json.dumps({"shards": [
        {"from": "test."}, {"from": "m.other."}]}), "a name in zone 'test.'"),
    ("unknown field", "_shards/test./map", json.dumps({"shards": [{"from": "test."}],
                                                       "backends": []}), "a map is"),
    ("bad probe", "_shards/test./map", json.dumps({"shards": [
        {"from": "test.", "probe": "test."}]}), "bad probe"),
    ("bad address", "_shards/test./0/x", "not-an-address", "ip:port"),
    ("bad index", "_shards/test./zz/x", "127.0.0.1:53", "<zone>/<shard>/<id>"),
    ("reserved", "_other", "127.0.0.1:53", "reserved"),
]


def test_bad_keys_are_skipped(router, etcd, knots):
    s0, s1, s2 = knots
    r, admin, c = two_shards(router, etcd, knots)
    for what, key, value, said in BAD_KEYS:
        c.put(PREFIX + key, value)
        admin.wait_metric("dnsrouter_etcd_invalid_keys", lambda v: v == 1, 3,
                          what="%s counted as invalid" % what)
        dnsr.wait_for(lambda: "key %s%s skipped: " % (PREFIX, key) in r.log()
                      and said in r.log().split("key %s%s skipped: " % (PREFIX, key))[-1],
                      timeout=3, what="a log line for %s" % what)
        assert et.ask(r.port, "a.example.") == "s0"
        c.delete(PREFIX + key)
        admin.wait_metric("dnsrouter_etcd_invalid_keys", lambda v: v == 0, 3)
    # What only the keys together can get wrong: s0 in two shards, an index past the map.
    c.put(SHARDS + "1/again", s0.addr4)
    c.put(SHARDS + "5/s2", s2.addr4)
    dnsr.wait_for(lambda: "serves shard 0 of example." in r.log()
                  and "the map of example. has 2 shards" in r.log(), timeout=3,
                  what="the log lines of a backend in two shards and an index past the map")
    with et.Asker(r.port) as a:
        assert set(a.who_set(["a%02d.example." % i for i in range(10)])) == {"s0"}
        assert set(a.who_set(["x%02d.example." % i for i in range(10)])) == {"s1"}


def test_the_split_tools_map(router, etcd, tmp_path):
    """dnsrouter-split --etcd publishes its map.json, which is the route its routes.yaml
    describes; an etcd that does not answer is exit 1."""
    zone = tmp_path / "example.zone"
    lines = ["$ORIGIN example.", "$TTL 300", "@ SOA ns hostmaster 7 3600 600 86400 300",
             "@ NS ns", "ns A 192.0.2.53"]
    lines += ["h%03d A 192.0.2.%d" % (i, i % 250 + 1) for i in range(300)]
    zone.write_text("\n".join(lines) + "\n")
    out = tmp_path / "split"
    cl = etcd(1)
    c = cl.client()
    r, admin = start(router, cl)
    p = subprocess.run([SPLIT_BIN, str(zone), "-o", str(out), "--shards", "3", "--etcd",
                        cl.endpoints[0]], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "published the map at %smap" % SHARDS in p.stdout, p.stdout
    m = json.loads((out / "map.json").read_text())
    starts = [s["from"] for s in m["shards"]]
    assert len(starts) == 3 and starts[0] == "example."
    assert c.get_prefix(SHARDS + "map")[0] == {SHARDS + "map": (out / "map.json").read_text()}
    dnsr.wait_for(lambda: sorted(shard_routes(admin)) == sorted(
        "example. shard %d from %s" % (i, s) for i, s in enumerate(starts)),
        timeout=5, what="the shard routes of map.json")
    assert admin.metric("dnsrouter_etcd_invalid_keys") == 0
    dead = "http://127.0.0.1:%d" % dnsr.free_port()
    p = subprocess.run([SPLIT_BIN, str(zone), "-o", str(tmp_path / "again"), "--shards", "3",
                        "--etcd", dead], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "--etcd: putting" in p.stderr, p.stderr
