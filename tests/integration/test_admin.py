# SPDX-License-Identifier: MIT
# The admin HTTP endpoint: /metrics (Prometheus text, parsed with prometheus_client) with
# counters that match the queries sent, backend_up following a killed backend, the latency
# histogram; /api/v1/backends and /api/v1/routes JSON; drain/undrain; 404/405.

import json
import os
import resource
import socket
import subprocess
import time

import dns.message
import dns.rcode
import pytest

import dnsr
import lbtools as lb
from dnsr import route_regex, route_zone
from lbtools import backend, conf

NO_HEALTH = {"enabled": False}      # counters below count client traffic only


def start(router, free_port, c, bare_port=False):
    port = free_port()
    c = dict(c)
    c["admin"] = port if bare_port else "127.0.0.1:%d" % port
    r = router(c)
    admin = lb.Admin(port)
    dnsr.wait_for(admin.ready, 5, interval=0.02, what="admin endpoint on port %d" % port)
    return r, admin


def deltas(m1, m0, name, label):
    """label value -> increase of <name> between two scrapes."""
    out = {}
    for lab, v in m1.find(name):
        key = lab.get(label)
        before = [v0 for lab0, v0 in m0.find(name) if lab0 == lab]
        out[key] = v - (before[0] if before else 0.0)
    return out


def test_metrics_parse_and_count_queries(router, free_port, ns1, ns2):
    r, admin = start(router, free_port, conf(
        [backend("ns1", ns1.addr4), backend("ns2", ns2.addr4)],
        [route_zone("example.", ["ns1", "ns2"])], health=NO_HEALTH))
    m0 = admin.metrics()
    types = {
        "dnsrouter_queries": "counter",
        "dnsrouter_responses": "counter",
        "dnsrouter_backend_up": "gauge",
        "dnsrouter_backend_queries": "counter",
        "dnsrouter_backend_timeouts": "counter",
        "dnsrouter_backend_latency_seconds": "histogram",
        "dnsrouter_dropped": "counter",
        "dnsrouter_acl": "counter",
        "dnsrouter_query_limit": "counter",
        "dnsrouter_rrl": "counter",
        "dnsrouter_tcp_closed": "counter",
        "dnsrouter_backend_unreachable": "counter",
    }
    for fam, typ in types.items():
        assert m0.type_of(fam) == typ, "family %s: type %r, want %s; families: %s" % (
            fam, m0.type_of(fam), typ, sorted(m0.families))
    assert m0.value("dnsrouter_backend_up", backend="ns1") == 1
    assert m0.value("dnsrouter_backend_up", backend="ns2") == 1

    n_udp, n_tcp, n_none = 300, 40, 25
    # low concurrency: no backend drops a query, so no retries (checked: no timeouts below)
    load = lb.run_names(r.port, lb.distinct_names(n_udp, "m"), timeout=3, sockets=2, window=2)
    assert sum(load.counts()[b] for b in ("ns1", "ns2")) == n_udp, dict(load.counts())
    who = lb.Counter(load.who)
    for i in range(n_tcp):
        ans = r.exchange(dnsr.query("t%d.example." % i), "tcp")
        assert ans.rcode() == dns.rcode.NOERROR
        who[dnsr.who(ans)] += 1
    for i in range(n_none):
        ans = r.exchange(dnsr.query("x%d.nowhere." % i))
        assert ans.rcode() == dns.rcode.SERVFAIL

    q_udp = lambda m: m.value("dnsrouter_queries_total", transport="udp")  # noqa: E731
    dnsr.wait_for(lambda: q_udp(admin.metrics()) - q_udp(m0) >= n_udp + n_none, 2,
                  what="queries counted")
    m1 = admin.metrics()
    assert deltas(m1, m0, "dnsrouter_queries_total", "transport") == {
        "udp": n_udp + n_none, "tcp": n_tcp}
    resp = deltas(m1, m0, "dnsrouter_responses_total", "rcode")
    assert {k: v for k, v in resp.items() if v} == {
        "NOERROR": n_udp + n_tcp, "SERVFAIL": n_none}, resp
    bq = deltas(m1, m0, "dnsrouter_backend_queries_total", "backend")
    assert bq == {"ns1": who["ns1"], "ns2": who["ns2"]}, (bq, who)
    assert set(deltas(m1, m0, "dnsrouter_backend_timeouts_total", "backend").values()) <= {0}
    # latency histogram: _bucket (cumulative, +Inf == _count), _sum, _count, per backend
    for b in ("ns1", "ns2"):
        count = m1.value("dnsrouter_backend_latency_seconds_count", backend=b)
        assert count - m0.value("dnsrouter_backend_latency_seconds_count", backend=b) == who[b]
        total = m1.value("dnsrouter_backend_latency_seconds_sum", backend=b)
        assert total > m0.value("dnsrouter_backend_latency_seconds_sum", backend=b)
        assert total < count * 0.5, "mean latency over 0.5 s? sum %r count %r" % (total, count)
        buckets = sorted(((float(lab["le"]), v) for lab, v in
                          m1.find("dnsrouter_backend_latency_seconds_bucket", backend=b)))
        assert len(buckets) >= 3 and buckets[-1][0] == float("inf"), buckets
        assert buckets[-1][1] == count, buckets
        assert all(a[1] <= c[1] for a, c in zip(buckets, buckets[1:])), buckets
        # local answers are fast: most fall in a bucket of 100 ms or less
        assert max(v for le, v in buckets if le <= 0.1) >= 0.9 * count, buckets
    assert m1.value("dnsrouter_backend_up", backend="ns1") == 1


