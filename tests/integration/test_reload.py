# SPDX-License-Identifier: MIT
# SIGHUP reloads the config file: routing changes without losing a query (also one in flight
# across the reload and on an open TCP connection); a bad file is reported on stderr and the old
# config keeps serving.

import os
import re
import signal
import socket
import subprocess
import threading
import time

import dns.message
import dns.rcode
import pytest

import dnsr
from dnsr import route_zone


def _conf(ns1, ns2, target, extra_backends=(), **kw):
    conf = {
        "workers": 2,
        "timeout": "2s",
        "backends": [{"name": "ns1", "address": ns1.addr4},
                     {"name": "ns2", "address": ns2.addr4}] + list(extra_backends),
        "routes": [route_zone("example.", [target]), route_zone(".", ["ns1"])],
    }
    conf.update(kw)
    return conf


class QueryLoop(threading.Thread):
    """Sequential UDP queries until stop() (or <limit> queries); every one must be answered."""

    def __init__(self, port, limit=20000):
        super().__init__(daemon=True)
        self.port = port
        self.limit = limit
        self.results = []          # backend name per answered query
        self.failures = []
        self._halt = threading.Event()

    def run(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("127.0.0.1", self.port))
            for i in range(self.limit):
                if self._halt.is_set():
                    break
                q = dnsr.query("loop%d.example." % i, qid=i & 0xFFFF)
                wire = q.to_wire()
                s.send(wire)
                s.settimeout(3)
                try:
                    while True:
                        data = s.recv(65535)
                        if data[:2] == wire[:2]:
                            break
                except socket.timeout:
                    self.failures.append("query %d: no answer" % i)
                    continue
                msg = dns.message.from_wire(data)
                if msg.rcode() != dns.rcode.NOERROR or msg.question != q.question:
                    self.failures.append("query %d: %s" % (i, dnsr.rcode_text(msg)))
                    continue
                self.results.append(dnsr.who(msg))

    def stop(self):
        self._halt.set()
        self.join(10)


def _who(r, name="probe.example.", transport="udp"):
    return dnsr.who(r.exchange(dnsr.query(name), transport=transport))


def test_reload_changes_routing_without_loss(router, ns1, ns2):
    r = router(_conf(ns1, ns2, "ns1"))
    assert _who(r) == "ns1"
    loop = QueryLoop(r.port)
    loop.start()
    try:
        dnsr.wait_for(lambda: len(loop.results) >= 50 or not loop.is_alive(), 5,
                      what="query loop running")
        r.reload(_conf(ns1, ns2, "ns2"))
        dnsr.wait_for(lambda: "ns2" in loop.results[-5:] or not loop.is_alive(), 5,
                      what="answers from ns2 after reload")
        mark = len(loop.results)
        dnsr.wait_for(lambda: len(loop.results) >= mark + 50 or not loop.is_alive(), 5,
                      what="more queries after the reload")
    finally:
        loop.stop()
    assert not loop.failures, loop.failures[:10]
    assert loop.results[0] == "ns1"
    assert loop.results[-1] == "ns2"
    assert r.alive()
    assert _who(r) == "ns2"
    assert _who(r, transport="tcp") == "ns2"


def test_reload_keeps_tcp_connection_and_inflight_query(router, ns1, ns2, fake_backend):
    slow = fake_backend("slow", name="slow", delay=1.0)
    conf_a = _conf(ns1, ns2, "ns1", extra_backends=[{"name": "slow", "address": slow.address}])
    conf_a["routes"].insert(0, route_zone("slow.test.", ["slow"]))
    r = router(conf_a)
    conf_b = _conf(ns1, ns2, "ns2", extra_backends=[{"name": "slow", "address": slow.address}])
    conf_b["routes"].insert(0, route_zone("slow.test.", ["slow"]))

    tcp = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # the TCP connection is in use before the reload
        q0 = dnsr.query("tcp0.example.", qid=1)
        tcp.sendall(dnsr.tcp_frame(q0.to_wire()))
        assert dnsr.who(dns.message.from_wire(dnsr.tcp_read_msg(tcp))) == "ns1"
        # a query in flight (the backend answers after 1 s) across the reload
        qslow = dnsr.query("x.slow.test.", qid=0x5105)
        udp.connect(("127.0.0.1", r.port))
        udp.send(qslow.to_wire())
        qslow_tcp = dnsr.query("y.slow.test.", qid=0x5106)
        tcp.sendall(dnsr.tcp_frame(qslow_tcp.to_wire()))
        dnsr.wait_for(lambda: slow.count >= 2, 2, what="slow backend got the queries")
        r.reload(conf_b)
        dnsr.wait_for(lambda: _who(r, "new.example.") == "ns2", 3, what="new config in use")
        udp.settimeout(3)
        ans = dns.message.from_wire(udp.recv(65535))
        assert ans.id == qslow.id and dnsr.who(ans) == "fake-slow", \
            "UDP query in flight across the reload was lost or mangled"
        ans = dns.message.from_wire(dnsr.tcp_read_msg(tcp))
        assert ans.id == qslow_tcp.id and dnsr.who(ans) == "fake-slow", \
            "TCP query in flight across the reload was lost or mangled"
        # the same TCP connection is served by the new config
        q1 = dnsr.query("tcp1.example.", qid=2)
        tcp.sendall(dnsr.tcp_frame(q1.to_wire()))
        assert dnsr.who(dns.message.from_wire(dnsr.tcp_read_msg(tcp))) == "ns2"
    finally:
        tcp.close()
        udp.close()


