# SPDX-License-Identifier: MIT
# Zone transfers relayed for allowed clients (`transfers:`).
#
# Real Knot as the primary (its own setup here: an ACL that lets the router transfer, a journal
# for IXFR, and a long TCP I/O timeout for the slow-client case); a small Python primary
# (XfrFake) only for what Knot will not do: stall, close, or send a bad message half-way.
#
# Covered: `-t -c` on good and bad `transfers:` values; AXFR of a multi-message zone through
# the router equal to a direct one, every message with the client's ID, over IPv4 and IPv6,
# several at once, pipelined with an ordinary query, and by dnspython's own secondary code;
# IXFR (two deltas, one delta, AXFR form, up to date) equal to the direct IXFR; the client's
# connection usable afterwards; UDP transfer queries (forwarded when allowed, REFUSED + EDE 18
# when not); who is allowed (/32, a bare address, a shorter prefix, ::1) and SIGHUP changing
# it (a bad file keeps the running list); failures before the first
# message (silent, refused connection, no healthy backend, no route; never retried) and after
# it (stall, early close, wrong ID, garbage: the client's connection is closed, never a hang);
# a backend's error answer relayed; messages byte-identical but the ID and nothing relayed
# after the last one; a slow client (the router stops reading the backend, the transfer comes
# through whole); the transfers_total counters.

import concurrent.futures
import os
import re
import socket
import struct
import subprocess
import threading
import time
import uuid

import dns.message
import dns.query
import dns.rcode
import dns.rrset
import dns.zone
import pytest

import dnsr
import lbtools
from dnsr import route_zone

KNOTC = os.environ.get("KNOTC", "/usr/sbin/knotc")

ALLOWED4 = "127.0.0.2"      # the module router allows 127.0.0.2/32 and ::1/128 ...
DENIED4 = "127.0.0.1"       # ... and not 127.0.0.1
FAKE_TIMEOUT = 0.3          # backend timeout of the fake primaries and the dead backend
MARGIN = 1.5                # scheduling and timer granularity, generous for the ASan build
TYPE_SOA = 6
NO_HEALTH = {"enabled": False, "fall": 1000}   # never taken out by passive checks either


# --------------------------------------------------------------------------------------------
# raw transfers


def connect(port, family=4, src=None, rcvbuf=None, timeout=5.0):
    """A TCP connection to <port> on loopback, from source address <src> when given."""
    s = socket.socket(dnsr.sock_family(family), socket.SOCK_STREAM)
    try:
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect((dnsr.host_of(family), port))
    except BaseException:
        s.close()
        raise
    return s


def xfr_query(zone, qtype="AXFR", serial=None):
    """An AXFR or IXFR query with EDNS (so router-made answers carry their EDE); an IXFR
    carries the client's SOA in the authority section (RFC 1995)."""
    q = dnsr.query(zone, qtype, edns=True)
    if qtype == "IXFR":
        q.authority.append(dns.rrset.from_text(
            zone, 0, "IN", "SOA", "ns.%s h.%s %d 3600 600 86400 300" % (zone, zone, serial)))
    return q


def soa_serials(wire):
    """For each answer record of raw message <wire>: its SOA serial, or None for another type.
    (A walk over the raw records: parsing megabytes with dnspython would take seconds.)"""
    qd, an = struct.unpack("!HH", wire[4:8])
    i = 12
    for _ in range(qd):
        i = lbtools.skip_name(wire, i) + 4
    out = []
    for _ in range(an):
        i = lbtools.skip_name(wire, i)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", wire[i:i + 10])
        i += 10
        if rtype == TYPE_SOA:
            j = lbtools.skip_name(wire, lbtools.skip_name(wire, i))
            out.append(struct.unpack("!I", wire[j:j + 4])[0])
        else:
            out.append(None)
        i += rdlen
    return out


def transfer_complete(qtype, serials):
    """The spec's end of a transfer, given the SOA serial (or None) of every answer record so
    far: AXFR at the 2nd SOA; IXFR at the 3rd SOA of the newest serial (incremental form) or
    the 2nd (AXFR form: the second record is not a SOA)."""
    soas = [s for s in serials if s is not None]
    if qtype == "AXFR":
        return len(soas) >= 2
    if len(serials) < 2 or serials[0] is None:
        return False
    return soas.count(serials[0]) >= (3 if serials[1] is not None else 2)


def read_transfer(sock, qid, qtype, timeout=5.0, others=None, head=(), serial=None):
    """Read the raw messages of the transfer with ID <qid> from <sock>, up to and including its
    last one (an answer with rcode != NOERROR, a lone SOA answering an IXFR -- one not newer
    than the client's <serial> when given --, or the closing SOA); <head>: its first messages,
    already read. Messages with another ID go to <others>
    (pipelined queries) or fail the test. AssertionError when the connection closes or stays
    silent first. Returns all of the transfer's messages, <head> included."""
    msgs, serials = list(head), all_serials(head)
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            wire = dnsr.tcp_read_msg(sock)
        except (OSError, ConnectionError) as e:
            raise AssertionError("transfer incomplete after %d messages (%d records): %s: %s" % (
                len(msgs), len(serials), type(e).__name__, e))
        if struct.unpack("!H", wire[:2])[0] != qid:
            assert others is not None, "a message with ID %d, not the query's %d" % (
                struct.unpack("!H", wire[:2])[0], qid)
            others.append(wire)
            continue
        msgs.append(wire)
        if dnsr.rcode_of_wire(wire) != dns.rcode.NOERROR:
            return msgs
        got = soa_serials(wire)
        if qtype == "IXFR" and len(msgs) == 1 and len(got) == 1 and got[0] is not None and \
                (serial is None or got[0] <= serial):
            return msgs         # a single SOA: the client is up to date
        serials.extend(got)
        if transfer_complete(qtype, serials):
            return msgs


