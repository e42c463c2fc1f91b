# SPDX-License-Identifier: MIT
# TCP clients and backends that misbehave: a client that hangs up (FIN or RST) with answers on
# their way, one that never reads, a slowloris, a reset client with a full pipeline (no busy
# loop), a backend connection that stops answering, and a slow but steady reader that must not
# be cut off.
#
# Where a test needs to know how much answer data the router has written, it reads the router's
# and the client's ends of the connection in /proc/net/tcp: what the router wrote is its send
# queue plus the client's receive queue (plus what the client read). What the router was given
# is the number of big.example. queries times the size of that answer, so what it still holds
# in its own write buffer is the difference. The kernel sizes the router's send buffer from the
# MSS and grows it as the client reads (up to net.ipv4.tcp_wmem's maximum): a client that never
# reads and advertises a small MSS fills it after a few answers; a steady reader first lets it
# grow to the maximum and fills it then.

import os
import select
import signal
import socket
import struct
import threading
import time

import dns.message
import dns.rcode
import dns.rrset
import pytest

import dnsr
from dnsr import route_zone

BIG = "big.example."

TCP_ESTABLISHED = 1
TCP_CLOSE_WAIT = 8


# ---------------------------------------------------------------------------- helpers

def _tcp_entry(local_port, remote_port):
    """The IPv4 loopback socket local_port -> remote_port in /proc/net/tcp, as a dict with
    state, tx (send queue bytes), rx (receive queue bytes) and inode (0: no process holds it,
    it was closed); None when there is none."""
    local = "0100007F:%04X" % local_port
    remote = "0100007F:%04X" % remote_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] == local and p[2] == remote:
                tx, rx = p[4].split(":")
                return {"state": int(p[3], 16), "tx": int(tx, 16), "rx": int(rx, 16),
                        "inode": int(p[9])}
    return None


def _router_closed(router_port, client_port):
    """True once the router has let go of its end of the connection: gone, held by no process
    (closed with data still queued), or no longer established (it sent FIN or RST)."""
    e = _tcp_entry(router_port, client_port)
    return e is None or e["inode"] == 0 or e["state"] not in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)


def _written(router_port, client_port):
    """Answer bytes the router has handed to its kernel and the client has not read yet."""
    r = _tcp_entry(router_port, client_port)
    c = _tcp_entry(client_port, router_port)
    return (r["tx"] if r else 0) + (c["rx"] if c else 0)


def _set_rst_on_close(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _small_mss_client(port, rcvbuf=4096, timeout=3.0):
    """A client socket connected to the router whose small MSS and receive buffer keep the
    router's kernel buffers for it small."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def _big_answer_len(ns1):
    """Framed length of ns1's answer to big.example. TXT (the router relays it byte for byte)."""
    n = len(dnsr.tcp_exchange(ns1.port, dnsr.query(BIG, qid=1).to_wire())) + 2
    assert n > 20000, "test zone's big RRset is not big"
    return n


def _fill_router_buffer(s, r, answer_len, sent=0, read=0, batch=1, max_queries=100):
    """Send big.example. queries on <s>, <batch> at a time, never reading, until the router
    holds answer bytes its kernel does not take any more (what it wrote stays below what it was
    given and has stopped growing). <sent>: queries sent before, with IDs 1..<sent>; <read>:
    answer bytes the client read. Returns the number of queries sent in all."""
    cport = s.getsockname()[1]
    limit = sent + max_queries
    while sent < limit:
        s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(BIG, qid=sent + 1 + i).to_wire())
                           for i in range(batch)))
        sent += batch
        expected = sent * answer_len - read
        last, since = None, time.monotonic()
        deadline = since + 3.0
        while True:
            w = _written(r.port, cport)
            now = time.monotonic()
            if w >= expected:
                break                               # all written: the next queries
            if w != last:
                last, since = w, now
            elif now - since >= 0.3:
                return sent                         # stalled with answer bytes left over
            assert now < deadline, "router's writes neither finished nor stalled in 3 s"
            time.sleep(0.01)
    pytest.fail("the router wrote every answer to %d big queries: the kernel buffers did not "
                "fill" % sent)


