# SPDX-License-Identifier: MIT
# tests/integration/curvetools.py -- DNSCurve for the integration tests: a client of our own
# (PyNaCl), the real dq client, a real CurveDNS as the control, and a Knot with answers of
# chosen sizes.
#
# The client is written again from shared/notes/crypto-fronts.md §1.1 and uses none of the
# router's C: streamlined and TXT queries over UDP and TCP, with or without dq's padding, and
# the responses opened and checked byte by byte (magic, echoed client nonce, TXT header and
# echoed question). It also makes the malformed queries dq never sends (flipped MAC bit, a box
# for another server key, a truncated box, a bad x1a label), and drives bounded loads whose
# answers are matched by their client nonce (for the nonce and fresh-key tests).

import os
import random
import select
import socket
import struct
import subprocess
import time
from pathlib import Path

from nacl.bindings import (crypto_box_afternm, crypto_box_beforenm, crypto_box_keypair,
                           crypto_box_open_afternm, crypto_scalarmult_base)

import dnsr

DQ = os.environ.get("DQ", "/usr/bin/dq")
CURVEDNS = os.environ.get("CURVEDNS", "/usr/sbin/curvedns")

ALPHABET = "0123456789bcdfghjklmnpqrstuvwxyz"
Q_MAGIC = b"Q6fnvWj8"
R_MAGIC = b"R6fnvWJ8"
STREAMLINED_QUERY_OVERHEAD = 68
STREAMLINED_RESPONSE_OVERHEAD = 48
TYPE_TXT = 16


class CurveError(Exception):
    """A response that is not the DNSCurve response to the query we sent."""


# -------------------------------------------------------------------------------- base32, keys


def b32encode(data):
    """DNSCurve base32: 5-bit groups, least-significant bits first."""
    out, x, bits = [], 0, 0
    for byte in data:
        x |= byte << bits
        bits += 8
        while bits >= 5:
            out.append(ALPHABET[x & 31])
            x >>= 5
            bits -= 5
    if bits:
        out.append(ALPHABET[x])
    return "".join(out)


def b32decode(text, keep=False):
    """Inverse of b32encode; keep=True keeps the final partial byte (a key's last 7 bits)."""
    out, x, bits = bytearray(), 0, 0
    for ch in text.lower():
        x |= ALPHABET.index(ch) << bits
        bits += 5
        if bits >= 8:
            out.append(x & 0xFF)
            x >>= 8
            bits -= 8
    if keep and bits:
        out.append(x)
    elif not keep and (bits >= 5 or x):
        raise ValueError("leftover bits")
    return bytes(out)


def keypair():
    """(public, secret) Curve25519 keys; a public key whose top bit is set is drawn again (the
    51-character base32 form cannot carry it, and no real implementation makes one)."""
    while True:
        pk, sk = crypto_box_keypair()
        if pk[31] < 0x80:
            return pk, sk


def public(sk):
    return crypto_scalarmult_base(sk)


def dns_key(pk):
    """The 'uz5...' label (54 characters) that names a server public key."""
    return "uz5" + b32encode(pk)[:51]


def key_from_dns(label):
    assert label[:3].lower() == "uz5" and len(label) == 54, label
    return b32decode(label[3:], keep=True)


class ServerKey:
    """A server key pair; .write(path) makes the hex secret file the router reads."""

    def __init__(self, sk=None):
        if sk is None:
            pk, sk = keypair()
        self.sk = sk
        self.pk = public(sk)

    @property
    def dns(self):
        return dns_key(self.pk)

    @property
    def sk_hex(self):
        return self.sk.hex()

    def write(self, path, mode=0o600):
        path = Path(path)
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, (self.sk_hex + "\n").encode())
        finally:
            os.close(fd)
        os.chmod(str(path), mode)
        return path


def keygen_fields(text):
    """The three 'Name:\\tvalue' lines of curvedns-keygen / dnsrouter -K as a dict."""
    out = {}
    for line in text.splitlines():
        if ":\t" in line:
            k, v = line.split(":\t", 1)
            out[k] = v
    return out


# -------------------------------------------------------------------------------- DNS bits


def name_wire(name):
    labels = [x for x in name.rstrip(".").split(".") if x]
    return b"".join(bytes([len(x)]) + x.encode("ascii") for x in labels) + b"\0"


