# SPDX-License-Identifier: MIT
# tests/integration/test_etcd.py -- discovery through etcd with a real etcd, etcdctl, Knot and
# dnsrouter: a put routes within 1 s, same regexp = one round-robin pool, a deleted key's backend
# gets no new queries, keys outside the prefix are ignored, IPv6 entries; invalid values skipped
# (logged by key) without harm to other routes; lease expiry; static regex routes before etcd
# routes before zone routes, in key order; the router starts with etcd down; /api/v1/routes
# and the dnsrouter_etcd_* metrics.

import json
import random
import time
import uuid

import etcdtools as et
from etcdtools import PREFIX, entry

R_AB = r"^[ab].*\.example\.$"


def names(prefix, n, zone="example."):
    return ["%s%03d.%s" % (prefix, i, zone) for i in range(n)]


def test_put_routes_pool_and_delete(router, etcd, ns1, ns2, fake_backend):
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    m = admin.metrics()
    for name in ("dnsrouter_etcd_up", "dnsrouter_etcd_data_age_seconds", "dnsrouter_etcd_keys",
                 "dnsrouter_etcd_invalid_keys", "dnsrouter_etcd_revision"):
        assert name in m, "metric %s missing" % name
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 5)
    assert et.ask(r.port, "a1.example.") == "SERVFAIL"        # no route at all yet

    k1 = PREFIX + str(uuid.uuid4())
    c.put(k1, entry(ns1.addr4, R_AB))
    took = et.wait_answer(r.port, "a1.example.", "ns1", timeout=1.0)
    et.figure("put -> first routed query (new backend, incl. its first check): %.0f ms"
              % (took * 1000))
    with et.Asker(r.port) as a:
        assert a.ask("b-x.example.") == "ns1"
        assert a.ask("BeE.ExAmPle.") == "ns1", "the regexp sees the lower-case name"
        assert a.ask("a.sub.example.") == "ns1"
        assert a.ask("c1.example.") == "SERVFAIL", "non-matching name"
        assert a.ask("a1.test.") == "SERVFAIL", "non-matching name"
        assert a.ask("xa1.example.") == "SERVFAIL", "regexp anchored at ^"

    # a second key with the same regexp and another backend: one round-robin pool
    fake = fake_backend(name="f2")
    k2 = PREFIX + str(uuid.uuid4())
    c.put(k2, entry(fake.address, R_AB))
    ns = names("a", 20)
    et.wait_outcomes(r.port, ns, lambda o: set(o) == {"ns1", "fake-f2"}, timeout=3,
                     what="both pool members answer")
    with et.Asker(r.port) as a:
        outs = a.who_set(names("b", 20))
    assert set(outs) == {"ns1", "fake-f2"} and 7 <= outs.count("ns1") <= 13, outs  # about half
    assert fake.health_probes >= 1, "new backend took traffic without a health check"
    assert admin.etcd_routes() == {R_AB: sorted([ns1.addr4, fake.address])}
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 2, 2)

    # delete the fake's key: it gets no new queries
    c.delete(k2)
    et.wait_outcomes(r.port, ns, lambda o: set(o) == {"ns1"}, timeout=2,
                     what="deleted backend out of the pool")
    before = fake.count
    with et.Asker(r.port) as a:
        outs = a.who_set(names("b", 50))
    assert set(outs) == {"ns1"}, outs
    time.sleep(0.05)
    assert fake.count == before, "deleted key's backend still gets queries"
    assert admin.etcd_routes() == {R_AB: [ns1.addr4]}

    # the router's revision follows etcd's
    rev = c.revision()
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v == rev, 2)
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 1, 2)
    assert admin.metric("dnsrouter_etcd_invalid_keys") == 0
    assert admin.metric("dnsrouter_etcd_up") == 1
    assert admin.metric("dnsrouter_etcd_data_age_seconds") < 2

    # the same backend under another key and regexp; /api/v1/backends names it by address
    k3 = PREFIX + str(uuid.uuid4())
    c.put(k3, entry(ns1.addr4, r"^c.*\.example\.$"))
    et.wait_answer(r.port, "c1.example.", "ns1", timeout=2)
    bnames = [b["name"] for b in json.loads(admin.get("/api/v1/backends"))]
    assert ns1.addr4 in bnames, bnames
    # deleting k1 leaves the backend serving k3's route
    c.delete(k1)
    et.wait_answer(r.port, "a1.example.", "SERVFAIL", timeout=2)
    assert et.ask(r.port, "c2.example.") == "ns1"
    assert admin.etcd_routes() == {r"^c.*\.example\.$": [ns1.addr4]}
    # deleting the last key: no route left
    c.delete(k3)
    et.wait_answer(r.port, "c1.example.", "SERVFAIL", timeout=2)
    assert admin.etcd_routes() == {}


