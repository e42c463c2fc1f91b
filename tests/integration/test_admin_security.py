# SPDX-License-Identifier: MIT
# Who may use the admin endpoint, and how long they may hold it: the admin key (Bearer or
# X-API-Key, reloaded on SIGHUP), foreign Origin (a web page's cross-origin POST) and foreign
# Host (DNS rebinding) refused with 403, /metrics reachable under slow-header connections;
# GET /api/v1/limits.

import http.client
import json
import select
import subprocess
import sys
import time

import pytest

import dnsr
import lbtools as lb
from dnsr import route_zone
from lbtools import backend, conf

KEY = "s3cret-admin-key"
NO_HEALTH = {"enabled": False}


def start(router, free_port, backends, **kw):
    port = free_port()
    c = conf([backend(name, addr) for name, addr in backends],
             [route_zone(".", [name for name, _ in backends])], health=NO_HEALTH,
             admin="127.0.0.1:%d" % port, **kw)
    r = router(c)
    dnsr.wait_for(lambda: metrics_status(port) == 200, 5, interval=0.02,
                  what="admin endpoint on port %d" % port)
    return r, c, port


def request(port, method, path, headers=None, host="127.0.0.1", timeout=3.0):
    """(status, headers with lower-case names, body) of one request on a new connection."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=b"" if method == "POST" else None, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def metrics_status(port, timeout=0.5):
    try:
        return request(port, "GET", "/metrics", timeout=timeout)[0]
    except OSError:
        return None


def drained(port, name, headers=None):
    status, _, body = request(port, "GET", "/api/v1/backends", headers)
    assert status == 200, (status, body)
    return {b["name"]: b for b in json.loads(body)}[name]["drained"]


def test_cross_origin_post_refused(router, free_port, ns1):
    """A page in a browser on this host can POST anywhere (a "simple" request needs no
    preflight): the Origin it sends is refused, and the backend stays in rotation. The
    endpoint's own origin is still served."""
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)])
    for origin in ("http://evil.example", "https://evil.example:%d" % port, "null",
                   "http://localhost:3000", "http://127.0.0.1.evil.example:%d" % port):
        status, _, body = request(port, "POST", "/api/v1/backends/ns1/drain",
                                  {"Origin": origin, "Content-Type": "text/plain"})
        assert status == 403, (origin, status, body)
        assert drained(port, "ns1") is False, "drained by a request from %s" % origin
    status, _, _ = request(port, "GET", "/api/v1/backends", {"Origin": "http://evil.example"})
    assert status == 403
    own = "http://127.0.0.1:%d" % port
    assert request(port, "POST", "/api/v1/backends/ns1/drain", {"Origin": own})[0] == 200
    assert drained(port, "ns1") is True
    assert "foreign Origin" in r.log()


def test_post_needs_the_key(router, free_port, ns1):
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)], **{"admin-key": KEY})
    path = "/api/v1/backends/ns1/drain"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": KEY + "x"},
                    {"X-API-Key": KEY[:-1]}, {"Authorization": "Basic " + KEY},
                    {"Authorization": KEY}):
        status, hdrs, body = request(port, "POST", path, headers)
        assert status == 401, (headers, status, body)
        assert hdrs.get("www-authenticate", "").startswith("Bearer"), hdrs
    assert drained(port, "ns1", {"X-API-Key": KEY}) is False

    assert request(port, "POST", path, {"Authorization": "Bearer " + KEY})[0] == 200
    assert drained(port, "ns1", {"X-API-Key": KEY}) is True
    assert request(port, "POST", "/api/v1/backends/ns1/undrain", {"X-API-Key": KEY})[0] == 200
    assert drained(port, "ns1", {"Authorization": "bearer " + KEY}) is False
    # The key does not excuse a foreign origin.
    status, _, _ = request(port, "POST", path, {"X-API-Key": KEY, "Origin": "http://evil.example"})
    assert status == 403
    assert drained(port, "ns1", {"X-API-Key": KEY}) is False


def test_api_get_needs_the_key_metrics_does_not(router, free_port, ns1):
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)], **{"admin-key": KEY})
    for path in ("/api/v1/backends", "/api/v1/routes", "/api/v1/limits", "/api/v1/nothing",
                 "/api/v1/explain?name=example.", "/index.html"):
        assert request(port, "GET", path)[0] == 401, path
    # The status page is open: it holds no data, and asks for the key the API wants.
    status, _, body = request(port, "GET", "/")
    assert status == 200 and b"<title>dnsrouter</title>" in body and b"ns1" not in body
    assert request(port, "POST", "/")[0] == 401
    for path in ("/api/v1/backends", "/api/v1/routes", "/api/v1/limits"):
        assert request(port, "GET", path, {"X-API-Key": KEY})[0] == 200, path
        assert request(port, "GET", path, {"Authorization": "Bearer " + KEY})[0] == 200, path
    status, _, body = request(port, "GET", "/metrics")
    assert status == 200 and b"dnsrouter_backend_up" in body
    # Only GET and HEAD of /metrics are open.
    assert request(port, "POST", "/metrics")[0] == 401


