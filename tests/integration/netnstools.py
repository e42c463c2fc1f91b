# SPDX-License-Identifier: MIT
# tests/integration/netnstools.py -- three network namespaces the test makes and removes itself:
# a client, the router and a backend, joined by veth pairs, with the policy routing the README
# gives for transparent backends.
#
#   cli  c0 10.77.1.2/24 fd77:1::2/64 ---- c1 10.77.1.1 fd77:1::1  rtr  b1 10.77.2.1 fd77:2::1 ---- b0 10.77.2.2 fd77:2::2  be
#
# The client and the backend route everything through the router; the router does not forward
# (ip_forward stays 0), so an answer reaches the client only through dnsrouter. On the router,
# packets from the backend are delivered locally whatever their destination (table 100), which
# is how a backend's answer to a client's address reaches the socket bound to it.

import itertools
import os
import subprocess
import sys

import dnsr

CLI4, RTR4_C, RTR4_B, BE4 = "10.77.1.2", "10.77.1.1", "10.77.2.1", "10.77.2.2"
CLI6, RTR6_C, RTR6_B, BE6 = "fd77:1::2", "fd77:1::1", "fd77:2::1", "fd77:2::2"

HERE = os.path.dirname(os.path.abspath(__file__))
NSQUERY = os.path.join(HERE, "nsquery.py")
NSECHO = os.path.join(HERE, "nsecho.py")
_serial = itertools.count()


def ip(*args, check=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


class Lab:
    """The three namespaces; use as a context manager (everything is removed on exit)."""

    def __init__(self):
        tag = "%x%x" % (os.getpid() & 0xfffff, next(_serial))
        self.cli, self.rtr, self.be = ("dnsr%s%s" % (r, tag) for r in ("c", "r", "b"))
        self.tag = tag
        self.procs = []

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _build(self):
        t = self.tag
        for ns in (self.cli, self.rtr, self.be):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", "c0" + t, "netns", self.cli, "type", "veth", "peer", "name", "c1" + t,
           "netns", self.rtr)
        ip("link", "add", "b0" + t, "netns", self.be, "type", "veth", "peer", "name", "b1" + t,
           "netns", self.rtr)
        for ns, dev, a4, a6 in ((self.cli, "c0", CLI4, CLI6), (self.rtr, "c1", RTR4_C, RTR6_C),
                                (self.rtr, "b1", RTR4_B, RTR6_B), (self.be, "b0", BE4, BE6)):
            ip("-n", ns, "addr", "add", a4 + "/24", "dev", dev + t)
            ip("-n", ns, "addr", "add", a6 + "/64", "dev", dev + t, "nodad")
            ip("-n", ns, "link", "set", dev + t, "up")
        for ns, gw4, gw6 in ((self.cli, RTR4_C, RTR6_C), (self.be, RTR4_B, RTR6_B)):
            ip("-n", ns, "route", "add", "default", "via", gw4)
            ip("-n", ns, "-6", "route", "add", "default", "via", gw6)
        # The README's policy routing, on the router.
        ip("-n", self.rtr, "rule", "add", "from", BE4, "iif", "b1" + t, "lookup", "100")
        ip("-n", self.rtr, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
        ip("-n", self.rtr, "-6", "rule", "add", "from", BE6, "iif", "b1" + t, "lookup", "100")
        ip("-n", self.rtr, "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100")
        fwd = self.run(self.rtr, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()
        assert fwd == "0", "the router namespace must not forward (ip_forward=%s)" % fwd

    def close(self):
        for p in self.procs:
            dnsr.stop_process(p)
        self.procs = []
        for ns in (self.cli, self.rtr, self.be):
            ip("netns", "del", ns, check=False)  # takes its veth ends with it

    def popen(self, ns, argv, **kw):
        """Start <argv> in namespace <ns> (`ip netns exec` execs it: the pid is its own);
        stopped by close()."""
        p = subprocess.Popen(["ip", "netns", "exec", ns] + list(argv), **kw)
        self.procs.append(p)
        return p

    def run(self, ns, argv, timeout=30, **kw):
        return subprocess.run(["ip", "netns", "exec", ns] + list(argv), capture_output=True,
                              text=True, timeout=timeout, **kw)

    def query(self, server, name, rdtype="TXT", tcp=False, src=None, sport=0, count=1,
              parallel=1, timeout=3.0):
        """Queries from the client namespace through nsquery.py: a list of (rcode, [rdata])
        per query. <sport> 0: a fresh port for each query; otherwise every query from it."""
        argv = [sys.executable, NSQUERY, "--server", server, "--name", name, "--type", rdtype,
                "--count", str(count), "--parallel", str(parallel), "--sport", str(sport),
                "--timeout", str(timeout)]
        if tcp:
            argv.append("--tcp")
        if src:
            argv += ["--src", src]
        p = self.run(self.cli, argv, timeout=60 + count * timeout / max(parallel, 1))
        assert p.returncode == 0, "nsquery failed: %s" % p.stderr
        out = []
        for line in p.stdout.splitlines():
            rcode, _, rest = line.partition(" ")
            out.append((rcode, rest.split("|") if rest else []))
        assert len(out) == count, p.stdout
        return out

    def metrics(self, admin):
        """The router's /metrics text, fetched inside its namespace."""
        code = ("import urllib.request,sys;"
                "sys.stdout.write(urllib.request.urlopen('http://%s/metrics',timeout=3)"
                ".read().decode())" % admin)
        p = self.run(self.rtr, [sys.executable, "-c", code])
        assert p.returncode == 0, p.stderr
        return p.stdout


def metric(text, name):
    from prometheus_client.parser import text_string_to_metric_families
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                return s.value
    return 0


def netns_available():
    """(True, "") when this process may make network namespaces, else (False, why)."""
    name = "dnsrprobe%x" % os.getpid()
    p = ip("netns", "add", name, check=False)
    if p.returncode != 0:
        return False, p.stderr.strip()
    ip("netns", "del", name, check=False)
    return True, ""