def test_metrics_backend_up_follows_killed_backend(router, free_port, own_knot):
    k1, k2 = own_knot("k1"), own_knot("k2")
    r, admin = start(router, free_port, conf(
        [backend("k1", k1.addr4, timeout="300ms"), backend("k2", k2.addr4, timeout="300ms")],
        [route_zone("example.", ["k1", "k2"])], health=lb.FAST_HEALTH))
    up = lambda b: admin.metrics().value("dnsrouter_backend_up", backend=b)  # noqa: E731
    assert up("k1") == 1 and up("k2") == 1
    k1.kill()
    t = time.monotonic()
    dnsr.wait_for(lambda: up("k1") == 0, lb.DOWN_WINDOW + 1, interval=0.05, what="k1 up 0")
    assert time.monotonic() - t <= lb.DOWN_WINDOW
    assert up("k2") == 1
    bs = admin.backends()
    assert bs["k1"]["up"] is False and bs["k2"]["up"] is True, bs
    k1.start()
    t = time.monotonic()
    dnsr.wait_for(lambda: up("k1") == 1, lb.UP_WINDOW + 1, interval=0.05, what="k1 up 1")
    assert time.monotonic() - t <= lb.UP_WINDOW
    assert admin.backends()["k1"]["up"] is True


def test_timeouts_counted(router, free_port, own_knot):
    """Live-traffic timeouts on a stopped backend are counted, in /metrics and the API."""
    k1, k2 = own_knot("k1"), own_knot("k2")
    r, admin = start(router, free_port, conf(
        [backend("k1", k1.addr4, timeout="300ms"), backend("k2", k2.addr4, timeout="300ms")],
        [route_zone("example.", ["k1", "k2"])], health=dict(lb.FAST_HEALTH, interval="30s")))
    m0 = admin.metrics()
    k1.pause()
    slow = 0
    for i in range(10):
        start_t = time.monotonic()
        ans = r.exchange(dnsr.query("s%d.example." % i), timeout=3)
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "k2"
        slow += time.monotonic() - start_t >= 0.25
    k1.resume()
    assert slow >= 1
    dnsr.wait_for(lambda: admin.metrics().value("dnsrouter_backend_timeouts_total", backend="k1")
                  >= slow, 2, what="timeouts counted")
    m1 = admin.metrics()
    assert m1.value("dnsrouter_backend_timeouts_total", backend="k1") - \
        m0.value("dnsrouter_backend_timeouts_total", backend="k1") == slow
    assert m1.value("dnsrouter_backend_timeouts_total", backend="k2") == \
        m0.value("dnsrouter_backend_timeouts_total", backend="k2")
    assert admin.backends()["k1"]["timeouts"] == slow
    assert m1.value("dnsrouter_backend_up", backend="k1") == 0


