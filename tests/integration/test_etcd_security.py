# SPDX-License-Identifier: MIT
# tests/integration/test_etcd_security.py -- etcd discovery over TLS and with etcd
# authentication, against a real etcd, etcdctl, Knot and dnsrouter:
#  * https with client certificates (--client-cert-auth): a put routes, a change moves the route,
#    a delete stops it; the router follows by watch, resumed over TLS (no re-read loop);
#  * refused TLS set-ups never connect (etcd_up 0, no routes, log names the endpoint unreachable)
#    while a correctly configured router beside them routes the same key: an unrelated CA, no
#    client certificate, a client certificate of an unrelated CA, the system's CAs (the default),
#    a host name the server certificate does not name;
#  * authentication over http: root/<password> routes, so does a password that needs escaping
#    in YAML and JSON; a wrong password, an unknown user, no credentials, a user without read
#    permission on the prefix never connect; the log says authentication failed; passwords show
#    neither in the log nor on the admin endpoint; a new password by SIGHUP is applied or
#    warned about;
#  * expired tokens (--auth-token-ttl 1) are replaced: the router authenticates again, at a
#    bounded rate, and keeps routing new keys; also after an etcd restart (all tokens gone); the
#    log does not blame a compaction for a watch etcd cancels over an expired token;
#  * `dnsrouter -t -c` for the new keys: good files pass, bad ones give one `FILE:LINE:` line
#    naming the offending line.

import re
import subprocess
import time
import uuid

import pytest

import dnsr
import etcdsec as es
import etcdtools as et
from etcdsec import PREFIX

# a router waits up to the etcd timeout for etcd's routes before it starts: shorter for routers
# that cannot connect
BAD_TIMEOUT = "500ms"
PASSWORD = "s3cret-Pw-7731"      # distinctive: the router's log must never show it
WRONG_PASSWORD = "wr0ng-Pw-4419"
TRICKY_PASSWORD = 'q"uo\\te: \u00fc #x'   # quote, backslash, colon, non-ASCII, ' #'


def key():
    return PREFIX + str(uuid.uuid4())


def value(addr, regex):
    return "%s,%s" % (addr, regex)


def assert_not_following(r, admin, endpoint, name, log_words=()):
    """Router <r> is not connected: it logged <endpoint> unreachable (and <log_words>),
    dnsrouter_etcd_up is 0, it holds no etcd route and <name> gets SERVFAIL."""
    lines = es.wait_log(r, endpoint, "unreachable", *log_words)
    assert admin.metric("dnsrouter_etcd_up") == 0, lines
    assert admin.metric("dnsrouter_etcd_keys") == 0, lines
    assert admin.etcd_routes() == {}, lines
    assert et.ask(r.port, name) == "SERVFAIL", lines
    assert not es.log_lines(r, "following"), r.log()
    return lines


# ------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return es.PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_etcd(pki, tmp_path_factory):
    """One member over https demanding client certificates, shared by the module's TLS tests
    (each test uses keys and names of its own)."""
    e = es.SecEtcd(tmp_path_factory.mktemp("etcd-tls"), pki, tls=True, client_cert_auth=True)
    try:
        yield e.start()
    finally:
        e.remove()


@pytest.fixture(scope="module")
def auth_etcd(tmp_path_factory):
    """One member over http with authentication on (root:PASSWORD), a user 'reader' whose
    role may read /elsewhere/ only, and a user 'tricky' (role root) with TRICKY_PASSWORD."""
    e = es.SecEtcd(tmp_path_factory.mktemp("etcd-auth"))
    try:
        e.start()
        e.ctl("user", "add", "tricky:%s" % TRICKY_PASSWORD, "--interactive=false")
        e.ctl("user", "grant-role", "tricky", "root")
        e.ctl("user", "add", "reader:%s" % PASSWORD, "--interactive=false")
        e.ctl("role", "add", "elsewhere")
        e.ctl("role", "grant-permission", "elsewhere", "read", "/elsewhere/", "--prefix=true")
        e.ctl("user", "grant-role", "reader", "elsewhere")
        e.enable_auth(PASSWORD)
        yield e
    finally:
        e.remove()


