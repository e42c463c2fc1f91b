# SPDX-License-Identifier: MIT
# tests/integration/etcdtools.py -- helpers for the etcd discovery tests: real etcd members and
# clusters on loopback (temp data dirs, free ports, stopped and removed on teardown), a client for
# the etcd v3 JSON gateway (put/get/delete/txn/compact over one keep-alive connection), etcdctl,
# router configs with an `etcd:` section, the admin endpoint (metrics, routes), DNS helpers that
# name the answering backend, and figures to report at the end of the run.

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import dnsr

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
ETCDCTL = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
PREFIX = "/dnsrouter/"

# figures (propagation latency, RSS...) printed in the terminal summary by conftest.py
FIGURES = []


def figure(line):
    """Record a measured figure: printed now (visible with -s) and in the run's summary."""
    FIGURES.append(line)
    print(line)


# ------------------------------------------------------------------------------------------
# etcd processes


class EtcdMember(dnsr.LoggedProcess):
    """One etcd member on 127.0.0.1 with its own client and peer ports and data dir.

    start() spawns it; wait_healthy() waits for `etcdctl endpoint health`; kill() is SIGKILL,
    pause()/resume() SIGSTOP/SIGCONT; start() again restarts it on the same ports and data."""

    def __init__(self, name, workdir, token):
        self.name = name
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.token = token
        self.client_port = dnsr.free_port()
        self.peer_port = dnsr.free_port()
        self.proc = None
        self.paused = False
        self.initial_cluster = None
        self.starts = 0
        self._log = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.client_port

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    @property
    def log_path(self):
        return self.dir / "etcd.log"

    def spawn(self, initial_cluster=None):
        assert not self.alive(), "etcd %s already running" % self.name
        if initial_cluster is not None:
            self.initial_cluster = initial_cluster
        elif self.initial_cluster is None:
            self.initial_cluster = "%s=%s" % (self.name, self.peer_url)
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(b"\n==== start %d ====\n" % self.starts)
        self._log.flush()
        args = [
            ETCD,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.url,
            "--advertise-client-urls", self.url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
            "--max-txn-ops", "1024",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        ]
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.paused = False
        return self

    def healthy(self, timeout=2.0):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("etcd %s exited with %s:\n%s" % (
                self.name, self.proc.returncode, self.log()[-4000:]))
        try:
            r = subprocess.run([ETCDCTL, "--endpoints", self.url, "--dial-timeout", "1s",
                                "--command-timeout", "%ds" % max(1, int(timeout)),
                                "endpoint", "health"],
                               env=ctl_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=timeout + 3)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def wait_healthy(self, timeout=20.0):
        dnsr.wait_for(self.healthy, timeout=timeout, interval=0.05,
                      what="etcd %s healthy at %s" % (self.name, self.url))
        return self

    def start(self, initial_cluster=None, wait=True):
        self.spawn(initial_cluster)
        if wait:
            self.wait_healthy()
        return self

    def kill(self):
        """SIGKILL: a crash; connections are reset by the kernel, the data dir stays."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self.paused = False
        self._close_log()

    def pause(self):
        """SIGSTOP: sockets stay open (connects succeed) but nothing answers."""
        assert self.alive()
        dnsr.sigstop_and_wait(self.proc)
        self.paused = True

    def resume(self):
        if self.paused and self.alive():
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        if self.proc is not None:
            if self.alive():
                self.resume()
                dnsr.stop_process(self.proc, signal.SIGTERM, timeout=5)
            self.paused = False
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove_data(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)


class EtcdCluster:
    """n members on loopback sharing one --initial-cluster and token."""

    def __init__(self, workdir, size=1):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        token = "dnsr-test-%d-%d" % (os.getpid(), int(time.monotonic() * 1000))
        self.members = [EtcdMember("n%d" % (i + 1), self.dir / ("n%d" % (i + 1)), token)
                        for i in range(size)]
        self._clients = {}

    def __getitem__(self, i):
        return self.members[i]

    def __len__(self):
        return len(self.members)

    @property
    def initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)

    @property
    def endpoints(self):
        return [m.url for m in self.members]

    def start(self, timeout=30.0):
        try:
            for m in self.members:
                m.spawn(self.initial_cluster)
            deadline = time.monotonic() + timeout
            for m in self.members:
                m.wait_healthy(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def client(self, member=0):
        """An EtcdClient talking to member <member> (index or EtcdMember)."""
        m = self.members[member] if isinstance(member, int) else member
        c = self._clients.get(m.name)
        if c is None:
            c = self._clients[m.name] = EtcdClient(m.url)
        return c

    def ctl(self, *args, member=None, timeout=10.0):
        """Run etcdctl against one member (default: every member that is alive and running)."""
        if member is None:
            eps = [m.url for m in self.members if m.alive() and not m.paused]
        else:
            m = self.members[member] if isinstance(member, int) else member
            eps = [m.url]
        return etcdctl(eps, *args, timeout=timeout)

    def status(self):
        """{member name: (member id, leader id)} of the members alive and running."""
        out = json.loads(self.ctl("endpoint", "status", "-w", "json"))
        by_url = {m.url: m.name for m in self.members}
        return {by_url[x["Endpoint"]]: (x["Status"]["header"]["member_id"], x["Status"]["leader"])
                for x in out}

    def leader(self):
        """The EtcdMember leading now."""
        st = self.status()
        leader_id = next(iter(st.values()))[1]
        for m in self.members:
            if m.name in st and st[m.name][0] == leader_id:
                return m
        raise AssertionError("no leader among %r" % st)

    def make_leader(self, member, timeout=10.0):
        """Move the leadership to <member> (index or EtcdMember) and wait until it holds it."""
        m = self.members[member] if isinstance(member, int) else member

        def done():
            cur = self.leader()
            if cur is m:
                return True
            target = self.status()[m.name][0]
            try:
                self.ctl("move-leader", "%x" % target, member=cur)
            except AssertionError:
                return False
            return self.leader() is m
        dnsr.wait_for(done, timeout=timeout, interval=0.2, what="etcd %s leading" % m.name)

    def stop(self, remove=True):
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        for m in self.members:
            m.stop()
        if remove:
            for m in self.members:
                m.remove_data()


def ctl_env():
    env = dict(os.environ)
    env["ETCDCTL_API"] = "3"
    for k in list(env):
        if k.startswith("ETCDCTL_") and k != "ETCDCTL_API":
            del env[k]
    return env


def etcdctl(endpoints, *args, timeout=10.0):
    """Run etcdctl; return its stdout; AssertionError with its output when it fails."""
    cmd = [ETCDCTL, "--endpoints", ",".join(endpoints), "--dial-timeout", "2s",
           "--command-timeout", "%ds" % max(1, int(timeout - 1))] + [str(a) for a in args]
    r = subprocess.run(cmd, env=ctl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout + 5)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d): %s %s" % (
            " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


# ------------------------------------------------------------------------------------------
# the v3 JSON gateway


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode("ascii")


def unb64(s):
    return base64.b64decode(s or "")


def prefix_end(prefix):
    p = bytearray(prefix.encode() if isinstance(prefix, str) else prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return b"\x00"


class EtcdError(Exception):
    pass


class EtcdClient:
    """POST JSON to /v3/... over one keep-alive HTTP connection (reconnects as needed)."""

    def __init__(self, url, timeout=15.0):
        assert url.startswith("http://")
        hostport = url[len("http://"):].rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, path, body, retry_for=20.0):
        """POST; a dropped connection is retried once at once, and 503 (no leader yet, e.g.
        during an election) for up to <retry_for> seconds."""
        data = json.dumps(body).encode()
        deadline = time.monotonic() + retry_for
        reconnected = False
        while True:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", path, body=data,
                                  headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if reconnected:
                    raise
                reconnected = True
                continue
            if resp.status == 503 and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            if resp.status != 200:
                raise EtcdError("%s -> %d %s" % (path, resp.status, payload[:500]))
            out = json.loads(payload)
            if "error" in out and "header" not in out:
                raise EtcdError("%s -> %s" % (path, out))
            return out

    @staticmethod
    def rev(resp):
        return int(resp.get("header", {}).get("revision", 0))

    def put(self, key, value, lease=None):
        """Put; returns the revision of the write."""
        body = {"key": b64(key), "value": b64(value)}
        if lease:
            body["lease"] = str(lease)
        return self.rev(self.call("/v3/kv/put", body))

    def delete(self, key):
        """Delete one key; returns (revision, number deleted)."""
        out = self.call("/v3/kv/deleterange", {"key": b64(key)})
        return self.rev(out), int(out.get("deleted", 0))

    def put_many(self, items, batch=500):
        """Put (key, value) pairs in transactions of <batch>; returns the last revision."""
        rev = 0
        items = list(items)
        for i in range(0, len(items), batch):
            ops = [{"request_put": {"key": b64(k), "value": b64(v)}}
                   for k, v in items[i:i + batch]]
            out = self.call("/v3/kv/txn", {"success": ops})
            rev = self.rev(out)
        return rev

    def get_prefix(self, prefix=PREFIX):
        """({key: value} as str, revision) for every key under <prefix>."""
        out = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        kvs = {}
        for kv in out.get("kvs", []):
            kvs[unb64(kv["key"]).decode(errors="replace")] = \
                unb64(kv.get("value")).decode(errors="replace")
        return kvs, self.rev(out)

    def revision(self):
        out = self.call("/v3/kv/range", {"key": b64("\0"), "limit": 1})
        return self.rev(out)

    def compact(self, revision, physical=True):
        return self.call("/v3/kv/compaction", {"revision": str(revision), "physical": physical})

    def lease_grant(self, ttl):
        out = self.call("/v3/lease/grant", {"TTL": ttl})
        return int(out["ID"])


# ------------------------------------------------------------------------------------------
# router configs and the admin endpoint


def entry(addr, regex):
    """An etcd value: '<ip:port>,<regexp>'."""
    return "%s,%s" % (addr, regex)


def router_conf(port, endpoints, admin_port=None, prefix=None, timeout=None, extra=None):
    """YAML text: listen on 127.0.0.1/::1:<port>, admin, <extra> keys (backends, routes...),
    then an etcd section in the block style of the spec."""
    c = {"listen": ["127.0.0.1:%d" % port, "[::1]:%d" % port]}
    if admin_port:
        c["admin"] = "127.0.0.1:%d" % admin_port
    if extra:
        c.update(extra)
    text = dnsr.render_yaml(c)
    text += "etcd:\n  endpoints: [ %s ]\n" % ", ".join(json.dumps(e) for e in endpoints)
    if prefix is not None:
        text += "  prefix: %s\n" % json.dumps(prefix)
    if timeout is not None:
        text += "  timeout: %s\n" % timeout
    return text


def start_router(router_fixture, endpoints, admin=True, ready=True, **kw):
    """Start a router following <endpoints>; returns (Router, Admin or None)."""
    port = dnsr.free_port()
    admin_port = dnsr.free_port() if admin else None
    r = router_fixture(router_conf(port, endpoints, admin_port=admin_port, **kw), port=port,
                       ready=ready)
    return r, (Admin(admin_port) if admin else None)


def parse_metrics(text):
    """{name: value} of unlabelled samples, {(name, labels text): value} for labelled ones."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels, value = rest.rsplit("}", 1)
            key = (name, labels)
        else:
            parts = line.split()
            if len(parts) < 2:
                continue
            key, value = parts[0], parts[1]
        try:
            out[key] = float(value.split()[0])
        except (ValueError, IndexError):
            pass
    return out