def _worker_cpu(pid):
    """CPU seconds (user + system) used so far by the router's worker threads."""
    total = 0
    workers = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if not f.read().startswith("dnsr-worker-"):
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
        workers += 1
    assert workers > 0, "no dnsr-worker-* thread in router pid %d" % pid
    return total / os.sysconf("SC_CLK_TCK")


def _assert_serves(r, expect_who, what):
    """r answers a fresh UDP and a fresh TCP query from the backend <expect_who>."""
    assert r.alive(), "router died %s; stderr:\n%s" % (what, r.log())
    for transport in ("udp", "tcp"):
        q = dnsr.query("fresh-%s.example." % transport, qid=dnsr.rand_id())
        msg = r.exchange(q, transport=transport, timeout=2)
        assert msg.id == q.id and msg.question == q.question, transport
        assert dnsr.rcode_text(msg) == "NOERROR" and dnsr.who(msg) == expect_who, (
            "%s answer %s: %s %r" % (what, transport, dnsr.rcode_text(msg), dnsr.txt_strings(msg)))


def _fake_conf(fb, **kw):
    conf = {
        "workers": 1,
        "health": {"enabled": False},
        "backends": [{"name": fb.name, "address": fb.address}],
        "routes": [route_zone(".", [fb.name])],
    }
    conf.update(kw)
    return conf


# ---------------------------------------------------------------------------- 1: client gone

@pytest.mark.parametrize("n", [2, 40], ids=["2-queries", "40-queries"])
def test_client_gone_with_answers_pending(router, fake_backend, n):
    """A client pipelines <n> queries to a backend that answers after 50 ms and goes away
    before the answers come: with FIN (close), with RST (SO_LINGER 0), or with FIN and then RST.
    21 times in a row; the router stays up and serves fresh UDP and TCP queries."""
    fb = fake_backend("slow", name="slow", delay=0.05)
    r = router(_fake_conf(fb, timeout="1s"))
    ways = ("close", "rst", "shutdown-then-rst")
    total = 0
    for rnd in range(21):
        how = ways[rnd % len(ways)]
        s = socket.create_connection(("127.0.0.1", r.port), timeout=2)
        try:
            cport = s.getsockname()[1]
            s.sendall(b"".join(
                dnsr.tcp_frame(dnsr.query("gone%d-%d.example." % (rnd, i), qid=i).to_wire())
                for i in range(n)))
            dnsr.wait_for(lambda: fb.count >= total + n, timeout=3,
                          what="round %d: %d queries at the backend" % (rnd, n))
            if how == "shutdown-then-rst":
                s.shutdown(socket.SHUT_WR)
                dnsr.wait_for(lambda: (_tcp_entry(r.port, cport) or {}).get("state")
                              != TCP_ESTABLISHED, timeout=2, what="router saw the client's FIN")
            if how != "close":
                _set_rst_on_close(s)
        finally:
            s.close()
        total += n
        # the answers reach the router after the client is gone
        dnsr.wait_for(lambda: fb.sent >= total, timeout=3,
                      what="round %d: backend answered" % rnd)
        assert r.alive(), "router died after round %d (%d queries, %s); stderr:\n%s" % (
            rnd, n, how, r.log())
    _assert_serves(r, "fake-slow", "after clients went away with answers pending")
    assert r.alive()


# ---------------------------------------------------------------------------- 2: never reads

