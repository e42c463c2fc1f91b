# SPDX-License-Identifier: MIT
# dnscurve.nonce-file: the server nonce counter a run reached is saved at exit and is the floor
# of the next run, which refuses to start when the clock reads below it (nonces could repeat).

import os
import subprocess
import time

import dnsr


def keyfile(tmp_path):
    path = tmp_path / "curve.key"
    out = subprocess.run([dnsr.ROUTER_BIN, "-K", str(path)], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr
    return path


def conf(tmp_path, key, nonce_file):
    return {"workers": 2,
            "dnscurve": {"keys": [str(key)], "nonce-file": str(nonce_file)},
            "backends": [{"name": "b", "address": "127.0.0.1:9"}],
            "routes": [{"zone": ".", "backends": ["b"]}]}


def test_counter_saved_at_exit_and_read_as_floor(tmp_path):
    key = keyfile(tmp_path)
    nf = tmp_path / "curve.nonce"
    before = time.time_ns()
    r = dnsr.Router(tmp_path / "r1", conf=conf(tmp_path, key, nf)).start()
    assert r.stop() == 0
    after = time.time_ns()
    assert oct(nf.stat().st_mode & 0o777) == "0o600"
    saved = int(nf.read_text())
    # The counters start at the wall clock in nanoseconds when the workers start.
    assert before <= saved <= after
    # The next run starts above it and saves a higher value.
    r = dnsr.Router(tmp_path / "r2", conf=conf(tmp_path, key, nf)).start()
    assert r.stop() == 0
    assert int(nf.read_text()) > saved


def test_clock_below_the_floor_refuses_to_start(tmp_path):
    key = keyfile(tmp_path)
    nf = tmp_path / "curve.nonce"
    future = time.time_ns() + 3600 * 10**9  # as if the clock had gone back an hour
    nf.write_text("%d\n" % future)
    r = dnsr.Router(tmp_path / "r", conf=conf(tmp_path, key, nf), ready=False).start()
    try:
        r.proc.wait(timeout=10)
        assert r.proc.returncode == 1
        assert "the clock reads before the last server nonce counter" in r.log()
        assert int(nf.read_text()) == future  # left as it was
    finally:
        r.stop()


def test_garbage_in_the_file_is_a_clear_error(tmp_path):
    key = keyfile(tmp_path)
    nf = tmp_path / "curve.nonce"
    nf.write_text("soon\n")
    r = dnsr.Router(tmp_path / "r", conf=conf(tmp_path, key, nf), ready=False).start()
    try:
        r.proc.wait(timeout=10)
        assert r.proc.returncode == 1
        assert "%s: not a nonce counter" % nf in r.log()
    finally:
        r.stop()


def test_unwritable_place_is_a_clear_error(tmp_path):
    key = keyfile(tmp_path)
    nf = tmp_path / "missing-dir" / "curve.nonce"
    r = dnsr.Router(tmp_path / "r", conf=conf(tmp_path, key, nf), ready=False).start()
    try:
        r.proc.wait(timeout=10)
        assert r.proc.returncode == 1
        assert "dnscurve nonce-file %s: No such file or directory" % nf in r.log()
    finally:
        r.stop()
    assert not os.path.exists(nf)