def test_foreign_host_refused(router, free_port, ns1):
    """DNS rebinding: a name the attacker controls resolves to 127.0.0.1, so the browser's
    requests carry that name in Host. Only the endpoint's own names are served."""
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)])
    for host in ("evil.example", "evil.example:%d" % port, "localhost.evil.example",
                 "127.0.0.1.nip.io:%d" % port, "10.1.2.3:%d" % port, "::1", ""):
        for method, path in (("GET", "/metrics"), ("GET", "/api/v1/backends"),
                             ("POST", "/api/v1/backends/ns1/drain")):
            status, _, body = request(port, method, path, {"Host": host})
            assert status in (403, 400), (host, method, path, status, body)
            assert status == 403 or host == "", (host, status)
    assert drained(port, "ns1") is False
    for host in ("127.0.0.1:%d" % port, "127.0.0.1", "localhost:%d" % port, "LocalHost",
                 "[::1]:%d" % port):
        assert request(port, "GET", "/metrics", {"Host": host})[0] == 200, host


# <n> connections to the admin port, each sending a request line and then one header line
# every <every> seconds, never the blank line that ends the headers. A connection the server
# closes is opened again at the next tick (a slowloris keeps its count up). It runs in a
# process of its own, as an attacker would: in a thread it would hold the test's GIL between
# a legitimate client's connect and its request. It prints "ready" once <n> are open, and
# {opened, lifetimes of the closed ones, errors} as JSON when its stdin closes.
SLOW_CLIENTS = r"""
import json, selectors, socket, sys, time
port, n, every = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sel = selectors.DefaultSelector()
sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
socks, lifetimes, errors, opened, line, ready = {}, [], [], 0, 0, False

def close(s):
    lifetimes.append(time.monotonic() - socks.pop(s))
    sel.unregister(s)
    s.close()

try:
    while True:
        while len(socks) < n:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            s.setblocking(False)
            socks[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ, "conn")
            opened += 1
        if not ready:
            print("ready", flush=True)
            ready = True
        for s in list(socks):
            try:
                s.send(b"X-Slow-%d: %d\r\n" % (line, line))
            except OSError:
                close(s)
        line += 1
        end = time.monotonic() + every
        stop = False
        while not stop and time.monotonic() < end:
            for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
                if key.data == "stdin":
                    stop = True
                    continue
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data and key.fileobj in socks:
                    close(key.fileobj)
        if stop:
            break
except Exception as e:
    errors.append(repr(e))
print(json.dumps({"opened": opened, "lifetimes": lifetimes, "errors": errors}), flush=True)
"""


def slow_clients(port, n, every):
    p = subprocess.Popen([sys.executable, "-c", SLOW_CLIENTS, str(port), str(n), str(every)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p


def slow_clients_result(p):
    p.stdin.close()
    p.wait(timeout=15)
    out = p.stdout.read()
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("n,seconds", [(64, 13.0), (500, 6.0)])
def test_metrics_reachable_under_slow_headers(router, free_port, ns1, n, seconds):
    """<n> connections sending a header line every 2 s (no inactivity timeout fires): each
    /metrics asked meanwhile is answered within 1 s. With 64 the attack outlasts the 10 s
    request deadline, which closes those connections; with 500 most are closed at once to
    make room. Either way no attacker connection lives much past the deadline."""
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)])
    p = slow_clients(port, n, 2.0)
    try:
        ready = select.select([p.stdout], [], [], 20)[0]
        first = p.stdout.readline().strip() if ready else "(nothing in 20 s)"
        assert first == "ready", "slow clients did not get %d connections open: %r" % (n, first)
        end = time.monotonic() + seconds
        asked = 0
        while time.monotonic() < end:
            t = time.monotonic()
            status, _, body = request(port, "GET", "/metrics", timeout=1.0)
            took = time.monotonic() - t
            assert status == 200 and took < 1.0, "/metrics took %.2fs under %d slow " \
                "connections (%s)" % (took, n, status)
            asked += 1
            time.sleep(0.1)
        assert asked >= seconds / 1.2
        res = slow_clients_result(p)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert not res["errors"], res["errors"]
    if n > 64:
        assert res["opened"] > n, "no slow connection was closed to make room"
    else:
        assert res["lifetimes"], "no slow connection reached its deadline"
    assert max(res["lifetimes"]) < 10.0 + 2.0 + 1.0, max(res["lifetimes"])
    assert r.alive()
    assert metrics_status(port, timeout=1.0) == 200