def test_prefix_boundaries_and_ipv6(router, etcd, ns1, ns2, fake_backend):
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    stray = fake_backend(name="stray")
    # keys that merely start like the prefix, or lie outside it, are not routes
    c.put("/dnsrouterx/k1", entry(stray.address, r"^stray1\.example\.$"))
    c.put("/dnsrouter", entry(stray.address, r"^stray2\.example\.$"))
    c.put("/other/dnsrouter/k3", entry(stray.address, r"^stray3\.example\.$"))
    c.put("dnsrouter/k4", entry(stray.address, r"^stray4\.example\.$"))
    # an IPv6 backend; put last, so once it routes the keys above have been seen
    c.put(PREFIX + "v6", entry(ns2.addr6, r"^v6\.example\.$"))
    et.wait_answer(r.port, "v6.example.", "ns2", timeout=2)
    with et.Asker(r.port) as a:
        for i in range(1, 5):
            assert a.ask("stray%d.example." % i) == "SERVFAIL"
    assert stray.count == 0
    assert admin.etcd_routes() == {r"^v6\.example\.$": [ns2.addr6]}
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 1, 2)
    # changing a key's value moves its route
    c.put(PREFIX + "v6", entry(ns1.addr4, r"^v6b\.example\.$"))
    et.wait_answer(r.port, "v6b.example.", "ns1", timeout=2)
    assert et.ask(r.port, "v6.example.") == "SERVFAIL"
    assert admin.etcd_routes() == {r"^v6b\.example\.$": [ns1.addr4]}


INVALID_AT_START = {
    "bad-garbage": b"garbage",
    "bad-empty": b"",
    "bad-huge": (b"x" * 1000 + b",") * 100,                     # ~100 KB, no address
    "bad-addr-octet": b"999.0.0.1:53,^badaddr1\\.example\\.$",
    "bad-regex-paren": None,                                      # filled in with a live port
}

INVALID_LATER = {
    "bad-port": None,
    "bad-noport": b"127.0.0.1,^badaddr3\\.example\\.$",
    "bad-hostname": b"localhost:53,^badaddr4\\.example\\.$",
    "bad-v6": b"[::1]53,^badaddr5\\.example\\.$",
    "bad-regex-range": None,
    "bad-empty-regex": None,
    "bad-binary": b"\xff\xfe\x00\x01,\x80\x81",
}


