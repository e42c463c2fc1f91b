# SPDX-License-Identifier: MIT
# tests/integration/test_etcd_scale.py -- 10,000 etcd keys (through the watch, then a second
# router reading them at start, then all deleted at once): a sample routes to the right backend,
# the router's RSS stays under 256 MiB; propagation latency from a put to the first query it
# routes, over 20 keys (median < 500 ms; the product goal is < 100 ms).

import random
import time

import etcdtools as et
from etcdtools import PREFIX, entry

NKEYS = 10000
NBACK = 4
RSS_LIMIT_KIB = 256 * 1024


def scale_items(backends):
    return [(PREFIX + "k%05d" % i,
             entry(backends[i % NBACK].addr4, r"^h%05d\.scale\.$" % i)) for i in range(NKEYS)]


def check_sample(port, backends, sample, timeout):
    want = ["scale%d" % (i % NBACK) for i in sample]
    qnames = ["h%05d.scale." % i for i in sample]
    outs = et.wait_outcomes(port, qnames, lambda o: o == want, timeout=timeout,
                            what="%d sampled names routed to their backends" % len(sample))
    return outs


def test_ten_thousand_keys(router, etcd, own_knot):
    backends = [own_knot("scale%d" % i, zones=("scale.",)) for i in range(NBACK)]
    cl = etcd(1)
    c = cl.client()
    r1, admin1 = et.start_router(router, cl.endpoints)
    rss0 = et.rss_kib(r1.proc.pid)

    t0 = time.monotonic()
    c.put_many(scale_items(backends), batch=100)
    t_put = time.monotonic() - t0
    admin1.wait_metric("dnsrouter_etcd_keys", lambda v: v == NKEYS, 30,
                       what="10,000 keys applied through the watch")
    t_applied = time.monotonic() - t0
    sample = random.Random(20240).sample(range(NKEYS), 100)
    check_sample(r1.port, backends, sample, timeout=10)
    t_routed = time.monotonic() - t0
    with et.Asker(r1.port) as a:
        assert a.ask("h%05d.scale." % NKEYS) == "SERVFAIL"
        assert a.ask("x00001.scale.") == "SERVFAIL"
    assert admin1.metric("dnsrouter_etcd_invalid_keys") == 0
    routes = et.dnsr.wait_for(lambda: (lambda x: len(x) == NKEYS and x)(admin1.etcd_routes()),
                              5, 0.1, what="10,000 etcd routes in /api/v1/routes")
    assert routes[r"^h00042\.scale\.$"] == [backends[42 % NBACK].addr4]
    rss1 = et.rss_kib(r1.proc.pid)
    et.figure("10,000 keys via watch: put in %.2f s (100 txns), applied %.2f s, sample routed "
              "%.2f s after the first put" % (t_put, t_applied, t_routed))
    et.figure("RSS with 10,000 etcd keys (watch): %.1f MiB (%.1f MiB before the keys)"
              % (rss1 / 1024, rss0 / 1024))

    # a second router reads all 10,000 at start (the range read)
    t0 = time.monotonic()
    r2, admin2 = et.start_router(router, cl.endpoints)
    admin2.wait_metric("dnsrouter_etcd_keys", lambda v: v == NKEYS, 30,
                       what="10,000 keys applied from the range read")
    check_sample(r2.port, backends, random.Random(7).sample(range(NKEYS), 100), timeout=10)
    t_start = time.monotonic() - t0
    rss2 = et.rss_kib(r2.proc.pid)
    et.figure("10,000 keys via range read at start: routed %.2f s after start; RSS %.1f MiB"
              % (t_start, rss2 / 1024))

    # all deleted in one request: both routers drop every route
    t0 = time.monotonic()
    c.call("/v3/kv/deleterange", {"key": et.b64(PREFIX), "range_end": et.b64(et.prefix_end(PREFIX))})
    for adm in (admin1, admin2):
        adm.wait_metric("dnsrouter_etcd_keys", lambda v: v == 0, 15,
                        what="10,000 keys deleted at once")
    et.figure("10,000 keys deleted in one request: applied after %.2f s"
              % (time.monotonic() - t0))
    # (the metric comes from the etcd thread; the routing table follows a few ms later)
    for r in (r1, r2):
        et.wait_outcomes(r.port, ["h%05d.scale." % i for i in sample[:20]],
                         lambda o: set(o) == {"SERVFAIL"}, timeout=3,
                         what="no route left after deleting every key")
    rss1b = et.rss_kib(r1.proc.pid)
    et.figure("RSS after deleting the 10,000 keys: %.1f MiB" % (rss1b / 1024))
    if et.sanitized():
        et.figure("(sanitizer build: RSS limit of 256 MiB not checked)")
        return
    assert rss1 < RSS_LIMIT_KIB, "RSS %.1f MiB with 10,000 keys" % (rss1 / 1024)
    assert rss2 < RSS_LIMIT_KIB, "RSS %.1f MiB with 10,000 keys" % (rss2 / 1024)


def test_propagation_latency(router, etcd, ns1):
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints)
    # the backend is known and healthy first, so this measures the routing change alone
    c.put(PREFIX + "warm", entry(ns1.addr4, r"^warm\.lat\.example\.$"))
    et.wait_answer(r.port, "warm.lat.example.", "ns1", timeout=3)

    upper, lower = [], []
    with et.Asker(r.port) as a:
        for i in range(20):
            name = "l%02d.lat.example." % i
            assert a.ask(name) == "SERVFAIL"
            c.put(PREFIX + "lat%02d" % i, entry(ns1.addr4, r"^l%02d\.lat\.example\.$" % i))
            t_put = time.monotonic()
            deadline = t_put + 3.0
            while True:
                ts = time.monotonic()
                out = a.ask(name, timeout=0.5)
                te = time.monotonic()
                if out == "ns1":
                    break
                assert out == "SERVFAIL", out
                assert te < deadline, "key %d not routed within 3 s" % i
                time.sleep(0.002)
            upper.append(te - t_put)            # answer received
            lower.append(max(0.0, ts - t_put))  # that query was sent
    med = et.median(upper)
    et.figure("propagation put -> first routed query over 20 keys: median %.1f ms "
              "(query sent at median %.1f ms), min %.1f ms, max %.1f ms"
              % (med * 1000, et.median(lower) * 1000, min(upper) * 1000, max(upper) * 1000))
    assert med < 0.5, "median propagation %.0f ms" % (med * 1000)
