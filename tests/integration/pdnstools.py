# SPDX-License-Identifier: MIT
# tests/integration/pdnstools.py -- PROXY protocol v2 (HAProxy's proxy-protocol.txt, section
# 2.2) encoder and parser, a PowerDNS Authoritative server the tests start themselves, and a
# small echo backend that records the exact PROXY header in front of every query.
#
# PowerDNS 4.7 with `proxy-protocol-from=127.0.0.1,::1` requires a PROXY v2 header on every
# query from those sources: a plain query is dropped (UDP) or the connection reset (TCP); a
# PROXY header with addresses is answered as if from the header's source; a LOCAL header with
# no address (length 0) is answered as from 0.0.0.0:0; a LOCAL header that carries addresses
# (length 12) is dropped (UDP) or resets the connection (TCP). Over TCP the header comes once,
# before the first length-prefixed query. The answer carries no header.

import ipaddress
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import threading
from pathlib import Path

import dns.message
import dns.rdataclass
import dns.rdatatype
import dns.rrset

import dnsr

PDNS_SERVER = os.environ.get("PDNS_SERVER", shutil.which("pdns_server") or "/usr/sbin/pdns_server")

# ------------------------------------------------------------------------- PROXY protocol v2

SIG = b"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"
CMD_LOCAL = 0x20
CMD_PROXY = 0x21
FAM = {(4, "tcp"): 0x11, (4, "udp"): 0x12, (6, "tcp"): 0x21, (6, "udp"): 0x22}


def proxy_v2(src, dst, transport="udp", command=CMD_PROXY):
    """A PROXY v2 header carrying (src_ip, src_port) -> (dst_ip, dst_port) over <transport>."""
    s, d = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    assert s.version == d.version
    body = s.packed + d.packed + struct.pack("!HH", src[1], dst[1])
    return SIG + bytes([command, FAM[(s.version, transport)]]) + struct.pack("!H", len(body)) + body


def local_v2():
    """A LOCAL header with no address: what a health check sends (PowerDNS answers it)."""
    return SIG + bytes([CMD_LOCAL, 0x00]) + struct.pack("!H", 0)


def local_v2_with_addresses(src, dst, transport="udp"):
    """A LOCAL header that carries addresses (PowerDNS 4.7 drops it)."""
    return proxy_v2(src, dst, transport, command=CMD_LOCAL)


def parse_proxy_v2(buf):
    """(header dict, rest of buf) when buf starts with a whole PROXY v2 header, None when it
    does not start with the signature; raises ValueError when the header is cut short.

    The dict: raw (the header bytes), command (0x20/0x21), family (the byte), src, dst
    ((ip string, port) or None), tlvs (bytes after the addresses)."""
    if not buf.startswith(SIG):
        return None
    if len(buf) < 16:
        raise ValueError("PROXY v2 header cut short")
    command, family = buf[12], buf[13]
    (length,) = struct.unpack("!H", buf[14:16])
    if len(buf) < 16 + length:
        raise ValueError("PROXY v2 header cut short")
    body = buf[16:16 + length]
    src = dst = None
    fam = family >> 4
    alen = {1: 4, 2: 16}.get(fam)
    tlvs = body
    if alen is not None and len(body) >= 2 * alen + 4:
        src_ip = str(ipaddress.ip_address(body[:alen]))
        dst_ip = str(ipaddress.ip_address(body[alen:2 * alen]))
        sport, dport = struct.unpack("!HH", body[2 * alen:2 * alen + 4])
        src, dst = (src_ip, sport), (dst_ip, dport)
        tlvs = body[2 * alen + 4:]
    hdr = {"raw": buf[:16 + length], "command": command, "family": family, "src": src,
           "dst": dst, "tlvs": tlvs}
    return hdr, buf[16 + length:]


def with_port(ip, port):
    """An address as PowerDNS's ComboAddress::toStringWithPort() writes it."""
    return ("[%s]:%d" if ":" in ip else "%s:%d") % (ip, port)


# ------------------------------------------------------------------------------- PowerDNS

# `who.example.` answers (a LUA record) with the querier's address and port as PowerDNS saw
# them, i.e. the PROXY header's source; any other name in example. answers TXT "<name>".
ZONE = """\
$ORIGIN example.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
@ TXT "{name}"
* TXT "{name}"
host A 192.0.2.1
host AAAA 2001:db8::1
www A 192.0.2.80
who LUA TXT "who:toStringWithPort()"
*.who LUA TXT "who:toStringWithPort()"
"""

# `Remote 127.0.0.1(192.0.2.55) wants 'x.example|TXT', do = 0, bufsize = 512` (UDP) and the
# same after `TCP ` (TCP); without a PROXY header there is no parenthesis.
_LOG_QUERY = re.compile(r"^(TCP )?Remote (\S+?)(?:\((\S+)\))? wants '([^|']*)\|([A-Za-z0-9]+)'")


