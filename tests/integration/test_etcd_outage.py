# SPDX-License-Identifier: MIT
# tests/integration/test_etcd_outage.py -- etcd going away: SIGKILL of a single member (last
# routes keep serving, dnsrouter_etcd_up 0, data age grows, one log line per state change;
# restart on the same data dir and ports: followed again); a lost watch while the router's only
# member is stopped and the revision it knew is compacted (a full re-read applies deletions made
# meanwhile); failover across three endpoints when the one in use is killed or hangs.

import time

import pytest

import dnsr
import etcdtools as et
from etcdtools import PREFIX, entry


def names(prefix, n, zone="example."):
    return ["%s%03d.%s" % (prefix, i, zone) for i in range(n)]


def assert_no_new_queries(port, fake, qnames, want):
    """Ask <qnames>; every outcome must be <want> and <fake> must see none of them."""
    before = fake.count
    with et.Asker(port) as a:
        outs = a.who_set(qnames)
    assert set(outs) == {want}, outs
    time.sleep(0.05)
    assert fake.count == before, "%s got %d new queries" % (fake.name, fake.count - before)


def etcd_log_lines(text):
    return [ln for ln in text.splitlines() if "etcd" in ln.lower()]


def test_kill_etcd_keeps_routes_and_restart_follows(router, etcd, ns1, ns2, fake_backend):
    cl = etcd(1)
    c = cl.client()
    r, admin = et.start_router(router, cl.endpoints, timeout="1s")
    old = fake_backend(name="old")
    c.put(PREFIX + "a", entry(ns1.addr4, r"^a.*\.example\.$"))
    c.put(PREFIX + "b", entry(old.address, r"^b.*\.example\.$"))
    et.wait_answer(r.port, "b1.example.", "fake-old", timeout=2)
    et.wait_answer(r.port, "a1.example.", "ns1", timeout=2)
    assert admin.metric("dnsrouter_etcd_up") == 1
    # connected and idle for longer than a watch request lives: the data is still current
    ages = []
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and len(ages) < 100:
        ages.append(admin.metric("dnsrouter_etcd_data_age_seconds"))
        time.sleep(0.1)
    assert max(ages) < 1.0, "data age while connected and idle: max %.2f s" % max(ages)

    log_at_kill = len(r.log())
    cl[0].kill()
    t_kill = time.monotonic()
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 0, 5, what="etcd_up 0 after SIGKILL")
    et.figure("etcd SIGKILL -> dnsrouter_etcd_up 0 after %.2f s" % (time.monotonic() - t_kill))
    # the last routes keep serving while etcd is away (~3 s of queries, bounded)
    deadline = time.monotonic() + 3.0
    with et.Asker(r.port) as a:
        n = 0
        while time.monotonic() < deadline and n < 300:
            assert a.ask("a%d.example." % n) == "ns1"
            assert a.ask("b%d.example." % n) == "fake-old"
            n += 1
            time.sleep(0.01)
    assert admin.metric("dnsrouter_etcd_up") == 0
    age = admin.metric("dnsrouter_etcd_data_age_seconds")
    assert age >= 2.0, "data age %.2f s while etcd has been down ~3 s" % age
    outage_lines = etcd_log_lines(r.log()[log_at_kill:])
    assert 1 <= len(outage_lines) <= 3, \
        "want one log line per state change while etcd is down, got:\n" + "\n".join(outage_lines)

    cl[0].start(wait=False)          # same data dir and ports
    t_up = time.monotonic()
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 12, what="etcd_up 1 after restart")
    et.figure("etcd restarted (down %.1f s) -> dnsrouter_etcd_up 1 %.2f s after the restart"
              % (t_up - t_kill, time.monotonic() - t_up))
    cl[0].wait_healthy()
    admin.wait_metric("dnsrouter_etcd_data_age_seconds", lambda v: v < 1.5, 3)
    # changes made after the restart are followed
    c.put(PREFIX + "c", entry(ns2.addr4, r"^c.*\.example\.$"))
    et.wait_answer(r.port, "c1.example.", "ns2", timeout=2)
    c.delete(PREFIX + "b")
    et.wait_answer(r.port, "b1.example.", "SERVFAIL", timeout=2)
    assert_no_new_queries(r.port, old, names("b", 20), "SERVFAIL")
    assert et.ask(r.port, "a1.example.") == "ns1"
    rev = c.revision()
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v == rev, 2)
    assert admin.etcd_routes() == {r"^a.*\.example\.$": [ns1.addr4],
                                   r"^c.*\.example\.$": [ns2.addr4]}


