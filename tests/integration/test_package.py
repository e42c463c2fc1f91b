# SPDX-License-Identifier: MIT
# tests/integration/test_package.py -- the Debian package: `make package` builds it with
# dpkg-buildpackage from a copy of the tree and lintian finds no error; it holds the daemon,
# the split tool, the unit, the configuration under /etc/dnsrouter/ and the man pages. It
# installs on this machine (a system user, a configuration `dnsrouter -t` accepts, a unit
# `systemd-analyze verify` accepts; where systemd runs, the unit started and answering), a
# reinstall over an edited configuration keeps the edit, and a purge takes it all away.
# Built and installed once, in the plain pass.

import os
import pwd
import subprocess

import pytest

import dnsr
import etcdtools

REPO = dnsr.REPO
CONF = "/etc/dnsrouter/dnsrouter.yaml"


def run(*cmd, check=True, timeout=120):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert not check or p.returncode == 0, "%s: exit %d\n%s\n%s" % (
        " ".join(cmd), p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    return p


@pytest.fixture(scope="module")
def deb():
    if etcdtools.sanitized():
        pytest.skip("built and installed once, in the plain pass")
    run("make", "-s", "-C", str(REPO), "package", timeout=1200)
    debs = sorted((REPO / "build" / "package").glob("dnsrouter_*_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_contents(deb):
    files = run("dpkg-deb", "-c", str(deb)).stdout
    for path in ("./usr/sbin/dnsrouter", "./usr/bin/dnsrouter-split",
                 "./lib/systemd/system/dnsrouter.service", "./etc/dnsrouter/dnsrouter.yaml",
                 "./usr/share/man/man8/dnsrouter.8.gz", "./usr/share/man/man5/dnsrouter.yaml.5.gz",
                 "./usr/share/man/man1/dnsrouter-split.1.gz",
                 "./usr/share/doc/dnsrouter/examples/dnsrouter.yaml",
                 "./usr/share/doc/dnsrouter/copyright"):
        assert path in files, "%s not in the package:\n%s" % (path, files)
    conffiles = run("sh", "-c", "dpkg-deb --ctrl-tarfile %s | tar -xOf - ./conffiles" % deb).stdout
    assert CONF in conffiles.split(), conffiles
    lint = run("lintian", "--fail-on", "error", str(deb))
    assert not [ln for ln in lint.stdout.splitlines() if ln.startswith("E:")], lint.stdout


def test_install_reinstall_purge(deb):
    run("dpkg", "--purge", "dnsrouter", check=False)
    try:
        run("dpkg", "-i", str(deb))
        user = pwd.getpwnam("dnsrouter")
        assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin"), user
        out = run("/usr/sbin/dnsrouter", "-t", "-c", CONF).stdout
        assert "configuration ok" in out
        verify = run("systemd-analyze", "verify", "/lib/systemd/system/dnsrouter.service",
                     check=False)
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
        assert run("man", "-w", "dnsrouter.yaml").stdout.strip().endswith("dnsrouter.yaml.5.gz")
        if os.path.isdir("/run/systemd/system"):
            # systemd runs here: the package started the unit, which answers.
            run("systemctl", "restart", "dnsrouter")
            assert run("systemctl", "is-active", "dnsrouter").stdout.strip() == "active"
            a = dnsr.udp_exchange(5353, dnsr.query("id.server.", "TXT", "CH").to_wire())
            assert a is not None, "the unit's dnsrouter does not answer on 127.0.0.1:5353"
        # the operator's edit survives the package being installed again
        with open(CONF, "a") as f:
            f.write("# edited by the operator\n")
        run("dpkg", "-i", str(deb))
        assert open(CONF).read().endswith("# edited by the operator\n")
    finally:
        run("dpkg", "--purge", "dnsrouter", check=False)
    assert not os.path.exists("/usr/sbin/dnsrouter") and not os.path.exists(CONF)