def start_transfer(port, zone, qtype="AXFR", serial=None, family=4, src=None, rcvbuf=None):
    q = xfr_query(zone, qtype, serial)
    s = connect(port, family, src, rcvbuf)
    s.sendall(dnsr.tcp_frame(q.to_wire()))
    return s, q


def transfer(port, zone, qtype="AXFR", serial=None, family=4, src=None, timeout=5.0):
    """One whole transfer over a new connection: its raw messages, each checked to carry the
    query's ID (read_transfer only takes those)."""
    s, q = start_transfer(port, zone, qtype, serial, family, src)
    with s:
        return read_transfer(s, q.id, qtype, timeout)


def records(msgs):
    """Every answer record of raw messages <msgs>, in order, as presentation text."""
    out = []
    for w in msgs:
        for rrset in dns.message.from_wire(w, one_rr_per_rrset=True).answer:
            out.append(rrset.to_text())
    return out


def all_serials(msgs):
    return [s for w in msgs for s in soa_serials(w)]


def ask_on(sock, name="www.example.", timeout=3.0):
    """An ordinary TXT query on an open connection; returns the parsed answer."""
    q = dnsr.query(name, "TXT")
    sock.sendall(dnsr.tcp_frame(q.to_wire()))
    sock.settimeout(timeout)
    wire = dnsr.tcp_read_msg(sock)
    assert wire[:2] == q.to_wire()[:2], "next message is not the answer to the query (ID %d)" % (
        struct.unpack("!H", wire[:2])[0])
    return dns.message.from_wire(wire)


def assert_usable(sock):
    """The connection still answers an ordinary query (routed to Knot)."""
    ans = ask_on(sock)
    assert ans.rcode() == dns.rcode.NOERROR and dnsr.who(ans) == "knot", ans


def wait_closed(sock, limit):
    """Wait up to <limit> s for the peer to close <sock> (FIN or RST). Returns (bytes that came
    before the close, seconds waited); AssertionError when it is still open."""
    start = time.monotonic()
    data = b""
    while True:
        left = limit - (time.monotonic() - start)
        assert left > 0, "connection still open after %.1fs (%d more bytes came)" % (
            limit, len(data))
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


def split_frames(data):
    """The whole length-prefixed messages in <data> (a cut-off last one is left out: it is
    incomplete to the client either way)."""
    out = []
    while len(data) >= 2:
        (n,) = struct.unpack("!H", data[:2])
        if len(data) < 2 + n:
            break
        out.append(data[2:2 + n])
        data = data[2 + n:]
    return out


def answer_of(wire):
    msg = dns.message.from_wire(wire)
    return dnsr.rcode_text(msg), dnsr.ede_codes(msg)


def udp_from(port, wire, src=None, family=4, timeout=2.0):
    """Send <wire> over UDP from <src>; the answer with the same ID (socket.timeout if none)."""
    with socket.socket(dnsr.sock_family(family), socket.SOCK_DGRAM) as s:
        if src:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(wire, (dnsr.host_of(family), port))
        while True:
            data = s.recv(65535)
            if data[:2] == wire[:2]:
                return data


def rx_queued(pid, remote_port):
    """Bytes the kernel holds unread for process <pid> on its TCP sockets connected to
    <remote_port> (rx_queue in /proc/net/tcp{,6}, for the sockets among <pid>'s fds)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    total = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                col = line.split()
                if col[9] in inodes and int(col[2].rsplit(":", 1)[1], 16) == remote_port:
                    total += int(col[4].split(":")[1], 16)
    return total


# --------------------------------------------------------------------------------------------
# Knot as a primary


def _names(n, txtlen, strings=1):
    """Zone file lines: <n> names with an A and a TXT of <strings> strings of <txtlen>."""
    for i in range(n):
        txt = " ".join('"%s"' % ("r%06d-%d-" % (i, k)).ljust(txtlen, "z") for k in range(strings))
        yield "r%06d A 192.0.2.%d" % (i, i % 250 + 1)
        yield "r%06d TXT %s" % (i, txt)


class XfrKnot(dnsr.KnotBackend):
    """knotd serving `example.` (the shared test zone: TXT "knot" for every name), `big.`
    (6,000 records, ~270 KB: an AXFR of many messages), `huge.` (~8 MB, more than the kernel
    buffers between router and client hold) and `ixfr.` (small, loaded as differences, so
    set_ixfr() makes journal entries for IXFR), transfers allowed from 127.0.0.0/8 and ::1."""

    ZONES = ("example.", "big.", "huge.", "ixfr.")
    IXFR_BASE = 20

    def _zone_text(self, zone, serial=1, extra=()):
        if zone == "example.":
            return super()._zone_text(zone)
        head = ["$ORIGIN %s" % zone, "$TTL 300",
                "@ SOA ns hostmaster %d 3600 600 86400 300" % serial,
                "@ NS ns", "ns A 127.0.0.1", '@ TXT "%s"' % self.name]
        if zone == "big.":
            body = _names(3000, 40)
        elif zone == "huge.":
            body = _names(8000, 250, strings=4)
        else:
            body = _names(self.IXFR_BASE, 10)
        return "\n".join(head + list(body) + list(extra)) + "\n"

    def _conf_text(self, zone_lines):
        return """server:
    rundir: "{d}"
    listen: [ "127.0.0.1@{p}", "::1@{p}" ]
    identity: "{n}"
    udp-max-payload: 4096
    tcp-io-timeout: 20000   # the slow-client test keeps the router from reading for 2 s
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
acl:
  - id: xfr
    address: [ "127.0.0.0/8", "::1" ]
    action: transfer
