# SPDX-License-Identifier: MIT
# tests/integration/test_split.py -- dnsrouter-split (issue 13; sharding.md §6, §7): a signed zone
# cut into shards answers byte for byte as one server holding the whole zone.
#
# Zones come from zonegen.py (fixed seed), signed by ldns-signzone with NSEC and one fixed key
# (zonegen.make_keys; ECDSA signatures themselves are random, so the signed bytes vary). A reference
# knotd loads the whole zone, one knotd per shard loads its file; every query of the §4 families
# (DO=1, RD=0, UDP; every 10th also over TCP) must get the same bytes from both, the ID aside.
# Routing: the canonical-order stand-in (splittools.shard_of; nsec3_shard_of for hash ranges),
# and the real router's `shards` route when the binary has it, with a validating unbound behind
# it compared with one behind the reference (sharding.md §7.5). Negative controls: a shard
# without its boundary NSEC (or NSEC3) must make the comparison fail.

import json
import re
import subprocess

import pytest

import dnsr
import splittools as st
import zonegen

CUTS_12 = [
    "ent.example.",            # an empty non-terminal
    "y.ent.example.",          # an empty non-terminal below one
    "d.example.",              # names that do not exist
    "hosu.example.",
    "host40.example.",
    "p.example.",
    "q.p.o.chain.example.",    # deep, in a subtree with nothing before it: lifted to o.chain.
    "w.example.",
    "\\(cut.wild.example.",    # deep, sorting before *.wild.example.
    "x.sub.deep.example.",     # deep, after *.sub.deep.example.
    "_tcp.example.",           # an empty non-terminal
]


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    d = tmp_path_factory.mktemp("split-zones")
    keys = zonegen.make_keys(d / "keys")
    out = {}
    for variant, wild, nsec3 in (("plain", False, False), ("apexwild", True, False),
                                 ("nsec3", True, True), ("dname", False, False)):
        z = zonegen.Zone(seed=13, apex_wild=wild, dname=variant == "dname")
        src = d / ("%s.zone" % variant)
        src.write_text(z.text())
        out[variant] = (z, zonegen.sign(src, keys, d / ("%s.zone.signed" % variant), nsec3))
    return out


class Deployment:
    """The reference knotd and one knotd per shard of a split (the files of manifest.json);
    stop() stops every one."""

    def __init__(self, workdir, signed, outdir, origin="example.", server=st.ZoneKnot):
        self.dir = workdir
        self.outdir = outdir
        self.origin = origin
        self.server = server
        self.froms = st.read_froms(outdir / "routes.yaml")
        files = [s["file"] for s in json.loads((outdir / "manifest.json").read_text())["shards"]]
        self.ref = server("ref", workdir / "ref", origin, signed)
        self.shards = [server("s%d" % i, workdir / ("s%d" % i), origin, outdir / f)
                       for i, f in enumerate(files)]

    def start(self):
        try:
            st.start_all([self.ref] + self.shards)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        for s in [self.ref] + self.shards:
            s.stop()

    def port_of(self, qname):
        return self.shards[st.shard_of(self.froms, qname)].port

    def restart_shard(self, i):
        self.shards[i].stop()
        self.shards[i] = self.server("s%d-again" % i, self.dir / ("s%d-again" % i),
                                     self.origin, self.shards[i].zonefile)
        st.start_all([self.shards[i]])


def split(tmp_path, signed, *args):
    out = tmp_path / "out"
    p = st.run_split([signed, "-o", out, "--check"] + list(args))
    return out, p


def assert_identical(dep, zone, min_queries=1000):
    qs = st.queries(zone, dep.froms)
    bad, compared = st.compare(qs, dep.ref.port, dep.port_of, tcp_every=10)
    assert len(qs) >= min_queries and compared - len(qs) >= 100, (len(qs), compared)
    assert not bad, "%d of %d answers differ:\n%s" % (len(bad), compared, st.describe(bad))
    return "%d over UDP + %d over TCP" % (len(qs), compared - len(qs))