@pytest.fixture
def own_etcd(tmp_path):
    """Factory: own_etcd(**SecEtcd kwargs) -> a started member of this test alone."""
    started = []

    def make(**kw):
        e = es.SecEtcd(tmp_path / ("etcd%d" % len(started)), **kw)
        started.append(e)
        return e.start()

    yield make
    for e in started:
        e.remove()


# ------------------------------------------------------------------------------------------
# TLS


def test_tls_client_cert_routes_and_delete(router, tls_etcd, pki, ns1, ns2):
    e = tls_etcd
    ranges0, watches0 = e.grpc_calls("Range"), e.grpc_calls("Watch")
    t0 = time.monotonic()
    r, admin = es.start_router(router, [e.url], ca=pki.ca, cert=pki.client,
                               key=pki.client_key)
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 5)
    es.wait_log(r, "following", e.url)
    assert et.ask(r.port, "tls-a.example.") == "SERVFAIL"

    k = key()
    e.put(k, value(ns1.addr4, r"^tls-[ab]\.example\.$"))
    took = et.wait_answer(r.port, "tls-a.example.", "ns1", timeout=3)
    et.figure("TLS (client certificate): put -> first routed query %.0f ms" % (took * 1000))
    assert et.ask(r.port, "tls-b.example.") == "ns1"
    assert et.ask(r.port, "tls-c.example.") == "SERVFAIL"
    assert admin.etcd_routes() == {r"^tls-[ab]\.example\.$": [ns1.addr4]}

    # a changed value moves the route
    e.put(k, value(ns2.addr4, r"^tls-[ab]\.example\.$"))
    et.wait_answer(r.port, "tls-a.example.", "ns2", timeout=3)

    # past a watch rotation (every 2 s the router resumes its watch with a new request) the
    # watch still delivers changes at once
    es.wait_delta(lambda: e.grpc_calls("Watch"), watches0, 2, timeout=6,
                  what="the router's watch resumed over TLS")
    e.delete(k)
    et.wait_answer(r.port, "tls-a.example.", "SERVFAIL", timeout=3)
    assert admin.etcd_routes() == {}
    assert admin.metric("dnsrouter_etcd_up") == 1

    # followed by watch over TLS, not by reading the prefix again and again
    ranges = e.grpc_calls("Range") - ranges0
    assert 1 <= ranges <= 2, "%d range requests in %.1f s" % (ranges, time.monotonic() - t0)
    assert not es.log_lines(r, "unreachable"), r.log()


BAD_TLS = {
    # name: (router keys -> PKI attributes, endpoint host)
    "unrelated-ca": (dict(ca="other_ca", cert="client", key="client_key"), "127.0.0.1"),
    "no-client-cert": (dict(ca="ca"), "127.0.0.1"),
    "client-cert-of-unrelated-ca": (dict(ca="ca", cert="other_client", key="other_client_key"),
                                    "127.0.0.1"),
    "system-cas": (dict(cert="client", key="client_key"), "127.0.0.1"),
    "name-not-in-cert": (dict(ca="ca", cert="client", key="client_key"), "localhost"),
}


@pytest.mark.parametrize("case", sorted(BAD_TLS))
def test_tls_refused_never_connects(router, tls_etcd, pki, ns1, case):
    """A control router with the right set-up routes the key; the refused one never does."""
    e = tls_etcd
    sec, host = BAD_TLS[case]
    bad_ep = e.url.replace("127.0.0.1", host)
    bad, bad_admin = es.start_router(router, [bad_ep], timeout=BAD_TIMEOUT,
                                     **{k: getattr(pki, v) for k, v in sec.items()})
    good, good_admin = es.start_router(router, [e.url], ca=pki.ca, cert=pki.client,
                                       key=pki.client_key)
    name = "tls-%s.example." % case
    k = key()
    e.put(k, value(ns1.addr4, "^%s$" % re.escape(name)))
    try:
        et.wait_answer(good.port, name, "ns1", timeout=3)
        lines = assert_not_following(bad, bad_admin, bad_ep, name)
        et.figure("TLS %s: %s" % (case, lines[0].split("] ", 1)[-1]))
    finally:
        e.delete(k)


