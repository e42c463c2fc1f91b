# SPDX-License-Identifier: MIT
# Health checks: a killed backend leaves rotation without a lost query and comes back after a
# restart; a stopped (SIGSTOP) backend is caught by active checks and, separately, by passive
# ones (timeouts on live traffic); new backends are checked before they take traffic; checks
# use the configured query, transport and rcodes; a route with every backend down answers
# SERVFAIL + EDE 22 at once, or with `fallback: all` still tries them.

import os
import re
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import dnsr
import lbtools as lb
from dnsr import route_zone
from lbtools import backend, conf


def names(prefix, zone="example."):
    """Endless distinct names; the Load's duration bounds how many are used."""
    i = 0
    while True:
        yield "%s%d.%s" % (prefix, i, zone)
        i += 1


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def assert_all_answered(load, idx=None, allowed=None):
    idx = range(len(load)) if idx is None else idx
    bad = [i for i in idx if load.outcome(i) not in allowed]
    assert not bad, "%d of %d queries not answered by %s; first ones:\n%s" % (
        len(bad), len(idx), sorted(allowed),
        "\n".join(load.describe(i) for i in bad[:15]))


def first_answer_from(load, who, after):
    t = [load.done[i] for i in range(len(load))
         if load.who[i] == who and load.done[i] is not None and load.done[i] >= after]
    return min(t) if t else None


def assert_both_serve(load, a="h1", b="h2"):
    c = load.counts()
    assert set(c) == {a, b} and min(c.values()) >= 0.3 * len(load), dict(c)


def log_has(r, pattern):
    return any(re.search(pattern, line) for line in r.log().splitlines())


def timed(r, q, transport="udp", timeout=5.0):
    start = time.monotonic()
    ans = r.exchange(q, transport=transport, timeout=timeout)
    return ans, time.monotonic() - start


# -------------------------------------------------------------------------------------------


def test_killed_backend_under_load(router, own_knot):
    """~2,000 queries/s for 10 s over two backends; one is killed and restarted on its port."""
    a, b = own_knot("h1"), own_knot("h2")
    # 1 s, not less: with h1 down a stall of h2 longer than the timeout has no retry left,
    # and a loaded 2-core CI machine stalls a Knot for 300 ms now and then.
    bt = 1.0
    r = router(conf([backend("h1", a.addr4, timeout="1s"),
                     backend("h2", b.addr4, timeout="1s")],
                    [route_zone("example.", ["h1", "h2"])], health=lb.FAST_HEALTH))
    load = lb.Load(r.port, names("k"), rate=2000, duration=10.0, timeout=2.0,
                   sockets=8).start()
    sleep_until(load.t0 + 2.5)
    t_kill = time.monotonic()
    a.kill()
    sleep_until(load.t0 + 6.0)
    t_restart = time.monotonic()
    a.start()
    t_back = time.monotonic()       # knotd answers again (start() waits for it)
    load.join()

    assert len(load) >= 18000, "the load sent only %d queries in 10 s" % len(load)
    # every query got NOERROR, from h2 or from h1 (before the kill / after the restart);
    # those in flight to h1 at the kill were retried on h2
    assert_all_answered(load, allowed={"h1", "h2"})
    late = [i for i in range(len(load)) if load.who[i] == "h1"
            and t_kill + 0.05 < load.done[i] < t_restart]
    assert not late, "answers from h1 while it was dead?\n%s" % "\n".join(
        load.describe(i) for i in late[:5])
    assert load.wrong == 0, "%d answers the client did not expect (duplicates?)" % load.wrong
    # before the kill both served
    before = load.counts(load.indices(None, t_kill - 0.01))
    assert before["h1"] > 0.4 * sum(before.values()), dict(before)
    # after the detection window no query goes to h1 any more: none waits for its timeout
    window = load.indices(t_kill + lb.DOWN_WINDOW, t_restart)
    assert len(window) > 3000
    slow = [i for i in window if load.latency(i) >= bt * 0.8]
    assert not slow, ("%d of %d queries sent %.1f s or more after the kill still waited for "
                      "the dead backend's timeout:\n%s" % (
                          len(slow), len(window), lb.DOWN_WINDOW,
                          "\n".join(load.describe(i) for i in slow[:10])))
    assert log_has(r, r"\bh1\b.*\bdown\b"), "no 'down' log line for h1:\n" + r.log()[-3000:]
    # back in rotation within rise x interval (+ margin) of answering again
    first = first_answer_from(load, "h1", t_restart)
    assert first is not None, "h1 never came back: %r" % dict(
        load.counts(load.indices(t_back, None)))
    assert first - t_back <= lb.UP_WINDOW, "h1 back %.2fs after it answered again (limit %.2fs)" \
        % (first - t_back, lb.UP_WINDOW)
    after = load.counts(load.indices(t_back + lb.UP_WINDOW, None))
    assert after["h1"] > 0.4 * sum(after.values()), "h1 share after the restart: %r" % dict(after)
    assert log_has(r, r"\bh1\b.*\bup\b"), "no 'up' log line for h1:\n" + r.log()[-3000:]