@pytest.mark.parametrize("variant,shards", [("plain", 3), ("apexwild", 12)])
def test_balanced_shards_byte_identical(zones, tmp_path, variant, shards):
    zone, signed = zones[variant]
    out, _ = split(tmp_path, signed, "--shards", str(shards))
    dep = Deployment(tmp_path, signed, out).start()
    try:
        assert len(dep.froms) == shards and dep.froms[0] == "example."
        n = assert_identical(dep, zone)
        print("%s, %d shards: %s compared, 0 differ" % (variant, shards, n))
    finally:
        dep.stop()


def test_nsd_backends_byte_identical(zones, tmp_path):
    """The same comparison with NSD as the reference and as every shard: its additional-
    section policy differs from Knot's (apex NS and glue with every positive answer), which
    the closure must cover too."""
    zone, signed = zones["apexwild"]
    out, _ = split(tmp_path, signed, "--shards", "4")
    dep = Deployment(tmp_path, signed, out, server=st.ZoneNsd).start()
    try:
        n = assert_identical(dep, zone)
        print("NSD, 4 shards: %s compared, 0 differ" % n)
    finally:
        dep.stop()


def test_twelve_shards_awkward_cuts_and_negative_control(zones, tmp_path):
    zone, signed = zones["apexwild"]
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("# ENT, nonexistent and deep cuts\n" + "\n".join(CUTS_12) + "\n")
    out, p = split(tmp_path, signed, "--cuts", cuts, "--backend-prefix", "ex")
    assert re.search(r"cut q\.p\.o\.chain\.example\. lifted to o\.chain\.example\.", p.stderr), \
        p.stderr
    dep = Deployment(tmp_path, signed, out).start()
    try:
        assert len(dep.froms) == 12, dep.froms
        assert "o.chain.example." in dep.froms and "\\(cut.wild.example." in dep.froms
        n = assert_identical(dep, zone)
        print("12 cut shards: %s compared, 0 differ" % n)

        # Negative control: shard y.ent. starts at an empty non-terminal; its boundary NSEC
        # (owned by c.x.ent., in the previous shard) answers y.ent. NODATA. Without it the
        # comparison must fail.
        i = dep.froms.index("y.ent.example.")
        f = out / ("example.shard%d.zone" % i)
        lines = f.read_text().splitlines(keepends=True)
        keep = [ln for ln in lines if not (ln.lower().startswith("c.x.ent.example.") and
                                           ("\tNSEC\t" in ln or "\tRRSIG\tNSEC " in ln))]
        assert len(lines) - len(keep) == 2, "boundary NSEC and its RRSIG not found in %s" % f
        f.write_text("".join(keep))
        dep.restart_shard(i)
        bad, compared = st.compare(st.queries(zone, dep.froms), dep.ref.port, dep.port_of)
        assert bad, "the comparison passed without the boundary NSEC"
        print("negative control: %d of %d answers differ" % (len(bad), compared))
    finally:
        dep.stop()


def test_dname_target_subtree_copied(zones, tmp_path):
    """olddept. DNAME newdept.: cut between them, the shard of olddept. copies newdept.'s
    subtree, since an answer below the DNAME follows the synthesized CNAME into it; every
    answer (below both DNAMEs too) is the reference's. Without one copied name the
    comparison fails; with --max-copy below the subtree's size the split is refused."""
    zone, signed = zones["dname"]
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("host40.example.\no.example.\n")
    out, _ = split(tmp_path, signed, "--cuts", cuts)
    dep = Deployment(tmp_path, signed, out).start()
    try:
        assert dep.froms == ["example.", "host40.example.", "o.example."], dep.froms
        assert st.shard_of(dep.froms, "newdept.example.") == 1
        assert st.shard_of(dep.froms, "olddept.example.") == 2
        n = assert_identical(dep, zone)
        print("DNAME across shards: %s compared, 0 differ" % n)

        f = out / "example.shard2.zone"
        lines = f.read_text().splitlines(keepends=True)
        keep = [ln for ln in lines if not ln.lower().startswith("host1.newdept.example.")]
        assert len(lines) - len(keep) >= 2, "host1.newdept. not copied into %s" % f
        f.write_text("".join(keep))
        dep.restart_shard(2)
        bad, compared = st.compare(st.queries(zone, dep.froms), dep.ref.port, dep.port_of)
        assert any(b[0].lower() == "host1.olddept.example." for b in bad), \
            "the comparison passed without the copied DNAME target"
    finally:
        dep.stop()
    p = st.run_split([signed, "-o", tmp_path / "o2", "--cuts", cuts, "--max-copy", "5"],
                     check=False)
    assert p.returncode == 2, p.stderr
    assert re.search(r"line \d+: the DNAME at olddept\.example\. points at a subtree of "
                     r"\d+ names, more than --max-copy 5", p.stderr), p.stderr