# ------------------------------------------------------------------------------------------
# authentication


def test_auth_routes_and_delete(router, auth_etcd, ns1):
    """root/PASSWORD, and a password that needs escaping in YAML and in JSON."""
    e = auth_etcd
    routers = [es.start_router(router, [e.url], username="root", password=PASSWORD),
               es.start_router(router, [e.url], username="tricky", password=TRICKY_PASSWORD)]
    for r, admin in routers:
        admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 5)
    k = key()
    e.put(k, value(ns1.addr4, r"^auth-ok\.example\.$"), user="root:%s" % PASSWORD)
    for r, admin in routers:
        took = et.wait_answer(r.port, "auth-ok.example.", "ns1", timeout=3)
        assert admin.etcd_routes() == {r"^auth-ok\.example\.$": [ns1.addr4]}
    et.figure("auth (tricky password): put -> first routed query %.0f ms" % (took * 1000))
    e.delete(k, user="root:%s" % PASSWORD)
    for r, admin in routers:
        et.wait_answer(r.port, "auth-ok.example.", "SERVFAIL", timeout=3)
        assert admin.etcd_routes() == {}
        assert admin.metric("dnsrouter_etcd_up") == 1
        # the passwords show nowhere
        shown = r.log() + "".join(admin.get(p).decode(errors="replace") for p in
                                  ("/metrics", "/api/v1/routes", "/api/v1/backends"))
        for pw in (PASSWORD, TRICKY_PASSWORD):
            assert pw not in shown


BAD_AUTH = {
    # name: (router keys, words the log must hold)
    "wrong-password": (dict(username="root", password=WRONG_PASSWORD),
                       ("authentication", "failed")),
    "unknown-user": (dict(username="nobody", password=PASSWORD), ("authentication", "failed")),
    "no-credentials": ({}, ()),
    "no-read-permission": (dict(username="reader", password=PASSWORD), ()),
}


@pytest.mark.parametrize("case", sorted(BAD_AUTH))
def test_auth_refused_never_connects(router, auth_etcd, ns1, case):
    e = auth_etcd
    sec, words = BAD_AUTH[case]
    bad, bad_admin = es.start_router(router, [e.url], timeout=BAD_TIMEOUT, **sec)
    good, good_admin = es.start_router(router, [e.url], username="root", password=PASSWORD)
    name = "auth-%s.example." % case
    k = key()
    e.put(k, value(ns1.addr4, "^%s$" % re.escape(name)), user="root:%s" % PASSWORD)
    try:
        et.wait_answer(good.port, name, "ns1", timeout=3)
        lines = assert_not_following(bad, bad_admin, e.url, name, words)
        et.figure("auth %s: %s" % (case, lines[0].split("] ", 1)[-1]))
        for pw in (PASSWORD, WRONG_PASSWORD):
            assert pw not in bad.log(), "password in the log:\n%s" % bad.log()

        if case == "wrong-password":
            # the right password by SIGHUP: the router connects, or (etcd settings apply at
            # the next start) says so; a credentials change is not silently ignored
            off = bad.reload(es.router_conf(bad.port, bad.admin_port, [e.url],
                                            timeout=BAD_TIMEOUT, username="root",
                                            password=PASSWORD))
            dnsr.wait_for(lambda: "etcd changes take effect at the next start" in
                          bad.log()[off:] or et.ask(bad.port, name, 0.2) == "ns1",
                          timeout=5, interval=0.05, what="the reload applied or a warning")
            assert PASSWORD not in bad.log()
    finally:
        e.delete(k, user="root:%s" % PASSWORD)


