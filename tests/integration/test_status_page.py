# SPDX-License-Identifier: MIT
# tests/integration/test_status_page.py -- GET / on the admin endpoint, in a real browser:
# headless Chromium (Debian's), driven over its DevTools protocol, loads the page; the page
# asks for the admin key once the API wants it, then lists every backend with its state,
# draws charts that move while queries flow, and drains a backend with its button (checked
# through the API). A screenshot is taken; every request the browser made went to the
# endpoint (a dead proxy stands for the rest of the world, and nothing was sent to it).

import base64
import json
import urllib.error
import os
import re
import subprocess
import threading
import time
import urllib.request

import pytest
import websocket

import dnsr

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
KEY = "s3cret-key"


class Browser:
    """A headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, workdir):
        self.port = dnsr.free_port()
        self.log = open(workdir / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-port=%d" % self.port, "--user-data-dir=%s" % (workdir / "profile"),
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps",
             "--metrics-recording-only", "--window-size=1280,1000",
             # Anything not on the loopback goes to a proxy that does not exist.
             "--proxy-server=http://127.0.0.1:9", "about:blank"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        self.ws = None
        self.next_id = 0
        self.requests = []
        try:
            dnsr.wait_for(self._targets, timeout=30, interval=0.1, what="chromium's DevTools")
            page = next(t for t in self._targets() if t["type"] == "page")
            self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=10)
        except BaseException:
            self.close()
            raise

    def _targets(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json" % self.port, timeout=1) as f:
                return json.load(f)
        except OSError:
            return None

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Network.requestWillBeSent":
                self.requests.append(msg["params"]["request"]["url"])
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                      awaitPromise=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def close(self):
        if self.ws is not None:
            self.ws.close()
        dnsr.stop_process(self.proc)
        self.log.close()


def api(admin, path, method="GET"):
    req = urllib.request.Request("http://%s%s" % (admin, path), method=method,
                                 headers={"X-API-Key": KEY})
    with urllib.request.urlopen(req, timeout=3) as f:
        return json.load(f)


def rows(b):
    return b.eval("[...document.querySelectorAll('#backends tbody tr')]"
                  ".map(r => [r.dataset.backend, r.dataset.state])")


def test_status_page_in_chromium(router, ns1, ns2, tmp_path):
    admin = "127.0.0.1:%d" % dnsr.free_port()
    r = router({"workers": 1, "admin": admin, "admin-key": KEY,
                "health": {"interval": "200ms", "timeout": "200ms", "fall": 1, "rise": 1},
                "backends": [{"name": "ns1", "address": ns1.addr4},
                             {"name": "ns2", "address": ns2.addr4},
                             {"name": "dead", "address": "127.0.0.1:%d" % dnsr.free_port()}],
                "routes": [{"zone": "example.", "backends": ["ns1", "ns2", "dead"]}]})
    b = Browser(tmp_path)
    try:
        b.call("Network.enable")
        b.call("Page.enable")
        b.call("Page.navigate", url="http://%s/" % admin)
        dnsr.wait_for(lambda: b.eval("location.href + ' ' + document.readyState") ==
                      "http://%s/ complete" % admin, timeout=10, what="the page loaded")
        # The API wants the key: the page asks for it, once.
        dnsr.wait_for(lambda: b.eval("(e => e && getComputedStyle(e).display)"
                                     "(document.getElementById('keyform'))") == "block",
                      timeout=10, what="the key form")
        b.eval("document.getElementById('key').value = %s;"
               "document.getElementById('keyform').requestSubmit()" % json.dumps(KEY))
        want = [["ns1", "up"], ["ns2", "up"], ["dead", "down"]]
        dnsr.wait_for(lambda: rows(b) == want, timeout=10, what="every backend with its state")
        assert "1 routes" in b.eval("document.getElementById('status').textContent")

        # Charts move while queries flow.
        before = b.eval("document.querySelector('#chart-qps polyline').getAttribute('points')")
        stop = threading.Event()

        def load():
            for i in range(20000):
                if stop.is_set():
                    return
                dnsr.udp_exchange(r.port, dnsr.query("q%d.example." % i, "A").to_wire(),
                                  timeout=0.5)
        t = threading.Thread(target=load)
        t.start()
        try:
            def qps():
                text = b.eval("document.getElementById('qps-now').textContent")
                return float(text) if text not in ("-", "") else 0.0
            dnsr.wait_for(lambda: qps() > 10, timeout=15, what="queries per second above 10")
            after = b.eval("document.querySelector('#chart-qps polyline').getAttribute('points')")
            assert after != before
            assert b.eval("document.querySelector('#chart-rcode polyline[data-series=NOERROR]')"
                          " !== null")
            dnsr.wait_for(lambda: b.eval("document.getElementById('p50-now').textContent")
                          not in ("-", ""), timeout=10, what="a latency percentile")
        finally:
            stop.set()
            t.join()

        # drawn, not only computed: after a few samples the line spans the chart
        dnsr.wait_for(lambda: b.eval("document.querySelector('#chart-qps polyline')"
                                     ".getBBox().width") > 300, timeout=10,
                      what="the queries line across the chart")
        shot = base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"])
        (tmp_path / "status.png").write_bytes(shot)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10000

        # The drain button drains, through the API, with the key.
        b.eval("document.querySelector('button[data-name=ns2][data-action=drain]').click()")
        dnsr.wait_for(lambda: {x["name"]: x["drained"] for x in api(admin, "/api/v1/backends")}
                      ["ns2"], timeout=5, what="ns2 drained")
        dnsr.wait_for(lambda: ["ns2", "drained"] in rows(b), timeout=5, what="ns2 shown drained")
        assert b.eval("document.getElementById('error').textContent") == ""
    finally:
        b.close()
    # Every request the page made went to the endpoint.
    foreign = [u for u in b.requests if not u.startswith("http://%s/" % admin)]
    assert not foreign and len(b.requests) > 10, (foreign, len(b.requests))


def test_page_headers_and_key(router):
    admin = "127.0.0.1:%d" % dnsr.free_port()
    router({"workers": 1, "admin": admin, "admin-key": KEY})
    with urllib.request.urlopen("http://%s/" % admin, timeout=3) as f:
        body = f.read().decode()
        assert f.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in f.headers["Content-Security-Policy"]
        assert f.headers["X-Frame-Options"] == "DENY"
    # self-contained: no address of anything elsewhere (the SVG namespace is a name, not a
    # place the browser goes)
    body = body.replace('"http://www.w3.org/2000/svg"', "")
    assert "http://" not in body and "https://" not in body and "src=" not in body
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(urllib.request.Request(
            "http://%s/api/v1/backends/x/drain" % admin, method="POST"), timeout=3)
    assert ei.value.code == 401


def test_grafana_dashboard_names_real_metrics(router):
    """contrib/grafana-dashboard.json: valid JSON whose every query names metrics the router
    exports (etcd's only with etcd configured: those the README lists)."""
    dash = json.loads((dnsr.REPO / "contrib" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    names = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs
             for n in re.findall(r"dnsrouter_[a-z_]+", e)}
    assert len(dash["panels"]) >= 6 and len(names) >= 15, names
    admin = "127.0.0.1:%d" % dnsr.free_port()
    router({"workers": 1, "admin": admin,
            "backends": [{"name": "x", "address": "127.0.0.1:%d" % dnsr.free_port()}],
            "routes": [{"zone": ".", "backends": ["x"]}]})
    with urllib.request.urlopen("http://%s/metrics" % admin, timeout=3) as f:
        exported = set(re.findall(r"^# TYPE (dnsrouter_[a-z_]+)", f.read().decode(), re.M))
    readme = (dnsr.REPO / "README.md").read_text()
    missing = [n for n in sorted(names) if n not in exported and
               not (n.startswith("dnsrouter_etcd_") and "`%s`" % n in readme)]
    assert not missing, missing