class Admin:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path, timeout=3.0):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as resp:
            assert resp.status == 200, (path, resp.status)
            return resp.read()

    def metrics(self):
        return parse_metrics(self.get("/metrics").decode())

    def metric(self, name):
        m = self.metrics()
        assert name in m, "metric %s missing from /metrics: %s" % (name, sorted(
            k for k in m if isinstance(k, str) and "etcd" in k))
        return m[name]

    def routes(self):
        return json.loads(self.get("/api/v1/routes"))

    def etcd_routes(self):
        """{pattern: sorted backend names} of the routes with source etcd."""
        out = {}
        for r in self.routes():
            if r.get("source") == "etcd":
                assert r.get("kind") == "regex", r
                out[r["pattern"]] = sorted(r["backends"])
        return out

    def wait_metric(self, name, pred, timeout=5.0, what=None):
        last = [None]

        def check():
            try:
                last[0] = self.metric(name)
            except (OSError, urllib.error.URLError):
                return False
            return pred(last[0])
        try:
            return dnsr.wait_for(check, timeout=timeout, interval=0.05,
                                 what=what or "metric %s" % name)
        except AssertionError as e:
            raise AssertionError("%s (last value %r)" % (e, last[0])) from None


    def wait_routes(self, want, timeout=5.0):
        """Poll until etcd_routes() == <want>; the AssertionError shows both."""
        last = [None]

        def check():
            last[0] = self.etcd_routes()
            return last[0] == want
        try:
            dnsr.wait_for(check, timeout=timeout, interval=0.05, what="router routes equal etcd's")
        except AssertionError as e:
            raise AssertionError("%s:\nrouter %r\netcd   %r" % (e, last[0], want)) from None