def test_stopped_backend_caught_by_active_checks(router, own_knot):
    """SIGSTOP h1 under live traffic. The query timeout (2 s) is long, so only active checks
    can take h1 out quickly: queries sent after fall x interval + timeout must not wait for
    it. After SIGCONT it comes back; its stale answers are not relayed."""
    a, b = own_knot("h1"), own_knot("h2")
    r = router(conf([backend("h1", a.addr4, timeout="2s"), backend("h2", b.addr4, timeout="2s")],
                    [route_zone("example.", ["h1", "h2"])], health=lb.FAST_HEALTH))
    load = lb.Load(r.port, names("a"), rate=300, duration=6.0, timeout=5.0, sockets=4).start()
    sleep_until(load.t0 + 1.0)
    t_stop = time.monotonic()
    a.pause()
    sleep_until(t_stop + 2.5)
    t_cont = time.monotonic()
    a.resume()
    load.join()

    # in flight to h1 at the stop: time out after 2 s and are retried on h2
    assert_all_answered(load, allowed={"h1", "h2"})
    assert load.wrong == 0, "%d unexpected answers reached the client (stale answers of the " \
        "stopped backend relayed?)" % load.wrong
    window = load.indices(t_stop + lb.DOWN_WINDOW, t_cont)
    assert len(window) > 200
    bad = [i for i in window if load.who[i] != "h2" or load.latency(i) >= 0.5]
    assert not bad, ("%d of %d queries sent %.1f-2.5 s after SIGSTOP were not answered at once "
                     "by h2 (active checks did not take h1 out):\n%s" % (
                         len(bad), len(window), lb.DOWN_WINDOW,
                         "\n".join(load.describe(i) for i in bad[:10])))
    first = first_answer_from(load, "h1", t_cont)
    assert first is not None and first - t_cont <= lb.UP_WINDOW, (
        "h1 not back within %.2fs of SIGCONT (first answer %s)" % (
            lb.UP_WINDOW, None if first is None else "%.2fs" % (first - t_cont)))
    assert log_has(r, r"\bh1\b.*\bdown\b")