def test_key_change_on_reload(router, free_port, ns1):
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)], **{"admin-key": "first-key"})
    path = "/api/v1/backends/ns1/drain"
    assert request(port, "POST", path, {"X-API-Key": "first-key"})[0] == 200

    offset = r.reload(dict(c, **{"admin-key": "second-key"}))
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 5,
                  what="the reload applied")
    assert request(port, "POST", path, {"X-API-Key": "first-key"})[0] == 401
    assert request(port, "POST", path, {"Authorization": "Bearer second-key"})[0] == 200

    c2 = dict(c)
    del c2["admin-key"]
    offset = r.reload(c2)
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 5,
                  what="the reload applied")
    assert request(port, "GET", "/api/v1/backends")[0] == 200
    assert request(port, "POST", "/api/v1/backends/ns1/undrain")[0] == 200
    # No key: still no foreign origin.
    assert request(port, "POST", path, {"Origin": "http://evil.example"})[0] == 403


def test_limits_api(router, free_port, ns1):
    limits = {
        "admin-key": KEY,
        "acl": [{"from": ["10.0.0.0/8", "2001:db8::/32"], "action": "refuse"},
                {"from": "192.0.2.1", "action": "drop"}],
        "rate-limit": {"responses-per-second": 20, "errors-per-second": 5, "slip": 3,
                       "window": "5s", "ipv4-prefix": 24, "ipv6-prefix": 48,
                       "exempt": ["127.0.0.0/8"], "log-only": True},
        "query-limit": {"per-second": 100, "burst": 300, "action": "refuse"},
        "tcp": {"max-connections-per-client": 8, "query-timeout": "2s",
                "max-queries-per-connection": 50},
    }
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)], **limits)
    status, hdrs, body = request(port, "GET", "/api/v1/limits", {"X-API-Key": KEY})
    assert status == 200 and hdrs["content-type"].startswith("application/json"), status
    j = json.loads(body)
    assert j["acl"]["rules"] == 3
    assert j["acl"]["list"] == [{"from": "10.0.0.0/8", "action": "refuse"},
                                {"from": "2001:db8::/32", "action": "refuse"},
                                {"from": "192.0.2.1/32", "action": "drop"}]
    rl = j["rate_limit"]
    assert (rl["responses_per_second"], rl["errors_per_second"], rl["slip"], rl["window_ms"],
            rl["ipv4_prefix"], rl["ipv6_prefix"], rl["exempt"], rl["log_only"]) == \
        (20, 5, 3, 5000, 24, 48, ["127.0.0.0/8"], True)
    ql = j["query_limit"]
    assert (ql["per_second"], ql["burst"], ql["action"]) == (100, 300, "refuse")
    tcp = j["tcp"]
    assert (tcp["max_connections_per_client"], tcp["query_timeout_ms"],
            tcp["max_queries_per_connection"]) == (8, 2000, 50)
    assert set(tcp["closed"]) == {"per_client", "query_timeout", "max_queries", "evicted"}
    for section, keys in (("acl", ("refused", "dropped")),
                          ("query_limit", ("refused", "dropped", "entries")),
                          ("rate_limit", ("slipped", "dropped", "would_limit", "entries"))):
        for k in keys:
            assert k in j[section], (section, k)
    assert isinstance(j["backend_unreachable"], int)

    # A reload shows the new rules.
    offset = r.reload(dict(c, acl=[{"from": "198.51.100.0/24", "action": "drop"}]))
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 5,
                  what="the reload applied")
    j = json.loads(request(port, "GET", "/api/v1/limits", {"X-API-Key": KEY})[2])
    assert j["acl"]["list"] == [{"from": "198.51.100.0/24", "action": "drop"}]


def test_new_counter_families(router, free_port, ns1):
    r, c, port = start(router, free_port, [("ns1", ns1.addr4)])
    m = lb.Admin(port).metrics()
    want = {
        "dnsrouter_acl": ("action", {"refuse", "drop"}),
        "dnsrouter_query_limit": ("action", {"refuse", "drop"}),
        "dnsrouter_rrl": ("result", {"slip", "drop", "would"}),
        "dnsrouter_tcp_closed": ("reason", {"per_client", "query_timeout", "max_queries",
                                            "evicted"}),
    }
    for fam, (label, values) in want.items():
        assert m.type_of(fam) == "counter", fam
        assert {lab[label] for lab, _ in m.find(fam + "_total")} == values, fam
    assert m.type_of("dnsrouter_backend_unreachable") == "counter"
    assert m.value("dnsrouter_backend_unreachable_total") == 0
