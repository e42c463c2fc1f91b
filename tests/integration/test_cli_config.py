# SPDX-License-Identifier: MIT
# Command line and config checking: `-t -c FILE` exits 0 for a good file and non-zero with one
# `FILE:LINE: problem` line for a bad one; -h, -V; the `-b 'ip:port,regexp'` quick start.

import collections
import re
import subprocess

import dns.rcode
import pytest

import dnsr

GOOD = """\
# a complete, valid configuration
listen: [ "127.0.0.1:15353", "[::1]:15353" ]
workers: auto
identity: router-1
version: "1.2.3"
no-route: refused
timeout: 500ms
tcp: { max-connections: 1024, idle-timeout: 10s }
backends:
  - { name: ns1, address: "127.0.0.1:5300", timeout: 300ms }
  - { name: ns2, address: "[::1]:5301" }
routes:
  - { regex: '^[ab][^.]*\\.example\\.$', backends: [ns1] }
  - { zone: example., backends: [ns1, ns2], policy: round-robin }
  - { zone: ., backends: [ns2] }
"""

GOOD_VARIANTS = {
    "full": GOOD,
    "listen-string-workers-int": GOOD.replace(
        'listen: [ "127.0.0.1:15353", "[::1]:15353" ]', 'listen: "127.0.0.1:15353"').replace(
        "workers: auto", "workers: 2").replace("no-route: refused", "no-route: servfail"),
    "timeout-seconds": GOOD.replace("timeout: 500ms", "timeout: 2s"),
    "busy-poll": GOOD.replace("workers: auto", "workers: auto\nbusy-poll: 200us"),
    "block-style": """\
listen: "127.0.0.1:15353"
backends:
  - name: ns1
    address: "127.0.0.1:5300"
    timeout: 1s
routes:
  - zone: example.
    backends:
      - ns1
""",
}

# name -> (file text, the line (1-based) the error must point at). `@@` marks the bad line.
BAD = {
    "unknown-top-key": GOOD.replace("identity: router-1", "identity: router-1\ncolour: blue @@"),
    "unknown-backend-key": GOOD.replace(
        '  - { name: ns2, address: "[::1]:5301" }',
        '  - { name: ns2, address: "[::1]:5301", colour: blue }  # @@'),
    "unknown-route-key": GOOD.replace(
        "  - { zone: ., backends: [ns2] }", "  - { zone: ., backends: [ns2], colour: x }  # @@"),
    "workers-list": GOOD.replace("workers: auto", "workers: [ 1, 2 ]  # @@"),
    "workers-word": GOOD.replace("workers: auto", "workers: many  # @@"),
    "tcp-scalar": GOOD.replace("tcp: { max-connections: 1024, idle-timeout: 10s }",
                               "tcp: 5  # @@"),
    "backends-mapping": GOOD.replace(
        "backends:\n  - { name: ns1, address: \"127.0.0.1:5300\", timeout: 300ms }\n"
        "  - { name: ns2, address: \"[::1]:5301\" }",
        "backends: { name: ns1 }  # @@"),
    "timeout-bad": GOOD.replace("timeout: 500ms", "timeout: soon  # @@"),
    "second-document": GOOD + "---  # @@\nbackends: bogus\n",
    "busy-poll-bare-number": GOOD.replace("workers: auto", "workers: auto\nbusy-poll: 200  # @@"),
    "busy-poll-too-long": GOOD.replace("workers: auto", "workers: auto\nbusy-poll: 1s  # @@"),
    "no-route-bad": GOOD.replace("no-route: refused", "no-route: maybe  # @@"),
    "address-not-ip": GOOD.replace('address: "127.0.0.1:5300"', 'address: "1.2.3:5300"')
    .replace("timeout: 300ms }", "timeout: 300ms }  # @@"),
    "address-bad-ip": GOOD.replace('address: "[::1]:5301" }', 'address: "999.1.2.3:53" }  # @@'),
    "address-bad-port": GOOD.replace('address: "[::1]:5301" }', 'address: "[::1]:99999" }  # @@'),
    "listen-bad": GOOD.replace('listen: [ "127.0.0.1:15353", "[::1]:15353" ]',
                               'listen: [ "127.0.0.1:15353", "localhost:x" ]  # @@'),
    "bad-regex": GOOD.replace("  - { regex: '^[ab][^.]*\\.example\\.$', backends: [ns1] }",
                              "  - { regex: '^(ab', backends: [ns1] }  # @@"),
    "unknown-backend-in-route": GOOD.replace("  - { zone: ., backends: [ns2] }",
                                             "  - { zone: ., backends: [ns9] }  # @@"),
    "duplicate-backend-name": GOOD.replace('  - { name: ns2, address: "[::1]:5301" }',
                                           '  - { name: ns1, address: "[::1]:5301" }  # @@'),
    "duplicate-backend-address": GOOD.replace(
        '  - { name: ns2, address: "[::1]:5301" }',
        '  - { name: ns2, address: "[::1]:5301" }\n  - { name: ns3, address: "127.0.0.1:5300" }  # @@'),
    "block-address-bad": GOOD_VARIANTS["block-style"].replace(
        'address: "127.0.0.1:5300"', 'address: "127.0.0.1:http"  # @@'),
}


def _check(path):
    return dnsr.check_config(path)


@pytest.mark.parametrize("name", sorted(GOOD_VARIANTS))
def test_check_good_config(tmp_path, name):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_VARIANTS[name])
    p = _check(path)
    assert p.returncode == 0, "valid config rejected: %s" % p.stderr


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_bad_config(tmp_path, name):
    dnsr.assert_config_error_at_marker(tmp_path, BAD[name], name)


