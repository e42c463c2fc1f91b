# SPDX-License-Identifier: MIT
# tests/integration/test_dnstap.py -- dnstap, read back with Debian's dnstap-ldns: N queries
# over UDP and TCP through the router to Knot give exactly N of each of CLIENT_QUERY,
# CLIENT_RESPONSE, FORWARDER_QUERY and FORWARDER_RESPONSE, with the right addresses and names;
# `sample` keeps the four in step; a file moved away is started anew on SIGHUP, the old one
# whole; a socket reader that never reads costs answers nothing (dropped and counted instead).

import os
import re
import signal
import socket
import subprocess
import time

import dns.rcode
import pytest

import dnsr
import etcdtools as et

DNSTAP_LDNS = "/usr/bin/dnstap-ldns"
KINDS = ("CLIENT_QUERY", "CLIENT_RESPONSE", "FORWARDER_QUERY", "FORWARDER_RESPONSE")


def read_tap(path):
    """The messages of a dnstap file as dicts (dnstap-ldns's YAML, read loosely)."""
    out = subprocess.run([DNSTAP_LDNS, "-y", "-r", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    msgs = []
    for doc in out.stdout.split("\n---\n"):
        m = {}
        for key in ("type", "socket_protocol", "query_address", "response_address",
                    "query_port", "response_port", "identity", "version"):
            found = re.search(r"^\s*%s: \"?([^\"\n]*)\"?$" % key, doc, re.M)
            if found:
                m[key] = found.group(1)
        kind = re.search(r"^  type: (\w+)$", doc, re.M)
        if kind:
            m["kind"] = kind.group(1)
            m["name"] = re.search(r"^    ;(\S+)\s+(IN|CH)\s", doc, re.M).group(1)
            rc = re.search(r"rcode: (\w+)", doc)
            m["rcode"] = rc.group(1) if rc else None
            if m["name"] != "id.server.":     # the readiness probes of the test harness
                msgs.append(m)
    return msgs


def by_kind(msgs):
    return {k: [m for m in msgs if m["kind"] == k] for k in KINDS}


def ask(r, names, tcp_every=5):
    for i, n in enumerate(names):
        a = r.exchange(dnsr.query(n, "A"), transport="tcp" if i % tcp_every == 0 else "udp")
        assert a.rcode() == dns.rcode.NOERROR


def tap_router(router, tmp_path, ns1, **dnstap):
    conf = {"workers": 2, "identity": "tap-test", "dnstap": dnstap,
            "backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": [{"zone": "example.", "backends": ["ns1"]}]}
    return router(conf)


def stop(r):
    r.expect_exit = True
    r.proc.send_signal(signal.SIGTERM)
    assert r.proc.wait(15) == 0


def test_every_event_logged(router, ns1, tmp_path):
    path = tmp_path / "tap.fstrm"
    r = tap_router(router, tmp_path, ns1, file=str(path))
    names = ["n%03d.example." % i for i in range(100)]
    ask(r, names)
    stop(r)
    kinds = by_kind(read_tap(path))
    for k in KINDS:
        assert len(kinds[k]) == len(names), (k, len(kinds[k]))
        assert sorted(m["name"] for m in kinds[k]) == sorted(names), k
    for m in kinds["CLIENT_QUERY"] + kinds["CLIENT_RESPONSE"]:
        assert m["query_address"] == "127.0.0.1" and m["response_address"] == "127.0.0.1"
        assert int(m["response_port"]) == r.port and int(m["query_port"]) > 0
        assert m["identity"] == "tap-test" and m["version"].startswith("dnsrouter ")
    backend_port = int(ns1.addr4.rsplit(":", 1)[1])
    for m in kinds["FORWARDER_QUERY"] + kinds["FORWARDER_RESPONSE"]:
        assert m["response_address"] == "127.0.0.1" and int(m["response_port"]) == backend_port
    assert all(m["rcode"] == "NOERROR" for m in kinds["CLIENT_RESPONSE"])
    assert sum(m["socket_protocol"] == "TCP" for m in kinds["CLIENT_QUERY"]) == 20


def test_sample_keeps_events_in_step(router, ns1, tmp_path):
    path = tmp_path / "tap.fstrm"
    r = tap_router(router, tmp_path, ns1, file=str(path), sample=4, responses=True)
    ask(r, ["s%03d.example." % i for i in range(400)], tcp_every=10)
    stop(r)
    kinds = by_kind(read_tap(path))
    n = len(kinds["CLIENT_QUERY"])
    assert 400 / 8 < n < 400 / 2, n
    for k in KINDS:
        assert sorted(m["name"] for m in kinds[k]) == sorted(
            m["name"] for m in kinds["CLIENT_QUERY"]), k


def test_queries_only(router, ns1, tmp_path):
    path = tmp_path / "tap.fstrm"
    r = tap_router(router, tmp_path, ns1, file=str(path), responses=False, identity=False)
    ask(r, ["q%02d.example." % i for i in range(20)])
    stop(r)
    msgs = read_tap(path)
    assert {m["kind"] for m in msgs} == {"CLIENT_QUERY", "FORWARDER_QUERY"} and len(msgs) == 40
    assert not any("identity" in m for m in msgs)


def test_rotation_on_sighup(router, ns1, tmp_path):
    path = tmp_path / "tap.fstrm"
    r = tap_router(router, tmp_path, ns1, file=str(path))
    ask(r, ["before%02d.example." % i for i in range(10)])
    os.rename(path, tmp_path / "tap.fstrm.1")
    r.proc.send_signal(signal.SIGHUP)
    dnsr.wait_for(lambda: "dnstap: a new file" in r.log(), timeout=5, what="the new file")
    ask(r, ["after%02d.example." % i for i in range(10)])
    stop(r)
    old, new = read_tap(tmp_path / "tap.fstrm.1"), read_tap(path)
    assert {m["name"] for m in old} == {"before%02d.example." % i for i in range(10)}
    assert {m["name"] for m in new} == {"after%02d.example." % i for i in range(10)}
    assert len(old) == len(new) == 40


def test_stalled_reader_costs_no_answer(router, ns1, tmp_path):
    """A collector that accepts the connection and never reads: the writer stalls, the
    workers' queues fill, and messages are dropped and counted, while every query is
    answered."""
    sock_path = str(tmp_path / "collector.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(4)
    admin = "127.0.0.1:%d" % dnsr.free_port()
    conf = {"workers": 2, "admin": admin,
            "dnstap": {"socket": sock_path, "queue-size": 16},
            "backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": [{"zone": "example.", "backends": ["ns1"]}]}
    def answered_rate(r):
        n, t0 = 3000, time.monotonic()
        with et.Asker(r.port) as a:
            outcomes = a.who_set(["x%04d.example." % i for i in range(n)], timeout=1.0)
        took = time.monotonic() - t0
        assert outcomes.count("ns1") == n, [o for o in outcomes if o != "ns1"][:5]
        return n / took

    try:
        r = router(conf)
        stalled = answered_rate(r)
        dropped = dnsr.metric(admin, "dnsrouter_dnstap_dropped_total")
        assert dropped > 0
        # The same load without dnstap, for the figure: measured, not asserted on.
        del conf["dnstap"]
        conf["admin"] = "127.0.0.1:%d" % dnsr.free_port()
        plain = answered_rate(router(conf))
        et.figure("dnstap to a reader that never reads: 3000 of 3000 queries answered at "
                  "%.0f q/s (one client, one query at a time) against %.0f q/s without "
                  "dnstap; %d messages dropped" % (stalled, plain, dropped))
    finally:
        listener.close()


@pytest.mark.parametrize("dnstap,what", [
    ({"sample": 2}, "dnstap needs one of socket (a unix socket path) or file"),
    ({"file": "/tmp/x", "socket": "/tmp/y"}, "dnstap needs one of socket"),
    ({"file": "/tmp/x", "queue-size": 100}, "must be a power of two"),
    ({"file": "/tmp/x", "sample": 0}, "dnstap sample must be a whole number from 1"),
])
def test_check_rejects_bad_dnstap(tmp_path, dnstap, what):
    path = tmp_path / "dnsrouter.yaml"
    path.write_text(dnsr.render_yaml({"dnstap": dnstap}))
    out = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1 and what in out.stderr, out.stderr


def test_unwritable_file_stops_the_start(tmp_path):
    conf = tmp_path / "dnsrouter.yaml"
    conf.write_text(dnsr.render_yaml({"listen": ["127.0.0.1:%d" % dnsr.free_port()],
                                      "dnstap": {"file": str(tmp_path / "no" / "such.fstrm")}}))
    out = subprocess.run([dnsr.ROUTER_BIN, "-c", str(conf)], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1 and "dnstap file" in out.stderr, out.stderr