def test_client_that_never_reads_is_closed(router, ns1):
    """A client pipelines big queries and never reads: once the router can write no more, the
    connection is closed within ~3 s (tcp.idle-timeout 1s); other clients are served meanwhile
    and after."""
    answer_len = _big_answer_len(ns1)
    r = router({
        "workers": 1,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
        "tcp": {"idle-timeout": "1s"},
    })
    s = _small_mss_client(r.port)
    try:
        cport = s.getsockname()[1]
        sent = _fill_router_buffer(s, r, answer_len)
        stalled = time.monotonic()
        held = sent * answer_len - _written(r.port, cport)
        assert held > 0, "the router wrote every answer"
        _assert_serves(r, "ns1", "while a client does not read")
        try:
            dnsr.wait_for(lambda: _router_closed(r.port, cport), timeout=5.0, interval=0.02,
                          what="the router closing a client that does not read")
        except AssertionError:
            pytest.fail("a client that never reads (%d big queries, %d answer bytes not "
                        "written) still connected 5 s after the router's last write "
                        "(tcp.idle-timeout 1s)" % (sent, held))
        elapsed = time.monotonic() - stalled
        assert elapsed <= 3.0, "client that never reads closed %.2f s after the router's " \
            "last write (tcp.idle-timeout 1s)" % elapsed
    finally:
        s.close()
    _assert_serves(r, "ns1", "after closing a client that does not read")


# ---------------------------------------------------------------------------- 3: slowloris

@pytest.mark.parametrize("first_query", [False, True], ids=["no-query", "after-one-query"])
def test_slowloris_is_closed(router, ns1, first_query):
    """A client that sends one byte of a length-prefixed query every 0.4 s, never completing it,
    is closed within ~3 s of connecting (or of its last complete query); tcp.idle-timeout 1s."""
    r = router({
        "workers": 1,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
        "tcp": {"idle-timeout": "1s"},
    })
    frame = dnsr.tcp_frame(dnsr.query("slowloris.example.", qid=0x4242).to_wire())
    closed_at = None
    with socket.create_connection(("127.0.0.1", r.port), timeout=2) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ref = time.monotonic()
        if first_query:
            s.sendall(dnsr.tcp_frame(dnsr.query("first.example.", qid=7).to_wire()))
            assert dns.message.from_wire(dnsr.tcp_read_msg(s)).id == 7
            ref = time.monotonic()
        for i in range(12):                     # 12 bytes, 4.8 s: the frame never completes
            assert i < len(frame) - 1
            try:
                s.send(frame[i:i + 1])
                readable, _, _ = select.select([s], [], [], 0.4)
                if readable:
                    data = s.recv(100)
                    assert data == b"", "answer to an incomplete query: %r" % data
                    closed_at = time.monotonic()
                    break
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
    assert closed_at is not None, "slowloris client (a byte every 0.4 s) still connected " \
        "after %.1f s (tcp.idle-timeout 1s)" % (time.monotonic() - ref)
    elapsed = closed_at - ref
    assert elapsed <= 3.0, "slowloris client closed only after %.2f s" % elapsed
    _assert_serves(r, "ns1", "after a slowloris client")


# ---------------------------------------------------------------------------- 4: no busy loop

def test_reset_client_with_full_pipeline_costs_no_cpu(router, fake_backend):
    """A client fills its pipeline (70 queries, the router takes 64 at once) to a backend that
    answers after 1.5 s, then resets the connection: the worker must not spin while the
    answers are pending."""
    fb = fake_backend("slow", name="slow", delay=1.5)
    quick = fake_backend("normal", name="quick")
    r = router({
        "workers": 1,
        "timeout": "2s",
        "health": {"enabled": False},
        "tcp": {"idle-timeout": "10s"},
        "backends": [{"name": "slow", "address": fb.address},
                     {"name": "quick", "address": quick.address}],
        "routes": [route_zone("test.", ["slow"]), route_zone(".", ["quick"])],
    })
    s = socket.create_connection(("127.0.0.1", r.port), timeout=2)
    try:
        s.sendall(b"".join(dnsr.tcp_frame(dnsr.query("spin%d.test." % i, qid=i).to_wire())
                           for i in range(70)))
        dnsr.wait_for(lambda: fb.count >= 64, timeout=1.0,
                      what="64 queries (a full pipeline) at the backend")
        _set_rst_on_close(s)
    finally:
        s.close()
    cpu0 = _worker_cpu(r.proc.pid)
    time.sleep(1.0)     # the measurement window itself, not synchronisation
    cpu = _worker_cpu(r.proc.pid) - cpu0
    window_clean = fb.sent == 0
    assert cpu < 0.3, "worker used %.2f s of CPU in the 1 s after a client with 64 queries " \
        "pending reset its connection (busy loop)" % cpu
    assert window_clean, "backend answered within the measurement window: test too slow here"
    dnsr.wait_for(lambda: fb.sent >= 64, timeout=3, what="the backend's late answers")
    _assert_serves(r, "fake-quick", "after the reset client's answers came")