def test_invalid_values_skipped(router, etcd, ns1, ns2, ns3):
    cl = etcd(1)
    c = cl.client()
    bad_at_start = dict(INVALID_AT_START)
    bad_at_start["bad-regex-paren"] = entry(ns3.addr4, r"^(badre1\.example\.$").encode()
    bad_later = dict(INVALID_LATER)
    bad_later["bad-port"] = ("127.0.0.1:99999,^badaddr2\\.example\\.$").encode()
    bad_later["bad-regex-range"] = entry(ns3.addr4, r"^[z-a]badre2\.example\.$").encode()
    bad_later["bad-empty-regex"] = (ns3.addr4 + ",").encode()

    # invalid keys present at start (the range read), around a valid one
    for k, v in bad_at_start.items():
        c.put(PREFIX + k, v)
    c.put(PREFIX + "good1", entry(ns1.addr4, r"^good1\.example\.$"))
    r, admin = et.start_router(router, cl.endpoints)
    et.wait_answer(r.port, "good1.example.", "ns1", timeout=3)

    # more invalid keys through the watch, then a valid one after them
    for k, v in bad_later.items():
        c.put(PREFIX + k, v)
    c.put(PREFIX + "good2", entry(ns2.addr4, r"^good2\.example\.$"))
    et.wait_answer(r.port, "good2.example.", "ns2", timeout=3)

    bad = sorted(list(bad_at_start) + list(bad_later))
    admin.wait_metric("dnsrouter_etcd_invalid_keys", lambda v: v == len(bad), 2)
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 2, 2)
    assert admin.metric("dnsrouter_etcd_up") == 1
    with et.Asker(r.port) as a:
        assert a.ask("good1.example.") == "ns1"
        assert a.ask("good2.example.") == "ns2"
        for n in ("badaddr1", "badaddr2", "badaddr3", "badaddr4", "badaddr5", "badre1",
                  "badre2"):
            assert a.ask(n + ".example.") == "SERVFAIL", n
    assert admin.etcd_routes() == {r"^good1\.example\.$": [ns1.addr4],
                                   r"^good2\.example\.$": [ns2.addr4]}

    def all_named():
        log = r.log()
        return all((PREFIX + k) in log for k in bad)
    try:
        et.dnsr.wait_for(all_named, 2, what="log lines naming every invalid key")
    except AssertionError:
        log = r.log()
        raise AssertionError("keys not named in the log: %s\nlog:\n%s" % (
            [k for k in bad if (PREFIX + k) not in log], log[-3000:])) from None

    # a valid key turning invalid does not take other routes down
    c.put(PREFIX + "good1", b"now garbage")
    c.put(PREFIX + "good3", entry(ns3.addr4, r"^good3\.example\.$"))
    et.wait_answer(r.port, "good3.example.", "ns3", timeout=3)
    assert et.ask(r.port, "good2.example.") == "ns2"
    admin.wait_metric("dnsrouter_etcd_invalid_keys", lambda v: v == len(bad) + 1, 2)
    # an invalid key fixed routes
    c.put(PREFIX + "bad-garbage", entry(ns1.addr4, r"^fixed\.example\.$"))
    et.wait_answer(r.port, "fixed.example.", "ns1", timeout=3)
    admin.wait_metric("dnsrouter_etcd_invalid_keys", lambda v: v == len(bad), 2)
    # a well-formed 100 KB value (a huge regexp): whether it is accepted or refused, the router
    # stays up and the other routes keep working
    huge = entry(ns2.addr4, r"^hugere\.example\.$|^" + "h" * (100 * 1024) + r"\.huge\.$")
    assert len(huge) >= 100 * 1024
    c.put(PREFIX + "huge-wellformed", huge)
    c.put(PREFIX + "good4", entry(ns1.addr4, r"^good4\.example\.$"))
    et.wait_answer(r.port, "good4.example.", "ns1", timeout=5)
    with et.Asker(r.port) as a:
        assert a.ask("good2.example.") == "ns2"
        assert a.ask("good3.example.") == "ns3"
        assert a.ask("hugere.example.") in ("ns2", "SERVFAIL")
    assert r.alive()


def test_lease_expiry(router, etcd, ns1, fake_backend):
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    regex = r"^l.*\.example\.$"
    c.put(PREFIX + "static", entry(ns1.addr4, regex))
    fake = fake_backend(name="leased")
    out = cl.ctl("lease", "grant", "2")
    lease = out.split()[1]          # "lease <hex id> granted with TTL(2s)"
    t_put = time.monotonic()
    cl.ctl("put", "--lease=%s" % lease, PREFIX + "leased", entry(fake.address, regex))
    ns = names("l", 20)
    et.wait_outcomes(r.port, ns, lambda o: set(o) == {"ns1", "fake-leased"}, timeout=1.5,
                     what="leased backend in the pool")
    # not kept alive: the lease expires (TTL 2 s), the key goes, the backend gets no new queries
    et.wait_outcomes(r.port, ns, lambda o: set(o) == {"ns1"}, timeout=8,
                     what="leased backend gone after expiry")
    gone = time.monotonic() - t_put
    et.figure("lease TTL 2s: backend out of the pool %.2f s after the put" % gone)
    assert gone >= 1.5, "backend left the pool before its lease could expire"
    assert c.get_prefix()[0].keys() == {PREFIX + "static"}
    before = fake.count
    with et.Asker(r.port) as a:
        assert set(a.who_set(names("lz", 40))) == {"ns1"}
    time.sleep(0.05)
    assert fake.count == before
    assert admin.etcd_routes() == {regex: [ns1.addr4]}