def test_nsec3_canonical_whole_chain(zones, tmp_path):
    """NSEC3 zone, canonical ranges: every shard carries the whole chain (sharding.md §3 B1)."""
    zone, signed = zones["nsec3"]
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("ent.example.\nhost40.example.\nx.sub.deep.example.\n")
    out, p = split(tmp_path, signed, "--cuts", cuts)
    assert "whole chain" in p.stderr, p.stderr
    dep = Deployment(tmp_path, signed, out).start()
    try:
        n = assert_identical(dep, zone)
        print("NSEC3, 4 shards: %s compared, 0 differ" % n)
    finally:
        dep.stop()


@pytest.mark.parametrize("opt_out", [False, True], ids=["all-delegations", "opt-out"])
def test_nsec3_hash_ranges_with_rest_shard(tmp_path, opt_out):
    """A delegation-only zone (tld.) in NSEC3 hash ranges plus a rest shard (sharding.md §3 B2),
    routed by the hash of the label below the apex, then through dnsrouter's nsec3 route. With
    opt-out, the insecure delegations have no NSEC3 of their own: their referrals carry the
    covering NSEC3 of the opt-out span."""
    zone = zonegen.TldZone(seed=13)
    src = tmp_path / "tld.zone"
    src.write_text(zone.text())
    signed = zonegen.sign(src, zonegen.make_keys(tmp_path / "keys"), tmp_path / "tld.signed",
                          nsec3=True, origin="tld.", opt_out=opt_out)
    if opt_out:
        assert any("\tNSEC3\t1 1 0 " in ln for ln in open(signed)), "not signed with opt-out"
    p = st.run_split([signed, "-o", tmp_path / "bad", "--shards", "4", "--mode", "nsec3"],
                     check=False)
    assert p.returncode == 2 and "nic.tld. is not a delegation" in p.stderr, p.stderr
    out, _ = split(tmp_path, signed, "--shards", "4", "--rest", ",".join(zone.REST),
                   "--backend-prefix", "t")
    dep = Deployment(tmp_path, signed, out, origin="tld.").start()
    router = None
    try:
        assert dep.froms == ["0", "8", "g", "o"] and len(dep.shards) == 5
        chain = chain_all(signed)[:40]
        qs = st.queries(zone, []) + [(c, "A") for c in chain] + [(c, "NSEC3") for c in chain[:10]]
        # names whose hash falls between a shard's first prefix and its first chain owner: only
        # the shard's boundary NSEC3 covers them
        owners = sorted({c.split(".")[0].lower() for c in chain_all(signed)})
        for prefix in dep.froms:
            first = next((h for h in owners if h >= prefix), owners[0])
            found, k = 0, 0
            while found < 3 and k < 100000:
                k += 1
                name = "gap%d-%s.tld." % (k, prefix)
                h = st.nsec3_hash(name)
                if prefix <= h < first:
                    qs.append((name, "A"))
                    found += 1
        rest = set(zone.REST)

        def port_of(q):
            return dep.shards[st.nsec3_shard_of(dep.froms, rest, "tld.", q)].port
        bad, compared = st.compare(qs, dep.ref.port, port_of, tcp_every=10)
        assert len(qs) >= 1000 and compared - len(qs) >= 100, (len(qs), compared)
        assert not bad, "%d of %d answers differ:\n%s" % (len(bad), compared, st.describe(bad))
        print("nsec3 hash ranges: %d over UDP + %d over TCP compared, 0 differ"
              % (len(qs), compared - len(qs)))
        if router_has_shards(tmp_path):
            router = through_router(tmp_path, dep, out, qs)

        # Negative control: shard 1 (from "8") without its boundary NSEC3, the chain's last
        # member before "8", which covers the hashes between it and the shard's first owner.
        before = [h for h in owners if h < "8"][-1]
        f = out / "tld.shard1.zone"
        lines = f.read_text().splitlines(keepends=True)
        keep = [ln for ln in lines if not (ln.lower().startswith(before + ".tld.") and
                                           ("\tNSEC3\t" in ln or "\tRRSIG\tNSEC3 " in ln))]
        assert len(lines) - len(keep) == 2, "boundary NSEC3 %s not in %s" % (before, f)
        f.write_text("".join(keep))
        dep.restart_shard(1)
        bad, compared = st.compare(qs, dep.ref.port, port_of)
        assert bad, "the comparison passed without the boundary NSEC3"
        print("nsec3 negative control: %d of %d answers differ" % (len(bad), compared))
    finally:
        try:
            stop_router(router)
        finally:
            dep.stop()


