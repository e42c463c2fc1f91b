# SPDX-License-Identifier: MIT
# tests/integration/zonegen.py -- the sharding test zone (sharding.md §4), from a fixed seed,
# and its signing with ldns-signzone (ECDSA P-256, NSEC, fixed inception and expiration).
#
# The zone has wildcards (deeper ones, and the apex one in the `apex_wild` variant), empty
# non-terminals, delegations with and without DS, in-bailiwick and sibling glue, out-of-zone NS,
# a delegation below an ENT and one 5 labels deep, CNAME chains across subtrees and to missing,
# wildcard, ENT, delegated and out-of-zone targets, MX/SRV targets in other subtrees, and the
# labels `\(bang`, `-dash`, `0`, `_dmarc`, `Mixed-Case`; in the `dname` variant a DNAME into a
# subtree and one to a name that does not exist. No raw `! # $ % &` (Knot rejects them
# unescaped as the signers write them).

import base64
import hashlib
import random
import subprocess
from pathlib import Path

ORIGIN = "example."
INCEPTION = "20260101000000"
EXPIRATION = "20360101000000"


class Zone:
    """The records as (owner, type, rdata) text, owners absolute."""

    def __init__(self, seed=13, apex_wild=False, hosts=80, delegations=27, dname=False):
        self.rng = random.Random(seed)
        self.origin = getattr(self, "origin", ORIGIN)
        self.rrs = []
        self.ents = set()
        self.delegs = []
        self.extra_queries = []    # names the owners and ENTs do not give (below a DNAME)
        self._build(apex_wild, hosts, delegations)
        if dname:
            self._dnames()

    def add(self, owner, rtype, rdata):
        self.rrs.append((owner, rtype, rdata))

    def _build(self, apex_wild, hosts, delegations):
        r = self.rng
        z = ORIGIN
        add = self.add
        add(z, "SOA", "ns1.%s hostmaster.%s 2026120601 3600 600 86400 300" % (z, z))
        add(z, "NS", "ns1." + z)
        add(z, "NS", "ns2." + z)
        add(z, "MX", "10 mail." + z)
        add(z, "TXT", '"v=spf1 -all"')
        add(z, "A", "192.0.2.1")
        add("ns1." + z, "A", "192.0.2.53")
        add("ns1." + z, "AAAA", "2001:db8::53")
        add("ns2." + z, "A", "198.51.100.53")
        add("mail." + z, "A", "192.0.2.25")
        if apex_wild:
            add("*." + z, "TXT", '"apex wildcard"')
            add("*." + z, "A", "192.0.2.254")
        for i in range(hosts):
            h = "host%02d.%s" % (i, z)
            add(h, "A", "192.0.2.%d" % (10 + i))
            if r.random() < 0.4:
                add(h, "AAAA", "2001:db8::%x" % (0x100 + i))
            if r.random() < 0.3:
                add(h, "TXT", '"host %d"' % i)
            if r.random() < 0.25:
                add(h, "MX", "%d host%02d.%s" % (r.randint(1, 50), r.randrange(hosts), z))
        # delegations: in-bailiwick glue, sibling glue, out-of-zone NS; about half with DS
        for i in range(delegations):
            c = "child%02d.%s" % (i, z)
            self.delegs.append(c)
            kind = i % 3
            if kind == 0:
                add(c, "NS", "ns." + c)
                add("ns." + c, "A", "203.0.113.%d" % i)
            elif kind == 1:
                add(c, "NS", "ns.child%02d.%s" % ((i + 2) % delegations, z))
                add(c, "NS", "ns1." + z)
            else:
                add(c, "NS", "ns.other-provider.net.")
            if i % 2 == 0:
                add(c, "DS", "%d 13 2 %064x" % (1000 + i, r.getrandbits(256)))
        for i in range(delegations):
            if i % 3 != 0 and (i - 2) % 3 == 0:
                add("ns.child%02d.%s" % (i, z), "A", "203.0.113.%d" % (100 + i))
        # a delegation below an empty non-terminal, one 5 labels deep
        add("sub.ent2." + z, "NS", "ns.sub.ent2." + z)
        add("ns.sub.ent2." + z, "A", "203.0.113.200")
        add("sub.ent2." + z, "DS", "2000 13 2 %064x" % r.getrandbits(256))
        self.delegs += ["sub.ent2." + z, "d5.c4.b3.deep5." + z]
        add("d5.c4.b3.deep5." + z, "NS", "ns.other-provider.net.")
        add("x.c4.b3.deep5." + z, "TXT", '"beside the deep delegation"')
        # wildcards below the apex
        add("*.wild." + z, "A", "192.0.2.99")
        add("*.wild." + z, "TXT", '"wild"')
        add("real.wild." + z, "A", "192.0.2.98")
        add("\\(a.wild." + z, "TXT", '"before the deep cut"')
        add("*.apps." + z, "CNAME", "host03." + z)
        add("web.apps." + z, "A", "192.0.2.97")
        add("*.sub.deep." + z, "MX", "10 mail." + z)
        add("x.sub.deep." + z, "TXT", '"deep"')
        # empty non-terminals and chains of them
        for a in ("a", "b", "c"):
            add("%s.y.ent.%s" % (a, z), "A", "192.0.2.%d" % (150 + ord(a) - 97))
        add("c.x.ent." + z, "TXT", '"c below x below ent"')
        add("leaf.q.p.o.chain." + z, "A", "192.0.2.160")
        add("m.chain." + z, "TXT", '"chain sibling"')
        self.ents.update(["ent." + z, "y.ent." + z, "x.ent." + z, "ent2." + z, "chain." + z,
                          "o.chain." + z, "p.o.chain." + z, "q.p.o.chain." + z,
                          "deep5." + z, "b3.deep5." + z, "c4.b3.deep5." + z, "deep." + z])
        # odd labels
        add("\\(bang." + z, "TXT", '"paren"')
        add("-dash." + z, "A", "192.0.2.170")
        add("0." + z, "A", "192.0.2.171")
        add("_dmarc." + z, "TXT", '"v=DMARC1; p=reject"')
        add("Mixed-Case." + z, "A", "192.0.2.172")
        add("txtonly." + z, "TXT", '"no address here"')
        # CNAME chains across subtrees and to awkward targets
        add("cname1." + z, "CNAME", "zcname2." + z)
        add("zcname2." + z, "CNAME", "host50." + z)
        add("alias-nx." + z, "CNAME", "nothere.host20." + z)
        add("alias-top-nx." + z, "CNAME", "nothere." + z)
        add("alias-wild." + z, "CNAME", "foo.wild." + z)
        add("alias-apps." + z, "CNAME", "zz.apps." + z)
        add("alias-out." + z, "CNAME", "www.example.net.")
        add("alias-ent." + z, "CNAME", "y.ent." + z)
        add("alias-del." + z, "CNAME", "www.child04." + z)
        add("alias-deleg." + z, "CNAME", "child06." + z)
        add("alias-deep." + z, "CNAME", "zz.sub.deep." + z)
        add("zz-alias." + z, "CNAME", "alias-nx." + z)
        # MX/SRV targets elsewhere: existing, without address, ENT, missing, glue
        add("mx1." + z, "MX", "10 host70." + z)
        add("mx1." + z, "MX", "20 txtonly." + z)
        add("mx2." + z, "MX", "10 ent." + z)
        add("mx3." + z, "MX", "10 nomx." + z)
        add("mx4." + z, "MX", "10 ns.child00." + z)
        add("mx5." + z, "MX", "10 nomx.host10." + z)
        add("_sip._tcp." + z, "SRV", "10 60 5060 host77." + z)
        add("_sip._udp." + z, "SRV", "10 60 5060 0." + z)
        add("_xmpp._tcp.chat." + z, "SRV", "5 0 5222 Mixed-Case." + z)
        self.ents.update(["_tcp." + z, "_udp." + z, "_tcp.chat." + z, "chat." + z])

    def _dnames(self):
        """olddept. DNAME newdept. (a subtree with hosts, a wildcard, an MX, an ENT) and
        gone. DNAME to a name that does not exist; queries below both."""
        z = self.origin
        add = self.add
        add("olddept." + z, "DNAME", "newdept." + z)
        add("newdept." + z, "TXT", '"the new department"')
        for i in range(6):
            add("host%d.newdept.%s" % (i, z), "A", "192.0.2.%d" % (200 + i))
        add("*.wild.newdept." + z, "TXT", '"wild in the new department"')
        add("mail.newdept." + z, "MX", "10 host70." + z)
        add("x.ent9.newdept." + z, "A", "192.0.2.210")
        add("gone." + z, "DNAME", "vanished." + z)
        self.ents.update(["wild.newdept." + z, "ent9.newdept." + z])
        below = [("", "DNAME"), ("", "A"), ("host1.", "A"), ("host5.", "AAAA"),
                 ("nothere.", "A"), ("foo.wild.", "TXT"), ("wild.", "TXT"), ("mail.", "MX"),
                 ("ent9.", "A"), ("x.ent9.", "A"), ("a.b.", "A"), ("zz-nx.host2.", "A")]
        self.extra_queries = [(n + "olddept." + z, t) for n, t in below]
        self.extra_queries += [("x.gone." + z, "A"), ("a.b.gone." + z, "TXT")]

    def text(self):
        lines = ["$TTL 3600"]
        for owner, rtype, rdata in self.rrs:
            lines.append("%s\t3600\tIN\t%s\t%s" % (owner, rtype, rdata))
        return "\n".join(lines) + "\n"

    def owners(self):
        seen = []
        for owner, _, _ in self.rrs:
            if owner not in seen:
                seen.append(owner)
        return seen

    def types_of(self, owner):
        return sorted({t for o, t, _ in self.rrs if o == owner})