def plain_query(name, qtype=TYPE_TXT, qid=None, rd=False, edns=None):
    """A plain DNS query: header, one IN question, and an OPT RR with UDP size <edns> if
    given."""
    qid = random.randrange(0x10000) if qid is None else qid
    msg = struct.pack("!HBBHHHH", qid, 1 if rd else 0, 0, 1, 0, 0, 1 if edns else 0)
    msg += name_wire(name) + struct.pack("!HH", qtype, 1)
    if edns:
        msg += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return msg


def dq_pad(msg, total=None):
    """msg || 0x00... || 0x80, as dq pads streamlined plaintext (to 128 or 192 bytes)."""
    if total is None:
        total = 128 if len(msg) < 128 else (len(msg) + 64) // 64 * 64
    assert total > len(msg)
    return msg + bytes(total - len(msg) - 1) + b"\x80"


def question_end(msg, pos=12):
    """The offset just past the first question (uncompressed name) of <msg>."""
    while msg[pos]:
        pos += 1 + msg[pos]
    return pos + 5


# -------------------------------------------------------------------------------- the client


class Answer:
    """An opened DNSCurve response: the inner DNS message and the server nonce."""

    def __init__(self, inner, server_nonce, raw, fmt, transport):
        self.inner = inner
        self.server_nonce = server_nonce
        self.raw = raw
        self.fmt = fmt
        self.transport = transport

    def message(self):
        import dns.message
        return dns.message.from_wire(self.inner)

    @property
    def tc(self):
        return bool(self.inner[2] & 0x02)


class Client:
    """A DNSCurve client with its own key pair (or <sk>), talking to the server key
    <server_pk>. The shared key is computed once here."""

    def __init__(self, server_pk, sk=None):
        if sk is None:
            pk, sk = keypair()
        self.sk = sk
        self.pk = public(sk)
        self.server_pk = server_pk
        self.shared = crypto_box_beforenm(server_pk, sk)

    # -- queries

    @staticmethod
    def nonce():
        return os.urandom(12)

    def box(self, msg, nonce):
        """MAC || ciphertext of <msg> under client_nonce || 0^12."""
        return crypto_box_afternm(msg, nonce + bytes(12), self.shared)

    def streamlined(self, msg, nonce=None, pad=False):
        """(packet, nonce) of a streamlined query for plain query <msg>; pad=True pads like dq,
        an int pads to that many bytes."""
        nonce = nonce or self.nonce()
        if pad:
            msg = dq_pad(msg, None if pad is True else pad)
        return Q_MAGIC + self.pk + nonce + self.box(msg, nonce), nonce

    def txt(self, msg, suffix="example.", qid=None, nonce=None, rd=False, key_label=None,
            box=None):
        """(packet, nonce, outer id) of a TXT-format query for <msg> under zone <suffix>;
        <key_label> replaces the 54-byte 'x1a...' label and <box> the box (to make bad
        ones)."""
        nonce = nonce or self.nonce()
        qid = random.randrange(0x10000) if qid is None else qid
        if box is None:
            box = self.box(msg, nonce)
        chars = b32encode(nonce + box).encode()
        labels = [chars[i:i + 50] for i in range(0, len(chars), 50)]
        labels.append(key_label if key_label is not None else
                      ("x1a" + b32encode(self.pk)[:51]).encode())
        labels += [x.encode() for x in suffix.rstrip(".").split(".") if x]
        name = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
        hdr = struct.pack("!HBBHHHH", qid, 1 if rd else 0, 0, 1, 0, 0, 0)
        return hdr + name + struct.pack("!HH", TYPE_TXT, 1), nonce, qid

    # -- responses

    def open(self, box, cnonce, snonce):
        try:
            return crypto_box_open_afternm(box, cnonce + snonce, self.shared)
        except Exception as e:
            raise CurveError("response box does not open: %s" % e)

    def open_streamlined(self, pkt, cnonce):
        if len(pkt) < 32 + 16:
            raise CurveError("streamlined response of %d bytes" % len(pkt))
        if pkt[:8] != R_MAGIC:
            raise CurveError("no R6fnvWJ8 magic: %r" % pkt[:8])
        if pkt[8:20] != cnonce:
            raise CurveError("client nonce not echoed")
        snonce = pkt[20:32]
        return snonce, self.open(pkt[32:], cnonce, snonce)

    def open_txt(self, pkt, query, cnonce):
        """Open the TXT-format response <pkt> to our TXT query <query>: ID, flags 0x84 0x00,
        QD=AN=1, NS=AR=0, the question echoed, one c00c TXT IN answer."""
        qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", pkt[:12])
        if qid != struct.unpack("!H", query[:2])[0]:
            raise CurveError("outer ID %04x, sent %s" % (qid, query[:2].hex()))
        if flags != 0x8400:
            raise CurveError("outer flags %04x, want 8400" % flags)
        if (qd, an, ns, ar) != (1, 1, 0, 0):
            raise CurveError("outer counts %r" % ((qd, an, ns, ar),))
        qend = question_end(query)
        if pkt[12:qend] != query[12:qend]:
            raise CurveError("question not echoed")
        pos = qend
        ptr, rtype, rclass, ttl, rdlen = struct.unpack("!HHHIH", pkt[pos:pos + 12])
        if (ptr, rtype, rclass) != (0xC00C, TYPE_TXT, 1):
            raise CurveError("answer RR %04x type %d class %d" % (ptr, rtype, rclass))
        rdata = pkt[pos + 12:pos + 12 + rdlen]
        if len(rdata) != rdlen or pos + 12 + rdlen != len(pkt):
            raise CurveError("answer RDATA length %d, packet %d" % (rdlen, len(pkt)))
        payload, i = b"", 0
        while i < len(rdata):
            n = rdata[i]
            payload += rdata[i + 1:i + 1 + n]
            i += 1 + n
        if i != len(rdata) or len(payload) < 12 + 16:
            raise CurveError("bad TXT strings")
        snonce = payload[:12]
        return snonce, self.open(payload[12:], cnonce, snonce)

    # -- one exchange

    def make(self, msg, fmt="streamlined", pad=False, suffix="example.", nonce=None, rd=False):
        """(packet, opener) for one query: opener(response packet) -> (snonce, inner).
        rd sets RD on a TXT query's outer header."""
        if fmt == "streamlined":
            pkt, cn = self.streamlined(msg, nonce=nonce, pad=pad)
            return pkt, lambda r: self.open_streamlined(r, cn)
        pkt, cn, _ = self.txt(msg, suffix=suffix, nonce=nonce, rd=rd)
        return pkt, lambda r: self.open_txt(r, pkt, cn)

    def exchange(self, port, msg, fmt="streamlined", transport="udp", pad=False,
                 suffix="example.", host="127.0.0.1", src=None, timeout=2.0, rd=False):
        """Send one query for plain message <msg>; the Answer, or None when nothing came back
        in <timeout> (UDP) or the connection was closed without an answer (TCP). A response
        that does not open raises CurveError."""
        pkt, opener = self.make(msg, fmt, pad, suffix, rd=rd)
        raw = send_raw(port, pkt, transport, host=host, src=src, timeout=timeout)
        if raw is None:
            return None
        snonce, inner = opener(raw)
        if inner[:2] != msg[:2]:
            raise CurveError("inner ID %s, sent %s" % (inner[:2].hex(), msg[:2].hex()))
        return Answer(inner, snonce, raw, fmt, transport)


