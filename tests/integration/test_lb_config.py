# SPDX-License-Identifier: MIT
# Config checking (`dnsrouter -t -c FILE`) for the health-check, load-balancing and admin keys:
# a good file with every new key passes; each bad value fails with one `FILE:LINE: problem`.

import re

import pytest

import dnsr

GOOD = """\
listen: [ "127.0.0.1:15353" ]
workers: 2
admin: 127.0.0.1:18053
health:
  enabled: true
  query: "id.server. CH TXT"
  transport: tcp
  interval: 1s
  timeout: 500ms
  fall: 3
  rise: 2
  rcodes: [NOERROR, REFUSED, NOTIMP]
backends:
  - { name: ns1, address: "127.0.0.1:5300", weight: 2, timeout: 300ms, health: { interval: 200ms, fall: 2 } }
  - { name: ns2, address: "127.0.0.1:5301", weight: 100, health: { transport: udp, query: "example. SOA" } }
  - { name: ns3, address: "[::1]:5302", weight: 1, health: { enabled: false } }
  - { name: ns4, address: "127.0.0.1:5303" }
routes:
  - { zone: example., backends: [ns1, ns2], policy: hash, fallback: servfail }
  - { zone: test., backends: [ns1, ns2, ns3], policy: weighted, fallback: all }
  - { regex: '^a[^.]*\\.org\\.$', backends: [ns1, ns3], policy: least-outstanding }
  - { zone: org., backends: [ns2, ns3], policy: first-available }
  - { zone: net., backends: [ns2, ns4], policy: round-robin }
  - { zone: ., backends: [ns4] }
"""

GOOD_VARIANTS = {
    "full": GOOD,
    "admin-bare-port": GOOD.replace("admin: 127.0.0.1:18053", "admin: 18053"),
    "admin-ipv6": GOOD.replace("admin: 127.0.0.1:18053", 'admin: "[::1]:18053"'),
    "no-admin": GOOD.replace("admin: 127.0.0.1:18053\n", ""),
    "no-health": re.sub(r"health:\n(  .*\n)+", "", GOOD),
    "health-flow-udp": re.sub(r"health:\n(  .*\n)+",
                              'health: { enabled: false, query: "example. IN SOA", '
                              "transport: udp, rcodes: [NOERROR] }\n", GOOD),
    "health-query-no-class": GOOD.replace('query: "id.server. CH TXT"', 'query: "example. SOA"'),
    "rcodes-all-names": GOOD.replace(
        "rcodes: [NOERROR, REFUSED, NOTIMP]",
        "rcodes: [NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED]"),
    "block-backend-health": """\
listen: "127.0.0.1:15353"
backends:
  - name: ns1
    address: "127.0.0.1:5300"
    weight: 7
    health:
      interval: 2s
      rise: 1
      fall: 1
routes:
  - zone: example.
    backends: [ ns1 ]
    policy: weighted
""",
}


def _bad(old, new):
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# name -> file text; `@@` marks the line the error must point at.
BAD = {
    "policy-unknown": _bad("policy: hash, fallback: servfail }",
                           "policy: random, fallback: servfail }  # @@"),
    "policy-empty": _bad("policy: first-available }", 'policy: "" }  # @@'),
    "weight-0": _bad("weight: 2, timeout: 300ms, health: { interval: 200ms, fall: 2 } }",
                     "weight: 0, timeout: 300ms }  # @@"),
    "weight-101": _bad("weight: 100,", "weight: 101,  # @@"),
    "weight-negative": _bad("weight: 1,", "weight: -1,  # @@"),
    "weight-word": _bad("weight: 1,", "weight: heavy,  # @@"),
    "health-query-bad-type": _bad('query: "id.server. CH TXT"',
                                  'query: "id.server. CH NOPE"  # @@'),
    "health-query-bad-class": _bad('query: "id.server. CH TXT"',
                                   'query: "id.server. XX TXT"  # @@'),
    "health-query-extra-word": _bad('query: "id.server. CH TXT"',
                                    'query: "id.server. CH TXT more"  # @@'),
    "health-query-empty": _bad('query: "id.server. CH TXT"', 'query: ""  # @@'),
    "health-query-bad-name": _bad('query: "id.server. CH TXT"', 'query: "a..b. CH TXT"  # @@'),
    "transport-bad": _bad("transport: tcp", "transport: sctp  # @@"),
    "fall-0": _bad("fall: 3", "fall: 0  # @@"),
    "fall-word": _bad("fall: 3", "fall: many  # @@"),
    "rise-0": _bad("rise: 2", "rise: 0  # @@"),
    "interval-bad": _bad("interval: 1s", "interval: soon  # @@"),
    "timeout-bad": _bad("timeout: 500ms", "timeout: 5 apples  # @@"),
    "enabled-bad": _bad("enabled: true", "enabled: maybe  # @@"),
    "rcode-unknown": _bad("rcodes: [NOERROR, REFUSED, NOTIMP]",
                          "rcodes: [NOERROR, WHATEVER]  # @@"),
    "health-unknown-key": _bad("rise: 2", "rise: 2\n  colour: blue  # @@"),
    "health-scalar": re.sub(r"health:\n(  .*\n)+", "health: yes  # @@\n", GOOD),
    "backend-health-fall-0": _bad("health: { interval: 200ms, fall: 2 } }",
                                  "health: { interval: 200ms, fall: 0 } }  # @@"),
    "backend-health-bad-query": _bad('health: { transport: udp, query: "example. SOA" } }',
                                     'health: { transport: udp, query: "example. SOAP" } }  # @@'),
    "backend-health-unknown-key": _bad("health: { enabled: false } }",
                                       "health: { enabled: false, colour: red } }  # @@"),
    "admin-bad-host": _bad("admin: 127.0.0.1:18053", 'admin: "localhost:x"  # @@'),
    "admin-bad-ip": _bad("admin: 127.0.0.1:18053", 'admin: "1.2.3:8053"  # @@'),
    "admin-bad-port": _bad("admin: 127.0.0.1:18053", "admin: 99999  # @@"),
    "admin-bad-ip-port": _bad("admin: 127.0.0.1:18053", 'admin: "127.0.0.1:70000"  # @@'),
    "fallback-bad": _bad("fallback: all }", "fallback: maybe }  # @@"),
}


def _check(path):
    return dnsr.check_config(path)


@pytest.mark.parametrize("name", sorted(GOOD_VARIANTS))
def test_check_good_lb_config(tmp_path, name):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_VARIANTS[name])
    p = _check(path)
    assert p.returncode == 0, "valid config (%s) rejected: %s" % (name, p.stderr)


@pytest.mark.parametrize("name", sorted(BAD))
def test_check_bad_lb_config(tmp_path, name):
    dnsr.assert_config_error_at_marker(tmp_path, BAD[name], name)
