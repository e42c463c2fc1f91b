# SPDX-License-Identifier: MIT
# Least privilege: with `user:` (and `group:`) the router binds its listeners and the admin
# endpoint as root, then becomes that user, in every thread; optionally in a `chroot:` first.
# Files it reads after start-up (the config file on SIGHUP) must be readable by that user, at
# the same path inside the chroot: `-t` and start-up say which one is not, in one line.
# The tests run as root; their files live in a directory under /tmp that `nobody` may enter.

import os
import pwd
import re
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

import dnsr
from dnsr import route_zone

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop it")

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def world_dir():
    """A temporary directory `nobody` can enter and read (pytest's own is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="dnsr-privs-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def routers():
    """Routers started by the test; stopped at the end, and their logs checked."""
    started = []
    yield started
    problems = []
    for r in started:
        died = r.proc is not None and not r.expect_exit and r.proc.poll() is not None
        r.stop()
        log = r.log()
        if any(m in log for m in dnsr.SANITIZER_MARKERS):
            problems.append("sanitizer report:\n" + log)
        if died:
            problems.append("dnsrouter died during the test:\n" + log)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def base_conf(port, backends, serving, **kw):
    c = {"listen": ["127.0.0.1:%d" % port], "workers": 2, "user": "nobody",
         "health": {"transport": "udp", "interval": "200ms", "timeout": "200ms"},
         "backends": [{"name": b.name, "address": b.address} for b in backends],
         "routes": [route_zone("example.", [serving])]}
    c.update(kw)
    return c


def start(routers, workdir, conf, port, ready=True, env=None):
    r = dnsr.Router(workdir, conf=dnsr.render_yaml(conf), port=port, ready=False, env=env)
    routers.append(r)
    r.start()
    if ready:
        r.wait_ready()
    return r


def task_ids(pid):
    """(name, uids, gids, groups) of every thread of <pid>."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        fields = {}
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = v.split()
        out.append((" ".join(fields["Name"]), [int(x) for x in fields["Uid"]],
                    [int(x) for x in fields["Gid"]], [int(x) for x in fields.get("Groups", [])]))
    return out


def assert_all_threads_nobody(r, at_least):
    tasks = task_ids(r.proc.pid)
    assert len(tasks) >= at_least, tasks
    for name, uids, gids, groups in tasks:
        assert uids == [NOBODY.pw_uid] * 4, "thread %s runs as uids %s" % (name, uids)
        assert gids == [NOBODY.pw_gid] * 4, "thread %s runs as gids %s" % (name, gids)
        assert 0 not in groups, "thread %s keeps group root: %s" % (name, groups)


def answered_by(r, who, name="x.example."):
    try:
        return dnsr.who(r.exchange(dnsr.query(name), timeout=0.5)) == who
    except OSError:
        return False


def free_low_ports(n):
    """<n> ports in 600..999 free on 127.0.0.1 for UDP and TCP."""
    found = []
    for port in range(600, 1000):
        held = [dnsr._bindable(socket.AF_INET, kind, "127.0.0.1", port)
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)]
        for s in held:
            if s is not None:
                s.close()
        if all(held):
            found.append(port)
            if len(found) == n:
                return found
    pytest.skip("no free ports below 1000")


def one_line(text):
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, "want one line, got:\n%s" % text
    return lines[0]


def wait_exit(r, timeout=10):
    dnsr.wait_for(lambda: r.proc.poll() is not None, timeout=timeout, what="dnsrouter to exit")
    r.expect_exit = True
    return r.proc.returncode


# -------------------------------------------------------------------------------------------


def test_every_thread_runs_as_nobody_and_reload_works(world_dir, routers, fake_backend):
    """After start-up no thread (workers, health, etcd-less control, admin) is root; a SIGHUP
    reload, which reads the config file as nobody, changes routing."""
    a, b = fake_backend("normal", name="a"), fake_backend("normal", name="b")
    port, admin = dnsr.free_port(), dnsr.free_port()
    conf = base_conf(port, [a, b], "a", admin="127.0.0.1:%d" % admin)
    r = start(routers, world_dir / "r", conf, port)
    assert answered_by(r, "fake-a")
    assert re.search(r"running as nobody \(uid %d, gid %d\)" % (NOBODY.pw_uid, NOBODY.pw_gid),
                     r.log()), r.log()
    # control, 2 workers, health, and the admin endpoint's thread
    assert_all_threads_nobody(r, at_least=5)
    r.reload(dnsr.render_yaml(dict(conf, routes=[route_zone("example.", ["b"])])))
    dnsr.wait_for(lambda: answered_by(r, "fake-b"), timeout=5,
                  what="routing changed by a reload read as nobody")
    assert "reload failed" not in r.log()


