# SPDX-License-Identifier: MIT
# tests/integration/conftest.py -- fixtures: free ports, Knot backends, dnsrouter, fake backends.
#
# Every process or thread a fixture starts is stopped in the fixture's teardown, also when the
# test fails. A router fixture also fails the test when the router's stderr shows a sanitizer
# report or when the router died on its own during the test.

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dnsr  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    """Figures measured by the etcd tests (etcdtools.figure), e.g. propagation latency, RSS."""
    etcdtools = sys.modules.get("etcdtools")
    if etcdtools is not None and etcdtools.FIGURES:
        terminalreporter.section("etcd figures")
        for line in etcdtools.FIGURES:
            terminalreporter.write_line(line)


def pytest_report_header(config):
    return "dnsrouter binary: %s%s" % (
        dnsr.ROUTER_BIN, "" if os.access(dnsr.ROUTER_BIN, os.X_OK) else " (MISSING)")


@pytest.fixture(scope="session", autouse=True)
def _router_binary():
    if not os.access(dnsr.ROUTER_BIN, os.X_OK):
        pytest.fail("dnsrouter binary not found at %s (build it with `make`, or set "
                    "DNSROUTER_BIN)" % dnsr.ROUTER_BIN, pytrace=False)


@pytest.fixture
def free_port():
    """Factory: a port free on UDP and TCP, on 127.0.0.1 and ::1."""
    return dnsr.free_port


# ---------------------------------------------------------------------------- Knot backends

@pytest.fixture(scope="session")
def knot_factory(tmp_path_factory):
    """Factory: knot_factory(name, zones=None) -> started dnsr.KnotBackend."""
    started = []

    def make(name, zones=None):
        b = dnsr.KnotBackend(name, tmp_path_factory.mktemp("knot-" + name), zones)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def ns1(knot_factory):
    return knot_factory("ns1")


@pytest.fixture(scope="session")
def ns2(knot_factory):
    return knot_factory("ns2")


@pytest.fixture(scope="session")
def ns3(knot_factory):
    return knot_factory("ns3")


@pytest.fixture
def own_knot(tmp_path):
    """Factory: own_knot(name, zones=None) -> a started dnsr.KnotBackend of this test alone, for
    tests that kill, stop (SIGSTOP) or restart it; resumed and stopped at the end."""
    started = []

    def make(name, zones=("example.", "test.")):
        b = dnsr.KnotBackend(name, tmp_path / ("knot-" + name), zones)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        b.stop()


# ---------------------------------------------------------------------------- fake backends

@pytest.fixture
def fake_backend():
    """Factory: fake_backend(mode, name=..., delay=..., family=4) -> started dnsr.FakeBackend."""
    started = []

    def make(mode="normal", **kw):
        f = dnsr.FakeBackend(mode=mode, **kw)
        started.append(f)
        return f.start()

    yield make
    for f in started:
        f.stop()


# ---------------------------------------------------------------------------- etcd

@pytest.fixture
def etcd(tmp_path):
    """Factory: etcd(size=1) -> a started etcdtools.EtcdCluster of <size> members on loopback
    (free client and peer ports, data dirs under tmp_path); members are stopped (SIGCONT first
    when paused) and their data dirs removed at the end, also when the test fails.
    etcd(size, start=False) returns it unstarted (ports chosen) for a router that starts first."""
    import etcdtools
    clusters = []

    def make(size=1, start=True):
        c = etcdtools.EtcdCluster(tmp_path / ("etcd%d" % len(clusters)), size)
        clusters.append(c)
        return c.start() if start else c

    yield make
    for c in clusters:
        c.stop()


# ---------------------------------------------------------------------------- routers

def _finish_routers(routers):
    problems = []
    for r in routers:
        died = None
        if r.proc is not None and not r.expect_exit and r.proc.poll() is not None:
            died = r.proc.returncode
        r.stop()
        log = r.log()
        for marker in dnsr.SANITIZER_MARKERS:
            if marker in log:
                problems.append("dnsrouter (%s) stderr contains %r:\n%s" % (r.dir, marker, log))
                break
        if died is not None:
            problems.append("dnsrouter (%s) died during the test with exit status %s; stderr:\n%s"
                            % (r.dir, died, log))
    return problems


def _router_factory(mktemp):
    routers = []

    def make(conf=None, args=(), ready=True, **kw):
        r = dnsr.Router(mktemp(), conf=conf, args=args, ready=ready, **kw)
        routers.append(r)
        return r.start()

    return make, routers


@pytest.fixture
def router(tmp_path):
    """Factory: router(conf_dict_or_yaml_text, args=(...)) -> started, ready dnsr.Router.

    A dict config gets `listen` on 127.0.0.1 and ::1 at the router's free port unless given."""
    n = [0]

    def mktemp():
        n[0] += 1
        return tmp_path / ("router%d" % n[0])

    make, routers = _router_factory(mktemp)
    yield make
    problems = _finish_routers(routers)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def module_router(tmp_path_factory):
    """Module-scoped variant of `router`, for parametrised tests sharing one router."""
    make, routers = _router_factory(lambda: tmp_path_factory.mktemp("router"))
    yield make
    problems = _finish_routers(routers)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