template:
  - id: default
    storage: "{d}"
    acl: [ xfr ]
    zonefile-load: difference
    journal-content: changes
    zonefile-sync: -1
zone:
{zones}
""".format(d=self.dir, p=self.port, n=self.name, zones=zone_lines)

    def serial(self, zone):
        r = dns.query.udp(dnsr.query(zone, "SOA"), "127.0.0.1", port=self.port, timeout=1)
        return r.answer[0][0].serial

    def set_ixfr(self, serial, extra):
        """Replace `ixfr.` by its base names plus <extra> lines at <serial>; Knot stores the
        difference in its journal."""
        (self.dir / "ixfr.zone").write_text(self._zone_text("ixfr.", serial, extra))
        p = subprocess.run([KNOTC, "-s", str(self.dir / "knot.sock"), "-b", "zone-reload",
                            "ixfr."], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, "knotc zone-reload: %s %s" % (p.stdout, p.stderr)
        dnsr.wait_for(lambda: self.serial("ixfr.") == serial, timeout=5,
                      what="ixfr. at serial %d" % serial)


# --------------------------------------------------------------------------------------------
# a primary that misbehaves


class FakeConn:
    def __init__(self, sock):
        self.sock = sock
        self.query = None       # the raw query the router sent
        self.qname = None
        self.sent = []          # raw messages sent back
        self.closed = threading.Event()   # the router closed (or reset) the connection


class XfrFake:
    """A TCP-only primary; what it does depends on the first label of the QNAME:
    complete  a whole AXFR in two messages
    trailing  the same, then a third message after the closing SOA (must not be relayed)
    stall     the first message, then silence, the connection kept open
    close     the first message, then close
    badid     the first message, then the closing one with another ID
    garbage   the first message, then a 7-byte frame that is no DNS message
    refused   one REFUSED answer
    silent    nothing
    notsoa    a first message whose first record is not the SOA
    trickle   the whole AXFR, each message sent in 512-byte pieces 100 ms apart (slower in
              all than the backend timeout, every gap shorter)
    onebyone  an IXFR from serial 9 to 10, one record per message (BIND's one-answer format)
    Every connection is recorded in .conns (FakeConn)."""

    def __init__(self, name):
        self.name = name
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        for _ in range(50):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            port = dnsr.free_port()
            try:
                s.bind(("127.0.0.1", port))
                break
            except OSError:
                s.close()
        else:
            raise RuntimeError("xfr fake: no port")
        s.listen(64)
        s.settimeout(0.05)
        self.sock, self.port = s, port
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()
        return self

    def stop(self):
        self._stop.set()
        self._acceptor.join(5)      # no new connection threads after this
        for t in self._threads:
            t.join(5)
        self.sock.close()

    def find(self, qname):
        with self._lock:
            return [c for c in self.conns if c.qname == qname]

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True, name="xfrfake-" + self.name)
        self._threads.append(t)
        t.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(0.05)
            conn = FakeConn(c)
            with self._lock:
                self.conns.append(conn)
            self._spawn(self._serve, conn)

    def _recv(self, conn, n):
        """<n> bytes, or None when the peer closed or we are stopping."""
        buf = b""
        while len(buf) < n and not self._stop.is_set():
            try:
                chunk = conn.sock.recv(n - len(buf))
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                conn.closed.set()
                return None
            buf += chunk
        return buf if len(buf) == n else None

    def _send(self, conn, wire):
        conn.sent.append(wire)
        conn.sock.sendall(dnsr.tcp_frame(wire))

    def _serve(self, conn):
        try:
            head = self._recv(conn, 2)
            wire = head and self._recv(conn, struct.unpack("!H", head)[0])
            if not wire:
                return
            q = dns.message.from_wire(wire)
            conn.query, conn.qname = wire, q.question[0].name.to_text()
            self._act(conn, q, conn.qname.split(".")[0])
            while not conn.closed.is_set() and not self._stop.is_set():
                self._recv(conn, 1)     # until the router closes its end
        except OSError:
            conn.closed.set()
        finally:
            conn.sock.close()

    def _act(self, conn, q, mode):
        zone = q.question[0].name
        soa = dns.rrset.from_text(zone, 300, "IN", "SOA",
                                  "ns.%s h.%s 7 3600 600 86400 300" % (zone, zone))
        first = dns.message.make_response(q)
        first.answer.append(soa)
        for i in range(40):
            first.answer.append(dns.rrset.from_text("a%02d.%s" % (i, zone), 300, "IN", "A",
                                                    "192.0.2.%d" % (i + 1)))
        last = dns.message.make_response(q)
        for i in range(40):
            last.answer.append(dns.rrset.from_text("t%02d.%s" % (i, zone), 300, "IN", "TXT",
                                                   '"%s"' % ("t" * 100)))
        last.answer.append(soa)
        if mode == "refused":
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.REFUSED)
            self._send(conn, r.to_wire())
        elif mode == "silent":
            pass
        elif mode == "onebyone":
            self._one_by_one(conn, q, zone)
        elif mode == "notsoa":
            first.answer.reverse()
            self._send(conn, first.to_wire(max_size=65535))
        elif mode == "trickle":
            for m in (first, last):
                frame = dnsr.tcp_frame(m.to_wire(max_size=65535))
                conn.sent.append(frame[2:])
                for i in range(0, len(frame), 512):
                    conn.sock.sendall(frame[i:i + 512])
                    time.sleep(0.1)
        else:
            first, last = first.to_wire(max_size=65535), last.to_wire(max_size=65535)
            self._send(conn, first)
            if mode in ("complete", "trailing"):
                self._send(conn, last)
                if mode == "trailing":
                    self._send(conn, first)
            elif mode == "badid":
                self._send(conn, struct.pack("!H", q.id ^ 0x5555) + last[2:])
            elif mode == "garbage":
                self._send(conn, b"garbage")
            elif mode == "close":
                conn.sock.shutdown(socket.SHUT_RDWR)
                conn.closed.set()


    def _one_by_one(self, conn, q, zone):
        def soa(serial):
            return dns.rrset.from_text(zone, 300, "IN", "SOA",
                                       "ns.%s h.%s %d 3600 600 86400 300" % (zone, zone, serial))
        records = [soa(10), soa(9),
                   dns.rrset.from_text("old.%s" % zone, 300, "IN", "TXT", '"old"'), soa(10),
                   dns.rrset.from_text("new.%s" % zone, 300, "IN", "TXT", '"new"'), soa(10)]
        for i, rr in enumerate(records):
            m = dns.message.make_response(q)
            if i > 0:
                m.question = []
            m.answer.append(rr)
            self._send(conn, m.to_wire())


def fake_qname(mode, zone="fake."):
    """A QNAME of its own for each transfer (the fake keys its records on it)."""
    return "%s.u%s.%s" % (mode, uuid.uuid4().hex[:8], zone)


def fake_conn(fake, qname):
    found = dnsr.wait_for(lambda: [c for c in fake.find(qname) if c.query], timeout=3,
                          what="the transfer of %s at the fake primary" % qname)
    assert len(found) == 1, "%d connections carried %s" % (len(found), qname)
    return found[0]


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def knot(tmp_path_factory):
    k = XfrKnot("knot", tmp_path_factory.mktemp("knot-xfr"))
    k.start()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def fakes():
    started = []
    try:
        for name in ("fa", "fb"):
            started.append(XfrFake(name).start())
        yield started
    finally:
        for f in started:
            f.stop()


def base_conf(knot, **kw):
    c = {
        "workers": 2,
        "backends": [{"name": "knot", "address": knot.addr4},
                     {"name": "knot6", "address": knot.addr6}],
        "routes": [route_zone("example.", ["knot"]), route_zone("big.", ["knot"]),
                   route_zone("huge.", ["knot"]), route_zone("ixfr.", ["knot6"])],
    }
    c.update(kw)
    return c


@pytest.fixture(scope="module")
def xr(module_router, knot, fakes):
    """The router most tests share: transfers from 127.0.0.2/32 and ::1/128; Knot behind
    `example.`, `big.`, `huge.` and (over IPv6) `ixfr.`; the fakes behind `fake.` (fa) and
    `twofake.` (fa, fb); `dead.` a closed port; `down.` a backend its health check took out;
    no route for anything else."""
    fa, fb = fakes
    admin = dnsr.free_port()
    fake_be = {"timeout": "%dms" % (FAKE_TIMEOUT * 1000), "health": NO_HEALTH}
    c = base_conf(knot, transfers=["127.0.0.2/32", "::1/128"], admin="127.0.0.1:%d" % admin)
    c["tcp"] = {"idle-timeout": "10s"}
    c["backends"] += [
        dict({"name": "fa", "address": fa.address}, **fake_be),
        dict({"name": "fb", "address": fb.address}, **fake_be),
        dict({"name": "dead", "address": "127.0.0.1:%d" % dnsr.free_port()}, **fake_be),
        {"name": "down", "address": "127.0.0.1:%d" % dnsr.free_port(),
         "health": {"interval": "200ms", "timeout": "200ms", "fall": 1, "rise": 1}},
    ]
    c["routes"] += [route_zone("fake.", ["fa"]), route_zone("twofake.", ["fa", "fb"]),
                    route_zone("dead.", ["dead"]), route_zone("down.", ["down"])]
    r = module_router(c)
    r.admin = lbtools.Admin(admin)
    r.fa, r.fb = fa, fb
    dnsr.wait_for(lambda: r.admin.backends()["down"]["up"] is False, timeout=5,
                  what="backend `down` out of rotation")
    return r


@pytest.fixture(scope="module")
def direct_big(knot):
    return transfer(knot.port, "big.")


# --------------------------------------------------------------------------------------------
# configuration

def config_text(transfers_lines):
    return """\
listen: [ "127.0.0.1:15353" ]
%s
backends:
  - { name: ns1, address: "127.0.0.1:5300" }
routes:
  - { zone: ., backends: [ns1] }
""" % transfers_lines


GOOD = {
    "list": 'transfers: [ "127.0.0.2/32", "::1/128", "10.0.0.0/8", "192.0.2.7", "2001:db8::53" ]',
    "everyone": 'transfers: [ "0.0.0.0/0", "::/0" ]',
    "empty": "transfers: []",
    "block": 'transfers:\n  - "127.0.0.2/32"\n  - "::1"',
    "one-prefix": 'transfers: "127.0.0.1/32"',     # like listen: one value or a list
}

# name -> the `transfers` lines; `@@` marks the line the error must point at
BAD = {
    "v4-length-33": 'transfers: [ "127.0.0.1/33" ]  # @@',
    "v6-length-129": 'transfers: [ "::1/128", "::1/129" ]  # @@',
    "not-an-address": 'transfers: [ "foo" ]  # @@',
    "empty-length": 'transfers: [ "127.0.0.1/" ]  # @@',
    "bad-octet": 'transfers: [ "127.0.0.256" ]  # @@',
    "mapping": 'transfers: { a: "127.0.0.1" }  # @@',
    "entry-not-scalar": 'transfers: [ [ "127.0.0.1" ] ]  # @@',
    "block-list-entry": 'transfers:\n  - "127.0.0.2/32"\n  - "10.0.0.0/42"  # @@',
    "host-bits": 'transfers: [ "10.0.0.1/8" ]  # @@',   # 10.0.0.0/8 meant, or a typo
}


@pytest.mark.parametrize("name", list(GOOD))
def test_config_good(tmp_path, name):
    path = tmp_path / "good.yaml"
    path.write_text(config_text(GOOD[name]))
    p = dnsr.check_config(path)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("name", list(BAD))
def test_config_bad(tmp_path, name):
    problem = dnsr.assert_config_error_at_marker(tmp_path, config_text(BAD[name]), name)
    assert "unknown key" not in problem     # the key is known; its value is wrong


# --------------------------------------------------------------------------------------------
# AXFR and IXFR through the router


def assert_transferred(msgs):
    """The router relayed a transfer, not an error answer of its own (REFUSED, SERVFAIL)."""
    rcode, ede = answer_of(msgs[-1])
    assert rcode == "NOERROR", "the transfer was answered %s, EDE %r" % (rcode, ede)


def assert_same_axfr(got, direct):
    """Same record set, same first and last SOA, as the direct AXFR."""
    assert_transferred(got)
    a, b = records(got), records(direct)
    assert a[0] == b[0] and a[-1] == b[-1], "first/last records differ: %s / %s vs %s / %s" % (
        a[0], a[-1], b[0], b[-1])
    assert sorted(a) == sorted(b), "%d records through the router, %d direct" % (len(a), len(b))


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_axfr_matches_direct(xr, direct_big, family):
    # the zone needs many messages: otherwise relaying one message would pass
    assert len(direct_big) > 3 and sum(map(len, direct_big)) > 200000
    s, q = start_transfer(xr.port, "big.", family=family,
                          src=ALLOWED4 if family == 4 else None)
    with s:
        got = read_transfer(s, q.id, "AXFR")   # only messages with the client's ID count
        assert_same_axfr(got, direct_big)
        assert_usable(s)


def test_axfr_pipelined_with_query(xr, direct_big):
    """An AXFR and an ordinary query written together: both answered on the connection, the
    answer as one whole message with its own ID (possibly between transfer messages)."""
    q = xfr_query("big.")
    o = dnsr.query("www.example.", "TXT")
    with connect(xr.port, src=ALLOWED4) as s:
        s.sendall(dnsr.tcp_frame(q.to_wire()) + dnsr.tcp_frame(o.to_wire()))
        others = []
        got = read_transfer(s, q.id, "AXFR", others=others)
        assert_same_axfr(got, direct_big)
        if not others:
            s.settimeout(3)
            others.append(dnsr.tcp_read_msg(s))
        assert len(others) == 1
        ans = dns.message.from_wire(others[0])
        assert ans.id == o.id and dnsr.who(ans) == "knot", ans


def test_dnspython_secondary(xr, knot):
    """A client library's own AXFR code (dnspython's inbound_xfr, which finds the end by the
    SOA framing itself) through the router builds the same zone as directly from Knot."""
    def pull(port, source):
        zone = dns.zone.Zone("big.")
        dns.query.inbound_xfr("127.0.0.1", zone, port=port, source=source, lifetime=10)
        return zone
    via_router = pull(xr.port, ALLOWED4)
    assert len(via_router.nodes) > 3000
    assert via_router == pull(knot.port, None)


def test_concurrent_axfrs(xr, direct_big):
    """Four transfers at once, on four connections, over both workers."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: transfer(xr.port, "big.", src=ALLOWED4), range(4)))
    for got in results:
        assert_same_axfr(got, direct_big)