# ---------------------------------------------------------------------------- 5: wedged backend

def test_wedged_backend_connection_is_retired(router, fake_backend):
    """The backend's first TCP connection stops answering after 3 answers but stays open;
    health checks are off, so the backend stays in rotation. After the first timeout the router
    opens another connection: of 20 sequential TCP queries at most 3 time out."""
    fb = fake_backend("tcp-wedge-after", name="wedge", wedge_after=3)
    r = router(_fake_conf(fb, timeout="300ms"))
    bad = []
    for i in range(20):
        q = dnsr.query("wedge%d.example." % i, qid=100 + i)
        start = time.monotonic()
        try:
            data = dnsr.tcp_exchange(r.port, q.to_wire(), timeout=3)
        except (ConnectionError, socket.timeout) as e:
            bad.append((i, "no answer: %s" % e, time.monotonic() - start))
            continue
        dt = time.monotonic() - start
        msg = dns.message.from_wire(data)
        assert msg.id == q.id and msg.question == q.question
        if msg.rcode() != dns.rcode.NOERROR or dnsr.who(msg) != "fake-wedge" or dt >= 0.25:
            bad.append((i, dnsr.rcode_text(msg), round(dt, 3)))
    conns = fb.tcp_query_conns
    assert conns >= 2, "router kept using the wedged backend connection (the backend saw %d " \
        "TCP connection); failed or slow queries: %s" % (conns, bad)
    assert len(bad) <= 3, "%d of 20 queries failed or waited for the timeout: %s" % (
        len(bad), bad)
    assert r.alive()


# ---------------------------------------------------------------------------- 6: steady reader

def _read_frame(s):
    """One length-prefixed message, prefix included."""
    head = dnsr.recv_exact(s, 2)
    return head + dnsr.recv_exact(s, struct.unpack("!H", head)[0])