def test_dropped_answers_counted(router, free_port, fake_backend):
    """An answer with the wrong ID is dropped and counted (dnsrouter_dropped_total)."""
    fake = fake_backend("wrong-id")
    r, admin = start(router, free_port, conf(
        [backend("f", fake.address, timeout="300ms")], [route_zone(".", ["f"])],
        health=NO_HEALTH))
    before = admin.metrics().total("dnsrouter_dropped_total")
    ans = r.exchange(dnsr.query("d.example."), timeout=3)
    assert ans.rcode() == dns.rcode.SERVFAIL
    dnsr.wait_for(lambda: admin.metrics().total("dnsrouter_dropped_total") >= before + 1, 2,
                  what="dropped answer counted")


def test_api_backends_and_routes(router, free_port, ns1, ns2, ns3):
    r, admin = start(router, free_port, conf(
        [backend("ns1", ns1.addr4), backend("ns2", ns2.addr4, weight=3), backend("ns3", ns3.addr6)],
        [route_regex(r"^r[0-9]+\.example\.$", ["ns3", "ns1"], policy="first-available"),
         route_zone("example.", ["ns1", "ns2"], policy="weighted"),
         route_zone("test.", ["ns1", "ns2", "ns3"])],
        health=NO_HEALTH), bare_port=True)
    status, ctype, body = admin.request("GET", "/api/v1/backends")
    assert status == 200 and "json" in ctype, (status, ctype)
    lst = json.loads(body)
    assert isinstance(lst, list) and sorted(b["name"] for b in lst) == ["ns1", "ns2", "ns3"], lst
    want_addr = {"ns1": ns1.addr4, "ns2": ns2.addr4, "ns3": ns3.addr6}
    for b in lst:
        assert isinstance(b["address"], str) and b["address"] == want_addr[b["name"]], b
        assert b["up"] is True and b["drained"] is False, b
        for k in ("queries", "timeouts"):
            assert isinstance(b[k], int) and not isinstance(b[k], bool) and b[k] == 0, b
    load = lb.run_names(r.port, lb.distinct_names(60, "q", "test."), timeout=3)
    counts = load.counts()
    assert sum(counts.values()) == 60 and set(counts) <= {"ns1", "ns2", "ns3"}, dict(counts)
    dnsr.wait_for(lambda: sum(b["queries"] for b in admin.backends().values()) >= 60, 2,
                  what="backend queries counted")
    bs = admin.backends()
    assert {n: b["queries"] for n, b in bs.items()} == {n: counts.get(n, 0) for n in want_addr}

    routes = admin.get_json("/api/v1/routes")
    assert isinstance(routes, list) and len(routes) == 3, routes
    by = {(x["kind"], x["pattern"]): x for x in routes}
    assert set(by) == {("regex", r"^r[0-9]+\.example\.$"), ("zone", "example."),
                       ("zone", "test.")}, routes
    assert by[("regex", r"^r[0-9]+\.example\.$")]["policy"] == "first-available"
    assert by[("regex", r"^r[0-9]+\.example\.$")]["backends"] == ["ns3", "ns1"]
    assert by[("zone", "example.")]["policy"] == "weighted"
    assert by[("zone", "example.")]["backends"] == ["ns1", "ns2"]
    assert by[("zone", "test.")]["policy"] == "round-robin"
    assert by[("zone", "test.")]["backends"] == ["ns1", "ns2", "ns3"]
    # the bare port listens on 127.0.0.1 (start() reached it there); unknown paths: 404
    assert admin.request("GET", "/api/v1/nothing")[0] == 404
    assert admin.request("GET", "/nothing")[0] == 404