def expected_routes(kvs):
    """{pattern: sorted addresses} that the router should hold for etcd's valid kvs
    (values are '<addr>,<regexp>'; callers pass only valid entries)."""
    out = {}
    for k in sorted(kvs):
        addr, regex = kvs[k].split(",", 1)
        out.setdefault(regex, set()).add(addr)
    return {p: sorted(a) for p, a in out.items()}


# ------------------------------------------------------------------------------------------
# DNS: who answers


class Asker:
    """A connected UDP socket to the router: ask(name) -> backend name, or 'SERVFAIL',
    'REFUSED'..., or 'TIMEOUT'. Fresh ID per query; stale answers are skipped."""

    def __init__(self, port, family=4):
        self.port = port
        self.sock = socket.socket(dnsr.sock_family(family), socket.SOCK_DGRAM)
        self.sock.connect((dnsr.host_of(family), port))
        self.qid = dnsr.rand_id()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def ask(self, name, timeout=1.0):
        self.qid = (self.qid + 1) & 0xFFFF
        q = dnsr.query(name, qid=self.qid)
        wire = q.to_wire()
        self.sock.send(wire)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "TIMEOUT"
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except socket.timeout:
                return "TIMEOUT"
            except ConnectionRefusedError:
                return "TIMEOUT"
            if data[:2] != wire[:2]:
                continue
            msg = dnsr.dns.message.from_wire(data)
            if msg.rcode() == 0:
                w = dnsr.who(msg)
                return w if w else "NOERROR?"
            return dnsr.rcode_text(msg)

    def who_set(self, names, timeout=1.0):
        """Ask each name once; a list of outcomes."""
        return [self.ask(n, timeout) for n in names]


