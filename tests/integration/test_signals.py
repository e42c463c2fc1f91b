# SPDX-License-Identifier: MIT
# SIGTERM / SIGINT: clean exit with status 0, after answering the queries in flight.

import signal
import socket
import time

import dns.message
import pytest

import dnsr
from dnsr import route_zone


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_zero(router, ns1, sig):
    r = router({
        "workers": 2,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
    })
    # some traffic first, and an idle TCP connection left open
    for transport in ("udp", "tcp"):
        assert dnsr.who(r.exchange(dnsr.query("t.example."), transport)) == "ns1"
    idle = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    try:
        start = time.monotonic()
        r.expect_exit = True
        r.proc.send_signal(sig)
        try:
            rc = r.proc.wait(timeout=5)
        except Exception:
            pytest.fail("router did not exit within 5 s of %s" % sig.name)
        assert rc == 0, "exit status %s after %s; stderr:\n%s" % (rc, sig.name, r.log())
        assert time.monotonic() - start < 5
    finally:
        idle.close()


def test_sigterm_answers_inflight_queries(router, fake_backend):
    slow = fake_backend("slow", name="slow", delay=0.5)
    r = router({
        "workers": 2,
        "timeout": "2s",
        "backends": [{"name": "slow", "address": slow.address}],
        "routes": [route_zone(".", ["slow"])],
    })
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.create_connection(("127.0.0.1", r.port), timeout=5)
    try:
        qu = dnsr.query("inflight-udp.example.", qid=0x0701)
        qt = dnsr.query("inflight-tcp.example.", qid=0x0702)
        udp.connect(("127.0.0.1", r.port))
        udp.send(qu.to_wire())
        tcp.sendall(dnsr.tcp_frame(qt.to_wire()))
        dnsr.wait_for(lambda: slow.count >= 2, 2, what="both queries reached the backend")
        r.expect_exit = True
        r.proc.send_signal(signal.SIGTERM)
        udp.settimeout(3)
        try:
            au = dns.message.from_wire(udp.recv(65535))
        except socket.timeout:
            pytest.fail("UDP query in flight at SIGTERM was not answered")
        try:
            at = dns.message.from_wire(dnsr.tcp_read_msg(tcp))
        except (socket.timeout, ConnectionError) as e:
            pytest.fail("TCP query in flight at SIGTERM was not answered: %r" % e)
        assert au.id == qu.id and dnsr.who(au) == "fake-slow"
        assert at.id == qt.id and dnsr.who(at) == "fake-slow"
        rc = r.proc.wait(timeout=5)
        assert rc == 0, r.log()
    finally:
        udp.close()
        tcp.close()


def test_sighup_while_starting_is_not_fatal(tmp_path, ns1):
    """A SIGHUP that arrives while a large configuration is still being read (a deploy tool
    reloading right after a start) must not kill the router: it becomes a reload."""
    routes = [route_zone("z%d.example." % i, ["ns1"]) for i in range(30000)]
    routes.append(route_zone(".", ["ns1"]))
    conf = {"workers": 1, "backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": routes}
    r = dnsr.Router(tmp_path / "big", conf, ready=False)
    r.start()
    try:
        # The signal is meant to land while the file is read: as soon as main() has held
        # SIGHUP back (before that, the process is still being loaded, and a SIGHUP then
        # kills any program), which /proc shows as bit 0 of SigBlk.
        def hup_held():
            with open("/proc/%d/status" % r.proc.pid) as f:
                for line in f:
                    if line.startswith("SigBlk:"):
                        return int(line.split()[1], 16) & 1
            return False
        dnsr.wait_for(hup_held, timeout=10, interval=0.001, what="SIGHUP held back")
        r.proc.send_signal(signal.SIGHUP)
        r.wait_ready(timeout=20)
        assert r.alive(), "router died of a SIGHUP during start-up: rc %s" % r.proc.returncode
        assert dnsr.who(r.exchange(dnsr.query("a.z7.example."))) == "ns1"
    finally:
        r.stop()