@pytest.fixture(scope="module")
def ixfr_history(knot):
    """Serials s0 -> s1 (1,500 names added) -> s2 (10 of them deleted, 1,500 others added):
    every delta's additions need several messages."""
    s0 = knot.serial("ixfr.")
    added = ['add%04d TXT "%s"' % (i, "a" * 100) for i in range(1500)]
    more = ['more%04d TXT "%s"' % (i, "m" * 100) for i in range(1500)]
    knot.set_ixfr(s0 + 1, added)
    knot.set_ixfr(s0 + 2, added[10:] + more)
    return s0, s0 + 1, s0 + 2


def newest_soa_messages(msgs):
    """Index of the message of each SOA record with the newest serial (the first record's)."""
    newest = soa_serials(msgs[0])[0]
    return [i for i, w in enumerate(msgs) for s in soa_serials(w) if s == newest]


# case -> (which serial the client has, the answer's form)
IXFR_CASES = {"two-deltas": (0, "incremental"), "one-delta": (1, "incremental"),
              "axfr-form": (None, "axfr"), "up-to-date": (2, "soa")}


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("case", list(IXFR_CASES))
def test_ixfr_matches_direct(xr, knot, ixfr_history, case, family):
    which, form = IXFR_CASES[case]
    serial = ixfr_history[which] if which is not None else 0   # 0: older than the journal
    direct = transfer(knot.port, "ixfr.", "IXFR", serial)
    serials = all_serials(direct)
    # Knot answers as this case means to test (else the case proves nothing)
    if form == "soa":
        assert len(direct) == 1 and serials == [ixfr_history[2]]
    else:
        assert serials[0] == ixfr_history[2]
        assert (serials[1] is not None) == (form == "incremental")
        # the closing SOA comes messages after the one before it: a relay that stopped at
        # the wrong SOA would cut the transfer short
        at = newest_soa_messages(direct)
        assert len(at) == (3 if form == "incremental" else 2) and at[-1] > at[-2], at
    s, q = start_transfer(xr.port, "ixfr.", "IXFR", serial, family=family,
                          src=ALLOWED4 if family == 4 else None)
    with s:
        got = read_transfer(s, q.id, "IXFR")
        assert_transferred(got)
        assert records(got) == records(direct)   # order matters in an IXFR
        assert_usable(s)


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
def test_udp_transfer_query(xr, knot, ixfr_history, qtype):
    """Over UDP an allowed client's transfer query is forwarded like any other (Knot answers an
    AXFR NOTIMP and an up-to-date IXFR with its SOA); a client not allowed gets REFUSED +
    EDE 18."""
    q = xfr_query("ixfr.", qtype, ixfr_history[2])
    wire = q.to_wire()
    direct = udp_from(knot.port, wire)
    got = udp_from(xr.port, wire, src=ALLOWED4)
    assert got[2:] == direct[2:], "%s vs direct %s" % (answer_of(got), answer_of(direct))
    assert answer_of(udp_from(xr.port, wire, src=DENIED4)) == ("REFUSED", [dnsr.EDE_PROHIBITED])