def test_stopped_backend_caught_without_traffic(router, own_knot):
    """No live traffic at all: active checks alone mark h1 down; the first queries after the
    window are answered at once by h2."""
    a, b = own_knot("h1"), own_knot("h2")
    r = router(conf([backend("h1", a.addr4, timeout="2s"), backend("h2", b.addr4, timeout="2s")],
                    [route_zone("example.", ["h1", "h2"])], health=lb.FAST_HEALTH))
    load = lb.run_names(r.port, lb.distinct_names(200, "pre"), timeout=3)
    assert_both_serve(load)
    a.pause()
    t_stop = time.monotonic()
    dnsr.wait_for(lambda: log_has(r, r"\bh1\b.*\bdown\b"), lb.DOWN_WINDOW + 1,
                  what="h1 logged down")
    sleep_until(t_stop + lb.DOWN_WINDOW)
    load = lb.run_names(r.port, lb.distinct_names(200, "post"), timeout=3, sockets=4, window=4)
    slow = [i for i in range(len(load)) if load.latency(i) is None or load.latency(i) >= 0.5]
    assert load.counts() == {"h2": 200} and not slow, (dict(load.counts()), [
        load.describe(i) for i in slow[:5]])
    a.resume()
    t_cont = time.monotonic()

    def back():
        ld = lb.run_names(r.port, lb.distinct_names(10, "b%d" % int(time.monotonic() * 1000)),
                          timeout=1)
        return ld.counts()["h1"] > 0
    dnsr.wait_for(back, lb.UP_WINDOW + 1, interval=0.05, what="h1 back after SIGCONT")
    assert time.monotonic() - t_cont <= lb.UP_WINDOW + 0.2


def test_stopped_backend_caught_by_passive_checks(router, own_knot):
    """The active interval is 30 s, so after the first check only timeouts on live traffic can
    take h1 out: after a few of them every answer comes from h2, at once. SIGCONT does not
    bring it back (only an active check does, 30 s later)."""
    a, b = own_knot("h1"), own_knot("h2")
    health = dict(lb.FAST_HEALTH, interval="30s")
    r = router(conf([backend("h1", a.addr4, timeout="300ms"),
                     backend("h2", b.addr4, timeout="300ms")],
                    [route_zone("example.", ["h1", "h2"])], health=health))
    load = lb.run_names(r.port, lb.distinct_names(100, "pre"), timeout=3)
    assert_both_serve(load)
    a.pause()
    t_stop = time.monotonic()
    load = lb.Load(r.port, names("p"), rate=200, duration=3.0, timeout=2.0, sockets=4).run()
    assert_all_answered(load, allowed={"h2"})
    hit = [i for i in range(len(load)) if load.latency(i) >= 0.25]
    assert hit, "no query waited for h1: passive detection not exercised"
    late = [i for i in load.indices(t_stop + 1.0, None) if load.latency(i) >= 0.25]
    assert not late, ("%d queries sent 1 s or more after SIGSTOP (after %d timeouts) still went "
                      "to the stopped h1:\n%s" % (len(late), len(hit),
                                                  "\n".join(load.describe(i) for i in late[:10])))
    assert log_has(r, r"\bh1\b.*\bdown\b"), r.log()[-3000:]
    # it answers again, but only an active check may bring it back
    a.resume()
    load = lb.Load(r.port, names("c"), rate=100, duration=1.5, timeout=2.0, sockets=2).run()
    assert load.counts() == {"h2": len(load)}, "h1 back without an active check: %r" % dict(
        load.counts())


@pytest.mark.parametrize("fall", [1, 3])
def test_passive_checks_count_fall_timeouts(router, own_knot, fall):
    """Queries one at a time (with a pause, so a failure reaches the control side before the
    next query) to a pool whose h1 is stopped: exactly <fall> of them wait for h1's timeout,
    then it is out."""
    a, b = own_knot("h1"), own_knot("h2")
    r = router(conf([backend("h1", a.addr4, timeout="300ms"),
                     backend("h2", b.addr4, timeout="300ms")],
                    [route_zone("example.", ["h1", "h2"])], workers=1,
                    health=dict(lb.FAST_HEALTH, interval="30s", fall=fall)))
    a.pause()
    slow = []
    for i in range(2 * fall + 4):
        ans, elapsed = timed(r, dnsr.query("q%d.example." % i), timeout=3)
        assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "h2", dnsr.rcode_text(ans)
        slow.append(elapsed >= 0.25)
        time.sleep(0.25)
    assert sum(slow) == fall, "%d queries waited for the stopped h1 (fall %d): %r" % (
        sum(slow), fall, slow)
    assert not any(slow[-4:])


