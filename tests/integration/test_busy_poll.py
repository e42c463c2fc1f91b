# SPDX-License-Identifier: MIT
# busy-poll: a worker that had work less than busy-poll ago asks the kernel again instead of
# sleeping, so paced queries no longer put it to sleep between them; once traffic stops it
# sleeps again; SIGHUP turns it on and off. Observed from /proc: the worker thread's voluntary
# context switches (one per sleep) and its CPU time.

import os
import re
import socket
import time

import dns.message
import dns.rcode

import dnsr
from dnsr import route_zone

PACED = 300          # queries per phase
GAP_S = 0.002        # between them: far below busy-poll, far above the time one takes
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _conf(ns1, busy_poll=None):
    conf = {
        "workers": 1,
        "timeout": "2s",
        "backends": [{"name": "ns1", "address": ns1.addr4}],
        "routes": [route_zone(".", ["ns1"])],
    }
    if busy_poll is not None:
        conf["busy-poll"] = busy_poll
    return conf


def _worker_task(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == "dnsr-worker-0":
                return int(tid)
    raise AssertionError("no thread called dnsr-worker-0 in pid %d" % pid)


def _sleeps(pid, tid):
    """Voluntary context switches of the thread: each is one sleep."""
    with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
        return int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M).group(1))


def _cpu_s(pid, tid):
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _paced_sleeps(r, tid):
    """The worker's sleeps while PACED queries arrive GAP_S apart, each of them answered."""
    before = _sleeps(r.proc.pid, tid)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", r.port))
        s.settimeout(3)
        for i in range(PACED):
            q = dnsr.query("paced%d.example." % i, qid=i)
            s.send(q.to_wire())
            msg = dns.message.from_wire(s.recv(65535))
            assert msg.id == i and msg.rcode() == dns.rcode.NOERROR and \
                dnsr.who(msg) == "ns1", "query %d: %s" % (i, dnsr.rcode_text(msg))
            time.sleep(GAP_S)
    return _sleeps(r.proc.pid, tid) - before


def _reload(r, conf):
    offset = r.reload(conf)
    dnsr.wait_for(lambda: "configuration reloaded" in r.log()[offset:], 5,
                  what="the reload reported on stderr")


def test_busy_poll_keeps_worker_awake_then_lets_it_sleep(router, ns1):
    r = router(_conf(ns1))
    tid = _worker_task(r.proc.pid)

    # Without busy-poll every query wakes the worker at least once (its own arrival).
    off = _paced_sleeps(r, tid)
    assert off >= PACED, "worker slept %d times for %d paced queries" % (off, PACED)

    _reload(r, _conf(ns1, "50ms"))
    on = _paced_sleeps(r, tid)
    assert on <= PACED // 10, \
        "busy-poll 50ms: worker still slept %d times for %d queries 2 ms apart" % (on, PACED)

    # Traffic stopped: after busy-poll it must sleep again, not spin for ever.
    last = _sleeps(r.proc.pid, tid)
    dnsr.wait_for(lambda: _sleeps(r.proc.pid, tid) > last, 2,
                  what="the worker asleep again once queries stopped")
    cpu0, sleeps0 = _cpu_s(r.proc.pid, tid), _sleeps(r.proc.pid, tid)
    time.sleep(1.0)  # the window measured, not a synchronisation
    idle_cpu = _cpu_s(r.proc.pid, tid) - cpu0
    assert idle_cpu < 0.2, "idle worker used %.2f s of CPU in 1 s with busy-poll on" % idle_cpu
    assert _sleeps(r.proc.pid, tid) - sleeps0 <= 5, "idle worker woke more than its timer needs"

    # And SIGHUP turns it off again.
    _reload(r, _conf(ns1, "0"))
    again = _paced_sleeps(r, tid)
    assert again >= PACED, "busy-poll 0 after reload: only %d sleeps for %d queries" % (
        again, PACED)