def make_keys(keydir, seed=13):
    """One fixed ECDSA P-256 key for example. in <keydir>: the private scalar is SHA-256 of the
    seed (below the group order but with negligible odds), so the DNSKEY is the same in every
    session; ldns-signzone makes the DNSKEY from it (no .key file: a flags-256 key signing
    everything). ECDSA signatures stay random. Its base name, in a list."""
    keydir = Path(keydir)
    keydir.mkdir(parents=True, exist_ok=True)
    scalar = hashlib.sha256(b"dnsrouter-split test key %d" % seed).digest()
    base = keydir / "Kexample.+013+fixed"
    base.with_name(base.name + ".private").write_text(
        "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: %s\n"
        % base64.b64encode(scalar).decode())
    return [str(base)]


def sign(zone_path, keys, out_path, nsec3=False, origin=ORIGIN, opt_out=False):
    """ldns-signzone with NSEC (or NSEC3: SHA-1, 0 iterations, no salt, with <opt_out> the
    opt-out flag, so insecure delegations get no NSEC3) and fixed validity; the signed file at
    <out_path>."""
    extra = ["-n", "-a", "1", "-t", "0"] + (["-p"] if opt_out else []) if nsec3 else []
    subprocess.run(["ldns-signzone", "-i", INCEPTION, "-e", EXPIRATION, "-o", origin] + extra +
                   ["-f", str(out_path), str(zone_path)] + list(keys),
                   check=True, capture_output=True, timeout=60)
    return out_path


