# SPDX-License-Identifier: MIT
# client-address: transparent -- the query leaves the router from the client's own address and
# port (IP_TRANSPARENT), and the backend's answer, routed back through the router's host by
# policy routing, returns to the client through dnsrouter.
#
# The lab (netnstools.Lab) is three network namespaces made by the test: client, router and
# backend, on veth pairs, with the README's `ip rule` / `ip route ... table 100` on the router.
# The backend namespace runs a Knot with the geoip module, which answers where.geo. by the
# subnet of the query's source address, and nsecho.py, which answers with the source address
# and port themselves. Without CAP_NET_ADMIN the router refuses to start (or to reload into
# such a configuration) with one line naming the backend.

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import dnsr
import netnstools as nt

ok, why = nt.netns_available()
pytestmark = pytest.mark.skipif(not ok, reason="cannot make network namespaces: %s" % why)

# Knot geoip (subnet mode, no ECS in the query): the answer names the source's subnet.
GEO_TABLE = """\
{name}:
  - net: 10.77.1.0/24
    A: 192.0.2.1
  - net: 10.77.2.0/24
    A: 192.0.2.2
  - net: 0.0.0.0/0
    A: 192.0.2.99
  - net: fd77:1::/64
    AAAA: 2001:db8::1
  - net: fd77:2::/64
    AAAA: 2001:db8::2
  - net: ::/0
    AAAA: 2001:db8::99
"""
CLIENT4, ROUTER4 = "192.0.2.1", "192.0.2.2"
CLIENT6, ROUTER6 = "2001:db8::1", "2001:db8::2"
ZONES = ("geo.", "plain.")
NAMES = ("where.geo.", "where.v6.geo.", "where.plain.")

KNOT_CONF = """\
server:
    rundir: "{d}"
    listen: [ "{be4}@53", "{be6}@53", "{be4}@54", "{be6}@54" ]
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
mod-geoip:
  - id: geo
    config-file: "{d}/geo.conf"
    mode: subnet
    ttl: 60
template:
  - id: default
    storage: "{d}"
    module: mod-geoip/geo
zone:
{zones}
"""

ROUTER_CONF = """\
listen: ["{rc4}:53", "[{rc6}]:53"]
workers: 1
admin: "127.0.0.1:8053"
{extra}backends:
  - {{ name: geo4, address: "{be4}:53", client-address: transparent }}
  - {{ name: geo6, address: "[{be6}]:53", client-address: transparent }}
  - {{ name: plain4, address: "{be4}:54" }}
  - {{ name: echo4, address: "{be4}:5300", client-address: transparent }}
  - {{ name: echo6, address: "[{be6}]:5300", client-address: transparent }}
routes:
  - {{ zone: "geo.", backends: [geo4] }}
  - {{ zone: "v6.geo.", backends: [geo6] }}
  - {{ zone: "plain.", backends: [plain4] }}
  - {{ zone: "echo.", backends: [echo4] }}
  - {{ zone: "v6.echo.", backends: [echo6] }}
"""

ADMIN = "127.0.0.1:8053"