def test_denied_client_refused(xr):
    """127.0.0.1 is not in the list: REFUSED + EDE 18 over TCP, the backend never asked, and
    the connection stays open."""
    for qtype in ("AXFR", "IXFR"):
        qname = fake_qname("complete")
        s, q = start_transfer(xr.port, qname, qtype, 1, src=DENIED4)
        with s:
            msgs = read_transfer(s, q.id, qtype, timeout=3)
            assert answer_of(msgs[0]) == ("REFUSED", [dnsr.EDE_PROHIBITED])
            assert dns.message.from_wire(msgs[0]).question == q.question
            assert_usable(s)
        assert not xr.fa.find(qname), "a refused transfer reached the backend"


# --------------------------------------------------------------------------------------------
# who is allowed, and SIGHUP


def outcome(port, src=None, family=4):
    """'complete' when an AXFR of example. from <src> comes through whole, else the answer's
    rcode and EDE codes."""
    msgs = transfer(port, "example.", family=family, src=src, timeout=5)
    if dnsr.rcode_of_wire(msgs[-1]) == dns.rcode.NOERROR:
        return "complete"
    return answer_of(msgs[-1])


REFUSED18 = ("REFUSED", [dnsr.EDE_PROHIBITED])


def test_allowed_prefixes_and_reload(router, knot):
    # source -> (address, family)
    clients = {"127.0.0.1": ("127.0.0.1", 4), "127.0.0.2": ("127.0.0.2", 4),
               "127.0.0.3": ("127.0.0.3", 4), "127.0.0.5": ("127.0.0.5", 4),
               "::1": (None, 6)}
    r = router(base_conf(knot))       # no `transfers:` key: refused as before

    def check(allowed, after_reload=None):
        want = {c: "complete" if c in allowed else REFUSED18 for c in clients}
        if after_reload:
            # the first client whose outcome changes tells when the reload is in force
            src, fam = clients[after_reload]
            dnsr.wait_for(lambda: outcome(r.port, src, fam) == want[after_reload], timeout=5,
                          what="reload in force for %s" % after_reload)
        got = {c: outcome(r.port, *clients[c]) for c in clients}
        assert got == want

    check(set())
    r.reload(base_conf(knot, transfers=["127.0.0.2/32"]))
    check({"127.0.0.2"}, after_reload="127.0.0.2")
    r.reload(base_conf(knot, transfers=["127.0.0.1", "::1/128"]))    # a bare address is a /32
    check({"127.0.0.1", "::1"}, after_reload="127.0.0.1")
    r.reload(base_conf(knot, transfers=["127.0.0.0/30"]))
    check({"127.0.0.1", "127.0.0.2", "127.0.0.3"}, after_reload="::1")
    # a bad file is reported and the running list keeps applying
    offset = r.reload(base_conf(knot, transfers=["127.0.0.0/30", "::1/129"]))
    report = re.compile(r"%s:\d+: \S" % re.escape(str(r.conf_path)))
    dnsr.wait_for(lambda: report.search(r.log()[offset:]), timeout=3,
                  what="the bad reload reported as FILE:LINE: problem")
    check({"127.0.0.1", "127.0.0.2", "127.0.0.3"})
    r.reload(base_conf(knot, transfers=[]))
    check(set(), after_reload="127.0.0.1")