BAD_FILES = {
    "unknown-key": "workers: 2\nbogus-key: 1\n",
    "not-yaml": "routes: [ { zone: example.\n",
    "unknown-backend": "routes:\n  - { zone: example., backends: [nope] }\n",
}


def test_bad_reload_keeps_old_config(router, ns1, ns2):
    r = router(_conf(ns1, ns2, "ns1"))
    r.reload(_conf(ns1, ns2, "ns2"))
    dnsr.wait_for(lambda: _who(r) == "ns2", 3, what="first reload applied")
    for what, text in BAD_FILES.items():
        offset = r.reload(text)
        pat = re.compile(r"%s:\d+: \S" % re.escape(str(r.conf_path)))
        dnsr.wait_for(lambda: pat.search(r.log()[offset:]), 3,
                      what="a `%s:LINE: problem` report on stderr after a bad reload (%s)"
                      % (r.conf_path, what))
        assert r.alive(), "router exited after a bad reload (%s)" % what
        for i in range(20):
            assert _who(r, "bad%d.example." % i) == "ns2", "old config not serving (%s)" % what
        assert _who(r, "x.test.", "tcp") == "ns1"
    # a good file is still picked up afterwards
    r.reload(_conf(ns1, ns2, "ns1"))
    dnsr.wait_for(lambda: _who(r) == "ns1", 3, what="reload after bad reloads")


def test_reload_changes_local_answers(router, ns1, ns2):
    r = router(_conf(ns1, ns2, "ns1", identity="before"))
    ident = lambda: dnsr.txt_strings(r.exchange(dnsr.query("id.server.", "TXT", "CH")))  # noqa
    assert ident() == ["before"]
    r.reload(_conf(ns1, ns2, "ns1", identity="after", version="9.9"))
    dnsr.wait_for(lambda: ident() == ["after"], 3, what="identity changed by reload")
    v = r.exchange(dnsr.query("version.bind.", "TXT", "CH"))
    assert dnsr.txt_strings(v) == ["9.9"]


def test_reload_changes_no_route_and_routes(router, ns1, ns2):
    conf = _conf(ns1, ns2, "ns1")
    conf["routes"] = [route_zone("example.", ["ns1"])]
    r = router(conf)
    assert r.exchange(dnsr.query("x.test.")).rcode() == dns.rcode.SERVFAIL
    conf["no-route"] = "refused"
    r.reload(conf)
    dnsr.wait_for(lambda: r.exchange(dnsr.query("x.test.")).rcode() == dns.rcode.REFUSED, 3,
                  what="no-route: refused after reload")
    conf["routes"].append(route_zone("test.", ["ns2"]))
    r.reload(conf)
    dnsr.wait_for(lambda: _who(r, "x.test.") == "ns2", 3, what="new route after reload")
    assert _who(r, "x.example.") == "ns1"


def test_reload_removes_backend_with_datagram_on_its_way(router, fake_backend, ns1):
    """A reload takes out a backend while a late datagram from it is on its way to a sleeping
    worker. The worker wakes for that datagram and takes the new routes in the same turn: it
    must not touch the removed backend's state afterwards (a use after free, which the
    sanitizer build reports), and it must go on answering from the new backend."""
    dup = fake_backend("duplicate-later", name="dup", delay=0.5)
    conf = {
        "workers": 1,
        "timeout": "2s",
        "health": {"enabled": False},
        "backends": [{"name": "dup", "address": dup.address}],
        "routes": [route_zone(".", ["dup"])],
    }
    r = router(conf)
    ans = r.exchange(dnsr.query("www.example."))
    assert ans is not None and dnsr.who(ans) == "fake-dup"
    offset = r.reload({
        "workers": 1,
        "timeout": "2s",
        "health": {"enabled": False},
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
    })
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 3,
                  what="the reload reported")
    assert dup.sent < 2, "the duplicate left before the reload was done: test too slow"
    dnsr.wait_for(lambda: dup.sent >= 2, 3, what="the duplicate answer sent")

    def answered_by_ns1():
        try:
            return dnsr.who(r.exchange(dnsr.query("after.example."), timeout=0.5)) == "ns1"
        except AssertionError:      # no answer
            return not r.alive()
    dnsr.wait_for(answered_by_ns1, 5, what="an answer from ns1 after the duplicate")
    assert r.alive(), "router died after a datagram from a removed backend:\n" + r.log()
    assert _who(r, "again.example.") == "ns1"


