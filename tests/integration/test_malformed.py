# SPDX-License-Identifier: MIT
# Bad input: short packets and responses (QR=1) are dropped, malformed questions get FORMERR
# with the client's ID, garbage never disturbs other clients or kills the router.

import random
import socket
import struct
import threading

import dns.message
import dns.rcode
import pytest

import dnsr
from dnsr import route_zone

TC_IN_TXT = struct.pack("!HH", 16, 1)
GOOD_NAME = b"\x03foo\x07example\x00"


# an OPT RR: root owner, type 41, UDP size 1232, version 0, no options
OPT_RR = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


def hdr(qid, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def long_name(total):
    """A wire name of exactly <total> bytes ending in example."""
    tail = b"\x07example\x00"
    rest = total - len(tail)
    out = b""
    while rest > 0:
        n = min(63, rest - 1)
        out += bytes([n]) + b"a" * n
        rest -= n + 1
    assert len(out + tail) == total
    return out + tail


# name -> builder(qid) of packets the router must answer FORMERR with the client's ID
FORMERR = {
    "qdcount-0": lambda i: hdr(i, qd=0),
    "qdcount-0-with-data": lambda i: hdr(i, qd=0) + GOOD_NAME + TC_IN_TXT,
    "qdcount-2": lambda i: hdr(i, qd=2) + GOOD_NAME + TC_IN_TXT + GOOD_NAME + TC_IN_TXT,
    "qdcount-65535": lambda i: hdr(i, qd=0xFFFF) + GOOD_NAME + TC_IN_TXT,
    "pointer-question": lambda i: hdr(i) + b"\xc0\x0c" + TC_IN_TXT,
    "pointer-after-label": lambda i: hdr(i) + b"\x03foo\xc0\x0c" + TC_IN_TXT,
    "pointer-to-self": lambda i: hdr(i) + b"\xc0\x0e" + TC_IN_TXT,
    "label-past-end": lambda i: hdr(i) + b"\x0aabc",
    "name-no-terminator": lambda i: hdr(i) + b"\x03foo\x07example",
    "no-qtype-qclass": lambda i: hdr(i) + GOOD_NAME,
    "half-qtype": lambda i: hdr(i) + GOOD_NAME + b"\x00\x10\x00",
    "header-only": lambda i: hdr(i),
    "label-64": lambda i: hdr(i) + b"\x40" + b"a" * 64 + b"\x00" + TC_IN_TXT,
    "label-type-10": lambda i: hdr(i) + b"\x80" + b"a" * 10 + b"\x00" + TC_IN_TXT,
    "name-256": lambda i: hdr(i) + long_name(256) + TC_IN_TXT,
    "name-300": lambda i: hdr(i) + long_name(300) + TC_IN_TXT,
    "name-many-labels": lambda i: hdr(i) + b"\x01a" * 200 + b"\x00" + TC_IN_TXT,
    # RFC 6891 6.1.1: more than one OPT record
    "two-opt": lambda i: hdr(i, ar=2) + GOOD_NAME + TC_IN_TXT + OPT_RR + OPT_RR,
    "opt-past-end": lambda i: hdr(i, ar=1) + GOOD_NAME + TC_IN_TXT + OPT_RR[:-1] + b"\x05",
    "additional-missing": lambda i: hdr(i, ar=1) + GOOD_NAME + TC_IN_TXT,
}

# packets the router must not answer at all
DROP = {
    "empty": lambda i: b"",
    "one-byte": lambda i: b"\x01",
    "eleven-bytes": lambda i: hdr(i)[:11],
    "qr-set": lambda i: hdr(i, flags=0x8100) + GOOD_NAME + TC_IN_TXT,
    "qr-set-answer": lambda i: hdr(i, flags=0x8580, an=1) + GOOD_NAME + TC_IN_TXT +
    b"\xc0\x0c" + TC_IN_TXT + struct.pack("!IH", 60, 2) + b"\x01x",
    "qr-set-malformed": lambda i: hdr(i, flags=0x8100, qd=0),
}


@pytest.fixture(scope="module")
def bad_router(module_router, ns1):
    return module_router({
        "workers": 2,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
    })


def _is_formerr_for(data, qid):
    return (len(data) >= 12 and data[:2] == struct.pack("!H", qid) and data[2] & 0x80
            and data[3] & 0x0F == dns.rcode.FORMERR)


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("case", sorted(FORMERR))
def test_formerr_udp(bad_router, case, family):
    qid = random.randrange(1, 0xFFFF)
    data = dnsr.udp_exchange(bad_router.port, FORMERR[case](qid), family)
    assert data is not None, "no answer to a malformed question"
    assert _is_formerr_for(data, qid), "not FORMERR with the client's ID: %r" % data[:12]


@pytest.mark.parametrize("case", sorted(FORMERR))
def test_formerr_or_close_tcp(bad_router, case):
    """Over TCP a malformed question gets FORMERR (or the connection is closed); never a hang."""
    qid = random.randrange(1, 0xFFFF)
    with socket.create_connection(("127.0.0.1", bad_router.port), timeout=3) as s:
        s.sendall(dnsr.tcp_frame(FORMERR[case](qid)))
        try:
            data = dnsr.tcp_read_msg(s)
        except ConnectionError:
            data = None
        except socket.timeout:
            pytest.fail("no FORMERR and connection not closed within 3 s")
    if data is not None:
        assert _is_formerr_for(data, qid), "not FORMERR with the client's ID: %r" % data[:12]
    assert bad_router.exchange(dnsr.query("after.example."), transport="tcp").rcode() == 0


@pytest.fixture(scope="module")
def drop_router(module_router):
    fake = dnsr.FakeBackend(name="f", mode="normal").start()
    try:
        r = module_router({
            "workers": 2,
            "backends": [{"name": "f", "address": fake.address}],
            "routes": [route_zone(".", ["f"])],
        })
        r.fake = fake
        yield r
    finally:
        fake.stop()


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("case", sorted(DROP))
def test_dropped_udp(drop_router, case, family):
    """No answer to the bad packet and nothing forwarded: a good query sent right after it on the
    same socket is the only packet the backend sees and the only answer that comes back (a local
    answer to the bad packet would have beaten it, a forwarded one would reach the backend)."""
    bad_id = 0x0BAD
    before = drop_router.fake.count
    with socket.socket(dnsr.sock_family(family), socket.SOCK_DGRAM) as s:
        s.connect((dnsr.host_of(family), drop_router.port))
        s.send(DROP[case](bad_id))
        q = dnsr.query("good.example.", qid=0x600D)
        s.send(q.to_wire())
        s.settimeout(2)
        got = []
        while True:
            data = s.recv(65535)
            got.append(data)
            if data[:2] == b"\x60\x0d":
                break
        # the fake backend answers at once, so a forwarded bad packet would be back by now
        # unless the router delayed it; drain what is there
        s.setblocking(False)
        try:
            while True:
                got.append(s.recv(65535))
        except BlockingIOError:
            pass
    others = [d for d in got if d[:2] != b"\x60\x0d"]
    assert not others, "router answered a packet it must drop: %r" % others
    seen = drop_router.fake.queries[before:]
    assert len(seen) == 1, "backend received %d packets for 1 good query: %r" % (
        len(seen), [w for _, w, _ in seen])
    assert dnsr.who(dns.message.from_wire(got[-1])) == "fake-f"


def test_valid_name_of_255_bytes_is_forwarded(bad_router):
    qid = 0x0255
    wire = hdr(qid) + long_name(255) + TC_IN_TXT
    data = dnsr.udp_exchange(bad_router.port, wire)
    assert data is not None
    msg = dns.message.from_wire(data)
    assert msg.rcode() == dns.rcode.NOERROR, dnsr.rcode_text(msg)
    assert dnsr.who(msg) == "ns1"


def test_barrage_does_not_disturb_valid_clients(bad_router):
    """A bounded malformed/garbage barrage interleaved with a valid query loop."""
    n_valid = 150
    failures = []
    done = threading.Event()

    def valid_loop():
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.connect(("::1", bad_router.port))
            for i in range(n_valid):
                q = dnsr.query("v%d.example." % i, qid=i)
                s.send(q.to_wire())
                s.settimeout(2)
                try:
                    while True:
                        data = s.recv(65535)
                        if data[:2] == q.to_wire()[:2]:
                            break
                except socket.timeout:
                    failures.append("query %d unanswered" % i)
                    continue
                msg = dns.message.from_wire(data)
                if msg.question != q.question or dnsr.who(msg) != "ns1":
                    failures.append("query %d: bad answer %s" % (i, msg))
        done.set()

    rng = random.Random(8914)
    packets = []
    for _ in range(20):
        for build in list(FORMERR.values()) + list(DROP.values()):
            packets.append(build(rng.randrange(0x10000)))
    for _ in range(600):
        packets.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
    rng.shuffle(packets)

    t = threading.Thread(target=valid_loop, daemon=True)
    t.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as bad, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp_bad:
        bad.connect(("127.0.0.1", bad_router.port))
        tcp_bad.connect(("127.0.0.1", bad_router.port))
        tcp_bad.settimeout(2)
        for k, p in enumerate(packets):
            try:
                bad.send(p)
            except OSError:
                pass            # ICMP errors reported on a connected socket
            if k % 100 == 0:
                try:            # a garbage TCP stream alongside
                    tcp_bad.sendall(p[:50])
                except OSError:
                    pass
    t.join(n_valid * 2 + 5)
    assert done.is_set(), "valid loop did not finish"
    assert not failures, failures[:10]
    assert bad_router.alive()
    # the router answers normally afterwards on every transport
    for fam in (4, 6):
        for transport in ("udp", "tcp"):
            ans = bad_router.exchange(dnsr.query("end.example."), transport, fam)
            assert dnsr.who(ans) == "ns1"


def test_garbage_tcp_streams(bad_router):
    """Garbage, a zero length prefix, a truncated frame: router survives, other clients served."""
    streams = [
        b"\x00\x00",                                      # zero-length message
        b"\x00\x05abcde",                                 # message shorter than a header
        b"\xff\xff" + b"x" * 100,                         # frame promising more than is sent
        bytes(random.Random(3).randrange(256) for _ in range(3000)),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    socks = []
    try:
        for data in streams:
            s = socket.create_connection(("127.0.0.1", bad_router.port), timeout=3)
            socks.append(s)
            try:
                s.sendall(data)
            except OSError:
                pass
        ans = bad_router.exchange(dnsr.query("tcpok.example."), transport="tcp")
        assert dnsr.who(ans) == "ns1"
        ans = bad_router.exchange(dnsr.query("udpok.example."), transport="udp")
        assert dnsr.who(ans) == "ns1"
    finally:
        for s in socks:
            s.close()
    assert bad_router.alive()