def test_auth_expired_tokens_replaced(router, own_etcd, ns1, ns2):
    """Tokens live 1 s when unused; the router's watch outlives them, so each watch rotation
    meets an expired token and the router must authenticate again, not give up or spin."""
    e = own_etcd(extra=["--auth-token-ttl", "1"])
    e.enable_auth(PASSWORD)
    user = "root:%s" % PASSWORD
    r, admin = es.start_router(router, [e.url], username="root", password=PASSWORD)
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 5)
    k1 = key()
    e.put(k1, value(ns1.addr4, r"^ttl-1\.example\.$"), user=user)
    et.wait_answer(r.port, "ttl-1.example.", "ns1", timeout=3)

    # the router authenticates again (etcdctl is idle meanwhile)
    auth0, t0 = e.grpc_calls("Authenticate"), time.monotonic()
    auths = es.wait_delta(lambda: e.grpc_calls("Authenticate"), auth0, 2, timeout=10,
                          what="the router authenticating twice more")
    spent = time.monotonic() - t0
    assert auths - auth0 <= 2 * spent + 3, "%d authentications in %.1f s" % (auths - auth0,
                                                                            spent)
    # ... and still follows: a new key routes at once, the old one still does
    k2 = key()
    e.put(k2, value(ns2.addr4, r"^ttl-2\.example\.$"), user=user)
    took = et.wait_answer(r.port, "ttl-2.example.", "ns2", timeout=3)
    et.figure("auth, token TTL 1 s: put -> routed %.0f ms after token renewals" % (took * 1000))
    assert et.ask(r.port, "ttl-1.example.") == "ns1"
    assert admin.metric("dnsrouter_etcd_up") == 1
    assert admin.metric("dnsrouter_etcd_keys") == 2

    # an etcd restart forgets every token: the router authenticates again and follows
    e.stop()
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 0, 10)
    e.start()
    admin.wait_metric("dnsrouter_etcd_up", lambda v: v == 1, 10)
    e.delete(k1, user=user)
    et.wait_answer(r.port, "ttl-1.example.", "SERVFAIL", timeout=3)
    assert et.ask(r.port, "ttl-2.example.") == "ns2"
    assert PASSWORD not in r.log()

    # nothing was compacted in this test: a watch etcd cancels for an expired token must not
    # be logged as a compaction (the operator would look for the wrong cause)
    blamed = es.log_lines(r, "compacted")
    assert not blamed, "%d log lines blame a compaction that never happened, e.g.:\n%s" % (
        len(blamed), "\n".join(blamed[:2]))


# ------------------------------------------------------------------------------------------
# configuration checks


def conf_text(pki, lines):
    """Config text from etcd-section lines (in order); `@@` marks the line an error names."""
    head = ['listen: [ "127.0.0.1:15353" ]', "etcd:"]
    files = {"CA": pki.ca, "CERT": pki.client, "KEY": pki.client_key, "DIR": pki.dir}
    text = "\n".join(head + ["  " + ln for ln in lines]) + "\n"
    for k, v in files.items():
        text = text.replace("<%s>" % k, '"%s"' % v)
    return text


EP = 'endpoints: [ "https://127.0.0.1:2379" ]'

GOOD_CONF = {
    "tls-and-auth": [EP, "ca: <CA>", "cert: <CERT>", "key: <KEY>", "username: root",
                     "password: secret"],
    "https-system-cas": [EP],
    "ca-only": [EP, "ca: <CA>"],
    "auth-over-http": ['endpoints: [ "http://127.0.0.1:2379", "https://127.0.0.1:2380" ]',
                       "username: root", 'password: "p@ss: w0rd"'],
}