def test_reload_applies_tcp_idle_timeout(router, ns1):
    """tcp.idle-timeout takes effect on SIGHUP, as the README says of every key but a few."""
    conf = {"backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": [route_zone(".", ["ns1"])],
            "tcp": {"idle-timeout": "10s"}}
    r = router(conf)
    offset = r.reload(dict(conf, tcp={"idle-timeout": "1s"}))
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 3,
                  what="the reload reported")
    with socket.create_connection(("127.0.0.1", r.port), timeout=6) as s:
        s.sendall(dnsr.tcp_frame(dnsr.query("idle.example.", qid=5).to_wire()))
        assert dns.message.from_wire(dnsr.tcp_read_msg(s)).id == 5
        start = time.monotonic()
        try:
            data = s.recv(100)
        except socket.timeout:
            data = None
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert data == b"" and elapsed < 3.0, \
        "idle connection open %.1f s after a reload to idle-timeout 1s" % elapsed


def test_reload_applies_drain_bound(router, fake_backend):
    """The time a stopping router waits for answers follows the reloaded timeouts: after a
    reload from 200ms to 2s, a query answered 1.5 s after SIGTERM still gets its answer."""
    slow = fake_backend("slow", name="slow", delay=1.5)
    conf = {"workers": 1, "timeout": "200ms", "health": {"enabled": False},
            "backends": [{"name": "slow", "address": slow.address}],
            "routes": [route_zone(".", ["slow"])]}
    r = router(conf)
    offset = r.reload(dict(conf, timeout="2s"))
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 3,
                  what="the reload reported")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        q = dnsr.query("drain.example.", qid=0x0B0B)
        udp.connect(("127.0.0.1", r.port))
        udp.send(q.to_wire())
        dnsr.wait_for(lambda: slow.count >= 1, 2, what="the query at the backend")
        r.expect_exit = True
        r.proc.send_signal(signal.SIGTERM)
        udp.settimeout(4)
        try:
            ans = dns.message.from_wire(udp.recv(65535))
        except socket.timeout:
            pytest.fail("query in flight at SIGTERM not answered: the drain bound kept "
                        "the timeout from before the reload")
    assert ans.id == q.id and dnsr.who(ans) == "fake-slow"
    assert r.proc.wait(timeout=5) == 0, r.log()


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
/* Fail the first connect() of a UDP socket to port $SHIM_FAIL_UDP_PORT, as EMFILE would. */
static int failed;
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    const char *port = getenv("SHIM_FAIL_UDP_PORT");
    int type = 0;
    socklen_t tl = sizeof(type);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
    if (!failed && port && sa->sa_family == AF_INET && type == SOCK_DGRAM &&
        ntohs(((const struct sockaddr_in *)sa)->sin_port) == atoi(port)) {
        failed = 1;
        errno = EMFILE;
        return -1;
    }
    return real(fd, sa, len);
}
"""


def test_backend_socket_failing_to_open_is_tried_again(router, fake_backend, tmp_path):
    """The worker's socket to a backend added by a reload fails to open once (out of
    descriptors, say): the router tries again and serves the backend, rather than answering
    SERVFAIL for it until some later reload."""
    src = tmp_path / "shim.c"
    src.write_text(SHIM)
    shim = tmp_path / "shim.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(shim), str(src), "-ldl"], check=True)
    b1, b2 = fake_backend("normal", name="b1"), fake_backend("normal", name="b2")
    base = {"workers": 1, "health": {"enabled": False},
            "backends": [{"name": "b1", "address": b1.address}],
            "routes": [route_zone(".", ["b1"])]}
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = router(base, env={"LD_PRELOAD": str(shim), "SHIM_FAIL_UDP_PORT": str(b2.port),
                          "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"})
    offset = r.reload(dict(base, backends=base["backends"] + [
        {"name": "b2", "address": b2.address}],
        routes=[route_zone("b2.example.", ["b2"]), route_zone(".", ["b1"])]))
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 3,
                  what="the reload applied")
    dnsr.wait_for(lambda: "cannot open a socket" in r.log()[offset:], 3,
                  what="the shim's failure logged (is LD_PRELOAD honoured?)")
    dnsr.wait_for(lambda: dnsr.who(r.exchange(dnsr.query("x.b2.example."))) == "fake-b2", 4,
                  interval=0.2, what="b2 served after its socket failed to open once")