def test_drain_and_undrain(router, free_port, fake_backend, ns2):
    slow = fake_backend("slow", name="s1", delay=1.0)
    r, admin = start(router, free_port, conf(
        [backend("s1", slow.address, timeout="3s"), backend("ns2", ns2.addr4)],
        [route_zone("example.", ["s1", "ns2"])], workers=1))
    # get one query in flight at s1: round robin sends one of two consecutive queries there
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", r.port))
        qs = [dnsr.query("inflight%d.example." % i, qid=0x3000 + i) for i in range(2)]
        for q in qs:
            s.send(q.to_wire())
        dnsr.wait_for(lambda: slow.count >= 1, 2, what="a query in flight at s1")
        assert slow.count == 1
        status, ctype, body = admin.post("/api/v1/backends/s1/drain")
        assert status == 200, (status, body)
        json.loads(body)
        t_drain = time.monotonic()
        assert admin.backends()["s1"]["drained"] is True
        # no new queries for s1
        load = lb.run_names(r.port, lb.distinct_names(100, "dr"), timeout=3)
        assert load.counts() == {"ns2": 100}, dict(load.counts())
        assert time.monotonic() - t_drain < 1.0, "test too slow to see the in-flight query"
        # the in-flight query completes: both answers arrive, one from the drained s1
        got = {}
        s.settimeout(3)
        while len(got) < 2:
            msg = dns.message.from_wire(s.recv(65535))
            got[msg.id] = msg
        whos = sorted(dnsr.who(m) for m in got.values())
        assert whos == ["fake-s1", "ns2"], whos
        assert all(m.rcode() == dns.rcode.NOERROR for m in got.values())
    assert slow.count == 1
    # undrain: s1 serves again
    status, ctype, body = admin.post("/api/v1/backends/s1/undrain")
    assert status == 200, (status, body)
    json.loads(body)
    assert admin.backends()["s1"]["drained"] is False
    load = lb.run_names(r.port, lb.distinct_names(20, "ud"), timeout=3)
    counts = load.counts()
    assert counts.get("fake-s1", 0) >= 5 and counts["fake-s1"] + counts["ns2"] == 20, dict(counts)
    # errors
    for path in ("/api/v1/backends/nope/drain", "/api/v1/backends/nope/undrain"):
        assert admin.post(path)[0] == 404, path
    for path in ("/api/v1/backends/s1/drain", "/api/v1/backends/s1/undrain"):
        assert admin.request("GET", path)[0] == 405, path
    assert admin.backends()["s1"]["drained"] is False


def test_drain_hashed_backend_survives_reload(router, free_port, ns1, ns2, ns3):
    """Draining one backend of a hashed pool moves only its names; the drain survives a reload
    that keeps the backend; undrain restores every name to its backend."""
    backends = [backend(k.name, k.addr4) for k in (ns1, ns2, ns3)]
    hashed = route_zone("example.", ["ns1", "ns2", "ns3"], policy="hash")
    r, admin = start(router, free_port, conf(backends, [hashed]))
    names = lb.distinct_names(3000, "dh")
    m1 = lb.Settled(r.port, lb.run_names(r.port, names, timeout=3), 0.9).mapping()
    assert set(m1.values()) == {"ns1", "ns2", "ns3"}
    assert admin.post("/api/v1/backends/ns3/drain")[0] == 200
    m2 = lb.Settled(r.port, lb.run_names(r.port, names, timeout=3), 0.9).mapping()
    moved = [n for n in names if m2[n] != m1[n]]
    assert all(m1[n] == "ns3" for n in moved) and set(m2.values()) == {"ns1", "ns2"}, (
        [(n, m1[n], m2[n]) for n in moved if m1[n] != "ns3"][:5], lb.Counter(m2.values()))
    # reload (a new route shows when it is applied); ns3 stays drained
    c2 = conf(backends, [hashed, route_zone("test.", ["ns1"])])
    c2["admin"] = "127.0.0.1:%d" % int(admin.base.rsplit(":", 1)[1])
    r.reload(c2)
    dnsr.wait_for(lambda: lb.run_names(r.port, ["x%d.test." % time.monotonic_ns()],
                                       timeout=1).counts()["ns1"] == 1, 5,
                  interval=0.02, what="reload applied")
    assert admin.backends()["ns3"]["drained"] is True
    m3 = lb.Settled(r.port, lb.run_names(r.port, names, timeout=3), 0.9).mapping()
    assert m3 == m2, "%d names moved across the reload" % sum(m3[n] != m2[n] for n in names)
    assert admin.post("/api/v1/backends/ns3/undrain")[0] == 200
    m4 = lb.Settled(r.port, lb.run_names(r.port, names, timeout=3), 0.9).mapping()
    assert m4 == m1, "%d names not back after undrain" % sum(m4[n] != m1[n] for n in names)


