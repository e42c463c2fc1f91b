# SPDX-License-Identifier: MIT
# A listener on a wildcard address (0.0.0.0, [::]) answers each UDP query from the address the
# client sent it to: resolvers drop answers from any other address. Every kind of answer is
# checked — relayed, local, and the SERVFAIL written after a backend timeout — through a
# connected socket, which the kernel only lets answers from the queried address reach.

import socket

import dns.message
import dns.rcode
import pytest

import dnsr
from dnsr import route_zone

ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.1"]


def ask_from(dst, port, q, timeout=3.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((dst, port))      # answers from any other source are dropped by the kernel
        s.send(q.to_wire())
        return dns.message.from_wire(s.recv(65535))


@pytest.fixture
def wildcard_router(router, ns1, fake_backend):
    silent = fake_backend("silent", name="silent")
    port = dnsr.free_port()
    conf = {
        "listen": ["0.0.0.0:%d" % port, "[::]:%d" % port],
        "identity": "wild",
        "timeout": "300ms",
        "health": {"enabled": False},
        "backends": [{"name": "ns1", "address": ns1.addr4},
                     {"name": "silent", "address": silent.address}],
        "routes": [route_zone("silent.test.", ["silent"]), route_zone("example.", ["ns1"])],
    }
    return router(conf, port=port), port


@pytest.mark.parametrize("dst", ADDRESSES)
def test_relayed_answer_from_queried_address(wildcard_router, dst):
    _, port = wildcard_router
    ans = ask_from(dst, port, dnsr.query("www.example."))
    assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "ns1"


@pytest.mark.parametrize("dst", ADDRESSES)
def test_local_answer_from_queried_address(wildcard_router, dst):
    _, port = wildcard_router
    ans = ask_from(dst, port, dnsr.query("id.server.", "TXT", "CH"))
    assert dnsr.txt_strings(ans) == ["wild"]


def test_timeout_servfail_from_queried_address(wildcard_router):
    _, port = wildcard_router
    ans = ask_from("127.0.0.2", port, dnsr.query("x.silent.test."), timeout=5)
    assert ans.rcode() == dns.rcode.SERVFAIL


def test_ipv6_wildcard(wildcard_router):
    _, port = wildcard_router
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.connect(("::1", port))
        s.send(dnsr.query("www.example.").to_wire())
        ans = dns.message.from_wire(s.recv(65535))
    assert dnsr.who(ans) == "ns1"