def world_dir():
    """A directory `nobody` may enter and read (pytest's own is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="dnsr-transparent-", dir="/tmp"))
    d.chmod(0o755)
    return d


def start_knot(lab, d):
    zone_lines = []
    for zone in ZONES:
        f = d / (zone.rstrip(".") + ".zone")
        f.write_text("$ORIGIN %s\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n"
                     "@ NS ns\nns A %s\n* TXT \"%s\"\n" % (zone, nt.BE4, zone))
        zone_lines.append('  - domain: "%s"\n    file: "%s"' % (zone, f.name))
    (d / "geo.conf").write_text("".join(GEO_TABLE.format(name=n) for n in NAMES))
    conf = d / "knot.conf"
    conf.write_text(KNOT_CONF.format(d=d, be4=nt.BE4, be6=nt.BE6, zones="\n".join(zone_lines)))
    log = open(d / "knotd.log", "wb")
    p = lab.popen(lab.be, [dnsr.KNOTD, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                  stdin=subprocess.DEVNULL)

    def ready():
        assert p.poll() is None, (d / "knotd.log").read_text(errors="replace")
        r = lab.run(lab.be, ["kdig", "@" + nt.BE4, "-p", "54", "where.plain.", "A", "+short",
                             "+timeout=1", "+retry=0"])
        return r.stdout.strip() == ROUTER4  # the backend's own subnet: 10.77.2.0/24
    dnsr.wait_for(ready, timeout=15, interval=0.05, what="knotd in the backend namespace")
    return p


def start_echo(lab):
    p = lab.popen(lab.be, [sys.executable, nt.NSECHO, "5300", nt.BE4, nt.BE6],
                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert p.stdout.readline().strip() == b"ready"
    return p


class LabRouter:
    """dnsrouter in the router namespace; its stderr is checked for sanitizer reports."""

    def __init__(self, lab, d, extra="", argv_prefix=()):
        self.lab = lab
        self.conf = d / "dnsrouter.yaml"
        self.conf.write_text(ROUTER_CONF.format(rc4=nt.RTR4_C, rc6=nt.RTR6_C, be4=nt.BE4,
                                                be6=nt.BE6, extra=extra))
        self.conf.chmod(0o644)
        self.log_path = d / "dnsrouter.stderr"
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1")
        self._log = open(self.log_path, "wb")
        self.proc = lab.popen(lab.rtr, list(argv_prefix) + [dnsr.ROUTER_BIN, "-c",
                                                             str(self.conf)],
                              stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
                              env=env)

        def ready():
            assert self.proc.poll() is None, "dnsrouter exited: %s" % self.log()
            return "ready:" in self.log() and self.lab.query(
                nt.RTR4_C, "id.server.", "TXT", timeout=0.5)[0][0] != "TIMEOUT"
        dnsr.wait_for(ready, timeout=20, interval=0.1, what="dnsrouter in its namespace")

    def log(self):
        return self.log_path.read_text(errors="replace")

    def metric(self, name):
        return nt.metric(self.lab.metrics(ADMIN), name)

    def stop(self):
        rc, killed = dnsr.stop_process(self.proc)
        self._log.close()
        text = self.log()
        assert not killed and rc == 0, "dnsrouter did not stop cleanly (%s): %s" % (rc, text)
        assert "Sanitizer" not in text and "runtime error" not in text, text


@pytest.fixture(scope="module")
def lab():
    d = world_dir()
    try:
        with nt.Lab() as lab:
            start_knot(lab, d)
            start_echo(lab)
            lab.dir = d
            yield lab
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def router(lab):
    r = LabRouter(lab, lab.dir)
    yield r
    r.stop()


def answers(lab, server, name, rdtype, tcp=False, **kw):
    got = lab.query(server, name, rdtype, tcp=tcp, **kw)
    for rcode, _ in got:
        assert rcode == "NOERROR", got
    return [rd for _, rds in got for rd in rds]


# --------------------------------------------------------------------- the backend sees the client

@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("family", [4, 6])
def test_backend_sees_client_address(lab, router, family, transport):
    """Knot answers by the subnet of the packet's source: the client's, not the router's."""
    if family == 4:
        got = answers(lab, nt.RTR4_C, "where.geo.", "A", tcp=transport == "tcp")
        assert got == [CLIENT4]
    else:
        got = answers(lab, nt.RTR6_C, "where.v6.geo.", "AAAA", tcp=transport == "tcp")
        assert got == [CLIENT6]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_backend_without_transparent_sees_router(lab, router, transport):
    """The control: the same Knot behind a backend left at `none` sees the router's address."""
    assert answers(lab, nt.RTR4_C, "where.plain.", "A", tcp=transport == "tcp") == [ROUTER4]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_client_port_kept(lab, router, transport):
    """The query leaves from the client's address and its very port."""
    for server, src, name, port in ((nt.RTR4_C, nt.CLI4, "x.echo.", 40123),
                                    (nt.RTR6_C, nt.CLI6, "x.v6.echo.", 40124)):
        port += 10 if transport == "tcp" else 0
        got = answers(lab, server, name, "TXT", tcp=transport == "tcp", src=src, sport=port)
        assert got == ['"%s#%d"' % (src, port)]