def test_passive_losses_apart_do_not_add_up(router, fake_backend):
    """Passive checks count timeouts in a row: a backend that loses a query now and then, and
    answers many in between, stays in rotation (README: Known limits)."""
    lossy = fake_backend("drop-prefixed", name="lossy")
    r = router(conf([backend("lossy", lossy.address, timeout="200ms")],
                    [route_zone(".", ["lossy"])], workers=1,
                    health={"enabled": False, "fall": 3}))
    for round_ in range(4):
        lost = r.exchange(dnsr.query("drop%d.example." % round_), timeout=2)
        assert lost.rcode() == dns.rcode.SERVFAIL
        time.sleep(0.15)  # a passive-check tick with the timeout and no answer beside it
        for i in range(20):
            ans = r.exchange(dnsr.query("ok%d-%d.example." % (round_, i)))
            assert dnsr.who(ans) == "fake-lossy", \
                "round %d: %s after %d isolated losses" % (round_, dnsr.rcode_text(ans),
                                                          round_ + 1)
        time.sleep(0.15)


def test_new_backends_checked_before_traffic(router, fake_backend, ns1, ns2):
    """A backend that fails its first check never gets a query, at start or after a reload, even
    with fall 3 (the first check decides at once); one that passes serves at once."""
    dead = fake_backend("normal", name="dead", answer_health=False)
    t0 = time.monotonic()
    r = router(conf([backend("dead", dead.address, timeout="1s"), backend("ns1", ns1.addr4),
                     backend("ns2", ns2.addr4)],
                    [route_zone("example.", ["dead", "ns1"]), route_zone("sub.example.", ["ns2"])],
                    health={"interval": "1s", "timeout": "500ms", "fall": 3, "rise": 2}))
    started = time.monotonic() - t0
    # it serves only after every backend had its first check, which for `dead` ends with the
    # check timeout (500 ms)
    assert 0.45 <= started < 0.5 + 1.5, "router ready after %.2fs" % started
    # ns2 passed its first check: serves at once (not after rise=2 checks)
    ans = r.exchange(dnsr.query("x.sub.example."))
    assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns2"
    for i in range(20):
        ans, elapsed = timed(r, dnsr.query("n%d.example." % i))
        assert dnsr.who(ans) == "ns1" and elapsed < 0.5, (i, dnsr.rcode_text(ans), elapsed)
    assert dead.health_probes >= 1
    assert dead.count == 0, "the backend that failed its first check got %d queries" % dead.count
    # reload: a new failing backend in a new route
    dead2 = fake_backend("normal", name="dead2", answer_health=False)
    r.reload(conf([backend("dead", dead.address, timeout="1s"), backend("ns1", ns1.addr4),
                   backend("ns2", ns2.addr4), backend("dead2", dead2.address, timeout="1s")],
                  [route_zone("example.", ["dead", "ns1"]), route_zone("sub.example.", ["ns2"]),
                   route_zone("test.", ["dead2", "ns2"])],
                  health={"interval": "1s", "timeout": "500ms", "fall": 3, "rise": 2}))

    def reloaded():
        data = dnsr.udp_exchange(r.port, dnsr.query("x.test.").to_wire(), timeout=2)
        return data is not None and dnsr.rcode_of_wire(data) == 0
    dnsr.wait_for(reloaded, 5, interval=0.05, what="the reload's test. route")
    for i in range(20):
        ans, elapsed = timed(r, dnsr.query("n%d.test." % i))
        assert dnsr.who(ans) == "ns2" and elapsed < 0.5, (i, dnsr.rcode_text(ans), elapsed)
    assert dead2.health_probes >= 1
    assert dead2.count == 0, "the new backend failing its first check got %d queries after the " \
        "reload" % dead2.count
    assert dead.count == 0


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_health_query_transport_and_answer_checks(router, fake_backend, transport):
    """The check sends the configured query over the configured transport; the default is
    id.server. CH TXT over TCP. An answer with the wrong ID or question counts as a failure."""
    fakes = {m: fake_backend(m, name=m.replace("-", "")) for m in
             ("normal", "wrong-id", "wrong-qname")}
    # answers after the check timeout (200 ms): a failure too
    fakes["slow"] = fake_backend("slow", name="slow", delay=0.4)
    fakes["v6"] = fake_backend("normal", name="v6", family=6)
    deflt = fake_backend("normal", name="deflt")
    backends = [backend(f.name, f.address, timeout="2s",
                        health={"query": "hc.example. IN A", "transport": transport})
                for f in fakes.values()]
    backends.append(backend("deflt", deflt.address, timeout="2s"))
    routes = [route_zone("%s.example." % f.name, [f.name]) for f in fakes.values()]
    routes.append(route_zone("deflt.example.", ["deflt"]))
    r = router(conf(backends, routes, health=lb.FAST_HEALTH))
    normal = fakes["normal"]

    def probes():
        with normal._lock:
            return [(k, str(m.question[0].name), m.question[0].rdtype) for k, _, m in
                    normal.queries if m is not None]
    dnsr.wait_for(lambda: len(probes()) >= 2, 2, what="two health checks at 'normal'")
    assert set(probes()) == {(transport, "hc.example.", dns.rdatatype.A)}, probes()
    assert deflt.health_probes >= 1 and set(deflt.probe_kinds) == {"tcp"}, deflt.probe_kinds
    # up: answered by the backend; down: SERVFAIL + EDE 22 at once, not after the 2 s timeout
    ans = r.exchange(dnsr.query("x.normal.example."))
    assert dnsr.who(ans) == "fake-normal"
    ans = r.exchange(dnsr.query("x.deflt.example."))
    assert dnsr.who(ans) == "fake-deflt"
    ans = r.exchange(dnsr.query("x.v6.example."))
    assert dnsr.who(ans) == "fake-v6"
    for name in ("wrongid", "wrongqname", "slow"):
        q = dnsr.query("x.%s.example." % name, edns=True)
        ans, elapsed = timed(r, q)
        assert ans.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5, (
            "%s passed its checks: %s after %.2fs" % (name, dnsr.rcode_text(ans), elapsed))
        assert dnsr.ede_codes(ans) == [dnsr.EDE_NO_REACHABLE_AUTHORITY]


