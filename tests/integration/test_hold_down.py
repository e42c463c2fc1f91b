# SPDX-License-Identifier: MIT
# Hold-down after a passive take-down: a backend that answers its health checks but drops every
# query used to flap (down after `fall` lost queries, back after `rise` checks, over and over,
# each round costing clients a timeout). Now it stays out for health.hold-down, doubled with
# each take-down in a row up to health.hold-down-max, and the count starts again once it has
# stayed in rotation for hold-down-max.

import re

import dnsr
import lbtools as lb
from dnsr import route_zone
from lbtools import backend, conf

HOLD = {"transport": "udp", "interval": "200ms", "timeout": "200ms", "fall": 3, "rise": 2,
        "hold-down": "1s", "hold-down-max": "4s"}
TIMEOUT = 0.3       # the backends' query timeout


def lines(r, pattern, offset=0):
    return [m for m in (re.search(pattern, line) for line in r.log()[offset:].splitlines()) if m]


def names(prefix):
    i = 0
    while True:
        yield "%s%d.example." % (prefix, i)
        i += 1


def test_dropping_backend_held_down_not_flapping(router, fake_backend):
    """`mute` passes its UDP checks and drops every query; `good` answers. Under 12 s of steady
    load `mute` is taken out by passive checks a handful of times (about 20 without the
    hold-down), with hold-downs of 1, 2, 4, 4 s; every query is answered by `good`, none later
    than one timeout and a retry. Left alone, `mute` stays up 4 s and its hold-down is 1 s
    again."""
    mute = fake_backend("silent", name="mute")
    good = fake_backend("normal", name="good")
    r = router(conf([backend("mute", mute.address, timeout="300ms"),
                     backend("good", good.address, timeout="300ms")],
                    [route_zone("example.", ["mute", "good"])], health=HOLD, workers=1))
    start = len(r.log())
    load = lb.Load(r.port, names("q"), rate=50, duration=12.0, timeout=3.0, sockets=4).run()

    downs = lines(r, r"\bmute\b.* is down \(\d+ timeouts in a row", start)
    ups = lines(r, r"\bmute\b.* is up\b", start)
    holds = [int(m.group(1)) for m in
             lines(r, r"\bmute\b.* held out of rotation for (\d+) ms", start)]
    assert 2 <= len(downs) <= 6 and len(ups) <= len(downs), (
        "%d take-downs and %d returns in 12 s:\n%s" % (len(downs), len(ups), r.log()[start:]))
    assert len(holds) == len(downs)
    assert holds[:3] == [1000, 2000, 4000][:len(holds)], holds
    assert all(h == 4000 for h in holds[3:]), holds

    assert load.counts() == {"fake-good": len(load)}, dict(load.counts())
    worst = max(load.latency(i) for i in range(len(load)))
    assert worst < 1.0, "a query took %.2f s" % worst
    slow = [i for i in range(len(load)) if load.latency(i) >= TIMEOUT - 0.05]
    assert slow, "no query went to `mute`: passive checks not exercised"
    # ~11 slow queries per time `mute` is in rotation; flapping made it a third of them all
    assert len(slow) <= 0.15 * len(load), "%d of %d queries waited for `mute`" % (
        len(slow), len(load))

    # No traffic: `mute` comes back after its hold-down, stays up 4 s, and the count restarts.
    dnsr.wait_for(lambda: lines(r, r"\bmute\b.* hold-down is 1000 ms again", start),
                  timeout=4 + 1 + 4 + 2, what="mute's hold-down back to 1 s")
    offset = len(r.log())
    lb.Load(r.port, names("again"), rate=50, duration=1.5, timeout=3.0, sockets=2).run()
    dnsr.wait_for(lambda: lines(r, r"\bmute\b.* held out of rotation for \d+ ms", offset),
                  timeout=3, what="mute taken down again")
    again = lines(r, r"\bmute\b.* held out of rotation for (\d+) ms .*\(passive take-down (\d+)",
                  offset)
    assert (again[0].group(1), again[0].group(2)) == ("1000", "1"), again[0].group(0)


def test_hold_down_without_active_checks(router, fake_backend):
    """With checks disabled the hold-down is what brings a backend back: `mute` returns by
    itself once it is over, not after one interval."""
    mute = fake_backend("silent", name="mute")
    good = fake_backend("normal", name="good")
    health = {"enabled": False, "fall": 2, "interval": "100ms", "hold-down": "1500ms"}
    r = router(conf([backend("mute", mute.address, timeout="200ms"),
                     backend("good", good.address, timeout="200ms")],
                    [route_zone("example.", ["mute", "good"])], health=health, workers=1))
    start = len(r.log())
    lb.Load(r.port, names("d"), rate=40, duration=1.0, timeout=3.0, sockets=2).run()
    dnsr.wait_for(lambda: lines(r, r"\bmute\b.* is up \(hold-down over", start),
                  timeout=5, what="mute back after its hold-down")
    t = {}
    for line in r.log()[start:].splitlines():
        stamp = re.match(r"^\S+T(\d+):(\d+):([\d.]+)Z", line)
        for what, pattern in (("down", r"\bmute\b.* is down"), ("up", r"\bmute\b.* is up")):
            if stamp and what not in t and re.search(pattern, line) and (
                    what == "down" or "down" in t):
                h, m, s = stamp.groups()
                t[what] = int(h) * 3600 + int(m) * 60 + float(s)
    assert t["up"] - t["down"] >= 1.45, "back %.2f s after going down, hold-down 1.5 s" % (
        t["up"] - t["down"])