class _AnswerStream:
    """Answers read from a client socket, parsed as they complete."""

    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.read = 0
        self.got = {}

    def feed(self, data):
        self.read += len(data)
        self.buf += data
        while len(self.buf) >= 2:
            (n,) = struct.unpack("!H", self.buf[:2])
            if len(self.buf) < 2 + n:
                break
            msg = dns.message.from_wire(self.buf[2:2 + n])
            self.buf = self.buf[2 + n:]
            assert msg.id not in self.got, "two answers with ID %d" % msg.id
            self.got[msg.id] = msg

    def read_up_to(self, limit):
        """Read what is there, at most <limit> bytes, without waiting. False on EOF/reset."""
        taken = 0
        while taken < limit:
            try:
                data = self.s.recv(limit - taken, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            except ConnectionResetError:
                return False
            if not data:
                return False
            taken += len(data)
            self.feed(data)
        return True


def test_slow_steady_reader_is_not_cut_off(router, ns1):
    """A client whose kernel buffers (and the router's for it) are full reads 64 KB every
    50 ms for a second, sending new big queries as it goes so that the router holds ~200 KB of
    answers at all times, under its 256 KB limit. The connection stays open and every answer
    arrives whole, once, with its ID: the router counts against its limit only the bytes it
    has still to write, not those it wrote while its buffer never emptied."""
    answer_len = _big_answer_len(ns1)
    r = router({
        "workers": 1,
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
        "tcp": {"idle-timeout": "5s"},
    })
    hold = 200 * 1024
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        s.settimeout(3)
        s.connect(("127.0.0.1", r.port))
        cport = s.getsockname()[1]
        stream = _AnswerStream(s)
        # 1. 20 answers read at full speed: the router's kernel send buffer grows to its maximum
        warm = 20
        s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(BIG, qid=i + 1).to_wire())
                           for i in range(warm)))
        for _ in range(warm):
            stream.feed(_read_frame(s))
        # 2. no reading: queries until the kernel buffers are full and the router holds answers
        sent = _fill_router_buffer(s, r, answer_len, sent=warm, read=stream.read, batch=10,
                                   max_queries=400)
        # 3. the steady reader: 64 KB every 50 ms, the router kept holding ~200 KB
        max_held = 0
        for tick in range(20):
            held = sent * answer_len - stream.read - _written(r.port, cport)
            try:
                while held + answer_len <= hold:
                    s.sendall(dnsr.tcp_frame(dnsr.query(BIG, qid=sent + 1).to_wire()))
                    sent += 1
                    held += answer_len
            except (BrokenPipeError, ConnectionResetError):
                held = None
            if held is not None:
                max_held = max(max_held, held)
                time.sleep(0.05)    # the reader's pace
            if held is None or not stream.read_up_to(65536):
                pytest.fail("router closed the connection of a steady reader at tick %d of 20 "
                            "(%d of %d answers read; the router held at most ~%d answer bytes, "
                            "under its 256 KB limit)"
                            % (tick, len(stream.got), sent, max_held))
        assert max_held < 256 * 1024, "test client let %d bytes pile up" % max_held
        # 4. the rest at full speed
        deadline = time.monotonic() + 10
        while len(stream.got) < sent:
            assert time.monotonic() < deadline, "only %d of %d answers in 10 s" % (
                len(stream.got), sent)
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                pytest.fail("router closed the connection after %d of %d answers" % (
                    len(stream.got), sent))
            stream.feed(data)
        assert stream.buf == b""
    finally:
        s.close()
    assert sorted(stream.got) == list(range(1, sent + 1))
    for qid, msg in stream.got.items():
        assert msg.question[0].name.to_text() == BIG, qid
        assert sum(len(rrset) for rrset in msg.answer) == dnsr.KnotBackend.BIG_RRS, (
            "answer %d incomplete" % qid)
    assert r.alive()


class _TcpBackend:
    """A TCP-only backend on its own port that answers TXT "tcp-<name>" (or holds every query
    unanswered), and whose connections the test can reset at will."""

    def __init__(self, name, hold=False, slow=None, delay=0.0):
        self.name, self.hold, self.conns = name, hold, []
        # The accept thread adds to conns while the test closes them: one lock, so that no
        # connection accepted meanwhile escapes a close.
        self.lock = threading.Lock()
        # Answers a connection's queries in turn, as servers do; <slow> (a name) after <delay>.
        self.slow, self.delay = slow, delay
        self.seen = []  # names of the queries read, in order
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.address = "127.0.0.1:%d" % self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        while True:
            try:
                d = c.recv(65536)
            except OSError:
                return
            if not d:
                return
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                q, buf = dns.message.from_wire(buf[2:2 + n]), buf[2 + n:]
                self.seen.append(q.question[0].name.to_text())
                if self.hold:
                    continue
                if self.slow is not None and q.question[0].name.to_text() == self.slow:
                    time.sleep(self.delay)
                a = dns.message.make_response(q)
                a.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "TXT",
                                                    '"tcp-%s"' % self.name))
                try:
                    c.sendall(dnsr.tcp_frame(a.to_wire()))
                except OSError:
                    return

    def reset_all(self, rst=True):
        """Close every connection accepted so far: with a reset, or else a FIN."""
        with self.lock:
            for c in self.conns:
                if rst:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            self.conns = []

    def close(self):
        self.ls.close()
        self.reset_all()