def test_check_yaml_syntax_error(tmp_path):
    """Where a parser notices a syntax error may be a later line; only the format is checked."""
    path = tmp_path / "syntax.yaml"
    path.write_text(GOOD.replace("policy: round-robin }", "policy: [round-robin }"))
    p = _check(path)
    assert p.returncode != 0
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert re.match(r"^%s:\d+: \S" % re.escape(str(path)), lines[0]), lines[0]


def test_check_missing_file(tmp_path):
    p = _check(tmp_path / "nope.yaml")
    assert p.returncode != 0
    assert "nope.yaml" in p.stderr


def test_help_and_version():
    h = subprocess.run([dnsr.ROUTER_BIN, "-h"], capture_output=True, text=True, timeout=10)
    assert h.returncode == 0
    assert "-c" in (h.stdout + h.stderr)
    v = subprocess.run([dnsr.ROUTER_BIN, "-V"], capture_output=True, text=True, timeout=10)
    assert v.returncode == 0
    assert (v.stdout + v.stderr).strip()


@pytest.mark.parametrize("entry", [r"127.0.0.1:5300,^(a", "127.0.0.1:5300", r"nohost:53,\.x\.$"])
def test_check_bad_b_option(entry):
    p = subprocess.run([dnsr.ROUTER_BIN, "-t", "-l", "127.0.0.1:15353", "-b", entry],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, "bad -b %r: exit %s" % (entry, p.returncode)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("-b: "), p.stderr


def test_check_bad_l_option():
    p = subprocess.run([dnsr.ROUTER_BIN, "-t", "-l", "127.0.0.1:99999"], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("-l: "), p.stderr


def test_unknown_option():
    p = subprocess.run([dnsr.ROUTER_BIN, "-Z"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0


def test_bad_config_does_not_start(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD["unknown-top-key"].replace("@@", ""))
    p = subprocess.run([dnsr.ROUTER_BIN, "-c", str(path)], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode != 0
    assert str(path) in p.stderr


def test_quick_start_b_routes_by_regexp(router, ns1, ns2, ns3):
    port = dnsr.free_port()
    r = router(port=port, args=[
        "-w", "2",
        "-l", "127.0.0.1:%d" % port,
        "-l", "[::1]:%d" % port,
        "-b", r"%s,\.example\.$" % ns1.addr4,
        "-b", r"%s,^x\.test\.$" % ns2.addr6,
        "-b", r"%s,^x\.test\.$" % ns3.addr4,
    ])
    for fam in (4, 6):
        for transport in ("udp", "tcp"):
            ans = r.exchange(dnsr.query("a.example."), transport, fam)
            assert dnsr.who(ans) == "ns1"
            ans = r.exchange(dnsr.query("a.sub.example."), transport, fam)
            assert dnsr.who(ans) == "ns1"
    # the same regexp twice forms one round-robin pool
    counts = collections.Counter(dnsr.who(r.exchange(dnsr.query("x.test."))) for _ in range(20))
    assert set(counts) == {"ns2", "ns3"}, counts
    assert min(counts.values()) >= 6, dict(counts)
    # no regexp matches -> SERVFAIL
    for name in ("y.test.", "example.", "x.test.example.org."):
        ans = r.exchange(dnsr.query(name))
        assert ans.rcode() == dns.rcode.SERVFAIL, (name, dnsr.rcode_text(ans))


def test_listen_single_string_and_cli_listen(router, ns1):
    port, port2 = dnsr.free_port(), dnsr.free_port()
    text = ('listen: "127.0.0.1:%d"\nbackends:\n  - { name: ns1, address: "%s" }\n'
            "routes:\n  - { zone: ., backends: [ns1] }\n" % (port, ns1.addr4))
    r = router(text, port=port, args=["-l", "[::1]:%d" % port2])
    assert dnsr.who(r.exchange(dnsr.query("s.example."))) == "ns1"
    # -l adds to the file's listen addresses
    dnsr.wait_for(lambda: dnsr.udp_exchange(port2, dnsr.query("s.example.").to_wire(), 6,
                                            timeout=0.5), 3, what="-l listener")
    assert dnsr.who(dnsr.exchange(port2, dnsr.query("s.example."), "tcp", 6)) == "ns1"


def open_files_limit(pid):
    """(soft, hard) "Max open files" of process <pid>."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open-files line in /proc/%d/limits" % pid)


def test_descriptor_limit_raised_to_hard(router, ns1):
    """Started with a service manager's usual soft limit (1024, here 256) under a higher hard
    one, the router takes the hard one: every worker needs a socket to every backend."""
    conf = {"workers": 2, "backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": [dnsr.route_zone(".", ["ns1"])]}
    r = router(conf, nofile=(256, 4096))
    assert open_files_limit(r.proc.pid) == (4096, 4096)
    assert re.search(r"descriptor limit raised from 256 to 4096", r.log())
    assert "descriptor limit 4096 is below" not in r.log()


def test_descriptor_limit_too_low_warned(router, ns1):
    """Where even the hard limit is short of what the workers, backends and TCP connections
    may use, the log says so at start, with the numbers."""
    conf = {"workers": 2, "tcp": {"max-connections": 1000},
            "backends": [{"name": "ns1", "address": ns1.addr4}],
            "routes": [dnsr.route_zone(".", ["ns1"])]}
    r = router(conf, nofile=(512, 512))
    assert re.search(r"descriptor limit 512 is below the \d+ that 2 workers, 1 backends and "
                     r"1000 TCP connections may use", r.log())
