# SPDX-License-Identifier: MIT
# tests/integration/etcdsec.py -- helpers for the etcd TLS and authentication tests: a small PKI
# made with the openssl CLI (a CA, a server certificate for 127.0.0.1, a client certificate, and
# an unrelated second CA with its own client certificate), a single etcd member that serves its
# clients over https (optionally demanding client certificates) or http, with its Prometheus
# metrics on a plain-http port of its own, etcdctl with the matching TLS flags and --user, and
# router configurations with the etcd ca/cert/key/username/password keys.

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import dnsr

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
ETCDCTL = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
OPENSSL = os.environ.get("OPENSSL", "openssl")
PREFIX = "/dnsrouter/"

# ------------------------------------------------------------------------------------------
# PKI


def openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL] + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed (%d):\n%s" % (
            " ".join(str(a) for a in args), r.returncode, r.stdout.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_ca(d, name, cn):
    """A self-signed CA: (<name>.pem, <name>-key.pem)."""
    cert, key = d / ("%s.pem" % name), d / ("%s-key.pem" % name)
    openssl("req", "-x509", *_EC, "-keyout", key, "-out", cert, "-days", "3",
            "-subj", "/O=dnsrouter tests/CN=%s" % cn,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def sign(d, name, cn, ca, ca_key, ext):
    """A key and a certificate for <cn> signed by <ca>: (<name>.pem, <name>-key.pem)."""
    cert, key, csr, extf = (d / ("%s.pem" % name), d / ("%s-key.pem" % name),
                            d / ("%s.csr" % name), d / ("%s.ext" % name))
    openssl("req", "-new", *_EC, "-keyout", key, "-out", csr, "-subj", "/CN=%s" % cn)
    extf.write_text("\n".join(ext) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
            "-set_serial", "0x%s" % os.urandom(12).hex(), "-days", "3", "-sha256",
            "-extfile", extf, "-out", cert)
    return cert, key


class PKI:
    """Everything under <d>: ca/ca-key, server/server-key (SAN IP:127.0.0.1; clientAuth too,
    as etcd's own JSON gateway dials the member with the server certificate), client/client-key
    (CN=root), and other-ca/other-ca-key with other-client/other-client-key (CN=root): a CA and a
    client certificate the member knows nothing of."""

    def __init__(self, d):
        d = Path(d)
        d.mkdir(parents=True, exist_ok=True)
        self.dir = d
        self.ca, self.ca_key = make_ca(d, "ca", "dnsrouter test CA")
        self.server, self.server_key = sign(
            d, "server", "127.0.0.1", self.ca, self.ca_key,
            ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=serverAuth,clientAuth", "subjectAltName=IP:127.0.0.1"])
        self.client, self.client_key = sign(
            d, "client", "root", self.ca, self.ca_key,
            ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=clientAuth"])
        self.other_ca, self.other_ca_key = make_ca(d, "other-ca", "unrelated CA")
        self.other_client, self.other_client_key = sign(
            d, "other-client", "root", self.other_ca, self.other_ca_key,
            ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=clientAuth"])


# ------------------------------------------------------------------------------------------
# etcd


def ctl_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    return env


class SecEtcd(dnsr.LoggedProcess):
    """One etcd member on 127.0.0.1. tls=True: clients over https with the PKI's server
    certificate, and client_cert_auth demands a certificate signed by the PKI's CA. Metrics
    (and /health) over plain http on a port of their own either way."""

    def __init__(self, workdir, pki=None, tls=False, client_cert_auth=True, extra=()):
        assert pki is not None or not tls
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.pki = pki
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.extra = list(extra)
        self.client_port = dnsr.free_port()
        self.peer_port = dnsr.free_port()
        self.metrics_port = dnsr.free_port()
        self.proc = None
        self._log = None
        self.auth_user = None       # "root:<password>" once authentication is on

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.client_port)

    @property
    def log_path(self):
        return self.dir / "etcd.log"

    def start(self, timeout=20.0):
        assert not self.alive()
        peer = "http://127.0.0.1:%d" % self.peer_port
        args = [ETCD, "--name", "sec", "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "sec=%s" % peer, "--initial-cluster-state", "new",
                "--initial-cluster-token", "dnsr-sec-%d-%d" % (os.getpid(), self.client_port),
                "--listen-metrics-urls", "http://127.0.0.1:%d" % self.metrics_port,
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        if self.tls:
            args += ["--cert-file", str(self.pki.server), "--key-file", str(self.pki.server_key)]
            if self.client_cert_auth:
                args += ["--client-cert-auth", "--trusted-ca-file", str(self.pki.ca)]
        args += self.extra
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            dnsr.wait_for(self.healthy, timeout=timeout, interval=0.05,
                          what="etcd healthy at %s" % self.url)
        except BaseException:
            self.stop()
            raise
        return self

    def tls_flags(self):
        if not self.tls:
            return []
        return ["--cacert", str(self.pki.ca), "--cert", str(self.pki.client),
                "--key", str(self.pki.client_key)]

    def _ctl_cmd(self, args, user=None, timeout=10.0):
        cmd = [ETCDCTL, "--endpoints", self.url, "--dial-timeout", "2s",
               "--command-timeout", "%ds" % max(1, int(timeout - 1))] + self.tls_flags()
        if user is not None:
            cmd += ["--user", user]
        return cmd + [str(a) for a in args]

    def healthy(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("etcd exited with %s:\n%s" % (self.proc.returncode,
                                                               self.log()[-4000:]))
        try:
            r = subprocess.run(self._ctl_cmd(["endpoint", "health"], user=self.auth_user,
                                             timeout=3),
                               env=ctl_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=6)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def ctl(self, *args, user=None, timeout=10.0, check=True):
        """Run etcdctl; its stdout. AssertionError with its output when it fails (check)."""
        cmd = self._ctl_cmd(args, user=user, timeout=timeout)
        r = subprocess.run(cmd, env=ctl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=timeout + 5)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (
                " ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def put(self, key, value, user=None):
        out = self.ctl("put", key, value, user=user)
        assert out.strip() == "OK", out

    def delete(self, key, user=None):
        out = self.ctl("del", key, user=user)
        assert out.strip() == "1", "del %s: %r" % (key, out)

    def enable_auth(self, password):
        """root:<password>, then `auth enable`."""
        self.ctl("user", "add", "root:%s" % password, "--interactive=false")
        self.ctl("auth", "enable")
        self.auth_user = "root:%s" % password

    def metrics_text(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=3) as resp:
            return resp.read().decode()

    def grpc_calls(self, method):
        """Requests etcd has handled for gRPC method <method> (Range, Authenticate, Watch...),
        whatever their outcome; the JSON gateway turns every HTTP call into one."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith("grpc_server_started_total{") and \
                    'grpc_method="%s"' % method in line:
                total += float(line.rsplit(None, 1)[1])
        return int(total)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            dnsr.stop_process(self.proc, signal.SIGTERM, timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# router configurations

SEC_KEYS = ("ca", "cert", "key", "username", "password")


def router_conf(port, admin_port, endpoints, prefix=None, timeout=None, **sec):
    """YAML: listen on 127.0.0.1/::1:<port>, admin on <admin_port>, and an etcd section in the
    block style of the spec with whichever of ca/cert/key/username/password are given.
    (A router waits up to the etcd timeout, 2s by default, for etcd's routes before it starts:
    the tests give routers that cannot connect a shorter one.)"""
    unknown = set(sec) - set(SEC_KEYS)
    assert not unknown, unknown
    lines = ['listen: [ "127.0.0.1:%d", "[::1]:%d" ]' % (port, port),
             'admin: "127.0.0.1:%d"' % admin_port,
             "etcd:",
             "  endpoints: [ %s ]" % ", ".join(json.dumps(e) for e in endpoints)]
    if prefix is not None:
        lines.append("  prefix: %s" % json.dumps(prefix))
    if timeout is not None:
        lines.append("  timeout: %s" % timeout)
    for k in SEC_KEYS:
        if sec.get(k) is not None:
            lines.append("  %s: %s" % (k, json.dumps(str(sec[k]))))
    return "\n".join(lines) + "\n"


def start_router(router_fixture, endpoints, **kw):
    """A router following <endpoints> with the given security keys (and prefix, timeout):
    (Router, etcdtools.Admin); the Router's admin_port and conf_kw note how it was made."""
    import etcdtools
    port, admin_port = dnsr.free_port(), dnsr.free_port()
    r = router_fixture(router_conf(port, admin_port, endpoints, **kw), port=port)
    r.conf_kw = dict(kw, endpoints=list(endpoints))
    r.admin_port = admin_port
    return r, etcdtools.Admin(admin_port)


def log_lines(r, *words):
    """The router's log lines holding every one of <words>."""
    return [line for line in r.log().splitlines() if all(w in line for w in words)]


def wait_log(r, *words, timeout=5.0):
    """Poll until a log line of router <r> holds every one of <words>; return the lines."""
    try:
        return dnsr.wait_for(lambda: log_lines(r, *words), timeout=timeout, interval=0.05,
                             what="router log line with %r" % (words,))
    except AssertionError as e:
        raise AssertionError("%s; log:\n%s" % (e, r.log()[-3000:])) from None


def wait_delta(fn, base, want, timeout, what):
    """Poll fn() until it is at least <base> + <want>; return the value."""
    last = [None]

    def check():
        last[0] = fn()
        return last[0] - base >= want
    try:
        dnsr.wait_for(check, timeout=timeout, interval=0.1, what=what)
    except AssertionError as e:
        raise AssertionError("%s (base %r, last %r)" % (e, base, last[0])) from None
    return last[0]