def chain_all(signed):
    return [ln.split()[0] for ln in signed.read_text().splitlines() if "\tNSEC3\t" in ln]


def through_router(tmp_path, dep, out, qs):
    """dnsrouter with the emitted routes of the tld split, and the same comparison through it;
    the running router (the caller stops it), stopped here if the comparison fails."""
    port = dnsr.free_port()
    names = ["t-s%d" % i for i in range(4)] + ["t-rest"]
    backends = "".join('  - { name: %s, address: "127.0.0.1:%d" }\n' % (n, s.port)
                       for n, s in zip(names, dep.shards))
    conf = ("listen: [ \"127.0.0.1:%d\" ]\nbackends:\n%s" % (port, backends) +
            (out / "routes.yaml").read_text())
    router = dnsr.Router(tmp_path / "router", conf=conf, port=port).start()
    try:
        probe = st.wire_query("dom001.tld.", "DS", 1)
        dnsr.wait_for(lambda: st.ask(port, probe) == st.ask(dep.ref.port, probe), timeout=15,
                      what="the router's shard pools up")
        bad, compared = st.compare(qs, dep.ref.port, lambda q: port, tcp_every=10)
        assert not bad, "%d of %d answers differ through dnsrouter:\n%s" % (
            len(bad), compared, st.describe(bad))
    except BaseException:
        router.stop()
        raise
    print("nsec3 through dnsrouter: %d over UDP + %d over TCP compared, 0 differ"
          % (len(qs), compared - len(qs)))
    return router


def stop_router(router):
    """Stop <router> and fail on a sanitizer report in its stderr (as conftest's fixture does)."""
    if router is None:
        return
    router.stop()
    log = router.log()
    assert not any(m in log for m in dnsr.SANITIZER_MARKERS), log[-4000:]


def router_has_shards(tmp_path):
    conf = tmp_path / "probe.yaml"
    conf.write_text("listen: 127.0.0.1:%d\nbackends:\n  - { name: a, address: \"127.0.0.1:1\" }\n"
                    "routes:\n  - zone: 'example.'\n    shards:\n"
                    "      - { from: 'example.', backends: [a] }\n" % dnsr.free_port())
    p = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(conf)], capture_output=True, text=True,
                       timeout=10)
    return p.returncode == 0