def test_retry_goes_to_a_healthy_backend(router, fake_backend, ns1):
    """`mute` passes its checks but drops queries; `down` fails its checks but would answer.
    A query that times out at `mute` is retried on ns1, never on `down`."""
    mute = fake_backend("silent", name="mute")
    down = fake_backend("normal", name="down", answer_health=False)
    r = router(conf([backend("mute", mute.address), backend("down", down.address),
                     backend("ns1", ns1.addr4)],
                    [route_zone("example.", ["mute", "down", "ns1"])], timeout="300ms",
                    workers=1))
    load = lb.run_names(r.port, lb.distinct_names(40, "rt"), sockets=1, window=40, timeout=3)
    assert load.counts() == {"ns1": 40}, dict(load.counts())
    assert mute.count >= 1, "no query went to `mute`: retry not exercised"
    assert down.count == 0, "%d queries went to a backend that failed its checks" % down.count
    assert max(load.latency(i) for i in range(len(load))) < 2 * 0.3 + 0.3


def test_health_rcodes(router, ns1, ns2):
    """Knot answers REFUSED for a zone it does not serve: accepted by the default rcodes
    (NOERROR, REFUSED, NOTIMP), not when rcodes is [NOERROR]."""
    r = router(conf([backend("ns1", ns1.addr4, health={"query": "nothere.invalid. A"}),
                     backend("ns2", ns2.addr4,
                             health={"query": "nothere.invalid. A", "rcodes": ["NOERROR"]})],
                    [route_zone("example.", ["ns1"]), route_zone("test.", ["ns2"])],
                    health=lb.FAST_HEALTH, timeout="2s"))
    ans = r.exchange(dnsr.query("x.example."))
    assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1"
    q = dnsr.query("x.test.", edns=True)
    ans, elapsed = timed(r, q)
    assert ans.rcode() == dns.rcode.SERVFAIL and elapsed < 0.1, (dnsr.rcode_text(ans), elapsed)
    assert dnsr.ede_codes(ans) == [dnsr.EDE_NO_REACHABLE_AUTHORITY]


