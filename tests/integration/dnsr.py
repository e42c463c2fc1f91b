# SPDX-License-Identifier: MIT
# tests/integration/dnsr.py -- helpers shared by the integration tests:
# polling, raw DNS over UDP/TCP, EDE parsing, YAML rendering, free ports,
# and the processes the tests start (Knot backends, dnsrouter, a fake backend).

import heapq
import json
import os
import random
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROUTER_BIN = os.environ.get("DNSROUTER_BIN", str(REPO / "build" / "dnsrouter"))
KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")

EDE_PROHIBITED = 18
EDE_NO_REACHABLE_AUTHORITY = 22
EDE_NETWORK_ERROR = 23
EDE_NOT_AUTHORITATIVE = 20
OPT_EDE = 15

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error", "LeakSanitizer",
                     "ThreadSanitizer", "UndefinedBehaviorSanitizer")

# --------------------------------------------------------------------------------------------
# polling


def wait_for(pred, timeout=5.0, interval=0.01, what="condition"):
    """Poll pred() until it returns something truthy; return that value.

    Raises AssertionError naming <what> when <timeout> seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# ports

_handed_out = set()
_port_lock = threading.Lock()


def _bindable(family, kind, host, port):
    s = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        return s
    except OSError:
        s.close()
        return None


# Ports are drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and
# up by default): a port picked there could be handed to some process's outgoing socket (a
# health check, an etcd client) between the pick and the bind of the server it is meant for.
PORT_RANGE = (20000, 32000)


def free_port():
    """A port free on UDP and TCP on both 127.0.0.1 and ::1, outside the ephemeral range."""
    with _port_lock:
        for _ in range(500):
            port = random.randrange(*PORT_RANGE)
            first = _bindable(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", port)
            if first is None:
                continue
            held = [first]
            ok = True
            for fam, kind, host in ((socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"),
                                    (socket.AF_INET6, socket.SOCK_DGRAM, "::1"),
                                    (socket.AF_INET6, socket.SOCK_STREAM, "::1")):
                s = _bindable(fam, kind, host, port)
                if s is None:
                    ok = False
                    break
                held.append(s)
            for s in held:
                s.close()
            if ok and port not in _handed_out:
                _handed_out.add(port)
                return port
        raise RuntimeError("no free port found")


# --------------------------------------------------------------------------------------------
# DNS messages and raw transport


def host_of(family):
    return "127.0.0.1" if family == 4 else "::1"


def sock_family(family):
    return socket.AF_INET if family == 4 else socket.AF_INET6


def query(name, rdtype="TXT", rdclass="IN", edns=False, do=False, qid=None, options=None,
          payload=1232):
    """A dnspython query message; EDNS only when asked (edns/do/options)."""
    use_edns = 0 if (edns or do or options) else None
    q = dns.message.make_query(name, rdtype, rdclass, use_edns=use_edns, want_dnssec=do,
                               payload=payload if use_edns is not None else None,
                               options=options)
    if qid is not None:
        q.id = qid
    return q


def rand_id():
    return random.randrange(0, 0x10000)


def udp_exchange(port, wire, family=4, timeout=2.0, host=None):
    """Send raw <wire> over UDP, return the first datagram whose ID matches (or None on timeout)."""
    host = host or host_of(family)
    with socket.socket(sock_family(family), socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        try:
            s.send(wire)
        except ConnectionRefusedError:
            return None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                return None     # ICMP port unreachable: nothing listens (yet)
            if len(wire) >= 2 and data[:2] == wire[:2]:
                return data


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def tcp_read_msg(s):
    (length,) = struct.unpack("!H", recv_exact(s, 2))
    return recv_exact(s, length)


def tcp_frame(wire):
    return struct.pack("!H", len(wire)) + wire


def tcp_exchange(port, wire, family=4, timeout=3.0, host=None):
    """Send raw <wire> over a fresh TCP connection, return the raw answer."""
    host = host or host_of(family)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(tcp_frame(wire))
        return tcp_read_msg(s)


def exchange(port, q, transport="udp", family=4, timeout=2.0):
    """Send dnspython message <q>, return the parsed answer (AssertionError on no answer)."""
    wire = q.to_wire()
    if transport == "udp":
        data = udp_exchange(port, wire, family, timeout)
        assert data is not None, "no UDP answer from port %d for %s" % (port, q.question[0])
    else:
        data = tcp_exchange(port, wire, family, timeout)
    return dns.message.from_wire(data)


def rcode_of_wire(data):
    return data[3] & 0x0F


def is_response_wire(data):
    return bool(data[2] & 0x80)


def ede_codes(msg):
    return [opt.code for opt in msg.options if opt.otype == OPT_EDE]


def txt_strings(msg):
    out = []
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rd in rrset:
                out.extend(s.decode("ascii", "replace") for s in rd.strings)
    return out


def who(msg):
    """The backend name an answer came from (the single TXT string of the test zones)."""
    strings = txt_strings(msg)
    return strings[0] if len(strings) == 1 else None


def rcode_text(msg):
    return dns.rcode.to_text(msg.rcode())


# --------------------------------------------------------------------------------------------
# YAML rendering (block at the top level, flow mappings for list entries, like PRODUCT.md)

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NUMBERISH = re.compile(r"^[-+0-9.eE_]+$")
_YAML_SPECIAL = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Regex):
        return "'" + str(v).replace("'", "''") + "'"
    v = str(v)
    if v == ".":
        return "."
    if _PLAIN.match(v) and v.lower() not in _YAML_SPECIAL and not _NUMBERISH.match(v):
        return v
    return json.dumps(v)


class Regex(str):
    """A string rendered single-quoted in YAML (no escapes to worry about)."""


def yaml_flow(v):
    if isinstance(v, dict):
        return "{ " + ", ".join("%s: %s" % (k, yaml_flow(x)) for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[ " + ", ".join(yaml_flow(x) for x in v) + " ]"
    return yaml_scalar(v)


def render_yaml(conf):
    lines = []
    for key, value in conf.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
            lines.append("%s:" % key)
            for item in value:
                lines.append("  - %s" % yaml_flow(item))
        else:
            lines.append("%s: %s" % (key, yaml_flow(value)))
    return "\n".join(lines) + "\n"


def route_regex(regex, backends, **kw):
    d = {"regex": Regex(regex), "backends": list(backends)}
    d.update(kw)
    return d


def route_zone(zone, backends, **kw):
    d = {"zone": zone, "backends": list(backends)}
    d.update(kw)
    return d


# --------------------------------------------------------------------------------------------
# processes


def stop_process(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signal <proc>, wait up to <timeout>, then SIGKILL. Returns (returncode, killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=timeout), True


class KnotBackend:
    """A knotd serving the test zones; every zone answers TXT <name> for its apex and wildcard,
    'big.example.' holds an ~20 KB TXT RRset ('wide.example.' ~60 KB), id.server. CH TXT
    answers <name>."""

    ZONES = ("example.", "sub.example.", "test.")
    BIG_RRS = 80   # 80 x 255-byte strings: ~21 KB over TCP
    MID_RRS = 10   # 'mid.example.': ~2.8 KB, fits a 4096-byte EDNS UDP answer
    WIDE_RRS = 230  # 'wide.example.': ~60 KB, near the largest a TCP answer can be

    def __init__(self, name, workdir, zones=None):
        self.name = name
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zones = tuple(zones or self.ZONES)
        self.port = free_port()
        self.proc = None
        self.log_path = self.dir / "knotd.log"

    @property
    def addr4(self):
        return "127.0.0.1:%d" % self.port

    @property
    def addr6(self):
        return "[::1]:%d" % self.port

    def _zone_text(self, zone):
        lines = [
            "$ORIGIN %s" % zone,
            "$TTL 300",
            "@ SOA ns hostmaster 1 3600 600 86400 300",
            "@ NS ns",
            "ns A 127.0.0.1",
            '@ TXT "%s"' % self.name,
            '* TXT "%s"' % self.name,
            "host A 192.0.2.1",
            "host AAAA 2001:db8::1",
        ]
        if zone == "example.":
            for i in range(self.BIG_RRS):
                lines.append('big TXT "%s"' % (("%s-%03d-" % (self.name, i)).ljust(255, "x")))
            for i in range(self.MID_RRS):
                lines.append('mid TXT "%s"' % (("%s-%03d-" % (self.name, i)).ljust(255, "y")))
            for i in range(self.WIDE_RRS):
                lines.append('wide TXT "%s"' % (("%s-%03d-" % (self.name, i)).ljust(255, "w")))
        return "\n".join(lines) + "\n"

    def _conf_text(self, zone_lines):
        """knotd's configuration, given the `zone:` entries."""
        return """server:
    rundir: "{d}"
    listen: [ "127.0.0.1@{p}", "::1@{p}" ]
    identity: "{n}"
    udp-max-payload: 4096
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
zone:
{zones}
""".format(d=self.dir, p=self.port, n=self.name, zones=zone_lines)

    def start(self):
        for zone in self.zones:
            fname = "root" if zone == "." else zone.rstrip(".")
            (self.dir / ("%s.zone" % fname)).write_text(self._zone_text(zone))
        zone_lines = "\n".join(
            '  - domain: "%s"\n    file: "%s.zone"' % (z, "root" if z == "." else z.rstrip("."))
            for z in self.zones)
        self.conf_path = self.dir / "knot.conf"
        self.conf_path.write_text(self._conf_text(zone_lines))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([KNOTD, "-c", str(self.conf_path)], stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("knotd %s exited (%s): %s" % (
                self.name, self.proc.returncode, self.log_path.read_text(errors="replace")))
        for zone in self.zones:
            for fam in (4, 6):
                try:
                    r = dns.query.udp(query(zone, "SOA"), host_of(fam), port=self.port,
                                      timeout=0.2)
                except Exception:
                    return False
                if r.rcode() != dns.rcode.NOERROR or not r.answer:
                    return False
        return True

    def _wait_ready(self):
        wait_for(self._ready, timeout=15, interval=0.02, what="knotd %s ready" % self.name)

    def stop(self):
        if self.proc is not None:
            self.resume()           # a stopped process cannot act on SIGTERM
            stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL (a crash): the port is free at once; start() brings it back on the same port."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.paused = False
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    paused = False

    def pause(self):
        """SIGSTOP: the sockets stay open (queries queue up, TCP connects) but nothing answers."""
        sigstop_and_wait(self.proc)
        self.paused = True

    def resume(self):
        if self.paused and self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False


class LoggedProcess:
    """A process a test started: <proc> (Popen or None), its stderr/stdout in <log_path>."""

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Router(LoggedProcess):
    """A running dnsrouter; start() waits until it answers id.server. CH TXT."""

    def __init__(self, workdir, conf=None, args=(), port=None, listen=None, ready=True,
                 env=None, nofile=None, wrapper=()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf_path = self.dir / "dnsrouter.yaml"
        self.log_path = self.dir / "dnsrouter.stderr"
        self.args = list(args)
        self.listen = listen
        self.proc = None
        self.expect_exit = False
        self.ready = ready
        self.env = env
        self.nofile = nofile  # (soft, hard) descriptor limits to start it with
        self.wrapper = list(wrapper)  # a command that execs the router, e.g. setpriv ... --
        if conf is not None:
            if isinstance(conf, dict):
                conf = dict(conf)
                conf.setdefault("listen", ["127.0.0.1:%d" % self.port, "[::1]:%d" % self.port])
                conf = render_yaml(conf)
            self.conf_path.write_text(conf)
            self.args = ["-c", str(self.conf_path)] + self.args

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if self.env:
            env.update(self.env)
        self._log = open(self.log_path, "wb")
        limits = None
        if self.nofile is not None:
            def limits():
                resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
        self.proc = subprocess.Popen(self.wrapper + [ROUTER_BIN] + self.args, stdout=self._log,
                                     stderr=self._log, stdin=subprocess.DEVNULL, env=env,
                                     preexec_fn=limits)
        if self.ready:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def _probe(self, family=4, timeout=0.2):
        q = query("id.server.", "TXT", "CH")
        data = udp_exchange(self.port, q.to_wire(), family=family, timeout=timeout)
        return data is not None

    def wait_ready(self, timeout=10.0, family=4):
        def ready():
            if not self.alive():
                raise AssertionError("dnsrouter exited with %s before it was ready; stderr:\n%s"
                                     % (self.proc.returncode, self.log()))
            return self._probe(family)
        wait_for(ready, timeout=timeout, interval=0.02, what="dnsrouter ready on port %d"
                 % self.port)

    def reload(self, conf):
        """Atomically replace the config file and send SIGHUP; returns the log offset before."""
        if isinstance(conf, dict):
            conf = dict(conf)
            conf.setdefault("listen", ["127.0.0.1:%d" % self.port, "[::1]:%d" % self.port])
            conf = render_yaml(conf)
        offset = len(self.log())
        tmp = self.conf_path.with_suffix(".tmp")
        tmp.write_text(conf)
        os.replace(tmp, self.conf_path)
        self.proc.send_signal(signal.SIGHUP)
        return offset

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        self.expect_exit = True
        rc = None
        if self.proc is not None:
            rc, _ = stop_process(self.proc, sig, timeout)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        return rc

    def exchange(self, q, transport="udp", family=4, timeout=2.0):
        return exchange(self.port, q, transport, family, timeout)


# --------------------------------------------------------------------------------------------
# a misbehaving backend

FAKE_MODES = ("normal", "silent", "slow", "wrong-id", "wrong-qname", "wrong-qtype",
              "wrong-source", "wrong-id-then-right", "duplicate-later", "tcp-wedge-after",
              "bare-formerr", "drop-prefixed", "bare-nxdomain-then-right")


class FakeBackend:
    """A UDP+TCP DNS server thread on 127.0.0.1 (or ::1) with a chosen misbehaviour.

    Modes: normal (answer TXT "fake-<name>"), silent (never answer), slow (answer after
    <delay>), wrong-id (answer with another ID), wrong-qname / wrong-qtype (answer a different
    question), wrong-source (UDP: answer from another port), wrong-id-then-right (a wrong-ID
    answer first, then the right one), duplicate-later (answer at once, and the same answer
    again after <delay>), tcp-wedge-after (the first TCP connection that carries a query
    answers its first <wedge_after> queries, then keeps reading and recording but never answers
    on it again, and keeps it open; UDP and every later TCP connection are answered normally;
    .tcp_query_conns counts the TCP connections that carried queries). id.server. CH TXT
    (a health probe) is answered normally, over UDP and TCP, in every mode when answer_health
    is set (answer_health=False: a backend that is alive but fails its checks); it is not
    recorded in .queries, only counted in .health_probes with its transport in .probe_kinds.
    Every other packet is recorded in .queries as (transport, raw wire, parsed message or None);
    packets that do not parse or do not hold one question are recorded and never answered."""

    def __init__(self, name="fake", mode="normal", delay=0.0, family=4, answer_health=True,
                 wedge_after=3):
        assert mode in FAKE_MODES, mode
        self.wedge_after = wedge_after     # tcp-wedge-after: answers before the wedge
        self._wedged_conn = None           # tcp-wedge-after: the connection that wedges
        self._wedge_answered = 0
        self._query_conns = []             # TCP connections (socket objects) that carried queries
        self.name = name
        self.mode = mode
        self.delay = delay
        self.family = family
        self.answer_health = answer_health
        self.port = None
        self.queries = []
        self.health_probes = 0
        self.probe_kinds = []      # "udp"/"tcp" of each health probe
        self.sent = 0              # answers sent (all modes, health probes included)
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = None
        self._pending = []     # heap of (when, seq, kind, target, data)
        self._seq = 0

    @property
    def host(self):
        return host_of(self.family)

    @property
    def address(self):
        return ("%s:%d" if self.family == 4 else "[%s]:%d") % (self.host, self.port)

    @property
    def count(self):
        with self._lock:
            return len(self.queries)

    @property
    def tcp_query_conns(self):
        """How many TCP connections carried queries (health probes not counted)."""
        with self._lock:
            return len(self._query_conns)

    def start(self):
        fam = sock_family(self.family)
        for _ in range(50):
            port = free_port()
            u = socket.socket(fam, socket.SOCK_DGRAM)
            t = socket.socket(fam, socket.SOCK_STREAM)
            try:
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                u.bind((self.host, port))
                t.bind((self.host, port))
            except OSError:
                u.close()
                t.close()
                continue
            break
        else:
            raise RuntimeError("fake backend: no port")
        t.listen(64)
        self.port = port
        self.udp, self.tcp = u, t
        self.other = socket.socket(fam, socket.SOCK_DGRAM)   # for wrong-source
        self.other.bind((self.host, 0))
        self.conns = {}
        self._thread = threading.Thread(target=self._run, name="fake-" + self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is None:
            return
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        self._thread = None
        for s in [self.udp, self.tcp, self.other] + list(self.conns.values()):
            try:
                s.close()
            except OSError:
                pass
        os.close(self._stop_r)
        os.close(self._stop_w)

    # -- serving

    def _schedule(self, when, kind, target, data):
        self._seq += 1
        heapq.heappush(self._pending, (when, self._seq, kind, target, data))

    def _answer(self, q, rdtype=None):
        r = dns.message.make_response(q)
        qq = q.question[0]
        if (rdtype or qq.rdtype) == dns.rdatatype.TXT:
            r.answer.append(dns.rrset.from_text(qq.name, 60, qq.rdclass, "TXT",
                                                '"fake-%s"' % self.name))
        return r

    def _handle(self, wire, kind, target):
        try:
            self._handle1(wire, kind, target)
        except Exception:       # a fake backend must survive whatever the router sends it
            pass

    def _handle1(self, wire, kind, target):
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            q = None
        if q is None or len(q.question) != 1:
            with self._lock:
                self.queries.append((kind, wire, q))
            return
        qq = q.question[0]
        if (qq.rdclass == dns.rdataclass.CH and qq.rdtype == dns.rdatatype.TXT
                and qq.name == dns.name.from_text("id.server.")):
            with self._lock:
                self.health_probes += 1
                self.probe_kinds.append(kind)
            if self.answer_health:
                r = dns.message.make_response(q)
                r.answer.append(dns.rrset.from_text(qq.name, 0, "CH", "TXT",
                                                    '"%s"' % self.name))
                self._schedule(0, kind, target, r.to_wire())
            return
        with self._lock:
            self.queries.append((kind, wire, q))
        now = time.monotonic()
        mode = self.mode
        if mode == "silent":
            return
        if mode == "normal":
            self._schedule(now, kind, target, self._answer(q).to_wire())
        elif mode == "slow":
            self._schedule(now + self.delay, kind, target, self._answer(q).to_wire())
        elif mode == "drop-prefixed":
            if not str(qq.name).startswith("drop"):
                self._schedule(now, kind, target, self._answer(q).to_wire())
        elif mode == "bare-formerr":
            # a header-only FORMERR: no question section, as some servers answer
            hdr = struct.pack("!HHHHHH", q.id, 0x8000 | (q.flags & 0x0100) | 1, 0, 0, 0, 0)
            self._schedule(now, kind, target, hdr)
        elif mode == "bare-nxdomain-then-right":
            # a forger's guess: the right ID, no question, NXDOMAIN; the real answer follows
            hdr = struct.pack("!HHHHHH", q.id, 0x8000 | (q.flags & 0x0100) | 3, 0, 0, 0, 0)
            self._schedule(now, kind, target, hdr)
            self._schedule(now + 0.05, kind, target, self._answer(q).to_wire())
        elif mode == "duplicate-later":
            self._schedule(now, kind, target, self._answer(q).to_wire())
            self._schedule(now + self.delay, kind, target, self._answer(q).to_wire())
        elif mode == "wrong-id":
            r = self._answer(q)
            r.id = (q.id + 1) & 0xFFFF
            self._schedule(now, kind, target, r.to_wire())
        elif mode == "wrong-id-then-right":
            r = self._answer(q)
            good = r.to_wire()
            r.id = (q.id ^ 0x5A5A) & 0xFFFF
            self._schedule(now, kind, target, r.to_wire())
            self._schedule(now + 0.02, kind, target, good)
        elif mode == "wrong-qname":
            other = dns.message.make_query("wrong-%s.invalid." % self.name, qq.rdtype, qq.rdclass)
            other.id = q.id
            other.flags = q.flags
            self._schedule(now, kind, target, self._answer(other).to_wire())
        elif mode == "wrong-qtype":
            newtype = dns.rdatatype.A if qq.rdtype != dns.rdatatype.A else dns.rdatatype.AAAA
            other = dns.message.make_query(qq.name, newtype, qq.rdclass)
            other.id = q.id
            other.flags = q.flags
            self._schedule(now, kind, target, self._answer(other).to_wire())
        elif mode == "wrong-source":
            if kind == "udp":
                self._schedule(now, "udp-other", target, self._answer(q).to_wire())
            else:
                self._schedule(now, kind, target, self._answer(q).to_wire())
        elif mode == "tcp-wedge-after":
            if kind == "tcp":
                conn = self.conns.get(target)
                with self._lock:
                    if not any(c is conn for c in self._query_conns):
                        self._query_conns.append(conn)
                if self._wedged_conn is None:
                    self._wedged_conn = conn
                if conn is self._wedged_conn:
                    if self._wedge_answered >= self.wedge_after:
                        return      # wedged: read and recorded, never answered
                    self._wedge_answered += 1
            self._schedule(now, kind, target, self._answer(q).to_wire())

    def _flush(self):
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            _, _, kind, target, data = heapq.heappop(self._pending)
            try:
                if kind == "udp":
                    self.udp.sendto(data, target)
                elif kind == "udp-other":
                    self.other.sendto(data, target)
                else:
                    conn = self.conns.get(target)
                    if conn is not None:
                        conn.sendall(tcp_frame(data))
            except OSError:
                pass
            with self._lock:
                self.sent += 1

    @property
    def idle(self):
        """True when no answer is waiting to be sent."""
        return not self._pending

    def _run(self):
        bufs = {}
        while True:
            self._flush()
            timeout = None
            if self._pending:
                timeout = max(0.0, self._pending[0][0] - time.monotonic())
            rlist = [self._stop_r, self.udp, self.tcp] + list(self.conns.values())
            try:
                ready, _, _ = select.select(rlist, [], [], timeout)
            except (OSError, ValueError):
                return
            for s in ready:
                if s == self._stop_r:
                    return
                if s is self.udp:
                    try:
                        data, addr = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    self._handle(data, "udp", addr)
                elif s is self.tcp:
                    try:
                        conn, _ = self.tcp.accept()
                    except OSError:
                        continue
                    self.conns[conn.fileno()] = conn
                    bufs[conn.fileno()] = b""
                else:
                    fd = s.fileno()
                    try:
                        data = s.recv(65535)
                    except OSError:
                        data = b""
                    if not data:
                        self.conns.pop(fd, None)
                        bufs.pop(fd, None)
                        s.close()
                        continue
                    buf = bufs[fd] + data
                    while len(buf) >= 2:
                        (n,) = struct.unpack("!H", buf[:2])
                        if len(buf) < 2 + n:
                            break
                        self._handle(buf[2:2 + n], "tcp", fd)
                        buf = buf[2 + n:]
                    bufs[fd] = buf


def check_config(path):
    """dnsrouter -t -c <path>, as a CompletedProcess with text output."""
    return subprocess.run([ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)


def assert_config_error_at_marker(tmp_path, text, name):
    """<text> is a YAML file with one line marked "@@" (or "# @@"): `dnsrouter -t` must
    reject it with exactly one stderr line "FILE:LINE: problem" naming that line. Returns the
    problem text."""
    lineno = [i for i, line in enumerate(text.splitlines(), 1) if "@@" in line]
    assert len(lineno) == 1, "test table broken for %s" % name
    lineno = lineno[0]
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("# @@", "").replace("@@", ""))
    p = check_config(path)
    assert p.returncode != 0, "bad config (%s) accepted" % name
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, "want one line on stderr, got:\n%s" % p.stderr
    m = re.match(r"^%s:(\d+): (\S.*)$" % re.escape(str(path)), lines[0])
    assert m, "stderr line does not match FILE:LINE: problem: %r" % lines[0]
    assert int(m.group(1)) == lineno, "error at line %s, want %d: %r" % (
        m.group(1), lineno, lines[0])
    return m.group(2)


def sigstop_and_wait(proc, timeout=5.0):
    """SIGSTOP <proc> and wait until every thread of it is stopped: the signal is delivered
    asynchronously, and a thread running on another core may still answer a query meanwhile."""
    proc.send_signal(signal.SIGSTOP)

    def stopped():
        try:
            tasks = os.listdir("/proc/%d/task" % proc.pid)
            for tid in tasks:
                with open("/proc/%d/task/%s/stat" % (proc.pid, tid)) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
            return True
        except FileNotFoundError:
            return True     # gone: nothing answers either
    wait_for(stopped, timeout=timeout, interval=0.002, what="pid %d stopped" % proc.pid)


# --------------------------------------------------------------------------------------------
# metrics

def metric(admin, name, **labels):
    """The value of sample <name>{<labels>} (0 when absent) at admin address "ip:port"."""
    from prometheus_client.parser import text_string_to_metric_families
    import urllib.request
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=3) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0