def write_big(path, names, seed=13):
    """A large unsigned zone for measuring dnsrouter-split's memory and time, written as it is
    made: <names> owners under 1,000 first-level subtrees, A records, every 10th with an MX to
    another name, every 50th a CNAME."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("$TTL 3600\nexample. SOA ns1.example. hostmaster.example. 1 3600 600 86400 300\n"
                "example. NS ns1.example.\nns1.example. A 192.0.2.53\n")
        for i in range(names):
            owner = "h%d.s%d.example." % (i, i % 1000)
            if i % 50 == 49:
                f.write("%s CNAME h%d.s%d.example.\n" % (owner, i - 1, (i - 1) % 1000))
                continue
            f.write("%s A 10.%d.%d.%d\n" % (owner, i >> 16 & 255, i >> 8 & 255, i & 255))
            if i % 10 == 0:
                j = rng.randrange(names)
                f.write("%s MX 10 h%d.s%d.example.\n" % (owner, j, j % 1000))


class TldZone(Zone):
    """A delegation-only zone like a TLD (sharding.md §4's tld.): <delegations> delegations, a
    third with DS, in-bailiwick, sibling and out-of-zone NS; nic and whois.nic, www (a CNAME),
    and the empty non-terminal co with delegations below it: the rest shard's names."""

    REST = ("nic", "www", "co")

    def __init__(self, seed=13, delegations=120):
        self.origin = "tld."
        super().__init__(seed=seed, hosts=delegations, delegations=0)

    def _build(self, apex_wild, hosts, delegations):
        r = self.rng
        z = "tld."
        add = self.add
        add(z, "SOA", "ns1.nic.%s hostmaster.nic.%s 2026120601 3600 600 86400 300" % (z, z))
        add(z, "NS", "ns1.nic." + z)
        add(z, "NS", "ns2.nic." + z)
        add("nic." + z, "A", "192.0.2.1")
        add("ns1.nic." + z, "A", "192.0.2.53")
        add("ns2.nic." + z, "A", "198.51.100.53")
        add("whois.nic." + z, "A", "192.0.2.43")
        add("www." + z, "CNAME", "nic." + z)
        add("x.co." + z, "NS", "ns.x.co." + z)
        add("ns.x.co." + z, "A", "203.0.113.250")
        add("y.co." + z, "NS", "ns1.nic." + z)
        self.ents.add("co." + z)
        self.delegs += ["x.co." + z, "y.co." + z]
        for i in range(hosts):
            d = "dom%03d.%s" % (i, z)
            self.delegs.append(d)
            kind = i % 3
            if kind == 0:
                add(d, "NS", "ns." + d)
                add("ns." + d, "A", "203.0.113.%d" % (i % 250))
            elif kind == 1:
                add(d, "NS", "ns.dom%03d.%s" % (i - 1, z))
                add(d, "NS", "ns1.nic." + z)
            else:
                add(d, "NS", "ns.provider.example.")
            if i % 3 != 2:
                add(d, "DS", "%d 13 2 %064x" % (3000 + i, r.getrandbits(256)))