def test_socket_reused_for_a_client_that_keeps_its_port(lab, router):
    """Five queries from one address and port take one socket; another port takes another."""
    before = router.metric("dnsrouter_transparent_sockets_opened_total")
    got = answers(lab, nt.RTR4_C, "r.echo.", "TXT", src=nt.CLI4, sport=40200, count=5)
    assert got == ['"%s#40200"' % nt.CLI4] * 5
    assert router.metric("dnsrouter_transparent_sockets_opened_total") == before + 1
    got = answers(lab, nt.RTR4_C, "r.echo.", "TXT", src=nt.CLI4, sport=40201, count=2)
    assert got == ['"%s#40201"' % nt.CLI4] * 2
    assert router.metric("dnsrouter_transparent_sockets_opened_total") == before + 2


def test_sockets_bounded_and_every_query_answered(lab, router):
    """More client ports than a worker keeps sockets for (1,024): the idle ones make room,
    every query is answered from its own port, and the router's descriptors stay bounded."""
    n = 1300
    got = lab.query(nt.RTR4_C, "b.echo.", "TXT", src=nt.CLI4, count=n, parallel=32)
    rdata = [rds for rcode, rds in got if rcode == "NOERROR"]
    assert len(rdata) == n, [g for g in got if g[0] != "NOERROR"][:5]
    ports = set()
    for rds in rdata:
        m = re.fullmatch(r'"10\.77\.1\.2#(\d+)"', rds[0])
        assert m, rds
        ports.add(int(m.group(1)))
    assert len(ports) > 1024, len(ports)
    # Every port seen needed a socket of its own at some time; a port an earlier test's
    # client happened to use may still have its socket, so count every socket ever opened.
    assert router.metric("dnsrouter_transparent_sockets_opened_total") >= len(ports)
    fds = len(os.listdir("/proc/%d/fd" % router.proc.pid))
    assert fds < 1024 + 200, "dnsrouter holds %d descriptors" % fds
    assert router.metric("dnsrouter_transparent_failed_total") == 0


def test_other_family_goes_from_router_address(lab, router):
    """An IPv4 client and an IPv6 backend: no packet can carry the client's address; the
    query goes from the router's, counted as unedited."""
    before = router.metric("dnsrouter_client_address_unedited_total")
    assert answers(lab, nt.RTR4_C, "where.v6.geo.", "AAAA") == [ROUTER6]
    assert answers(lab, nt.RTR4_C, "where.v6.geo.", "AAAA", tcp=True) == [ROUTER6]
    assert router.metric("dnsrouter_client_address_unedited_total") >= before + 2


def test_answer_only_through_router(lab, router):
    """The router's namespace does not forward: with dnsrouter stopped for a moment the
    client reaches nobody (the answers above came through dnsrouter)."""
    router.proc.send_signal(signal.SIGSTOP)
    try:
        got = lab.query(nt.RTR4_C, "where.geo.", "A", timeout=0.5)
        assert got == [("TIMEOUT", [])]
        got = lab.query(nt.BE4, "where.geo.", "A", timeout=0.5)
        assert got == [("TIMEOUT", [])]
    finally:
        router.proc.send_signal(signal.SIGCONT)
    assert answers(lab, nt.RTR4_C, "where.geo.", "A") == [CLIENT4]


# ------------------------------------------------------------------------- privileges

