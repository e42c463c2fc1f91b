# SPDX-License-Identifier: MIT
# tests/integration/lbtools.py -- helpers for the health-check / load-balancing / admin tests:
# a fast UDP query engine (batch or paced, with per-query timing and the answering backend),
# the admin HTTP endpoint (JSON API and Prometheus /metrics) and config builders.

import json
import select
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque

import dnsr

TYPE_TXT = 16

# ------------------------------------------------------------------------------------------
# raw queries and a cheap answer parser (dnspython is too slow for 20,000 answers a test)


def qname_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode("ascii")
            out += bytes([len(b)]) + b
    return out + b"\x00"


def query_wire(name, qtype=TYPE_TXT, qclass=1, qid=0):
    """A plain query (no RD, no EDNS): 12-byte header, the question."""
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + qname_wire(name) + \
        struct.pack("!HH", qtype, qclass)


def skip_name(data, i):
    """The offset just past the (possibly compressed) name at <i> of raw message <data>."""
    while True:
        n = data[i]
        if n == 0:
            return i + 1
        if n >= 0xC0:
            return i + 2
        i += 1 + n


def parse_answer(data):
    """(rcode, who) of a raw answer: who is the first TXT string of the first answer RR."""
    rcode = data[3] & 0x0F
    ancount = (data[6] << 8) | data[7]
    if not ancount:
        return rcode, None
    try:
        i = skip_name(data, 12) + 4
        i = skip_name(data, i)
        rtype = (data[i] << 8) | data[i + 1]
        i += 10
        if rtype != TYPE_TXT:
            return rcode, None
        n = data[i]
        return rcode, data[i + 1:i + 1 + n].decode("ascii", "replace")
    except IndexError:
        return rcode, None


# ------------------------------------------------------------------------------------------
# the query engine

NOERROR, SERVFAIL = 0, 2
TIMEOUT = -1            # no answer within the client timeout (rcode field)


