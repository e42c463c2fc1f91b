# SPDX-License-Identifier: MIT
# Load-balancing policies over 10,000 distinct names: round-robin and weighted shares, hash
# (consistent: stable across runs and reloads, only a removed/failed backend's names move),
# first-available (primary with standbys) and least-outstanding (a slow backend gets little).

import time

import pytest

import dnsr
import lbtools as lb
from dnsr import route_zone
from lbtools import backend, conf

N = 10000
TOL = 0.05          # +-5% of the expected count


def run(r, names, slow=0.9, **kw):
    """Ask every name; <slow>: below the backend timeout of the config (default 1 s)."""
    kw.setdefault("timeout", 3.0)
    load = lb.Settled(r.port, lb.run_names(r.port, names, **kw), slow)
    counts = load.counts()
    bad = {k: v for k, v in counts.items() if not (k.startswith("ns") or k.startswith("k")
                                                   or k.startswith("fake-"))}
    assert not bad, "queries not answered NOERROR by a backend: %r; e.g.\n%s" % (
        bad, "\n".join(load.describe(i) for i in range(len(load))
                       if load.outcome(i) in bad)[:2000])
    return load


def assert_only(load, who):
    odd = [i for i in range(len(load)) if load.outcome(i) != who]
    assert not odd, "%d of %d queries not answered by %s: %r; e.g.\n%s" % (
        len(odd), len(load), who, dict(load.counts()),
        "\n".join(load.describe(i) for i in odd[:10]))


def assert_shares(counts, expected, total):
    """expected: backend -> relative weight; every count within +-TOL of its expected count."""
    wsum = sum(expected.values())
    assert set(counts) == set(expected), dict(counts)
    for name, w in expected.items():
        want = total * w / wsum
        got = counts.get(name, 0)
        assert abs(got - want) <= TOL * want, "%s got %d of %d, want %.0f +-%d%% (all: %r)" % (
            name, got, total, want, TOL * 100, dict(counts))


def reload_and_wait(r, c, marker_who):
    """SIGHUP with config <c>, whose `test.` route goes to <marker_who> alone, and wait until
    the router answers by it."""
    r.reload(c)

    def applied():
        data = dnsr.udp_exchange(r.port, dnsr.query("m%d.test." % time.monotonic_ns()).to_wire(),
                                 timeout=1)
        return data is not None and lb.parse_answer(data) == (0, marker_who)
    dnsr.wait_for(applied, 5, interval=0.02, what="reload applied (test. -> %s)" % marker_who)
    assert r.alive()


# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nb", [2, 3])
def test_round_robin_even(router, ns1, ns2, ns3, nb):
    knots = [ns1, ns2, ns3][:nb]
    route = route_zone("example.", [k.name for k in knots])
    if nb == 3:
        route["policy"] = "round-robin"       # 2: the default policy
    r = router(conf([backend(k.name, k.addr4) for k in knots], [route]))
    load = run(r, lb.distinct_names(N))
    assert_shares(load.counts(), {k.name: 1 for k in knots}, N)


@pytest.mark.parametrize("weights", [(1, 3), (1, 2, 5)])
def test_weighted_shares(router, ns1, ns2, ns3, weights):
    knots = [ns1, ns2, ns3][:len(weights)]
    r = router(conf([backend(k.name, k.addr4, weight=w) for k, w in zip(knots, weights)],
                    [route_zone("example.", [k.name for k in knots], policy="weighted")]))
    load = run(r, lb.distinct_names(N))
    assert_shares(load.counts(), {k.name: w for k, w in zip(knots, weights)}, N)


def test_hash_stable_across_runs_and_reloads(router, ns1, ns2, ns3):
    names = lb.distinct_names(N, "h")
    backends = [backend(k.name, k.addr4) for k in (ns1, ns2, ns3)]
    hashed = route_zone("example.", ["ns1", "ns2", "ns3"], policy="hash")
    c = conf(backends, [hashed])
    r1 = router(c)
    m1 = run(r1, names).mapping()
    counts = lb.Counter(m1.values())
    assert set(counts) == {"ns1", "ns2", "ns3"}, dict(counts)
    assert min(counts.values()) >= 0.15 * N, "hash spreads names badly: %r" % dict(counts)
    # the same names again: the same backends
    again = run(r1, names).mapping()
    diff = [n for n in names if again[n] != m1[n]]
    assert not diff, "%d names changed backend within one run, e.g. %r" % (
        len(diff), [(n, m1[n], again[n]) for n in diff[:5]])
    # the lower-cased name is hashed
    mixed = [n.upper() if i % 2 else n[:3].upper() + n[3:] for i, n in enumerate(names[:500])]
    mm = run(r1, mixed).mapping()
    diff = [(m, mm[m], m1[m.lower()]) for m in mixed if mm[m] != m1[m.lower()]]
    assert not diff, "case changes the backend: %r" % diff[:5]
    r1.stop()
    # a new process with the same config
    r2 = router(c)
    m2 = run(r2, names).mapping()
    diff = [n for n in names if m2[n] != m1[n]]
    assert not diff, "%d of %d names changed backend across a restart, e.g. %r" % (
        len(diff), N, [(n, m1[n], m2[n]) for n in diff[:5]])
    # a reload that leaves the pool alone
    reload_and_wait(r2, conf(backends, [hashed, route_zone("test.", ["ns2"])]), "ns2")
    m3 = run(r2, names).mapping()
    diff = [n for n in names if m3[n] != m1[n]]
    assert not diff, "%d of %d names changed backend across a reload, e.g. %r" % (
        len(diff), N, [(n, m1[n], m3[n]) for n in diff[:5]])
    # a reload without ns3: only ns3's names move
    reload_and_wait(r2, conf(backends[:2], [route_zone("example.", ["ns1", "ns2"], policy="hash"),
                                            route_zone("test.", ["ns1"])]), "ns1")
    m4 = run(r2, names).mapping()
    moved = [n for n in names if m4[n] != m1[n]]
    wrongly = [(n, m1[n], m4[n]) for n in moved if m1[n] != "ns3"]
    assert not wrongly, "%d names moved off a backend that stayed, e.g. %r" % (
        len(wrongly), wrongly[:5])
    assert all(m4[n] in ("ns1", "ns2") for n in names)
    assert len(moved) < (1 / 3 + 0.05) * N, "%d of %d names moved" % (len(moved), N)