# --------------------------------------------------------------------------------------------
# relayed as the backend sent it, and nothing after the end


@pytest.mark.parametrize("mode", ["complete", "trailing"])
def test_messages_identical_but_id(xr, mode):
    qname = fake_qname(mode)
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "AXFR", timeout=3)
        assert_transferred(got)
        conn = fake_conn(xr.fa, qname)
        assert conn.query[2:] == q.to_wire()[2:], "the query reached the backend altered"
        assert len(got) == 2
        assert [m[2:] for m in got] == [m[2:] for m in conn.sent[:2]]
        # the relay is over: the router closes its backend connection ...
        assert conn.closed.wait(2), "the router kept its backend connection open"
        # ... relays nothing more (the trailing message), and the client's connection works
        assert_usable(s)


def test_backend_error_answer_relayed(xr):
    qname = fake_qname("refused")
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "AXFR", timeout=3)
        conn = fake_conn(xr.fa, qname)
        assert len(got) == 1 and got[0][2:] == conn.sent[0][2:]
        assert answer_of(got[0]) == ("REFUSED", [])
        assert conn.closed.wait(2), "the router kept its backend connection open"
        assert_usable(s)


# --------------------------------------------------------------------------------------------
# failures


BEFORE_FIRST = {   # case -> (QNAME, EDE of the SERVFAIL)
    "silent": (None, dnsr.EDE_NETWORK_ERROR),                       # a fake that never answers
    "refused-connection": ("x.dead.", dnsr.EDE_NETWORK_ERROR),      # a closed port
    "no-healthy-backend": ("x.down.", dnsr.EDE_NO_REACHABLE_AUTHORITY),
    "no-route": ("x.nowhere.", dnsr.EDE_NOT_AUTHORITATIVE),
}