def test_admin_bad_clients(router, free_port, own_knot):
    """Idle and half-sent admin connections block neither other admin requests nor the health
    checks; garbage and an oversized request do not hurt the router."""
    k1, k2 = own_knot("k1"), own_knot("k2")
    r, admin = start(router, free_port, conf(
        [backend("k1", k1.addr4, timeout="300ms"), backend("k2", k2.addr4, timeout="300ms")],
        [route_zone("example.", ["k1", "k2"])], health=lb.FAST_HEALTH))
    host, port = "127.0.0.1", int(admin.base.rsplit(":", 1)[1])
    held = [socket.create_connection((host, port), timeout=2) for _ in range(4)]
    try:
        held[1].sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")      # never finished
        held[2].sendall(b"POST /api/v1/backends/k1/drain HTTP/1.1\r\nContent-Length: 100\r\n"
                        b"\r\n{")
        t = time.monotonic()
        admin.metrics()
        assert time.monotonic() - t < 1.0
        k1.kill()
        t = time.monotonic()
        dnsr.wait_for(lambda: admin.backends()["k1"]["up"] is False, lb.DOWN_WINDOW + 1,
                      interval=0.05, what="k1 down while admin clients hang")
        assert time.monotonic() - t <= lb.DOWN_WINDOW
        for junk in (b"\x00\xff" * 2000 + b"\r\n\r\n", b"GET /metrics HTTP/1.1\r\nX: "
                     + b"a" * 200000 + b"\r\n\r\n", b"BREW /pot HTCPCP/1.0\r\n\r\n"):
            with socket.create_connection((host, port), timeout=0.5) as s:
                try:
                    s.sendall(junk)
                    s.recv(100)
                except OSError:
                    pass
        assert r.alive()
        assert admin.backends()["k1"]["drained"] is False
        ans = r.exchange(dnsr.query("after.example."))
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "k2"
        assert admin.request("GET", "/metrics")[0] == 200
    finally:
        for s in held:
            s.close()


def test_admin_on_ipv6(router, free_port, ns1):
    port = free_port()
    router(conf([backend("ns1", ns1.addr4)], [route_zone(".", ["ns1"])],
                admin="[::1]:%d" % port))
    admin = lb.Admin(port, host="[::1]")
    dnsr.wait_for(admin.ready, 5, interval=0.02, what="admin endpoint on [::1]:%d" % port)
    assert admin.metrics().value("dnsrouter_backend_up", backend="ns1") == 1
    assert list(admin.backends()) == ["ns1"]