# name: (etcd-section lines, a regexp the message after FILE:LINE: must match).
# `@@` marks the line the error must name; `@@etcd` lines may be named instead of the marked
# one (a pair that is incomplete: the lone key's line, or the `etcd:` line that holds it).
BAD_CONF = {
    "ca-missing": ([EP, 'ca: "/nonexistent/dnsr/ca.pem"  # @@', "cert: <CERT>", "key: <KEY>"],
                   r"cannot read etcd ca '/nonexistent/dnsr/ca\.pem' \(.+\)$"),
    # a directory passes access(R_OK) but is no PEM file (e.g. /etc/ssl/certs, a CApath)
    "ca-directory": ([EP, "ca: <DIR>  # @@", "cert: <CERT>", "key: <KEY>"],
                     r"cannot read etcd ca '.*' \(.+\)$"),
    "cert-missing": ([EP, "ca: <CA>", 'cert: "/nonexistent/dnsr/c.pem"  # @@', "key: <KEY>"],
                     r"cannot read etcd cert '/nonexistent/dnsr/c\.pem' \(.+\)$"),
    "key-missing": ([EP, "cert: <CERT>", 'key: "/nonexistent/dnsr/k.pem"  # @@'],
                    r"cannot read etcd key '/nonexistent/dnsr/k\.pem' \(.+\)$"),
    "cert-without-key": ([EP, "ca: <CA>", "cert: <CERT>  # @@"],
                         r"etcd cert and key go together$"),
    "key-without-cert": ([EP, "key: <KEY>  # @@", "ca: <CA>"],
                         r"etcd cert and key go together$"),
    "username-without-password": ([EP, "username: root  # @@", "ca: <CA>"],
                                  r"etcd username and password go together$"),
    "password-without-username": ([EP, "ca: <CA>", "password: secret  # @@"],
                                  r"etcd username and password go together$"),
    "ftp-endpoint": (['endpoints: [ "https://127.0.0.1:2379", "ftp://127.0.0.1:2379" ]  # @@',
                      "ca: <CA>"], r"ftp://"),
    "no-scheme-endpoint": (['endpoints: [ "127.0.0.1:2379" ]  # @@'], r"."),
}
PAIRS = ("cert-without-key", "key-without-cert", "username-without-password",
         "password-without-username")


def check(path):
    return subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                          text=True, timeout=10, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("case", sorted(GOOD_CONF))
def test_check_good_security_config(tmp_path, pki, case):
    path = tmp_path / "good.yaml"
    path.write_text(conf_text(pki, GOOD_CONF[case]))
    p = check(path)
    assert p.returncode == 0, "valid config rejected:\n%s\n%s" % (path.read_text(), p.stderr)


@pytest.mark.parametrize("case", sorted(BAD_CONF))
def test_check_bad_security_config(tmp_path, pki, case):
    lines, message = BAD_CONF[case]
    text = conf_text(pki, lines)
    marked = [i for i, ln in enumerate(text.splitlines(), 1) if "@@" in ln]
    assert len(marked) == 1, "test table broken for %s" % case
    want = {marked[0]}
    if case in PAIRS:
        want.add(text.splitlines().index("etcd:") + 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("  # @@", ""))
    p = check(path)
    assert p.returncode != 0, "bad config (%s) accepted:\n%s" % (case, path.read_text())
    out = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(out) == 1, "want one line on stderr, got:\n%s" % p.stderr
    m = re.match(r"^%s:(\d+): (.*)$" % re.escape(str(path)), out[0])
    assert m, "stderr line does not match FILE:LINE: problem: %r" % out[0]
    assert re.search(message, m.group(2)), "message %r does not match %r" % (m.group(2),
                                                                             message)
    assert int(m.group(1)) in want, "error at line %s, want %s: %r\n%s" % (
        m.group(1), " or ".join(str(x) for x in sorted(want)), out[0],
        "\n".join("%3d %s" % (i, ln) for i, ln in enumerate(path.read_text().splitlines(), 1)))