def test_order_static_etcd_zone_and_etcd_down_at_start(router, etcd, ns1, ns2, ns3):
    """etcd down when the router starts: it serves the static routes at once, and the etcd
    routes (custom prefix) once etcd comes up; static regex routes first, then etcd routes in
    key order, then zone routes."""
    cl = etcd(1, start=False)
    static = {
        "backends": [{"name": "s1", "address": ns1.addr4}, {"name": "s3", "address": ns3.addr4}],
        "routes": [et.dnsr.route_regex(r"^f.*\.example\.$", ["s1"]),
                   et.dnsr.route_zone("example.", ["s3"])],
    }
    t0 = time.monotonic()
    r, admin = et.start_router(router, cl.endpoints, prefix="/svc/dns/", timeout="1s",
                               extra=static)
    ready = time.monotonic() - t0
    et.figure("router ready with etcd down: %.2f s" % ready)
    assert ready < 5, "router took %.1f s to serve with etcd down" % ready
    with et.Asker(r.port) as a:
        assert a.ask("fx.example.") == "ns1"
        assert a.ask("ex.example.") == "ns3"
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 0, 3)

    cl.start()
    c = cl.client()
    c.put("/svc/dns/a", entry(ns2.addr4, r"^[ef].*\.example\.$"))
    c.put("/svc/dns/0", entry(ns1.addr6, r"^e3.*\.example\.$"))     # before /a in key order
    c.put("/svc/dns/b", entry(ns3.addr6, r"^e2.*\.example\.$"))     # after /a: never reached
    c.put("/dnsrouter/x", entry(ns2.addr4, r"^z.*\.example\.$"))    # default prefix: not ours
    c.put("/svc/dns/c", entry(ns2.addr4, r"^last\.example\.$"))
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 12,
                      what="etcd_up 1 after etcd came up")
    et.wait_answer(r.port, "last.example.", "ns2", timeout=3)
    with et.Asker(r.port) as a:
        assert a.ask("ex.example.") == "ns2", "etcd route before the zone route"
        assert a.ask("fx.example.") == "ns1", "static regex route before the etcd route"
        assert a.ask("e3x.example.") == "ns1", "etcd routes in key order (/0 before /a)"
        assert a.ask("e2x.example.") == "ns2", "etcd routes in key order (/a before /b)"
        assert a.ask("zx.example.") == "ns3", "key outside the configured prefix"
    routes = admin.routes()
    by = {(x.get("source"), x["kind"], x["pattern"]): x for x in routes}
    assert set(by) == {("config", "regex", r"^f.*\.example\.$"), ("config", "zone", "example."),
                       ("etcd", "regex", r"^[ef].*\.example\.$"),
                       ("etcd", "regex", r"^e3.*\.example\.$"),
                       ("etcd", "regex", r"^e2.*\.example\.$"),
                       ("etcd", "regex", r"^last\.example\.$")}, routes
    assert by[("config", "regex", r"^f.*\.example\.$")]["backends"] == ["s1"]
    assert by[("etcd", "regex", r"^e3.*\.example\.$")]["backends"] == [ns1.addr6]
    assert admin.metric("dnsrouter_etcd_keys") == 4


def test_etcd_backends_health_checked(router, etcd, ns1, fake_backend):
    """Backends from etcd are health-checked like static ones: one that fails its checks, or
    does not listen, never gets a query, not even right after its key appears."""
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    regex = r"^hc.*\.example\.$"
    c.put(PREFIX + "a", entry(ns1.addr4, regex))
    et.wait_answer(r.port, "hc.example.", "ns1", timeout=2)
    sick = fake_backend(name="sick", answer_health=False)
    dead = "127.0.0.1:%d" % et.dnsr.free_port()         # nothing listens there
    c.put(PREFIX + "b", entry(sick.address, regex))
    c.put(PREFIX + "c", entry(dead, regex))
    c.put(PREFIX + "d", entry(ns1.addr4, r"^zzmark\.example\.$"))
    t0 = time.monotonic()
    et.wait_answer(r.port, "zzmark.example.", "ns1", timeout=2)
    # from the moment the keys are in: every query answered by ns1, none lost (~2 s of them)
    outs = []
    with et.Asker(r.port) as a:
        while time.monotonic() - t0 < 2.0 and len(outs) < 400:
            outs.append(a.ask("hc%d.example." % len(outs)))
            time.sleep(0.005)
    assert set(outs) == {"ns1"}, [o for o in outs if o != "ns1"][:10]
    assert sick.count == 0, "a backend failing its health checks got queries"
    assert sick.health_probes >= 1
    assert admin.etcd_routes() == {regex: sorted([ns1.addr4, sick.address, dead]),
                                   r"^zzmark\.example\.$": [ns1.addr4]}
    bs = {b["name"]: b for b in json.loads(admin.get("/api/v1/backends"))}
    assert bs[ns1.addr4]["up"] is True
    assert bs[sick.address]["up"] is False and bs[dead]["up"] is False, bs