def _read_answers(s, n, timeout):
    """Up to <n> answers from <s> within <timeout>: [(id, rcode, who)]."""
    got, deadline = [], time.monotonic() + timeout
    s.settimeout(timeout)
    while len(got) < n and time.monotonic() < deadline:
        try:
            m = dns.message.from_wire(_read_frame(s)[2:])
        except (OSError, ConnectionError, EOFError, struct.error):
            break
        got.append((m.id, m.rcode(), dnsr.who(m)))
    return got


def test_backend_reset_under_pipelined_queries_of_one_client(router):
    """q0 waits on A's connection; A resets it while the same client's q1 and q2 are already
    in the router's socket (the router is stopped meanwhile, so all of it is there when it
    wakes). Sending q1 on the dead connection fails q0 with it, which settles this client
    while its queries are being read: each query is answered exactly once, by B, and the
    connection stays up (once a heap overflow: the buffer was parsed a second time)."""
    a, b = _TcpBackend("A", hold=True), _TcpBackend("B")
    try:
        # One connection to each backend: q1 and q2 follow q0 on A's. When they come after
        # the reset instead, they wait on a new connection to A and time out: A must stay in
        # rotation through these timeouts for the next run's q0 to go to A (fall: 1000).
        r = router({"workers": 1, "timeout": "1s", "health": {"enabled": False, "fall": 1000},
                    "tcp": {"backend-connections": 1},
                    "backends": [{"name": "A", "address": a.address},
                                 {"name": "B", "address": b.address}],
                    "routes": [route_zone(".", ["A", "B"], policy="first-available")]})
        for run in range(10):
            with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
                q0 = "q0.run%d.example." % run
                s.sendall(dnsr.tcp_frame(dnsr.query(q0, qid=100).to_wire()))
                dnsr.wait_for(lambda: q0 in a.seen, timeout=5, what="q0 at backend A")
                os.kill(r.proc.pid, signal.SIGSTOP)
                try:
                    s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(
                        "q%d.example." % i, qid=100 + i).to_wire()) for i in (1, 2)))
                    a.reset_all()
                    time.sleep(0.05)    # the reset reaches the router's socket
                finally:
                    os.kill(r.proc.pid, signal.SIGCONT)
                got = _read_answers(s, 3, timeout=3.5)
            assert sorted(got) == [(100 + i, dns.rcode.NOERROR, "tcp-B") for i in range(3)], \
                "run %d: %r" % (run, got)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_reused_backend_connection_closed_under_new_queries(router, rst):
    """The backend closes a connection that has answered before (its idle close) just as the
    router writes new queries on it: they are sent once more on a fresh connection to the
    same backend and answered, not failed (README: TCP)."""
    be = _TcpBackend("only")
    try:
        r = router({"workers": 1, "timeout": "1s", "health": {"enabled": False},
                    "backends": [{"name": "only", "address": be.address}],
                    "routes": [route_zone(".", ["only"])]})
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
            s.sendall(dnsr.tcp_frame(dnsr.query("a.example.", qid=1).to_wire()))
            assert _read_answers(s, 1, timeout=3) == [(1, dns.rcode.NOERROR, "tcp-only")]
            os.kill(r.proc.pid, signal.SIGSTOP)
            try:
                s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(
                    "q%d.example." % i, qid=10 + i).to_wire()) for i in range(2)))
                be.reset_all(rst)
                time.sleep(0.05)    # the close reaches the router's socket
            finally:
                os.kill(r.proc.pid, signal.SIGCONT)
            got = _read_answers(s, 2, timeout=3)
        assert sorted(got) == [(10 + i, dns.rcode.NOERROR, "tcp-only") for i in range(2)], got
    finally:
        be.close()