def send_raw(port, pkt, transport="udp", host="127.0.0.1", src=None, timeout=2.0):
    """Send <pkt> as one datagram or one framed TCP message; the first datagram / message
    back, or None (timeout, refused, closed)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(fam, kind) as s:
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        try:
            s.connect((host, port))
            if transport == "udp":
                s.send(pkt)
                return s.recv(65535)
            s.sendall(dnsr.tcp_frame(pkt))
            return dnsr.tcp_read_msg(s)
        except (socket.timeout, ConnectionError, OSError):
            return None


# -------------------------------------------------------------------------------- bounded loads


class Blast:
    """Send streamlined UDP queries, at most <window> outstanding per socket (None: no
    limit), from sockets bound to <src> (an address, or a list the sockets take in turn), and
    match answers by their echoed client nonce.

    items is a list of (Client, plain query); each is sent once with a fresh nonce. rate=R
    paces the sending at R/s; duration stops sending after that long. After the last send it
    waits at most <timeout> for the stragglers. Afterwards: .sent (count), .answers (list of
    (index, server nonce, inner, socket number) in the order received), .bad (responses
    that did not open or matched nothing)."""

    def __init__(self, port, items, src="127.0.0.1", sockets=4, window=16, rate=None,
                 duration=None, timeout=1.0, host="127.0.0.1", pad=False):
        self.port, self.items, self.src = port, items, src
        self.nsock, self.window, self.rate = sockets, window, rate
        self.duration, self.timeout, self.host, self.pad = duration, timeout, host, pad
        self.sent = 0
        self.answers = []
        self.bad = 0

    def run(self):
        socks = []
        try:
            for _ in range(self.nsock):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                srcs = [self.src] if isinstance(self.src, str) else list(self.src)
                s.bind((srcs[len(socks) % len(srcs)], 0))
                s.connect((self.host, self.port))
                s.setblocking(False)
                socks.append(s)
            self._loop(socks)
        finally:
            for s in socks:
                s.close()
        return self

    def _loop(self, socks):
        pending = {}                 # client nonce -> (index, client, sent at, socket number)
        outstanding = [0] * len(socks)
        nxt = 0
        t0 = time.monotonic()
        stop_at = t0 + self.duration if self.duration else None
        last_send = t0
        next_expiry = t0
        while True:
            now = time.monotonic()
            sending = nxt < len(self.items) and (stop_at is None or now < stop_at)
            if not sending and (not pending or now - last_send > self.timeout):
                break
            for k, s in enumerate(socks if sending else ()):
                if nxt >= len(self.items) or (self.rate and nxt >= (now - t0) * self.rate):
                    break
                if self.window and outstanding[k] >= self.window:
                    continue
                client, msg = self.items[nxt]
                pkt, cn = client.streamlined(msg, pad=self.pad)
                try:
                    s.send(pkt)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                pending[cn] = (nxt, client, now, k)
                outstanding[k] += 1
                self.sent += 1
                last_send = now
                nxt += 1
            if now >= next_expiry:
                next_expiry = now + 0.05
                for cn in [cn for cn, v in pending.items() if now - v[2] > self.timeout]:
                    outstanding[pending.pop(cn)[3]] -= 1
            r, _, _ = select.select(socks, [], [], 0.001 if sending else 0.02)
            for s in r:
                while True:
                    try:
                        data = s.recv(65535)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    cn = data[8:20]
                    entry = pending.pop(cn, None)
                    if entry is None or data[:8] != R_MAGIC:
                        self.bad += 1
                        continue
                    idx, client, _, k = entry
                    outstanding[k] -= 1
                    try:
                        snonce, inner = client.open_streamlined(data, cn)
                    except CurveError:
                        self.bad += 1
                        continue
                    self.answers.append((idx, snonce, inner, k))


def tcp_blast(port, items, src="127.0.0.1", conns=4, rate=100, duration=2.0, timeout=1.0,
              host="127.0.0.1"):
    """Streamlined queries over <conns> TCP connections from <src>, paced at <rate>/s for
    <duration> s, round robin; waits at most <timeout> after the last send. Returns
    (sent, answers as (index, server nonce, inner))."""
    socks, bufs = [], []
    pending, answers = {}, []
    sent = 0
    try:
        for _ in range(conns):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.connect((host, port))
            s.setblocking(False)
            socks.append(s)
            bufs.append(b"")
        t0 = time.monotonic()
        last = t0
        while True:
            now = time.monotonic()
            sending = sent < len(items) and now - t0 < duration
            if not sending and (not pending or now - last > timeout):
                break
            while sending and sent < len(items) and sent < (now - t0) * rate:
                client, msg = items[sent]
                pkt, cn = client.streamlined(msg)
                socks[sent % conns].sendall(dnsr.tcp_frame(pkt))
                pending[cn] = (sent, client)
                sent += 1
                last = now
            r, _, _ = select.select(socks, [], [], 0.002)
            for s in r:
                k = socks.index(s)
                try:
                    data = s.recv(65535)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError("the router closed TCP connection %d" % k)
                bufs[k] += data
                while len(bufs[k]) >= 2:
                    (n,) = struct.unpack("!H", bufs[k][:2])
                    if len(bufs[k]) < 2 + n:
                        break
                    resp, bufs[k] = bufs[k][2:2 + n], bufs[k][2 + n:]
                    entry = pending.pop(resp[8:20], None)
                    if entry is None:
                        raise CurveError("an answer to no query of ours")
                    snonce, inner = entry[1].open_streamlined(resp, resp[8:20])
                    answers.append((entry[0], snonce, inner))
    finally:
        for s in socks:
            s.close()
    return sent, answers


# -------------------------------------------------------------------------------- dq


class DqResult:
    def __init__(self, proc, cmd):
        self.cmd = cmd
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        lines = proc.stdout.splitlines()
        self.summary = next((x for x in lines if " bytes, " in x), None)
        self.records = sorted(tuple(x[len("answer: "):].split(" ", 3))
                              for x in lines if x.startswith("answer: "))
        self.failed = "temporary failure" in proc.stdout or "failure" in proc.stderr

    @property
    def ok(self):
        return self.rc == 0 and self.summary is not None and not self.failed

    def __repr__(self):
        return "dq %s -> rc %s\n%s%s" % (" ".join(self.cmd), self.rc, self.stdout, self.stderr)


def dq(key, port, name, qtype="txt", tcp=False, suffix=None, host="127.0.0.1", timeout=3,
       verbose=False):
    """Run the real dq: dq -a [-t] [-S suffix] -k KEY -p PORT -T timeout qtype name host."""
    cmd = [DQ, "-a"] + (["-v"] if verbose else []) + (["-t"] if tcp else [])
    cmd += ["-S", suffix] if suffix else []
    cmd += ["-k", key, "-p", str(port), "-T", str(timeout), qtype, name, host]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * 4 + 10,
                          stdin=subprocess.DEVNULL)
    return DqResult(proc, cmd)


def records_as_dq(msg):
    """The answer section of dnspython message <msg> in dq's 'answer:' form, sorted:
    (name, ttl, type, data), TXT strings joined."""
    out = []
    for rrset in msg.answer:
        name = rrset.name.to_text(omit_final_dot=True)
        import dns.rdatatype
        for rd in rrset:
            if rrset.rdtype == dns.rdatatype.TXT:
                data = b"".join(rd.strings).decode("ascii")
            else:
                data = rd.to_text()
            out.append((name, str(rrset.ttl), dns.rdatatype.to_text(rrset.rdtype), data))
    return sorted(out)


# -------------------------------------------------------------------------------- CurveDNS


class CurveDNS(dnsr.LoggedProcess):
    """The real curvedns 0.87 in front of <target_port>, the control: listens on
    127.0.0.1:<port> with secret key <sk> (chroots to an empty dir, setuid 65534)."""

    def __init__(self, workdir, sk, target_port, port=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root = self.dir / "empty"
        self.root.mkdir(exist_ok=True)
        self.sk = sk
        self.target_port = target_port
        self.port = port or dnsr.free_port()
        self.log_path = self.dir / "curvedns.log"
        self.proc = None

    def start(self):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CURVEDNS_PRIVATE_KEY": self.sk.hex(),
               "UID": "65534", "GID": "65534", "ROOT": str(self.root)}
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [CURVEDNS, "127.0.0.1", str(self.port), "127.0.0.1", str(self.target_port)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            dnsr.wait_for(self._ready, timeout=10, interval=0.02, what="curvedns ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self):
        if not self.alive():
            raise AssertionError("curvedns exited (%s): %s" % (self.proc.returncode,
                                                               self.log()))
        # plain DNS passes through curvedns to the target
        return dnsr.udp_exchange(self.port, plain_query("example.", 6), timeout=0.2) is not None

    def stop(self):
        if self.proc is not None:
            dnsr.stop_process(self.proc)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


# -------------------------------------------------------------------------------- Knot


class CurveKnot(dnsr.KnotBackend):
    """The test Knot with extra answers of chosen sizes in example.:
    t700.example.  one TXT RR of three strings (a ~730-byte answer: several 255-byte TXT
                   strings in a TXT-format response, too big for 512-byte UDP);
    t490.example.  one TXT RR sized so the plain answer is 465..512 bytes: it fits a plain
                   512-byte UDP answer but not once boxed (+48 streamlined), so the router
                   itself must truncate it."""

    def _zone_text(self, zone):
        text = super()._zone_text(zone)
        if zone == "example.":
            text += 't700 TXT "%s" "%s" "%s"\n' % ("a" * 230, "b" * 230, "c" * 230)
            text += 't490 TXT "%s" "%s"\n' % ("d" * 225, "e" * 225)
        return text


# -------------------------------------------------------------------------------- nonces


def nonce_fields(snonce):
    """(instance, worker, counter, random byte) of a server nonce in the router's layout."""
    inst, worker = struct.unpack("!HB", snonce[:3])
    (counter,) = struct.unpack("!Q", snonce[3:11])
    return inst, worker, counter, snonce[11]


def read_nonce_file(path):
    data = Path(path).read_bytes()
    assert len(data) % 12 == 0, "nonce file of %d bytes" % len(data)
    return [data[i:i + 12] for i in range(0, len(data), 12)]