def cap_eff(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff")


def test_user_keeps_net_admin_and_nothing_else():
    """With `user: nobody` the router keeps CAP_NET_ADMIN alone, and transparent works (a lab
    of its own: the module's router holds the addresses)."""
    d = world_dir()
    try:
        with nt.Lab() as lab:
            start_knot(lab, d)
            r = LabRouter(lab, d, extra="user: nobody\n")
            try:
                assert re.search(r"running as nobody", r.log())
                assert cap_eff(r.proc.pid) == 1 << 12  # CAP_NET_ADMIN
                for tid in os.listdir("/proc/%d/task" % r.proc.pid):
                    status = Path("/proc/%d/task/%s/status" % (r.proc.pid, tid)).read_text()
                    assert "Uid:\t65534" in status, status
                assert answers(lab, nt.RTR4_C, "where.geo.", "A") == [CLIENT4]
                assert answers(lab, nt.RTR4_C, "where.geo.", "A", tcp=True) == [CLIENT4]
            finally:
                r.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


NO_CAPS = ["setpriv", "--bounding-set=-net_admin,-net_raw", "--"]


def refused_line(path, line, name):
    return ("%s:%d: backend '%s': client-address transparent needs CAP_NET_ADMIN and kernel "
            "support (Operation not permitted)" % (path, line, name))


@pytest.mark.parametrize("check_only", [False, True])
def test_start_refused_without_capability(tmp_path, check_only):
    """Without CAP_NET_ADMIN (and CAP_NET_RAW) the router says which backend, in one line,
    and exits 1: at start and with -t."""
    conf = tmp_path / "r.yaml"
    conf.write_text('listen: ["127.0.0.1:%d"]\n'
                    "backends:\n"
                    '  - { name: a, address: "127.0.0.1:5300" }\n'
                    '  - { name: geo, address: "127.0.0.1:5301", client-address: transparent }\n'
                    "routes:\n"
                    '  - { zone: ".", backends: [a, geo] }\n' % dnsr.free_port())
    argv = NO_CAPS + [dnsr.ROUTER_BIN] + (["-t"] if check_only else []) + ["-c", str(conf)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert p.returncode == 1, p
    assert p.stderr.splitlines() == [refused_line(conf, 4, "geo")], p.stderr
    # The same file with the capability is fine.
    p = subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 0, p.stderr


def test_global_transparent_refused_without_capability(tmp_path):
    conf = tmp_path / "r.yaml"
    conf.write_text('listen: ["127.0.0.1:%d"]\nclient-address: transparent\n'
                    % dnsr.free_port())
    p = subprocess.run(NO_CAPS + [dnsr.ROUTER_BIN, "-c", str(conf)], capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        "%s:0: client-address transparent needs CAP_NET_ADMIN and kernel support "
        "(Operation not permitted)" % conf], p.stderr


def test_reload_into_transparent_refused_without_capability(tmp_path, fake_backend):
    """A reload that adds a transparent backend on a host that cannot have it keeps the
    running configuration, and says why."""
    be = fake_backend(name="fb")
    conf = {"backends": [{"name": "fb", "address": be.address}],
            "routes": [dnsr.route_zone(".", ["fb"])]}
    r = dnsr.Router(tmp_path, conf=dict(conf), wrapper=NO_CAPS).start()
    try:
        assert dnsr.who(r.exchange(dnsr.query("x.example."))) == "fake-fb"
        conf["backends"] = [dict(conf["backends"][0], **{"client-address": "transparent"})]
        offset = r.reload(conf)
        lines = r.conf_path.read_text().splitlines()
        line = next(i + 1 for i, t in enumerate(lines) if "transparent" in t)
        want = "reload failed, keeping the running configuration (%s)" % refused_line(
            r.conf_path, line, "fb")
        dnsr.wait_for(lambda: want in r.log()[offset:], what="the refused reload logged")
        assert dnsr.who(r.exchange(dnsr.query("x.example."))) == "fake-fb"
    finally:
        r.stop()
