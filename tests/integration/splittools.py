# SPDX-License-Identifier: MIT
# tests/integration/splittools.py -- helpers of test_split.py: a knotd loading one presigned zone
# file as it is, the query families of sharding.md §4, the canonical-order routing the router's
# `shards` route does, and the byte comparison of answers.

import os
import random
import subprocess
from pathlib import Path

import dns.flags
import dns.message
import dns.name

import dnsr

SPLIT_BIN = os.environ.get("SPLIT_BIN", str(dnsr.REPO / "build" / "dnsrouter-split"))


class ZoneKnot(dnsr.LoggedProcess):
    """A knotd serving <zonefile> for <zone> as is: no signing, no journal, no zone file sync."""

    def __init__(self, name, workdir, zone, zonefile):
        self.name = name
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zone = zone
        self.zonefile = Path(zonefile).resolve()
        self.port = dnsr.free_port()
        self.proc = None
        self.log_path = self.dir / "knotd.log"
        self._log = None

    def start(self):
        conf = self.dir / "knot.conf"
        conf.write_text("""server:
    rundir: "{d}"
    listen: "127.0.0.1@{p}"
    identity: "{n}"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: "{z}"
    file: "{f}"
""".format(d=self.dir, p=self.port, n=self.name, z=self.zone, f=self.zonefile))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([dnsr.KNOTD, "-c", str(conf)], stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("knotd %s exited (%s): %s" % (self.name, self.proc.returncode,
                                                               self.log()))
        q = dns.message.make_query(self.zone, "SOA")
        data = dnsr.udp_exchange(self.port, q.to_wire(), timeout=0.2)
        if data is None:
            return False
        r = dns.message.from_wire(data)
        return r.rcode() == 0 and bool(r.answer)

    def stop(self):
        if self.proc is not None:
            dnsr.stop_process(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


NSD = os.environ.get("NSD", "/usr/sbin/nsd")


class ZoneNsd(ZoneKnot):
    """An nsd serving <zonefile> for <zone> as is, in the foreground, with response rate
    limiting off (its default limit made the reference answer TC=1 in the design's runs)."""

    def start(self):
        conf = self.dir / "nsd.conf"
        conf.write_text("""server:
    ip-address: 127.0.0.1@{p}
    port: {p}
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    zonelistfile: "{d}/zone.list"
    database: ""
    identity: "{n}"
    hide-version: yes
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "{z}"
    zonefile: "{f}"
""".format(d=self.dir, p=self.port, n=self.name, z=self.zone, f=self.zonefile))
        self.log_path = self.dir / "nsd.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([NSD, "-d", "-c", str(conf)], stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self


def start_all(servers, timeout=30.0):
    """Start every server, then wait (with one deadline) until each answers its SOA."""
    for s in servers:
        s.start()
    pending = list(servers)

    def all_ready():
        pending[:] = [s for s in pending if not s.ready()]
        return not pending
    dnsr.wait_for(all_ready, timeout=timeout, interval=0.05, what="knotd servers ready")


def run_split(args, check=True):
    """dnsrouter-split <args>; CompletedProcess (stderr text)."""
    p = subprocess.run([SPLIT_BIN] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("dnsrouter-split %s: exit %d\n%s" % (args, p.returncode, p.stderr))
    return p


def read_froms(routes_yaml):
    """The `from` names of routes.yaml, in order (the flow mappings the tool writes)."""
    froms = []
    for line in Path(routes_yaml).read_text().splitlines():
        line = line.strip()
        if line.startswith("- { from: '"):
            rest = line[len("- { from: '"):]
            out, i = "", 0
            while True:
                if rest[i] == "'" and rest[i + 1:i + 2] == "'":
                    out += "'"
                    i += 2
                elif rest[i] == "'":
                    break
                else:
                    out += rest[i]
                    i += 1
            froms.append(out)
    return froms


def shard_of(froms, qname):
    """The shard of <qname>: the last `from` not after it in DNSSEC canonical order (dnspython
    compares names label by label from the root, case-folded: RFC 4034 §6.1)."""
    n = dns.name.from_text(qname)
    idx = 0
    for i, f in enumerate(froms):
        if dns.name.from_text(f) <= n:
            idx = i
    return idx


def nsec3_hash(name, salt=b"", iterations=0):
    """RFC 5155 §5: the base32hex (lower-case) SHA-1 hash of <name>."""
    import base64
    import hashlib
    wire = dns.name.from_text(name).canonicalize().to_wire()
    h = hashlib.sha1(wire + salt).digest()
    for _ in range(iterations):
        h = hashlib.sha1(h + salt).digest()
    return base64.b32hexencode(h).decode().lower()


def nsec3_shard_of(prefixes, rest, origin, qname):
    """The nsec3 route (sharding.md §3 B2): the hash of the name one label below <origin>
    against the base32hex <prefixes> (below the first wraps to the last), the apex to shard 0,
    a name under a <rest> label to the rest shard (index len(prefixes))."""
    n = dns.name.from_text(qname)
    o = dns.name.from_text(origin)
    if n == o or not n.is_subdomain(o):
        return 0
    first = dns.name.Name(n.labels[len(n.labels) - len(o.labels) - 1:])
    if first.labels[0].decode().lower() in rest:
        return len(prefixes)
    h = nsec3_hash(first.to_text())
    idx = len(prefixes) - 1
    for i, p in enumerate(prefixes):
        if h[:len(p)] >= p:
            idx = i
    return idx


def queries(zone, froms, seed=4034, randoms=60):
    """The §4 families: every owner and ENT x (A, its types, an absent type), DS at delegations,
    www./a.b. below and at each cut, zz-nx./0. children and a -nx sibling of every name, and
    random names of 1-4 labels. A list of unique (qname, type)."""
    rng = random.Random(seed)
    names = zone.owners() + sorted(zone.ents)
    out = []
    for n in names:
        for t in ["A"] + zone.types_of(n) + ["NAPTR"]:
            out.append((n, t))
    for d in zone.delegs:
        out.append((d, "DS"))
    for f in froms:
        out += [(f, "A"), (f, "TXT"), ("www." + f, "A"), ("a.b." + f, "A")]
    for n in names:
        if n == zone.origin:
            continue
        first, parent = n.split(".", 1)
        out += [("zz-nx." + n, "A"), ("0." + n, "TXT"), (first + "-nx." + parent, "A")]
    labels = sorted({lab for n in names for lab in n.split(".")[:-2] if lab})
    for _ in range(randoms):
        k = rng.randint(1, 4)
        labs = [rng.choice(labels) if rng.random() < 0.6 else
                "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-") for _ in range(
                    rng.randint(1, 8))).strip("-") or "q" for _ in range(k)]
        out.append((".".join(labs) + "." + zone.origin, rng.choice(["A", "TXT", "MX", "AAAA"])))
    out += getattr(zone, "extra_queries", [])
    seen, uniq = set(), []
    for q in out:
        key = (q[0].lower(), q[1])
        if key not in seen:
            seen.add(key)
            uniq.append(q)
    return uniq


def wire_query(qname, qtype, qid):
    """DO=1, RD=0, EDNS payload 1232."""
    q = dns.message.make_query(qname, qtype, use_edns=0, want_dnssec=True, payload=1232)
    q.flags &= ~dns.flags.RD
    q.id = qid
    return q.to_wire()


def ask(port, wire, tcp=False):
    if tcp:
        return dnsr.tcp_exchange(port, wire, timeout=3.0)
    for _ in range(3):
        data = dnsr.udp_exchange(port, wire, timeout=1.0)
        if data is not None:
            return data
    return None


def compare(qs, ref_port, port_of, tcp_every=0):
    """Ask each (qname, type) of the reference and of port_of(qname); the mismatches as
    (qname, type, transport, ref answer, shard answer), and how many answers were compared."""
    bad, compared = [], 0
    for i, (name, qtype) in enumerate(qs):
        wire = wire_query(name, qtype, (i * 7919 + 1) & 0xFFFF)
        transports = [False] + ([True] if tcp_every and i % tcp_every == 0 else [])
        for tcp in transports:
            a = ask(ref_port, wire, tcp)
            b = ask(port_of(name), wire, tcp)
            compared += 1
            if a is None or b is None or a[2:] != b[2:]:
                bad.append((name, qtype, "tcp" if tcp else "udp", a, b))
    return bad, compared


def describe(bad, limit=5):
    lines = []
    for name, qtype, tr, a, b in bad[:limit]:
        def show(x):
            if x is None:
                return "(no answer)"
            try:
                return str(dns.message.from_wire(x))
            except Exception as e:  # noqa: BLE001 - a broken answer is shown as such
                return "(unparsable: %s)" % e
        lines.append("== %s %s over %s\n-- reference:\n%s\n-- routed:\n%s" % (
            name, qtype, tr, show(a), show(b)))
    return "\n".join(lines)


class Unbound(dnsr.LoggedProcess):
    """A validating unbound with <anchor> (a DNSKEY line) for <zone>, whose stub is 127.0.0.1
    at <stub_port> (the router, or the reference server)."""

    def __init__(self, name, workdir, zone, anchor, stub_port):
        self.name = name
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = dnsr.free_port()
        self.log_path = self.dir / "unbound.log"
        self.proc = None
        self.conf = self.dir / "unbound.conf"
        self.conf.write_text("""server:
    interface: 127.0.0.1
    port: {p}
    do-daemonize: no
    use-syslog: no
    logfile: ""
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: ""
    num-threads: 1
    so-reuseport: no
    do-not-query-localhost: no
    qname-minimisation: yes
    aggressive-nsec: yes
    module-config: "validator iterator"
    val-log-level: 2
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    trust-anchor: "{a}"
    domain-insecure: "net."
stub-zone:
    name: "{z}"
    stub-addr: 127.0.0.1@{s}
""".format(p=self.port, d=self.dir, a=anchor, z=zone, s=stub_port))
        self._log = None

    def start(self):
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["/usr/sbin/unbound", "-d", "-c", str(self.conf)],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("unbound %s exited: %s" % (self.name, self.log()))
        q = dns.message.make_query("id.server.", "TXT", "CH")
        return dnsr.udp_exchange(self.port, q.to_wire(), timeout=0.2) is not None

    def resolve(self, qname, qtype):
        """(rcode, AD, answer) of a recursive, DNSSEC-wanting query, the answer section as
        sorted (owner, type, sorted rdata) without TTLs, which the caches count down; (None,
        None, None) with no answer. The records matter: one broken split gave a secure, empty
        NODATA where the whole zone gives a wildcard answer."""
        q = dns.message.make_query(qname, qtype, want_dnssec=True)
        q.flags |= dns.flags.AD
        data = ask(self.port, q.to_wire())
        if data is None:
            return None, None, None
        r = dns.message.from_wire(data)
        answer = tuple(sorted((rrset.name.to_text().lower(), rrset.rdtype,
                               tuple(sorted(rd.to_text() for rd in rrset)))
                              for rrset in r.answer))
        return r.rcode(), bool(r.flags & dns.flags.AD), answer

    def stop(self):
        if self.proc is not None:
            dnsr.stop_process(self.proc)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