def test_all_backends_down_servfail_at_once(router, fake_backend, free_port):
    """Nothing listens at one backend, the other never answers its checks: both are down, so
    the route answers SERVFAIL at once (EDE 22 with EDNS), not after the 2 s timeout."""
    nobody = free_port()
    mute = fake_backend("silent", name="mute", answer_health=False)
    admin_port = free_port()
    r = router(conf([backend("nobody", "127.0.0.1:%d" % nobody), backend("mute", mute.address)],
                    [route_zone(".", ["nobody", "mute"])], timeout="2s",
                    admin="127.0.0.1:%d" % admin_port))
    admin = lb.Admin(admin_port)
    dnsr.wait_for(admin.ready, 5, what="admin endpoint")
    m0 = admin.metrics()
    n = 0
    for transport in ("udp", "tcp"):
        for edns in (True, False):
            q = dnsr.query("down.example.", edns=edns)
            ans, elapsed = timed(r, q, transport)
            n += 1
            assert ans.rcode() == dns.rcode.SERVFAIL and ans.id == q.id, dnsr.rcode_text(ans)
            assert ans.question == q.question and not ans.answer
            assert elapsed < 0.1, "%s SERVFAIL after %.3fs, want < 0.1s" % (transport, elapsed)
            if edns:
                assert dnsr.ede_codes(ans) == [dnsr.EDE_NO_REACHABLE_AUTHORITY], \
                    dnsr.ede_codes(ans)
            else:
                assert ans.edns < 0
    assert mute.count == 0
    # counted
    dnsr.wait_for(lambda: admin.metrics().value("dnsrouter_responses_total", rcode="SERVFAIL")
                  - m0.value("dnsrouter_responses_total", rcode="SERVFAIL") >= n, 2,
                  what="SERVFAIL answers counted")
    m1 = admin.metrics()
    assert m1.value("dnsrouter_responses_total", rcode="SERVFAIL") - \
        m0.value("dnsrouter_responses_total", rcode="SERVFAIL") == n
    for name in ("nobody", "mute"):
        assert m1.value("dnsrouter_backend_up", backend=name) == 0


def test_fallback_all_still_tries_down_backends(router, ns1):
    """ns1 answers its checks with NOERROR, which this config does not accept, so it is down
    while it still serves. `fallback: all` keeps sending it queries; the default route
    answers SERVFAIL + EDE 22 at once."""
    r = router(conf([backend("ns1", ns1.addr4)],
                    [route_zone("example.", ["ns1"], fallback="all"),
                     route_zone("test.", ["ns1"])],
                    timeout="2s", health=dict(lb.FAST_HEALTH, rcodes=["REFUSED"])))
    for transport in ("udp", "tcp"):
        q = dnsr.query("x.test.", edns=True)
        ans, elapsed = timed(r, q, transport)
        assert ans.rcode() == dns.rcode.SERVFAIL and elapsed < 0.1, (
            "ns1 is not down: %s after %.3fs" % (dnsr.rcode_text(ans), elapsed))
        assert dnsr.ede_codes(ans) == [dnsr.EDE_NO_REACHABLE_AUTHORITY]
        for i in range(5):
            ans = r.exchange(dnsr.query("f%d.example." % i, edns=True), transport)
            assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1", (
                dnsr.rcode_text(ans), dnsr.ede_codes(ans))


