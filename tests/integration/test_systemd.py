# SPDX-License-Identifier: MIT
# tests/integration/test_systemd.py -- living under systemd, checked without systemd as PID 1:
#   notify     on a $NOTIFY_SOCKET of the test's own (path and abstract): READY=1 once it
#              answers, WATCHDOG=1 every half of $WATCHDOG_USEC, RELOADING=1 then READY=1
#              around SIGHUP, STOPPING=1 on SIGTERM; a socket that is not there is a warning
#   journal    with stderr as $JOURNAL_STREAM, lines carry their syslog priority
#   unit       contrib/dnsrouter.service passes `systemd-analyze verify` against the installed
#              files (make install into a scratch root)
#   run as the unit runs it: user nobody with CAP_NET_BIND_SERVICE alone (ambient, no new
#              privileges) binds port 53 and answers, and holds no other capability

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import dns.exception
import dns.query
import pytest

import dnsr

REPO = dnsr.REPO
UNIT = REPO / "contrib" / "dnsrouter.service"


class NotifySocket:
    """A unix datagram socket standing in for systemd's; <name> is what $NOTIFY_SOCKET says."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.name = "@dnsrouter-test-%d-%d" % (os.getpid(), random.randrange(1 << 30))
            self.sock.bind("\0" + self.name[1:])
        else:
            self.name = str(tmp_path / "notify")
            self.sock.bind(self.name)
        self.got = []

    def wait(self, state, timeout=10.0):
        """Read messages until one holds the line <state>; every message read is kept."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.0f s; got %r" % (state, timeout, self.got))
            self.sock.settimeout(left)
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.got.append(msg)
            if state in msg.split("\n"):
                return msg

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_watchdog_reload_stopping(tmp_path, abstract):
    ns = NotifySocket(tmp_path, abstract)
    r = dnsr.Router(tmp_path / "r", conf={"workers": 1},
                    env={"NOTIFY_SOCKET": ns.name, "WATCHDOG_USEC": "200000"})
    try:
        r.start()
        msg = ns.wait("READY=1")
        assert "STATUS=serving: 1 workers" in msg, msg
        t0 = time.monotonic()
        before = len([m for m in ns.got if m == "WATCHDOG=1"])
        while len([m for m in ns.got if m == "WATCHDOG=1"]) < before + 5:
            ns.wait("WATCHDOG=1", timeout=2.0)
        # five pings at a 100 ms pace, not one per second (the loop's own tick)
        assert time.monotonic() - t0 < 2.0
        r.proc.send_signal(signal.SIGHUP)
        ns.wait("RELOADING=1")
        ns.wait("READY=1")
        r.proc.send_signal(signal.SIGTERM)
        ns.wait("STOPPING=1")
        assert r.proc.wait(10) == 0
    finally:
        r.stop()
        ns.close()


def test_no_notify_socket_is_a_warning(tmp_path):
    r = dnsr.Router(tmp_path / "r", conf={"workers": 1},
                    env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}).start()
    try:
        assert "systemd will not hear from us" in r.log()
    finally:
        r.stop()


def test_journal_priorities(tmp_path):
    r = dnsr.Router(tmp_path / "r", conf={"workers": 1})
    r.log_path.write_bytes(b"")     # the router's stderr, opened again (same inode) by start()
    st = os.stat(r.log_path)
    r.env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
    r.start()
    try:
        r.proc.send_signal(signal.SIGHUP)
        dnsr.wait_for(lambda: "configuration reloaded" in r.log(), timeout=5,
                      what="the reload's log line")
        lines = r.log().splitlines()
        assert any(ln.startswith("<6>info: [control] ready: ") for ln in lines), lines
        # no timestamps: the journal keeps its own
        assert all(ln.startswith("<") for ln in lines if ln.strip()), lines
    finally:
        r.stop()


def test_unit_verifies(tmp_path):
    root = tmp_path / "root"
    subprocess.run(["make", "-s", "-C", str(REPO), "install", "PREFIX=/usr",
                    "DESTDIR=%s" % root], check=True, capture_output=True, timeout=300)
    unit = tmp_path / "dnsrouter.service"
    unit.write_text(UNIT.read_text().replace("/usr/sbin/dnsrouter",
                                             str(root / "usr/sbin/dnsrouter")))
    env = dict(os.environ, MANPATH=str(root / "usr/share/man"))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                 "NoNewPrivileges=yes"):
        assert line in text, line
    out = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                         capture_output=True, text=True, timeout=60, env=env)
    exposure = float(out.stdout.rsplit("exposure level for dnsrouter.service:", 1)[1].split()[0])
    assert exposure <= 2.5, out.stdout[-2000:]


def cap_eff(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff")


def test_runs_as_the_unit_runs_it(tmp_path):
    """As User=dnsrouter with AmbientCapabilities=CAP_NET_BIND_SERVICE and NoNewPrivileges
    (here: nobody, through setpriv): port 53 binds and answers; no other capability."""
    addr = "127.0.83.%d" % random.randrange(2, 250)
    wrapper = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
               "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
               "--bounding-set=-all,+net_bind_service", "--no-new-privs", "--"]
    # pytest's own directories are root's alone: the configuration goes where nobody reads it
    workdir = Path(tempfile.mkdtemp(prefix="dnsrouter-unit-"))
    os.chmod(workdir, 0o755)
    r = dnsr.Router(workdir, conf={"workers": 1, "listen": ["%s:53" % addr],
                                   "identity": "unit-like"}, ready=False, wrapper=wrapper)
    os.chmod(r.conf_path, 0o644)
    try:
        r.start()
        q = dnsr.query("id.server.", "TXT", "CH")

        def answers():
            assert r.alive(), r.log()
            try:
                a = dns.query.udp(q, addr, port=53, timeout=0.2)
            except (dns.exception.Timeout, OSError):
                return False
            return a.answer and "unit-like" in a.answer[0].to_text()
        dnsr.wait_for(answers, timeout=10, what="an answer on port 53")
        assert cap_eff(r.proc.pid) == 1 << 10, hex(cap_eff(r.proc.pid))  # CAP_NET_BIND_SERVICE
        status = Path("/proc/%d/status" % r.proc.pid).read_text()
        assert "Uid:\t65534" in status, status
    finally:
        r.stop()
        shutil.rmtree(workdir, ignore_errors=True)