@pytest.mark.parametrize("how", ["sigkill", "sigstop", "sigstop-brief"])
def test_lost_watch_and_compaction_full_reread(router, etcd, ns1, ns2, ns3, fake_backend, how):
    """The router's only member goes away (killed, or stopped until the router notices, or
    stopped briefly: the router's watch request hangs, then resumes from a revision compacted
    meanwhile); through another member keys are added, changed and deleted and the history
    compacted past the router's revision. Once the member is back, the router's routes equal
    etcd's."""
    cl = etcd(3)
    A, B = cl[0], cl[1]
    cb = cl.client(1)
    r, admin = et.start_router(router, [A.url], timeout="1s")
    gone = fake_backend(name="gone")
    gone2 = fake_backend(name="gone2")
    chg = fake_backend(name="chg")
    cb.put(PREFIX + "keep", entry(ns1.addr4, r"^k.*\.example\.$"))
    cb.put(PREFIX + "gone", entry(gone.address, r"^g.*\.example\.$"))
    cb.put(PREFIX + "gone2", entry(gone2.address, r"^k.*\.example\.$"))
    cb.put(PREFIX + "chg", entry(chg.address, r"^c.*\.example\.$"))
    et.wait_answer(r.port, "c1.example.", "fake-chg", timeout=3)
    et.wait_answer(r.port, "g1.example.", "fake-gone", timeout=2)
    et.wait_outcomes(r.port, names("k", 10), lambda o: set(o) == {"ns1", "fake-gone2"}, 3,
                     what="keep pool of two")
    rev0 = cb.revision()
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v == rev0, 3)
    cl.make_leader(B)       # writes through B go on at once while A is away

    log_at_stop = len(r.log())
    if how.startswith("sigstop"):
        A.pause()
    else:
        A.kill()
    t_stop = time.monotonic()
    if how != "sigstop-brief":
        admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 0, 10,
                          what="etcd_up 0 with the only endpoint %s" % how)
        et.figure("lost watch (%s): etcd_up 0 after %.2f s" % (how, time.monotonic() - t_stop))

    # meanwhile, through B: new keys, deleted keys, a changed key, churn; then compact
    cb.put(PREFIX + "new1", entry(ns2.addr4, r"^n.*\.example\.$"))
    cb.put(PREFIX + "new2", entry(ns3.addr4, r"^m.*\.example\.$"))
    cb.delete(PREFIX + "gone")
    cb.delete(PREFIX + "gone2")
    cb.put(PREFIX + "chg", entry(ns2.addr4, r"^c.*\.example\.$"))
    for i in range(20):
        cb.put(PREFIX + "tmp%02d" % i, entry(gone.address, r"^t%02d\.example\.$" % i))
    for i in range(20):
        cb.delete(PREFIX + "tmp%02d" % i)
    rev_now = cb.revision()
    assert rev_now > rev0 + 40
    cl.ctl("compact", str(rev_now), member=1)
    # the router serves its last routes meanwhile
    assert et.ask(r.port, "g1.example.") == "fake-gone"
    assert et.ask(r.port, "n1.example.") == "SERVFAIL"

    if how == "sigstop-brief":
        # away for longer than a watch request of the router may live without news (a few
        # seconds), not long enough for etcd_up 0 necessarily
        time.sleep(max(0.0, t_stop + 4.0 - time.monotonic()))
    if how.startswith("sigstop"):
        A.resume()
    else:
        A.spawn()
    t_back = time.monotonic()
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 15,
                      what="etcd_up 1 after member A is back")
    kvs, _ = cb.get_prefix()
    want = et.expected_routes(kvs)
    assert want == {r"^k.*\.example\.$": [ns1.addr4], r"^n.*\.example\.$": [ns2.addr4],
                    r"^m.*\.example\.$": [ns3.addr4], r"^c.*\.example\.$": [ns2.addr4]}
    admin.wait_routes(want, 5)
    et.figure("lost watch (%s): routes equal etcd's %.2f s after member A is back"
              % (how, time.monotonic() - t_back))
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v >= rev_now, 2)
    admin.wait_metric("dnsrouter_etcd_keys", lambda v: v == 4, 2)

    et.wait_answer(r.port, "n1.example.", "ns2", timeout=2)
    with et.Asker(r.port) as a:
        assert a.ask("m1.example.") == "ns3"
        assert a.ask("c1.example.") == "ns2"
    assert_no_new_queries(r.port, gone, names("g", 20), "SERVFAIL")
    assert_no_new_queries(r.port, gone2, names("k", 30), "ns1")
    assert_no_new_queries(r.port, chg, names("c", 20), "ns2")
    with et.Asker(r.port) as a:
        assert set(a.who_set(["t%02d.example." % i for i in range(20)])) == {"SERVFAIL"}
    # and it follows changes again
    cb.put(PREFIX + "after", entry(ns1.addr4, r"^after\.example\.$"))
    et.wait_answer(r.port, "after.example.", "ns1", timeout=3)
    if how == "sigstop-brief":
        compacted = "compact" in r.log()[log_at_stop:].lower()
        et.figure("lost watch (sigstop-brief, %.1f s): %s" % (
            t_back - t_stop, "the watch met the compaction (full re-read)" if compacted else
            "member A replayed the history before compacting (no compaction path this run)"))