def test_backend_connections_take_a_bounded_number_of_queries(router):
    """A TCP backend that reads queries and answers none: a worker keeps at most
    tcp.backend-connections (4 here) x 512 queries waiting on it (finding a query by ID walks a connection's queries, which
    must stay short); the queries past that get SERVFAIL + EDE 22 at once, and the worker
    keeps serving the rest."""
    be = _TcpBackend("sink", hold=True)
    clients = []
    try:
        r = router({"workers": 1, "timeout": "5s", "health": {"enabled": False},
                    "tcp": {"backend-connections": 4},
                    "backends": [{"name": "sink", "address": be.address}],
                    "routes": [route_zone(".", ["sink"])]})
        for c in range(40):                 # 40 x 64 = 2,560 queries, 512 past the bound
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(
                "c%dq%d.example." % (c, i), qid=i).to_wire()) for i in range(64)))
            clients.append(s)
        ans = r.exchange(dnsr.query("id.server.", "TXT", "CH"), timeout=2)
        assert ans.rcode() == dns.rcode.NOERROR     # the worker went through them all
        refused = []
        for s in clients:
            refused += _read_answers(s, 64, timeout=0.05)
        assert len(refused) == 2560 - 4 * 512, "%d answered at once" % len(refused)
        assert all(rc == dns.rcode.SERVFAIL for _, rc, _ in refused)
    finally:
        for s in clients:
            s.close()
        be.close()


def test_out_of_descriptors_no_spin_no_false_down(router, ns1):
    """More TCP clients than descriptors (the router started with a limit of 40): the worker
    pauses its accepts instead of spinning on a connection it cannot take, and the health
    checks, short of a socket themselves, do not take the backend down for it. UDP queries
    are answered throughout; once the clients leave, TCP is served again."""
    r = router({"workers": 1, "health": {"interval": "200ms", "timeout": "200ms", "fall": 1},
                "backends": [{"name": "ns1", "address": ns1.addr4}],
                "routes": [route_zone(".", ["ns1"])]}, nofile=(40, 40))
    clients = []
    try:
        for _ in range(60):
            clients.append(socket.create_connection(("127.0.0.1", r.port), timeout=5))
        dnsr.wait_for(lambda: len(os.listdir("/proc/%d/fd" % r.proc.pid)) >= 39, timeout=3,
                      what="the router at its descriptor limit")
        cpu0 = _worker_cpu(r.proc.pid)
        time.sleep(1.0)     # a measurement window, not a synchronisation
        assert _worker_cpu(r.proc.pid) - cpu0 < 0.3, "the worker spins with no descriptors"
        for i in range(5):  # a second of health checks that found no socket
            assert r.exchange(dnsr.query("u%d.example." % i)).rcode() == dns.rcode.NOERROR
            time.sleep(0.2)
        assert "is down" not in r.log(), r.log()
        assert "pausing accepts" in r.log()
    finally:
        for c in clients:
            c.close()

    def tcp_served():
        try:
            return r.exchange(dnsr.query("t.example."), transport="tcp",
                              timeout=0.5).rcode() == dns.rcode.NOERROR
        except OSError:
            return False
    dnsr.wait_for(tcp_served, timeout=5, what="TCP served again")


def test_slow_answer_holds_up_no_other_client(router):
    """A backend that answers each connection's queries in turn, one name slowly (1.5 s): with
    queries spread over backend connections, 20 other clients' pipelined queries, sent right
    after the slow one, are all answered well before it."""
    be = _TcpBackend("seq", slow="slow.example.", delay=1.5)
    socks = []
    try:
        r = router({"workers": 1, "timeout": "5s", "health": {"enabled": False},
                    "backends": [{"name": "seq", "address": be.address}],
                    "routes": [route_zone(".", ["seq"])]})
        slow = socket.create_connection(("127.0.0.1", r.port), timeout=5)
        socks.append(slow)
        slow.sendall(dnsr.tcp_frame(dnsr.query("slow.example.", qid=1).to_wire()))
        dnsr.wait_for(lambda: "slow.example." in be.seen, timeout=5,
                      what="the slow query at the backend")
        # Past the 50 ms after which the router takes its connection for held up (a
        # threshold of the design, not a wait for an event).
        time.sleep(0.2)
        t0 = time.monotonic()
        for c in range(20):
            s = socket.create_connection(("127.0.0.1", r.port), timeout=5)
            socks.append(s)
            s.sendall(b"".join(dnsr.tcp_frame(dnsr.query("c%d-q%d.example." % (c, i),
                                                         qid=100 + i).to_wire())
                               for i in range(5)))
        for s in socks[1:]:
            got = _read_answers(s, 5, timeout=1.2)
            assert len(got) == 5 and all(g[2] == "tcp-seq" for g in got), got
        assert time.monotonic() - t0 < 1.2, "answers held behind the slow one"
        got = _read_answers(slow, 1, timeout=3)
        assert got == [(1, dns.rcode.NOERROR, "tcp-seq")], got
    finally:
        for s in socks:
            s.close()
        be.close()