def ask(port, name, timeout=1.0):
    with Asker(port) as a:
        return a.ask(name, timeout)


def wait_answer(port, name, want, timeout=5.0, interval=0.01):
    """Poll until <name> is answered by <want> (a backend name or rcode text); returns the
    seconds it took. On timeout the AssertionError names the last outcome."""
    t0 = time.monotonic()
    last = [None]
    with Asker(port) as a:
        def check():
            last[0] = a.ask(name, timeout=0.5)
            return last[0] == want
        try:
            dnsr.wait_for(check, timeout=timeout, interval=interval,
                          what="%s answered by %s" % (name, want))
        except AssertionError as e:
            raise AssertionError("%s (last outcome %r)" % (e, last[0])) from None
    return time.monotonic() - t0


def wait_outcomes(port, names, pred, timeout=5.0, what="outcomes"):
    """Poll: ask every name; until pred(list of outcomes) holds. Returns the outcomes."""
    last = [None]
    with Asker(port) as a:
        def check():
            last[0] = a.who_set(names, timeout=0.5)
            return pred(last[0])
        try:
            dnsr.wait_for(check, timeout=timeout, interval=0.02, what=what)
        except AssertionError as e:
            raise AssertionError("%s (last outcomes %r)" % (e, last[0])) from None
    return last[0]


def rss_kib(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def sanitized(binary=None):
    """True when the router binary is built with a sanitizer (RSS means little then)."""
    try:
        data = Path(binary or dnsr.ROUTER_BIN).read_bytes()
    except OSError:
        return False
    return any(m in data for m in (b"__asan_init", b"libasan", b"__tsan_init", b"__msan_init"))


def median(xs):
    return statistics.median(xs)