def test_port_below_1024_with_user(world_dir, routers, fake_backend):
    """Listeners and the admin endpoint on ports below 1024 are bound before the drop."""
    a = fake_backend("normal", name="a")
    port, admin = free_low_ports(2)
    conf = base_conf(port, [a], "a", admin="127.0.0.1:%d" % admin)
    r = start(routers, world_dir / "r", conf, port)
    assert answered_by(r, "fake-a")
    ans = dnsr.exchange(port, dnsr.query("t.example."), transport="tcp", timeout=2)
    assert dnsr.who(ans) == "fake-a"
    assert_all_threads_nobody(r, at_least=4)


def test_unreadable_config_refused(world_dir, routers, fake_backend):
    """A config file nobody cannot read would fail every reload: -t and start-up say so."""
    a = fake_backend("normal", name="a")
    port = dnsr.free_port()
    d = world_dir / "r"
    d.mkdir()
    path = d / "dnsrouter.yaml"
    path.write_text(dnsr.render_yaml(base_conf(port, [a], "a")))
    path.chmod(0o600)
    want = "user 'nobody' cannot read %s (Permission denied)" % path
    p = dnsr.check_config(path)
    assert p.returncode != 0 and one_line(p.stderr) == want, p.stderr
    r = dnsr.Router(d, args=["-c", str(path)], port=port, ready=False)
    routers.append(r)
    r.start()
    assert wait_exit(r) != 0
    assert one_line(r.log()) == want


@pytest.mark.parametrize("key,value,want", [
    ("user", "no-such-user-dnsr", "unknown user 'no-such-user-dnsr'"),
    ("group", "no-such-group-dnsr", "unknown group 'no-such-group-dnsr'"),
    ("chroot", "/nonexistent-dnsr", "chroot /nonexistent-dnsr: No such file or directory"),
])
def test_unknown_user_group_chroot(world_dir, fake_backend, key, value, want):
    a = fake_backend("normal", name="a")
    path = world_dir / "dnsrouter.yaml"
    path.write_text(dnsr.render_yaml(base_conf(dnsr.free_port(), [a], "a", **{key: value})))
    p = dnsr.check_config(path)
    assert p.returncode != 0 and one_line(p.stderr) == want, p.stderr


def test_not_root_becoming_another_user_refused(world_dir, fake_backend):
    """Started as nobody, `user: daemon` cannot be had: one line; `user: nobody` is fine."""
    a = fake_backend("normal", name="a")
    path = world_dir / "dnsrouter.yaml"

    def check_as_nobody(user):
        path.write_text(dnsr.render_yaml(base_conf(dnsr.free_port(), [a], "a", user=user)))

        def become():
            os.setgroups([])
            os.setgid(NOBODY.pw_gid)
            os.setuid(NOBODY.pw_uid)
        import subprocess
        return subprocess.run([dnsr.ROUTER_BIN, "-t", "-c", str(path)], capture_output=True,
                              text=True, timeout=10, preexec_fn=become)

    p = check_as_nobody("daemon")
    assert p.returncode != 0
    assert re.fullmatch(r"user 'daemon': running as uid %d, which cannot become it .*"
                        % NOBODY.pw_uid, one_line(p.stderr)), p.stderr
    p = check_as_nobody("nobody")
    assert p.returncode == 0, p.stderr


def test_chroot(world_dir, routers, fake_backend):
    """chroot: the config file must be at the same path inside the chroot. Without that -t
    refuses it in one line; with it (here a link inside the chroot that leads back to its
    root) the router starts, runs as nobody with the chroot as its root, and reloads."""
    a, b = fake_backend("normal", name="a"), fake_backend("normal", name="b")
    port = dnsr.free_port()
    root = world_dir / "root"
    root.mkdir()
    path = root / "dnsrouter.yaml"
    conf = base_conf(port, [a, b], "a", chroot=str(root))
    path.write_text(dnsr.render_yaml(conf))
    p = dnsr.check_config(path)
    assert p.returncode != 0
    assert one_line(p.stderr) == ("user 'nobody' cannot read %s inside chroot %s (No such "
                                  "file or directory)" % (path, root)), p.stderr

    # inside the chroot, <root> (as a path) leads to the chroot's own root
    inner = root / str(root).lstrip("/")
    inner.parent.mkdir(parents=True)
    inner.symlink_to("/")
    p = dnsr.check_config(path)
    assert p.returncode == 0, p.stderr
    # LeakSanitizer reads /proc/self/task at exit, which the chroot does not have
    r = start(routers, root, conf, port,
              env={"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0"})
    assert answered_by(r, "fake-a")
    assert os.readlink("/proc/%d/root" % r.proc.pid) == str(root)
    assert_all_threads_nobody(r, at_least=4)
    r.reload(dnsr.render_yaml(dict(conf, routes=[route_zone("example.", ["b"])])))
    dnsr.wait_for(lambda: answered_by(r, "fake-b"), timeout=5,
                  what="routing changed by a reload inside the chroot")