@pytest.mark.parametrize("case", list(BEFORE_FIRST))
def test_failure_before_first_message(xr, case):
    qname, ede = BEFORE_FIRST[case]
    qname = qname or fake_qname("silent")
    start = time.monotonic()
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "AXFR", timeout=FAKE_TIMEOUT + MARGIN)
        elapsed = time.monotonic() - start
        assert len(got) == 1 and answer_of(got[0]) == ("SERVFAIL", [ede])
        assert dns.message.from_wire(got[0]).question == q.question
        assert elapsed < FAKE_TIMEOUT + MARGIN
        assert_usable(s)
    if case == "silent":
        assert fake_conn(xr.fa, qname).closed.wait(2), "the router kept its backend connection"


def test_transfer_not_retried(xr):
    """A route of two silent primaries: one try, SERVFAIL, the other one never asked."""
    qname = fake_qname("silent", "twofake.")
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "AXFR", timeout=2 * FAKE_TIMEOUT + MARGIN)
        assert answer_of(got[0]) == ("SERVFAIL", [dnsr.EDE_NETWORK_ERROR])
    asked = xr.fa.find(qname) + xr.fb.find(qname)
    assert len(asked) == 1, "%d backends got the transfer" % len(asked)


@pytest.mark.parametrize("mode", ["stall", "close", "badid", "garbage"])
def test_failure_after_first_message_closes_client(xr, mode):
    """The backend fails half-way: the client's connection is closed within the backend
    timeout (plus margin), after at most the good first message -- never a hang, never a
    transfer that looks complete."""
    qname = fake_qname(mode)
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        if mode == "stall":
            # the first message comes at once: the router relays it before it gives up
            s.settimeout(2)
            first = [dnsr.tcp_read_msg(s)]
            assert_transferred(first)
        else:
            first = []
        rest, elapsed = wait_closed(s, FAKE_TIMEOUT + MARGIN)
        msgs = first + split_frames(rest)
        conn = fake_conn(xr.fa, qname)
        # only the backend's first (good) message may have come, with the client's ID
        assert len(msgs) <= 1, "%d messages relayed" % len(msgs)
        for m in msgs:
            assert m[:2] == q.to_wire()[:2] and m[2:] == conn.sent[0][2:]
        assert not transfer_complete("AXFR", all_serials(msgs))
    assert conn.closed.wait(2), "the router kept its backend connection open"


def transfer_counters(xr):
    m = xr.admin.metrics()
    return {res: m.value("dnsrouter_transfers_total", result=res)
            for res in ("complete", "failed", "refused")}