@pytest.mark.parametrize("how", ["sigkill", "sigstop"])
def test_failover_to_next_endpoint(router, etcd, ns1, ns2, ns3, fake_backend, how):
    cl = etcd(3)
    cb = cl.client(1)
    r, admin = et.start_router(router, cl.endpoints, timeout="1s")
    f1 = fake_backend(name="f1")
    cb.put(PREFIX + "k1", entry(f1.address, r"^f1\.example\.$"))
    cb.put(PREFIX + "k0", entry(ns3.addr4, r"^f0\.example\.$"))
    et.wait_answer(r.port, "f1.example.", "fake-f1", timeout=3)
    et.wait_answer(r.port, "f0.example.", "ns3", timeout=2)

    # the router talks to the first endpoint; take it away (not the leader, so that the put
    # below returns at once and the time measured is the router's)
    cl.make_leader(1)
    if how == "sigkill":
        cl[0].kill()
    else:
        cl[0].pause()
    t0 = time.monotonic()
    cb.put(PREFIX + "k2", entry(ns2.addr4, r"^f2\.example\.$"))    # slow if A led: an election
    t_put = time.monotonic()
    et.wait_answer(r.port, "f2.example.", "ns2", timeout=8, interval=0.02)
    t_routed = time.monotonic()
    et.figure("failover (%s of the first endpoint): the put returned after %.2f s, routed "
              "%.2f s after it returned (%.2f s after the %s)"
              % (how, t_put - t0, t_routed - t_put, t_routed - t0, how))
    # and keeps following: a put and a delete
    cb.put(PREFIX + "k3", entry(ns1.addr4, r"^f3\.example\.$"))
    cb.delete(PREFIX + "k1")
    et.wait_answer(r.port, "f3.example.", "ns1", timeout=2)
    et.wait_answer(r.port, "f1.example.", "SERVFAIL", timeout=2)
    assert_no_new_queries(r.port, f1, ["f1.example."] * 10, "SERVFAIL")
    assert et.ask(r.port, "f0.example.") == "ns3"
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 2)
    assert admin.metric("dnsrouter_etcd_data_age_seconds") < 2
    kvs, rev = cb.get_prefix()
    assert admin.etcd_routes() == et.expected_routes(kvs)
    admin.wait_metric("dnsrouter_etcd_revision", lambda v: v == rev, 2)


def test_compaction_is_not_an_outage(router, etcd, ns1):
    """A quiet prefix in a busy etcd: at the next watch the router's revision has been
    compacted away and etcd cancels the watch. That is routine: the router reads everything
    again from the same member (never moving on to the next endpoint, here a closed port),
    and etcd stays up in its metrics and log."""
    cl = etcd(1)
    c = cl.client()
    dead = "http://127.0.0.1:%d" % dnsr.free_port()
    r, admin = et.start_router(router, [cl.endpoints[0], dead], timeout="1s")
    c.put(PREFIX + "a", entry(ns1.addr4, r"^a.*\.example\.$"))
    et.wait_answer(r.port, "a1.example.", "ns1", timeout=3)
    log_at = len(r.log())
    for i in range(3):
        for j in range(3):                      # history moves on outside the prefix ...
            c.put("/elsewhere/k", "v%d.%d" % (i, j))
        c.compact(c.revision())                 # ... and is compacted past the router's
        dnsr.wait_for(lambda: r.log()[log_at:].count("history compacted") > i, timeout=6,
                      what="the router's watch meeting compaction %d" % (i + 1))
        assert admin.metric("dnsrouter_etcd_up") == 1
    assert "unreachable" not in r.log()[log_at:], r.log()[log_at:]
    assert et.ask(r.port, "a1.example.") == "ns1"