def _warm(s, n):
    """<n> exchanges on <s>, one query at a time: the connections on both sides of the router
    leave Linux's quick-ACK start and acknowledge late (delayed ACKs), as busy ones do."""
    for i in range(n):
        s.sendall(dnsr.tcp_frame(dnsr.query("warm%d.example." % i, qid=i).to_wire()))
        assert len(_read_answers(s, 1, timeout=3)) == 1, "warm-up query %d unanswered" % i


def test_backend_answers_written_without_nodelay_are_not_held(router):
    """A backend that writes without TCP_NODELAY (as the Python socket here does) holds its
    second answer until the first is acknowledged. The router acknowledges answers it reads
    while more are owed within a fraction of a millisecond (README: TCP), so the second
    answer follows the first at once, not after Linux's delayed ACK (40 ms or more)."""
    be = _TcpBackend("nagle")
    try:
        r = router({"workers": 1, "health": {"enabled": False},
                    "tcp": {"backend-connections": 1},
                    "backends": [{"name": "nagle", "address": be.address}],
                    "routes": [route_zone(".", ["nagle"])]})
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _warm(s, 40)
            gaps = []
            for run in range(9):
                s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(
                    "r%dq%d.example." % (run, i), qid=i).to_wire()) for i in (1, 2)))
                times = []
                for _ in range(2):
                    _read_frame(s)
                    times.append(time.monotonic())
                gaps.append(times[1] - times[0])
        gaps.sort()
        assert gaps[len(gaps) // 2] < 0.02, "second answers held: gaps %r s" % gaps
    finally:
        be.close()


def test_pipelined_queries_written_without_nodelay_are_not_held(router):
    """A client that pipelines without TCP_NODELAY holds its next query until the last is
    acknowledged. Once it has had two queries in flight, the router acknowledges what it
    reads soon (README: TCP): its first query waits 30 ms at the backend, yet the second
    query reaches the router, goes on another backend connection and is answered first. Were
    the ACK left to the first answer or to Linux's delayed ACK, the second answer would come
    after the first."""
    be = _TcpBackend("nagle", slow="slow.example.", delay=0.03)
    try:
        r = router({"workers": 1, "health": {"enabled": False},
                    "backends": [{"name": "nagle", "address": be.address}],
                    "routes": [route_zone(".", ["nagle"])]})
        with socket.create_connection(("127.0.0.1", r.port), timeout=5) as s:
            _warm(s, 40)
            s.sendall(b"".join(dnsr.tcp_frame(dnsr.query(
                "pair%d.example." % i, qid=i).to_wire()) for i in (1, 2)))
            assert len(_read_answers(s, 2, timeout=3)) == 2, "pipelined pair unanswered"
            orders = []
            for run in range(5):
                s.sendall(dnsr.tcp_frame(dnsr.query("slow.example.", qid=1).to_wire()))
                s.sendall(dnsr.tcp_frame(dnsr.query("fast%d.example." % run, qid=2).to_wire()))
                orders.append([qid for qid, _, _ in _read_answers(s, 2, timeout=3)])
        assert orders == [[2, 1]] * 5, "answers in the order %r" % orders
    finally:
        be.close()