def test_through_dnsrouter(zones, tmp_path):
    if not router_has_shards(tmp_path):
        pytest.skip("this dnsrouter has no `shards` route yet")
    zone, signed = zones["apexwild"]
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("\n".join(CUTS_12) + "\n")
    out, _ = split(tmp_path, signed, "--cuts", cuts, "--backend-prefix", "ex")
    dep = Deployment(tmp_path, signed, out).start()
    router = None
    try:
        port = dnsr.free_port()
        backends = "".join('  - { name: ex-s%d, address: "127.0.0.1:%d" }\n' % (i, s.port)
                           for i, s in enumerate(dep.shards))
        conf = ("listen: [ \"127.0.0.1:%d\" ]\nbackends:\n%s" % (port, backends) +
                (out / "routes.yaml").read_text())
        router = dnsr.Router(tmp_path / "router", conf=conf, port=port).start()
        probe = st.wire_query("host00.example.", "A", 1)
        dnsr.wait_for(lambda: st.ask(port, probe) == st.ask(dep.ref.port, probe), timeout=15,
                      what="the router's shard pools up")
        qs = st.queries(zone, dep.froms)
        bad, compared = st.compare(qs, dep.ref.port, lambda q: port, tcp_every=10)
        assert len(qs) >= 1000 and compared - len(qs) >= 100
        assert not bad, "%d of %d answers differ through dnsrouter:\n%s" % (
            len(bad), compared, st.describe(bad))
        print("through dnsrouter: %d over UDP + %d over TCP compared, 0 differ"
              % (len(qs), compared - len(qs)))
        validate(tmp_path, zone, signed, port, dep.ref.port)
    finally:
        try:
            stop_router(router)
        finally:
            dep.stop()


def validate(tmp_path, zone, signed, router_port, ref_port):
    """sharding.md §7.5: a validating unbound behind the router and one behind the reference
    agree on rcode, AD and the answer records for every in-zone name (DS at delegations), the router's side logs
    no validation failure, and only out-of-zone CNAME targets SERVFAIL."""
    anchor = next(" ".join(ln.split(";")[0].split()) for ln in signed.read_text().splitlines()
                  if "\tDNSKEY\t" in ln)
    via_router = st.Unbound("ub-router", tmp_path / "ub-router", "example.", anchor, router_port)
    via_ref = st.Unbound("ub-ref", tmp_path / "ub-ref", "example.", anchor, ref_port)
    try:
        for u in (via_router, via_ref):
            u.start()
        dnsr.wait_for(lambda: via_router.ready() and via_ref.ready(), timeout=15,
                      what="unbound ready")
        # below a delegation (and CNAMEs there) the resolver goes on to the child's servers,
        # which do not exist here: those names are the child's, not this zone's
        def below_cut(n):
            return any(n != d and n.endswith("." + d) for d in zone.delegs)
        names = [n for n in zone.owners() + sorted(zone.ents)
                 if not below_cut(n) and n not in ("alias-del.example.", "alias-deleg.example.")]
        qs = [(n, "DS" if n in zone.delegs else "A") for n in names]
        qs += [("zz-nx." + n, "A") for n in names if n not in zone.delegs][:100]
        differ, servfail, secure = [], [], 0
        for name, qtype in qs:
            a, b = via_ref.resolve(name, qtype), via_router.resolve(name, qtype)
            if a != b:
                differ.append((name, qtype, a, b))
            if b[0] == 2 and not name.startswith("alias-out."):
                servfail.append(name)
            secure += bool(b[1])
        failures = via_router.log().count("validation failure")
        assert not differ, "rcode, AD or answer records differ: %s" % differ[:10]
        assert not servfail, "SERVFAIL through the router: %s" % servfail[:10]
        assert failures == 0, via_router.log()[-3000:]
        assert secure > len(qs) // 2, (secure, len(qs))
        print("validation: %d names, rcode, AD and answers equal, %d secure, 0 validation "
              "failures"
              % (len(qs), secure))
    finally:
        via_router.stop()
        via_ref.stop()


def test_exit_codes(zones, tmp_path):
    _, signed = zones["plain"]
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("ns.child00.example.\n")
    p = st.run_split([signed, "-o", tmp_path / "o1", "--cuts", cuts], check=False)
    assert p.returncode == 2 and "below the zone cut at child00.example." in p.stderr, p.stderr
    p = st.run_split([signed, "-o", tmp_path / "o2", "--shards", "2", "--mode", "nsec3"],
                     check=False)
    assert p.returncode == 2, p.stderr
    p = st.run_split([signed, "-o", tmp_path / "o3"], check=False)
    assert p.returncode == 1 and "usage" in p.stderr
    p = st.run_split([tmp_path / "missing.zone", "-o", tmp_path / "o4", "--shards", "2"],
                     check=False)
    assert p.returncode == 1