def test_ixfr_one_record_per_message(xr):
    """Any number of records per message (RFC 5936 2.2): an IXFR from 9 to 10 sent one record
    per message starts with the new SOA alone, which is not "up to date" since 10 is newer
    than the client's 9. All six messages come through and the transfer counts as complete."""
    before = transfer_counters(xr)
    qname = fake_qname("onebyone")
    s, q = start_transfer(xr.port, qname, "IXFR", serial=9, src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "IXFR", timeout=FAKE_TIMEOUT + MARGIN, serial=9)
        assert [m[2:] for m in got] == [m[2:] for m in fake_conn(xr.fa, qname).sent]
        assert len(got) == 6
        assert_usable(s)
    after = transfer_counters(xr)
    assert after["complete"] - before["complete"] == 1


def test_backend_slower_than_timeout_in_all_is_not_stalled(xr):
    """The backend timeout bounds a silence, not a transfer: messages that arrive in pieces,
    each gap shorter than the timeout (300 ms) and the whole longer, are relayed whole."""
    qname = fake_qname("trickle")
    s, q = start_transfer(xr.port, qname, src=ALLOWED4)
    with s:
        start = time.monotonic()
        got = read_transfer(s, q.id, "AXFR", timeout=10)
        assert time.monotonic() - start > 3 * FAKE_TIMEOUT, "the fake did not trickle"
        assert [m[2:] for m in got] == [m[2:] for m in fake_conn(xr.fa, qname).sent]
        assert_usable(s)


def test_bad_first_message_gets_servfail(xr):
    """A first message that is no transfer's (its first record not the SOA): nothing reached
    the client yet, so it gets SERVFAIL + EDE 23 and keeps its connection."""
    s, q = start_transfer(xr.port, fake_qname("notsoa"), src=ALLOWED4)
    with s:
        got = read_transfer(s, q.id, "AXFR", timeout=FAKE_TIMEOUT + MARGIN)
        assert len(got) == 1 and answer_of(got[0]) == ("SERVFAIL", [dnsr.EDE_NETWORK_ERROR])
        assert_usable(s)


# --------------------------------------------------------------------------------------------
# a slow client


def test_slow_client_gets_whole_transfer(xr, knot):
    """A client that stops reading for 2 s (twice the backend timeout) after the first
    messages of an 8 MB AXFR: the router stops reading from Knot meanwhile (Knot's data waits
    unread in the router's socket) and does not take the pause for a silent backend; the
    transfer then comes through whole: the same messages as Knot sends directly."""
    direct = transfer(knot.port, "huge.", timeout=20)
    assert sum(map(len, direct)) > 8000000
    # a small receive buffer: the kernel cannot swallow the zone on the client's side
    s, q = start_transfer(xr.port, "huge.", src=ALLOWED4, rcvbuf=32 << 10)
    with s:
        s.settimeout(5)
        head = [dnsr.tcp_read_msg(s)]
        assert_transferred(head)
        head += [dnsr.tcp_read_msg(s) for _ in range(2)]
        time.sleep(2.0)     # the pause is the scenario, not a synchronisation
        # With 8 MB and at most a few MB in the kernel buffers towards the client (4 MB send
        # buffer at most) and 256 KiB in the router, a router that stopped reading leaves
        # Knot's data queued in its socket; one that kept reading has emptied it.
        assert rx_queued(xr.proc.pid, knot.port) > 0, "the router kept reading from Knot"
        assert all(m[:2] == q.to_wire()[:2] for m in head)
        got = read_transfer(s, q.id, "AXFR", timeout=20, head=head)
        assert sorted(m[2:] for m in got) == sorted(m[2:] for m in direct)
        assert transfer_complete("AXFR", all_serials(got))
        assert_usable(s)


# --------------------------------------------------------------------------------------------
# metrics


def test_transfer_counters(xr):
    def counters():
        return transfer_counters(xr)

    def step(what, expect):
        want = counters()
        want[expect] += 1
        what()
        try:
            dnsr.wait_for(lambda: counters() == want, timeout=3)
        except AssertionError:
            pass
        assert counters() == want, "after a %s transfer" % expect

    step(lambda: outcome(xr.port, DENIED4), "refused")
    step(lambda: outcome(xr.port, ALLOWED4), "complete")

    def failed():
        s, q = start_transfer(xr.port, fake_qname("close"), src=ALLOWED4)
        with s:
            wait_closed(s, FAKE_TIMEOUT + MARGIN)
    step(failed, "failed")

    def refused_by_backend():   # relayed as it is, but no transfer took place
        s, q = start_transfer(xr.port, fake_qname("refused"), src=ALLOWED4)
        with s:
            got = read_transfer(s, q.id, "AXFR", timeout=FAKE_TIMEOUT + MARGIN)
            assert answer_of(got[-1])[0] == "REFUSED"
    step(refused_by_backend, "failed")

    def client_left():          # the client goes away half-way
        s, q = start_transfer(xr.port, fake_qname("stall"), src=ALLOWED4)
        with s:
            s.settimeout(2)
            assert_transferred([dnsr.tcp_read_msg(s)])
    step(client_left, "failed")
    m = xr.admin.metrics()
    for res in ("complete", "failed", "refused"):
        assert len(m.find("dnsrouter_transfers_total", result=res)) == 1