class PdnsServer(dnsr.LoggedProcess):
    """pdns_server (bind backend, zone example.) on 127.0.0.1 and ::1 at a free port, its own
    config dir, in the foreground (no guardian, no daemon, no syslog), not the Debian service.
    Every query is logged on stderr (log_path) with the PROXY header's source address."""

    def __init__(self, workdir, name="pdns", proxy_from="127.0.0.1,::1"):
        self.name = name
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = dnsr.free_port()
        self.proxy_from = proxy_from
        self.proc = None
        self.log_path = self.dir / "pdns.log"
        self._log = None

    @property
    def addr4(self):
        return "127.0.0.1:%d" % self.port

    def config_text(self):
        lines = [
            "launch=bind",
            "bind-config=%s" % (self.dir / "named.conf"),
            "local-address=127.0.0.1,::1",
            "local-port=%d" % self.port,
            "proxy-protocol-from=%s" % self.proxy_from if self.proxy_from else "",
            "log-dns-queries=yes",
            # zone transfers only to clients in 127.0.1.0/24, not to the router's 127.0.0.1:
            # a transfer through the router succeeds only when the header names the client
            "allow-axfr-ips=127.0.1.0/24",
            "loglevel=6",
            "disable-syslog=yes",
            "log-timestamp=no",
            "security-poll-suffix=",
            "webserver=no",
            "api=no",
            "daemon=no",
            "guardian=no",
            "write-pid=no",
            "socket-dir=%s" % self.dir,
            "server-id=%s" % self.name,
            "enable-lua-records=yes",
            # no packet or query cache: every query reaches the backend and the log, and a LUA
            # answer is never served to another client from the cache
            "cache-ttl=0",
            "query-cache-ttl=0",
            "negquery-cache-ttl=0",
        ]
        return "\n".join(x for x in lines if x) + "\n"

    def start(self):
        (self.dir / "example.zone").write_text(ZONE.format(name=self.name))
        (self.dir / "named.conf").write_text(
            'zone "example." { type master; file "%s"; };\n' % (self.dir / "example.zone"))
        (self.dir / "pdns.conf").write_text(self.config_text())
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PDNS_SERVER, "--config-dir=%s" % self.dir, "--daemon=no", "--guardian=no",
             "--socket-dir=%s" % self.dir],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            dnsr.wait_for(self._ready, timeout=15, interval=0.05,
                          what="pdns_server %s ready" % self.name)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("pdns_server exited (%s): %s" % (self.proc.returncode,
                                                                   self.log()))
        hdr = local_v2() if self.proxy_from else b""
        for fam in (4, 6):
            q = dnsr.query("example.", "SOA", qid=dnsr.rand_id())
            data = pdns_udp(self.port, hdr + q.to_wire(), family=fam, timeout=0.2)
            if data is None:
                return False
            m = dns.message.from_wire(data)
            if m.id != q.id or not m.answer:
                return False
        return True

    def stop(self):
        if self.proc is not None:
            dnsr.stop_process(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def queries(self):
        """[(transport, peer, client or None, qname, qtype)] of every query in the log so far;
        peer is the address the packet came from, client the PROXY header's source."""
        out = []
        for line in self.log().splitlines():
            m = _LOG_QUERY.match(line)
            if m:
                out.append(("tcp" if m.group(1) else "udp", m.group(2), m.group(3),
                            m.group(4).lower().rstrip(".") + ".", m.group(5)))
        return out

    def queries_for(self, qname):
        qname = qname.lower()
        return [q for q in self.queries() if q[3] == qname]


def pdns_udp(port, wire, family=4, src=None, timeout=1.0):
    """Send <wire> (header and query) over UDP from <src>, return the answer bytes or None."""
    fam = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.bind((src or dnsr.host_of(family), 0))
        s.settimeout(timeout)
        s.sendto(wire, (dnsr.host_of(family), port))
        try:
            return s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None


def pdns_tcp(port, header, wires, family=4, timeout=2.0):
    """One TCP connection: <header> then <wires> length-prefixed in one write; the answers in
    order, or None for each one not read (connection reset or closed, or a timeout)."""
    out = []
    with socket.create_connection((dnsr.host_of(family), port), timeout=timeout) as s:
        try:
            s.sendall(header + b"".join(dnsr.tcp_frame(w) for w in wires))
            for _ in wires:
                out.append(dnsr.tcp_read_msg(s))
        except (OSError, ConnectionError):
            pass
    return out + [None] * (len(wires) - len(out))


# --------------------------------------------------------------------------- echo backend

class ProxyEchoBackend:
    """A UDP+TCP DNS server thread on 127.0.0.1 that reads an optional PROXY v2 header in front
    of each datagram and at the start of each TCP connection, records it, and answers TXT
    "<source address:port from the header>" (or "no-header"); id.server. CH TXT is answered
    TXT "<name>" and recorded too.

    .records: [(transport, conn number or None, header dict or None, qname, qtype, qclass)].
    .bad: [(transport, description)] for anything it could not parse (header cut short, a
    header in the middle of a TCP stream, a query that does not parse)."""

    def __init__(self, name="echo"):
        self.name = name
        self.records = []
        self.bad = []
        self.tcp_conns = 0
        self._lock = threading.Lock()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = None
        self.port = None

    @property
    def addr4(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        for _ in range(20):
            port = dnsr.free_port()
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
            except OSError:
                u.close()
                t.close()
                continue
            break
        else:
            raise RuntimeError("no port for the echo backend")
        t.listen(64)
        self.udp, self.tcp, self.port = u, t, port
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(5)
            self._thread = None
        for s in (getattr(self, "udp", None), getattr(self, "tcp", None)):
            if s is not None:
                s.close()
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def _answer(self, wire, hdr):
        q = dns.message.from_wire(wire)
        qq = q.question[0]
        r = dns.message.make_response(q)
        if qq.rdclass == dns.rdataclass.CH:
            text = self.name
        elif hdr is not None and hdr["src"] is not None:
            text = with_port(*hdr["src"])
        else:
            text = "no-header"
        r.answer.append(dns.rrset.from_text(qq.name, 0, qq.rdclass, "TXT", '"%s"' % text))
        rec = (str(qq.name).lower(), dns.rdatatype.to_text(qq.rdtype),
               dns.rdataclass.to_text(qq.rdclass))
        return r.to_wire(), rec

    def _datagram(self, data, addr):
        try:
            parsed = parse_proxy_v2(data)
            hdr, wire = parsed if parsed else (None, data)
            answer, rec = self._answer(wire, hdr)
        except Exception as e:     # noqa: BLE001 -- a test server records what it cannot read
            with self._lock:
                self.bad.append(("udp", "%r: %r" % (e, data[:64])))
            return
        with self._lock:
            self.records.append(("udp", None, hdr) + rec)
        try:
            self.udp.sendto(answer, addr)
        except OSError:
            pass

    def _stream(self, conn, st):
        """Consume what <st> (conn number, header state, buffer) holds."""
        buf = st["buf"]
        if st["hdr"] is False:                      # the connection's first bytes
            if len(buf) < len(SIG) and SIG.startswith(buf):
                return
            try:
                parsed = parse_proxy_v2(buf)
            except ValueError:
                return                              # wait for the rest of the header
            if parsed:
                st["hdr"], buf = parsed
            else:
                st["hdr"] = None
        while len(buf) >= 2:
            if buf[:4] == SIG[:4]:
                # a second header where a length should be: reads as a 3338-byte message
                with self._lock:
                    self.bad.append(("tcp", "PROXY signature inside the stream"))
                buf = b""
                break
            (n,) = struct.unpack("!H", buf[:2])
            if len(buf) < 2 + n:
                break
            wire, buf = buf[2:2 + n], buf[2 + n:]
            try:
                answer, rec = self._answer(wire, st["hdr"])
            except Exception as e:   # noqa: BLE001
                with self._lock:
                    self.bad.append(("tcp", "%r: %r" % (e, wire[:64])))
                continue
            with self._lock:
                self.records.append(("tcp", st["n"], st["hdr"]) + rec)
            try:
                conn.sendall(dnsr.tcp_frame(answer))
            except OSError:
                pass
        st["buf"] = buf

    def _run(self):
        conns = {}
        while True:
            rlist = [self._stop_r, self.udp, self.tcp] + list(conns)
            try:
                ready, _, _ = select.select(rlist, [], [], None)
            except (OSError, ValueError):
                return
            for s in ready:
                if s == self._stop_r:
                    for c in conns:
                        c.close()
                    return
                if s is self.udp:
                    try:
                        data, addr = self.udp.recvfrom(65535)
                    except OSError:
                        continue
                    self._datagram(data, addr)
                elif s is self.tcp:
                    try:
                        c, _ = self.tcp.accept()
                    except OSError:
                        continue
                    with self._lock:
                        self.tcp_conns += 1
                        n = self.tcp_conns
                    conns[c] = {"n": n, "hdr": False, "buf": b""}
                else:
                    try:
                        data = s.recv(65535)
                    except OSError:
                        data = b""
                    if not data:
                        conns.pop(s, None)
                        s.close()
                        continue
                    st = conns[s]
                    st["buf"] += data
                    self._stream(s, st)