def test_hash_failed_backend_only_its_names_move(router, own_knot):
    """A hashed pool of three; k3 is killed: only its names move, and they come back to it once
    it is up again."""
    ks = [own_knot("k%d" % i) for i in (1, 2, 3)]
    r = router(conf([backend(k.name, k.addr4, timeout="300ms") for k in ks],
                    [route_zone("example.", [k.name for k in ks], policy="hash")],
                    health=lb.FAST_HEALTH))
    names = lb.distinct_names(3000, "f")
    m1 = run(r, names, slow=0.25).mapping()
    on_k3 = [n for n in names if m1[n] == "k3"]
    assert on_k3
    ks[2].kill()

    def k3_out():
        ld = lb.run_names(r.port, on_k3[:20], timeout=2)
        return all(ld.outcome(i) in ("k1", "k2") and ld.latency(i) < 0.2 for i in range(len(ld)))
    dnsr.wait_for(k3_out, lb.DOWN_WINDOW + 2, interval=0.05, what="k3's names served elsewhere")
    m2 = run(r, names, slow=0.25).mapping()
    moved = [n for n in names if m2[n] != m1[n]]
    assert set(moved) == set(on_k3), "moved: %d names, %d of them not from k3, e.g. %r" % (
        len(moved), len(set(moved) - set(on_k3)),
        [(n, m1[n], m2[n]) for n in moved if m1[n] != "k3"][:5])
    ks[2].start()
    dnsr.wait_for(lambda: lb.run_names(r.port, on_k3[:5], timeout=1).counts()["k3"] == 5,
                  lb.UP_WINDOW + 2, interval=0.05, what="k3 back")
    m3 = run(r, names, slow=0.25).mapping()
    diff = [n for n in names if m3[n] != m1[n]]
    assert not diff, "%d names did not return to their backend, e.g. %r" % (
        len(diff), [(n, m1[n], m3[n]) for n in diff[:5]])


def test_first_available(router, own_knot):
    k1, k2 = own_knot("k1"), own_knot("k2")
    r = router(conf([backend("k1", k1.addr4, timeout="300ms"),
                     backend("k2", k2.addr4, timeout="300ms")],
                    [route_zone("example.", ["k1", "k2"], policy="first-available")],
                    health=lb.FAST_HEALTH))
    assert_only(run(r, lb.distinct_names(2000, "a"), slow=0.25), "k1")
    k1.kill()

    def k2_takes_over():
        ld = lb.run_names(r.port, lb.distinct_names(20, "w%d" % time.monotonic_ns()), timeout=2)
        return all(ld.outcome(i) == "k2" and ld.latency(i) < 0.2 for i in range(len(ld)))
    dnsr.wait_for(k2_takes_over, lb.DOWN_WINDOW + 2, interval=0.05, what="k2 takes over")
    assert_only(run(r, lb.distinct_names(2000, "b"), slow=0.25), "k2")
    # the primary comes back and takes everything again
    k1.start()
    dnsr.wait_for(lambda: lb.run_names(r.port, ["c.example."], timeout=1).counts()["k1"] == 1,
                  lb.UP_WINDOW + 2, interval=0.05, what="k1 back")
    assert_only(run(r, lb.distinct_names(2000, "d"), slow=0.25), "k1")


def test_first_available_stopped_primary(router, own_knot):
    """SIGSTOP instead of a kill: the standby takes over once the checks fail."""
    k1, k2 = own_knot("k1"), own_knot("k2")
    r = router(conf([backend("k1", k1.addr4, timeout="300ms"),
                     backend("k2", k2.addr4, timeout="300ms")],
                    [route_zone("example.", ["k1", "k2"], policy="first-available")],
                    health=lb.FAST_HEALTH))
    assert_only(run(r, lb.distinct_names(500, "a"), slow=0.25), "k1")
    k1.pause()

    def k2_takes_over():
        ld = lb.run_names(r.port, lb.distinct_names(20, "w%d" % time.monotonic_ns()), timeout=2)
        return all(ld.outcome(i) == "k2" and ld.latency(i) < 0.2 for i in range(len(ld)))
    dnsr.wait_for(k2_takes_over, lb.DOWN_WINDOW + 2, interval=0.05, what="k2 takes over")
    assert_only(run(r, lb.distinct_names(2000, "b"), slow=0.25), "k2")
    k1.resume()


def test_least_outstanding_prefers_fast_backend(router, fake_backend, ns1):
    slow = fake_backend("slow", name="slow", delay=0.1)
    r = router(conf([backend("slow", slow.address, timeout="2s"), backend("ns1", ns1.addr4)],
                    [route_zone("example.", ["slow", "ns1"], policy="least-outstanding")]))
    load = run(r, lb.distinct_names(3000, "l"), sockets=8, window=8)
    counts = load.counts()
    assert counts["ns1"] + counts.get("fake-slow", 0) == 3000, dict(counts)
    assert counts["ns1"] >= 0.8 * 3000, "least-outstanding sent %d of 3000 to the slow " \
        "backend: %r" % (counts.get("fake-slow", 0), dict(counts))