def _thread_cpu_s(pid, comm):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() != comm:
                continue
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise AssertionError("no thread %s in pid %d" % (comm, pid))


def test_tcp_check_waiting_for_an_answer_does_not_spin(router, fake_backend):
    """A TCP check that has sent its query waits for the answer without burning CPU: the
    health thread must stop watching the socket for writability once the query is out."""
    mute = fake_backend("normal", name="mute", answer_health=False)  # takes the query, no answer
    r = router(conf([backend("mute", mute.address)], [route_zone(".", ["mute"])],
                    health={"transport": "tcp", "interval": "1s", "timeout": "900ms"}))
    dnsr.wait_for(lambda: mute.health_probes >= 1, 3, what="a TCP check at the mute backend")
    before = _thread_cpu_s(r.proc.pid, "dnsr-health")
    time.sleep(2.0)  # the window measured: about two checks, each waiting 900 ms
    used = _thread_cpu_s(r.proc.pid, "dnsr-health") - before
    assert mute.health_probes >= 2
    assert used < 0.2, "health thread used %.2f s of CPU in 2 s of waiting checks" % used


def log_time(r, pattern):
    """The log timestamp (seconds) of the last line matching <pattern>, or None."""
    for line in reversed(r.log().splitlines()):
        if re.search(pattern, line):
            stamp = re.match(r"\d{4}-\d\d-\d\dT(\d\d):(\d\d):(\d\d\.\d+)Z", line)
            h, m, s = stamp.groups()
            return int(h) * 3600 + int(m) * 60 + float(s)
    return None


def test_passive_down_needs_rise_new_checks(router, fake_backend):
    """A backend taken out by passive checks comes back after `rise` active checks in a row
    that follow, not on the strength of the ones it passed before: a backend that answers
    checks but loses real queries must not flap straight back."""
    lossy = fake_backend("drop-prefixed", name="lossy")
    r = router(conf([backend("lossy", lossy.address, timeout="200ms")],
                    [route_zone(".", ["lossy"])], workers=1,
                    health={"interval": "200ms", "timeout": "200ms", "fall": 3, "rise": 5}))
    # The bug this guards against needs a run of good checks behind it: let ~8 go by.
    time.sleep(1.6)
    load = lb.Load(r.port, ("drop%d.example." % i for i in range(3)), timeout=2.0).run()
    assert len(load) == 3
    dnsr.wait_for(lambda: log_has(r, r"lossy .* is down \(3 timeouts"), timeout=5,
                  what="passive checks taking lossy down")
    dnsr.wait_for(lambda: log_time(r, r"lossy .* is up") > log_time(r, r"lossy .* is down"),
                  timeout=5, what="lossy back after its checks")
    back_after = log_time(r, r"lossy .* is up") - log_time(r, r"lossy .* is down")
    # Five checks 200 ms apart: the fifth at least 0.8 s after the first one that follows.
    assert back_after >= 0.75, "back %.2f s after going down, with rise 5 x 200 ms" % back_after


def test_shorter_interval_applies_at_reload(router, own_knot):
    """A reload that shortens `health.interval` takes effect at once (README: every key but a
    few at once on SIGHUP), not when the old, long interval runs out."""
    a = own_knot("h1")
    slow = {"interval": "3600s", "timeout": "200ms", "fall": 1, "rise": 1}
    r = router(conf([backend("h1", a.addr4)], [route_zone("example.", ["h1"])],
                    health=slow))
    r.reload(conf([backend("h1", a.addr4)], [route_zone("example.", ["h1"])],
                  health=dict(slow, interval="200ms")))
    a.pause()
    try:
        dnsr.wait_for(lambda: log_has(r, r"\bh1\b.*\bis down\b"), timeout=3,
                      what="h1 down by checks every 200 ms after the reload")
    finally:
        a.resume()