def test_backend_moved_to_another_address(router, free_port, fake_backend):
    """A reload gives backend b1 a new address while a query is still in flight at the old
    one. Until that query ends both objects exist; the admin endpoint must show b1 once (a
    second series would make Prometheus reject the whole scrape) with its new address, and
    drain must act on the b1 that takes traffic."""
    old = fake_backend("slow", name="old", delay=2.0)
    new = fake_backend("normal", name="new")
    c = conf([backend("b1", old.address, timeout="3s")], [route_zone(".", ["b1"])],
             health=NO_HEALTH, workers=1)
    r, admin = start(router, free_port, c)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", r.port))
        s.send(dnsr.query("inflight.example.", qid=0x4242).to_wire())
        dnsr.wait_for(lambda: old.count >= 1, 2, what="a query in flight at the old address")
        c2 = dict(c, backends=[backend("b1", new.address, timeout="3s")],
                  admin="127.0.0.1:%d" % int(admin.base.rsplit(":", 1)[1]))
        offset = r.reload(c2)
        dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 3,
                      what="the reload applied")
        assert dnsr.who(r.exchange(dnsr.query("moved.example."))) == "fake-new"
        assert old.count == 1 and old.idle is False, "the old query ended too soon for the test"

        status, _, text = admin.request("GET", "/metrics")
        assert status == 200
        ups = [line for line in text.decode().splitlines()
               if line.startswith("dnsrouter_backend_up{") and 'backend="b1"' in line]
        assert len(ups) == 1, ups
        listed = [b for b in admin.get_json("/api/v1/backends") if b["name"] == "b1"]
        assert len(listed) == 1 and listed[0]["address"] == new.address, listed

        assert admin.post("/api/v1/backends/b1/drain")[0] == 200
        ans = r.exchange(dnsr.query("drained.example."))
        assert ans.rcode() == dns.rcode.SERVFAIL, \
            "drain did not reach the b1 taking traffic: %s" % dnsr.rcode_text(ans)
        s.settimeout(3)
        assert dnsr.who(dns.message.from_wire(s.recv(65535))) == "fake-old"


def test_admin_port_taken_is_one_clear_line(tmp_path, ns1):
    """The admin port in use: the router does not start, and says why in exactly one line
    (libmicrohttpd's own messages go to the debug log)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "taken.yaml"
        path.write_text(dnsr.render_yaml(conf(
            [backend("ns1", ns1.addr4)], [route_zone(".", ["ns1"])],
            listen=["127.0.0.1:%d" % dnsr.free_port()], admin="127.0.0.1:%d" % port)))
        p = subprocess.run([dnsr.ROUTER_BIN, "-c", str(path)], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode != 0
    assert len(lines) == 1 and "admin endpoint on 127.0.0.1:%d" % port in lines[0], p.stderr


def test_badvers_counted_as_badvers(router, free_port, ns1):
    """BADVERS is an extended rcode (16): its header bits say NOERROR. The answers the router
    gives to EDNS version 1 are counted under BADVERS, not NOERROR."""
    r, admin = start(router, free_port, conf([backend("ns1", ns1.addr4)],
                                             [route_zone("example.", ["ns1"])],
                                             health=NO_HEALTH))
    m0 = admin.metrics()
    for i in range(3):
        q = dns.message.make_query("v%d.example." % i, "TXT")
        q.use_edns(edns=1)
        assert r.exchange(q).rcode() == dns.rcode.BADVERS
    assert r.exchange(dnsr.query("www.example.")).rcode() == dns.rcode.NOERROR
    m1 = admin.metrics()
    got = lambda rc: m1.value("dnsrouter_responses_total", rcode=rc) - \
        m0.value("dnsrouter_responses_total", rcode=rc)  # noqa: E731
    assert (got("BADVERS"), got("NOERROR")) == (3, 1)


def test_admin_answers_with_over_1024_descriptors_open(router, free_port, ns1):
    """With 1,100 client connections open the router holds more than 1,024 descriptors; the
    admin endpoint's next connection gets a number past 1023 and must still be served (the
    select()-based mode of libmicrohttpd drops those). The clients share one address, so one
    worker holds them all: its share of max-connections must take them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1300:
        pytest.skip("descriptor hard limit %d" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    clients = []
    try:
        r, admin = start(router, free_port, conf([backend("ns1", ns1.addr4)],
                                                 [route_zone("example.", ["ns1"])],
                                                 tcp={"max-connections": 4000,
                                                      "max-connections-per-client": 0}))
        for _ in range(1100):
            clients.append(socket.create_connection(("127.0.0.1", r.port), timeout=5))
        fds = lambda: len(os.listdir("/proc/%d/fd" % r.proc.pid))  # noqa: E731
        dnsr.wait_for(lambda: fds() > 1100, timeout=5, what="the router holding the clients")
        m = admin.metrics()
        assert m.value("dnsrouter_backend_up", backend="ns1") == 1
        assert admin.backends()["ns1"]["up"] is True
    finally:
        for c in clients:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