def test_churn_and_duplicate_entries(router, etcd, ns1, ns2, ns3):
    """300 quick puts and deletes over 30 keys (same value under several keys too): the routes
    end up equal to etcd's, and the revision too."""
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    backs = [ns1, ns2, ns3]
    rnd = random.Random(99)
    for i in range(300):
        k = PREFIX + "churn%02d" % rnd.randrange(30)
        if rnd.random() < 0.3:
            c.delete(k)
        else:
            b = rnd.choice(backs)
            c.put(k, entry(b.addr4, r"^ch%d\.example\.$" % rnd.randrange(8)))
    # two keys with the very same value, then one of them deleted: the route stays
    same = entry(ns2.addr4, r"^dup\.example\.$")
    c.put(PREFIX + "dup1", same)
    c.put(PREFIX + "dup2", same)
    c.delete(PREFIX + "dup1")
    kvs, rev = c.get_prefix()
    want = et.expected_routes(kvs)
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v == rev, 3)
    admin.wait_routes(want, 3)
    assert admin.metric("dnsrouter_etcd_keys") == len(kvs)
    with et.Asker(r.port) as a:
        assert a.ask("dup.example.") == "ns2"
        for n in range(8):
            pat = r"^ch%d\.example\.$" % n
            outs = set(a.who_set(["ch%d.example." % n] * 6))
            if pat in want:
                names_ = {b.name for b in backs if b.addr4 in want[pat]}
                assert outs <= names_ and outs, (pat, outs, names_)
            else:
                assert outs == {"SERVFAIL"}, (pat, outs)


def test_reload_keeps_etcd_routes(router, etcd, ns1, ns2, ns3):
    """SIGHUP with a changed file: the etcd routes stay in place (no gap), the new static route
    is used, and etcd changes are still followed."""
    cl = etcd(1)
    c = cl.client()
    port, admin_port = et.dnsr.free_port(), et.dnsr.free_port()

    def conf(static_regex):
        return et.router_conf(port, cl.endpoints, admin_port=admin_port, extra={
            "backends": [{"name": "s3", "address": ns3.addr4}],
            "routes": [et.dnsr.route_regex(static_regex, ["s3"])]})
    r = router(conf(r"^st1\.example\.$"), port=port)
    admin = et.Admin(admin_port)
    c.put(PREFIX + "a", entry(ns1.addr4, r"^e1\.example\.$"))
    et.wait_answer(r.port, "e1.example.", "ns1", timeout=2)
    assert et.ask(r.port, "st1.example.") == "ns3"
    r.reload(conf(r"^st2\.example\.$"))
    # during and after the reload the etcd route answers, every time
    outs = []
    with et.Asker(r.port) as a:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5 and len(outs) < 300:
            outs.append(a.ask("e1.example."))
    assert set(outs) == {"ns1"}, [o for o in outs if o != "ns1"][:10]
    et.wait_answer(r.port, "st2.example.", "ns3", timeout=3)
    assert et.ask(r.port, "st1.example.") == "SERVFAIL"
    assert et.ask(r.port, "e1.example.") == "ns1", "etcd route lost by the reload"
    assert admin.etcd_routes() == {r"^e1\.example\.$": [ns1.addr4]}
    c.put(PREFIX + "b", entry(ns2.addr4, r"^e2\.example\.$"))
    et.wait_answer(r.port, "e2.example.", "ns2", timeout=2)
    c.delete(PREFIX + "a")
    et.wait_answer(r.port, "e1.example.", "SERVFAIL", timeout=2)
    assert et.ask(r.port, "st2.example.") == "ns3"