class Load:
    """Send queries for names[i] over UDP to a router and record, per query i:
    sent[i] (monotonic), done[i] (monotonic or None), rcode[i] (TIMEOUT when unanswered),
    who[i] (the backend that answered, from the TXT string).

    rate=None sends as fast as <window> outstanding queries per socket allow (keep sockets x
    window modest: a burst of hundreds overflows a backend's UDP receive buffer, and the drops
    come back as legitimate retries on another backend); rate=R paces the
    sending at R queries/s. Either way it stops sending after <duration> seconds (if given) or
    when the names run out, then waits for the last answers (at most <timeout>)."""

    def __init__(self, port, names, sockets=8, window=8, rate=None, duration=None,
                 timeout=2.0, family=4, qtype=TYPE_TXT):
        self.port = port
        self.names = names
        self.nsock = sockets
        self.window = window
        self.rate = rate
        self.duration = duration
        self.timeout = timeout
        self.family = family
        self.qtype = qtype
        self.sent, self.done, self.rcode, self.who, self.qnames = [], [], [], [], []
        self.wrong = 0          # answers that matched no outstanding query or the wrong question
        self.t0 = None
        self.t_end = None
        self._stop = threading.Event()
        self._thread = None
        self.error = None

    # -- running

    def run(self):
        fam = dnsr.sock_family(self.family)
        host = dnsr.host_of(self.family)
        socks = []
        try:
            for _ in range(self.nsock):
                s = socket.socket(fam, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                s.connect((host, self.port))
                s.setblocking(False)
                socks.append(s)
            self._loop(socks)
        finally:
            for s in socks:
                s.close()
            self.t_end = time.monotonic()
        return self

    def start(self):
        """Run in a background thread; join() to wait and re-raise its errors."""
        def body():
            try:
                self.run()
            except BaseException as e:     # re-raised in join()
                self.error = e
        self._thread = threading.Thread(target=body, name="load", daemon=True)
        self._thread.start()
        # wait until the first query went out, so the caller's clock lines up
        dnsr.wait_for(lambda: self.t0 is not None or self.error, 5, what="load started")
        return self

    def stop(self):
        self._stop.set()

    def join(self, timeout=60):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "query load did not finish"
        if self.error:
            raise self.error
        return self

    def _loop(self, socks):
        names = iter(self.names)
        outstanding = [dict() for _ in socks]       # per socket: id -> query index
        next_id = [0] * len(socks)
        expiry = deque()                             # (deadline, sock index, id, query index)
        by_fd = {s.fileno(): k for k, s in enumerate(socks)}
        poller = select.poll()
        for s in socks:
            poller.register(s, select.POLLIN)
        rr = 0
        exhausted = False
        total_out = 0
        self.t0 = t0 = time.monotonic()
        stop_at = t0 + self.duration if self.duration else None
        qwire = {}
        while True:
            now = time.monotonic()
            # -- send
            if not exhausted:
                if self._stop.is_set() or (stop_at and now >= stop_at):
                    exhausted = True
                else:
                    if self.rate:
                        due = int((now - t0) * self.rate) + 1 - len(self.sent)
                        due = min(due, 200)
                    else:
                        due = self.window * len(socks) - total_out
                    for _ in range(max(0, due)):
                        try:
                            name = next(names)
                        except StopIteration:
                            exhausted = True
                            break
                        k = rr
                        rr = (rr + 1) % len(socks)
                        out = outstanding[k]
                        qid = next_id[k]
                        while qid in out:
                            qid = (qid + 1) & 0xFFFF
                        next_id[k] = (qid + 1) & 0xFFFF
                        w = query_wire(name, self.qtype, 1, qid)
                        idx = len(self.sent)
                        self.qnames.append(name)
                        qwire[idx] = w[12:]
                        self.sent.append(time.monotonic())
                        self.done.append(None)
                        self.rcode.append(TIMEOUT)
                        self.who.append(None)
                        try:
                            socks[k].send(w)
                        except (BlockingIOError, ConnectionRefusedError):
                            pass            # counted as a timeout unless answered
                        out[qid] = idx
                        total_out += 1
                        expiry.append((self.sent[idx] + self.timeout, k, qid, idx))
            if exhausted and total_out == 0:
                return
            # -- wait
            if exhausted or not self.rate:
                wait_ms = 20
            else:
                nxt = t0 + (len(self.sent)) / self.rate
                wait_ms = max(0, min(20, int((nxt - time.monotonic()) * 1000)))
            if expiry:
                wait_ms = max(0, min(wait_ms, int((expiry[0][0] - time.monotonic()) * 1000) + 1))
            for fd, ev in poller.poll(wait_ms):
                k = by_fd[fd]
                s = socks[k]
                out = outstanding[k]
                while True:
                    try:
                        data = s.recv(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except ConnectionRefusedError:
                        continue
                    if len(data) < 12:
                        self.wrong += 1
                        continue
                    qid = (data[0] << 8) | data[1]
                    idx = out.get(qid)
                    if idx is None:
                        self.wrong += 1
                        continue
                    q = qwire[idx]
                    if data[12:12 + len(q)] != q:
                        self.wrong += 1
                        continue
                    del out[qid]
                    del qwire[idx]
                    total_out -= 1
                    self.done[idx] = time.monotonic()
                    self.rcode[idx], self.who[idx] = parse_answer(data)
            # -- expire
            now = time.monotonic()
            while expiry and expiry[0][0] <= now:
                _, k, qid, idx = expiry.popleft()
                if outstanding[k].get(qid) == idx:
                    del outstanding[k][qid]
                    qwire.pop(idx, None)
                    total_out -= 1

    # -- results

    def __len__(self):
        return len(self.sent)

    def latency(self, i):
        return None if self.done[i] is None else self.done[i] - self.sent[i]

    def indices(self, sent_from=None, sent_to=None):
        return [i for i, t in enumerate(self.sent)
                if (sent_from is None or t >= sent_from) and (sent_to is None or t < sent_to)]

    def outcome(self, i):
        """'ns1' for a NOERROR answer from ns1, else 'SERVFAIL', 'TIMEOUT', 'NOERROR?' ..."""
        rc = self.rcode[i]
        if rc == TIMEOUT:
            return "TIMEOUT"
        if rc == NOERROR and self.who[i]:
            return self.who[i]
        return dnsr.dns.rcode.to_text(rc) + ("" if rc else "?")

    def counts(self, idx=None):
        idx = range(len(self.sent)) if idx is None else idx
        return Counter(self.outcome(i) for i in idx)

    def mapping(self):
        """name -> outcome (names are distinct in the tests that use this)."""
        return {self.qnames[i]: self.outcome(i) for i in range(len(self.sent))}

    def describe(self, i):
        lat = self.latency(i)
        return "%s sent at +%.3fs: %s%s" % (
            self.qnames[i], self.sent[i] - self.t0, self.outcome(i),
            "" if lat is None else " after %.3fs" % lat)


def run_names(port, names, **kw):
    return Load(port, names, **kw).run()


class Settled:
    """A Load's outcomes, where an answer that waited for a backend timeout (>= <slow> s: a
    query the backend dropped, retried elsewhere or answered SERVFAIL) is replaced by the
    answer to the same name asked again alone. At most 1% of the names may need that."""

    def __init__(self, port, load, slow):
        self.load = load
        self.out = [load.outcome(i) for i in range(len(load))]
        again = [i for i in range(len(load))
                 if load.latency(i) is None or load.latency(i) >= slow]
        assert len(again) <= 0.01 * len(load) + 1, "%d of %d queries waited for a timeout:\n%s" % (
            len(again), len(load), "\n".join(load.describe(i) for i in again[:10]))
        if again:
            redo = run_names(port, [load.qnames[i] for i in again], sockets=1, window=1,
                             timeout=3)
            for k, i in enumerate(again):
                self.out[i] = redo.outcome(k)

    def __len__(self):
        return len(self.out)

    def outcome(self, i):
        return self.out[i]

    def describe(self, i):
        return self.load.describe(i) + ("" if self.out[i] == self.load.outcome(i)
                                        else " (asked again: %s)" % self.out[i])

    def counts(self):
        return Counter(self.out)

    def mapping(self):
        return dict(zip(self.load.qnames, self.out))


def distinct_names(n, prefix="n", zone="example."):
    return ["%s%05d.%s" % (prefix, i, zone) for i in range(n)]


# ------------------------------------------------------------------------------------------
# the admin endpoint


def http(method, url, body=None, timeout=3.0):
    """(status, content-type, body bytes) for any status."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        try:
            data = e.read()
        except Exception:
            data = b""
        return e.code, e.headers.get("Content-Type", "") if e.headers else "", data


class Metrics:
    """A parsed /metrics page: families (name -> family) and samples."""

    def __init__(self, text):
        from prometheus_client.parser import text_string_to_metric_families
        self.text = text
        self.families = {}
        self.samples = []
        for fam in text_string_to_metric_families(text):
            self.families[fam.name] = fam
            for s in fam.samples:
                self.samples.append((s.name, dict(s.labels), s.value))

    def find(self, name, **labels):
        return [(lab, v) for n, lab, v in self.samples
                if n == name and all(lab.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """The single sample <name> whose labels include <labels>; 0.0 when there is none
        (a counter that has not been touched yet may be absent)."""
        found = self.find(name, **labels)
        assert len(found) <= 1, "several samples %s%r: %r" % (name, labels, found)
        return found[0][1] if found else 0.0

    def total(self, name, **labels):
        return sum(v for _, v in self.find(name, **labels))

    def type_of(self, family):
        fam = self.families.get(family)
        return fam.type if fam else None


class Admin:
    def __init__(self, port, host="127.0.0.1"):
        self.base = "http://%s:%d" % (host, port)

    def request(self, method, path, body=None, timeout=3.0):
        return http(method, self.base + path, body, timeout)

    def get_json(self, path):
        status, ctype, body = self.request("GET", path)
        assert status == 200, "GET %s -> %s %r" % (path, status, body[:300])
        return json.loads(body)

    def metrics(self):
        status, ctype, body = self.request("GET", "/metrics")
        assert status == 200, "GET /metrics -> %s %r" % (status, body[:300])
        return Metrics(body.decode("utf-8"))

    def backends(self):
        return {b["name"]: b for b in self.get_json("/api/v1/backends")}

    def post(self, path):
        return self.request("POST", path, body=b"")

    def ready(self):
        try:
            return self.request("GET", "/api/v1/backends", timeout=0.5)[0] == 200
        except OSError:
            return False


# ------------------------------------------------------------------------------------------
# configs

FAST_HEALTH = {"interval": "200ms", "timeout": "200ms", "fall": 2, "rise": 2}
INTERVAL, HTIMEOUT, FALL, RISE = 0.2, 0.2, 2, 2
# fall x interval + timeout, plus the phase of the first failing check and scheduling slack
DOWN_WINDOW = FALL * INTERVAL + HTIMEOUT + INTERVAL + 0.4
UP_WINDOW = RISE * INTERVAL + INTERVAL + 0.5


def backend(name, address, **kw):
    d = {"name": name, "address": address}
    d.update(kw)
    return d


def conf(backends, routes, health=None, admin=None, workers=2, **kw):
    c = {"workers": workers}
    if admin is not None:
        c["admin"] = admin
    if health is not None:
        c["health"] = dict(health)
    c["backends"] = list(backends)
    c["routes"] = list(routes)
    c.update(kw)
    return c


def share(counter, key, total=None):
    total = total if total is not None else sum(counter.values())
    return counter.get(key, 0) / total if total else 0.0
