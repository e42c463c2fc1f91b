#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/shardmem.py -- how much memory knotd needs for a big signed zone, whole and sharded.

Generates a DNSSEC-signed zone `example.` (NSEC, ECDSA P-256 / algorithm 13) of --names names,
cuts it with dnsrouter-split into each --shards count, then loads it into knotd (Knot DNS
with dnssec-signing off, no journal, no zone file sync, as tests/integration/splittools.py
runs it): once the whole zone, then every shard, one knotd at a time so that memory stays
bounded. For each knotd it records the load time (start to the first SOA answer), VmRSS once
loaded, VmHWM (its peak) and RssAnon (the heap, without the mmapped zone file: see
proc_memory), and prints a markdown table: the whole zone, then per shard count the largest
and smallest shard (by RSS), the sum over the shards and the largest shard over the whole zone;
plus the split tool's wall time and peak RSS.

The zone is generated streaming, in DNSSEC canonical order: the apex (SOA, NS, DNSKEY), then
h0000000.example., h0000001.example., ... (zero-padded, so lexical order is canonical order),
each with an A, every 10th also an AAAA, every 50th also an MX to the next name, an NSEC per
owner (a correct chain with correct type bitmaps, the last pointing back to the apex) and an
RRSIG per RRset. THE SIGNATURES AND THE KEY ARE NOT REAL: they are random bytes from a fixed
seed, of the real sizes (64-byte public key, 64-byte signatures). knotd does not verify
signatures when it loads a zone it does not sign, and only the sizes matter for memory; the
zone does not validate.

Run (plain Python 3, standard library only; needs knotd, kdig, and build/dnsrouter-split):
    /usr/bin/python3 bench/shardmem.py                       # 10,000,000 names, 4 and 16 shards
    /usr/bin/python3 bench/shardmem.py --names 200000        # a quick check of the script
Options: --names N, --shards 4,16, --work DIR (default /tmp/shardmem/work), --split PATH,
--mem-limit-gib G (a knotd with more anonymous memory is killed and the run fails),
--reuse (keep an existing zone and shard files of the same --names), --clean (delete the
generated files at the end).
"""
import argparse
import base64
import datetime
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KNOTD = os.environ.get("KNOTD", "/usr/sbin/knotd")
KDIG = os.environ.get("KDIG", "kdig")
ORIGIN = "example."
TTL = 3600
SERIAL = 2026120601
SEED = 4034
# Fixed validity window: knotd does not check it on load, and fixed dates keep the file
# byte-for-byte reproducible.
INCEPTION, EXPIRATION = "20260101000000", "20360101000000"
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# zone generation

def key_tag(rdata):
    """RFC 4034 Appendix B: the key tag of a DNSKEY's RDATA."""
    acc = 0
    for i, b in enumerate(rdata):
        acc += b if i & 1 else b << 8
    return (acc + (acc >> 16)) & 0xFFFF


class FakeSigner:
    """RRSIG lines with random 64-byte signatures (algorithm 13 sizes) from a fixed seed."""

    def __init__(self, rng, tag):
        self.rng = rng
        self.tail = " %d %s %s %d %s " % (TTL, EXPIRATION, INCEPTION, tag, ORIGIN)

    def rrsig(self, owner, rtype, labels):
        sig = base64.b64encode(self.rng.randbytes(64)).decode()
        return "%s %d IN RRSIG %s 13 %d%s%s\n" % (owner, TTL, rtype, labels, self.tail, sig)


def host(i, width):
    return "h%0*d.%s" % (width, i, ORIGIN)


def host_lines(i, n, width, signer):
    """The records of h<i>: its data, its NSEC to the next name (the apex after the last),
    an RRSIG per RRset."""
    owner = host(i, width)
    out = ["%s %d IN A 10.%d.%d.%d\n" % (owner, TTL, (i >> 16) & 255, (i >> 8) & 255, i & 255),
           signer.rrsig(owner, "A", 2)]
    types = ["A"]
    if i % 10 == 0:
        out += ["%s %d IN AAAA 2001:db8::%x:%x\n" % (owner, TTL, i >> 16, i & 0xFFFF),
                signer.rrsig(owner, "AAAA", 2)]
        types.append("AAAA")
    if i % 50 == 0:
        # The next name, so that MX targets near a cut land in another shard now and then.
        out += ["%s %d IN MX 10 %s\n" % (owner, TTL, host((i + 1) % n, width)),
                signer.rrsig(owner, "MX", 2)]
        types.append("MX")
    nxt = host(i + 1, width) if i + 1 < n else ORIGIN
    out += ["%s %d IN NSEC %s %s RRSIG NSEC\n" % (owner, TTL, nxt, " ".join(types)),
            signer.rrsig(owner, "NSEC", 2)]
    return out


def apex_lines(n, width, signer, pubkey):
    a = ORIGIN
    first = host(0, width) if n else a
    return [
        "%s %d IN SOA ns1.example.net. hostmaster.example.net. %d 7200 3600 1209600 %d\n"
        % (a, TTL, SERIAL, TTL), signer.rrsig(a, "SOA", 1),
        # Out-of-zone name servers: no glue to copy, the apex stays the same in every shard.
        "%s %d IN NS ns1.example.net.\n" % (a, TTL),
        "%s %d IN NS ns2.example.net.\n" % (a, TTL), signer.rrsig(a, "NS", 1),
        "%s %d IN DNSKEY 257 3 13 %s\n" % (a, TTL, base64.b64encode(pubkey).decode()),
        signer.rrsig(a, "DNSKEY", 1),
        "%s %d IN NSEC %s NS SOA RRSIG NSEC DNSKEY\n" % (a, TTL, first),
        signer.rrsig(a, "NSEC", 1),
    ]


def generate_zone(path, n):
    """Write the zone of <n> names to <path>, a batch of names at a time (never whole)."""
    rng = random.Random(SEED)
    pubkey = rng.randbytes(64)  # stands in for an uncompressed P-256 point (x, y)
    signer = FakeSigner(rng, key_tag(struct.pack("!HBB", 257, 3, 13) + pubkey))
    width = max(7, len(str(max(n - 1, 0))))
    tmp = path + ".part"
    with open(tmp, "w", buffering=4 * MIB) as f:
        f.writelines(apex_lines(n, width, signer, pubkey))
        batch = []
        for i in range(n):
            batch += host_lines(i, n, width, signer)
            if len(batch) > 40000:
                f.writelines(batch)
                batch = []
        f.writelines(batch)
    os.replace(tmp, path)  # a half-written zone is never taken for a finished one


# --------------------------------------------------------------------------------------------
# memory of a process

def proc_memory(pid):
    """VmRSS, VmHWM, RssAnon of <pid> in bytes (0 for a process already gone).

    Both knotd and dnsrouter-split read the zone file through libzscanner, which mmaps it
    whole: while a file is parsed its pages count in VmRSS and so in VmHWM (and ru_maxrss),
    although they are page cache the kernel can drop. RssAnon is the memory that is really
    the process's own; its peak is only sampled (the kernel keeps no high-water mark of it)."""
    vals = {"VmRSS": 0, "VmHWM": 0, "RssAnon": 0}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in vals:
                    vals[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return vals


# --------------------------------------------------------------------------------------------
# the split tool

def run_measured(argv, log_path):
    """Run <argv> to completion; (exit code, wall seconds, peak RSS bytes, sampled peak
    RssAnon bytes) of that one child (wait4, since RUSAGE_CHILDREN would give the peak of
    every child so far)."""
    anon = 0
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                anon = max(anon, proc_memory(proc.pid)["RssAnon"])
                time.sleep(0.05)
        except BaseException:  # interrupted (SIGTERM, ^C): leave no child behind
            proc.kill()
            proc.wait()
            raise
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return proc.returncode, wall, usage.ru_maxrss * 1024, anon


def split_zone(split_bin, zonefile, outdir, shards):
    """dnsrouter-split into <outdir>; (shard file paths in order, wall s, peak RSS bytes,
    sampled peak RssAnon bytes)."""
    os.makedirs(outdir, exist_ok=True)
    log = os.path.join(outdir, "split.log")
    rc, wall, rss, anon = run_measured(
        [split_bin, zonefile, "-o", outdir, "--shards", str(shards)], log)
    if rc != 0:
        with open(log) as f:
            raise RuntimeError("dnsrouter-split --shards %d: exit %d\n%s"
                               % (shards, rc, f.read()[-4000:]))
    return shard_files(outdir), wall, rss, anon


def shard_files(outdir):
    with open(os.path.join(outdir, "manifest.json")) as f:
        manifest = json.load(f)
    return [os.path.join(outdir, s["file"]) for s in manifest["shards"]]


# --------------------------------------------------------------------------------------------
# knotd

KNOT_CONF = """server:
    rundir: "{d}"
    listen: "127.0.0.1@{p}"
    identity: "{n}"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: "{z}"
    file: "{f}"
"""


def free_port():
    """A port free for UDP and TCP on 127.0.0.1, away from the ephemeral range (where kdig's
    own source ports come from)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        socks = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


class MemoryLimit(RuntimeError):
    pass


class Knot:
    """One knotd serving one zone file as it is, in its own directory."""

    def __init__(self, name, workdir, zonefile):
        self.name = name
        self.dir = os.path.abspath(workdir)
        self.zonefile = os.path.abspath(zonefile)
        self.port = free_port()
        self.proc = None
        self.log = None
        self.started = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        # A fresh directory each time: no timers or journal from an earlier run.
        for f in os.listdir(self.dir):
            p = os.path.join(self.dir, f)
            if os.path.isfile(p):
                os.unlink(p)
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write(KNOT_CONF.format(d=self.dir, p=self.port, n=self.name, z=ORIGIN,
                                     f=self.zonefile))
        self.log = open(os.path.join(self.dir, "knotd.log"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([KNOTD, "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def listening(self):
        """Whether knotd has bound its UDP socket (read from /proc/net/udp, so that probing
        never races knotd's own bind). Before that, kdig would wait its whole 1 s timeout and
        blur the load time of a small zone."""
        local = "0100007F:%04X" % self.port
        with open("/proc/net/udp") as f:
            return any(line.split()[1] == local for line in list(f)[1:])

    def zone_bytes(self):
        """The zone size knotd logs when it has loaded it ("loaded, serial ..., N bytes")."""
        with open(os.path.join(self.dir, "knotd.log"), errors="replace") as f:
            sizes = re.findall(r"\] loaded, serial .*?, (\d+) bytes", f.read())
        return int(sizes[-1]) if sizes else 0

    def answers_soa(self):
        r = subprocess.run([KDIG, "@127.0.0.1", "-p", str(self.port), ORIGIN, "SOA", "+short",
                            "+time=1", "+retry=0"], capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() != ""

    def wait_loaded(self, timeout, mem_limit):
        """Poll until the SOA is answered; (load seconds, sampled peak RssAnon bytes). Kills
        knotd (and raises MemoryLimit) when its RssAnon passes <mem_limit>, before the machine
        runs out (mmapped file pages are left out: the kernel can drop them)."""
        deadline = self.started + timeout
        anon, next_ask = 0, 0.0
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("knotd %s exited with %s; see %s/knotd.log"
                                   % (self.name, self.proc.returncode, self.dir))
            now = time.monotonic()
            anon = max(anon, proc_memory(self.proc.pid)["RssAnon"])
            if anon > mem_limit:
                self.stop()
                raise MemoryLimit("knotd %s passed %.1f GiB of anonymous memory while loading"
                                  % (self.name, anon / 1024 / MIB))
            if now >= next_ask:
                if self.listening() and self.answers_soa():
                    return time.monotonic() - self.started, anon
                # Ask often for small zones, then sparser so kdig does not steal CPU from a
                # long load; memory is still sampled every 50 ms.
                next_ask = time.monotonic() + min(0.01 * (now - self.started), 0.5)
            if now > deadline:
                raise RuntimeError("knotd %s not loaded after %ds" % (self.name, timeout))
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)  # freeing a big zone takes a while
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


def measure_knot(name, workdir, zonefile, args):
    """Load <zonefile> in a fresh knotd; a dict of file bytes, RSS, HWM, RssAnon after the
    load and its sampled peak, load seconds, and the zone size knotd logs."""
    k = Knot(name, workdir, zonefile)
    try:
        k.start()
        load, anon_peak = k.wait_loaded(args.load_timeout, args.mem_limit_gib * 1024 * MIB)
        time.sleep(1.0)  # let the post-load work settle before reading RSS
        mem = proc_memory(k.proc.pid)
        kbytes = k.zone_bytes()
    finally:
        k.stop()
    return {"name": name, "bytes": os.path.getsize(zonefile), "rss": mem["VmRSS"],
            "hwm": mem["VmHWM"], "anon": mem["RssAnon"],
            "anon_peak": max(anon_peak, mem["RssAnon"]), "load": load, "knot": kbytes}


# --------------------------------------------------------------------------------------------
# report

HEADER = ("| %s | zone file bytes | knotd RSS MiB | knotd peak (HWM) MiB | load s "
          "| anon MiB | anon peak MiB (sampled) | zone bytes knotd logs |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|")
KEYS = ("bytes", "rss", "hwm", "load", "anon", "anon_peak", "knot")


def row(label, m):
    return "| %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %s |" % (
        label, "{:,}".format(m["bytes"]), m["rss"] / MIB, m["hwm"] / MIB, m["load"],
        m["anon"] / MIB, m["anon_peak"] / MIB, "{:,}".format(m["knot"]))


def table(whole, runs, n):
    lines = [HEADER % "zone", row("whole zone (%s names)" % "{:,}".format(n), whole)]
    for count, shards in runs:
        big = max(shards, key=lambda m: m["rss"])
        small = min(shards, key=lambda m: m["rss"])
        total = {k: sum(m[k] for m in shards) for k in KEYS}
        lines += [row("%d shards: largest (%s)" % (count, big["name"]), big),
                  row("%d shards: smallest (%s)" % (count, small["name"]), small),
                  row("%d shards: sum of %d" % (count, len(shards)), total),
                  "| %d shards: largest / whole | %s |" % (count, " | ".join(
                      "%.3f" % (big[k] / whole[k]) if whole[k] else "-" for k in KEYS))]
    return "\n".join(lines)


def shard_detail(runs):
    lines = [HEADER % "shard"]
    for count, shards in runs:
        lines += [row("%d shards: %s" % (count, m["name"]), m) for m in shards]
    return "\n".join(lines)


def knot_version():
    r = subprocess.run([KNOTD, "--version"], capture_output=True, text=True)
    return (r.stdout or r.stderr).strip()


# --------------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--names", type=int, default=10_000_000)
    ap.add_argument("--shards", default="4,16", help="comma-separated shard counts")
    ap.add_argument("--work", default="/tmp/shardmem/work")
    ap.add_argument("--split", default=os.path.join(ROOT, "build", "dnsrouter-split"))
    ap.add_argument("--mem-limit-gib", type=float, default=20.0)
    ap.add_argument("--load-timeout", type=int, default=3600, help="seconds per knotd")
    ap.add_argument("--reuse", action="store_true",
                    help="keep an existing zone file and shard files of the same --names")
    ap.add_argument("--clean", action="store_true", help="delete the generated files at the end")
    args = ap.parse_args()
    args.counts = [int(c) for c in args.shards.split(",") if c]
    return args


def step(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def prepare_zone(args, work):
    """The zone file (generated unless --reuse finds it) and the seconds it took (None when
    reused)."""
    zonefile = os.path.join(work, "example.zone.signed")
    t0 = time.monotonic()
    gen_s = None
    if args.reuse and os.path.exists(zonefile):
        step("reusing %s" % zonefile)
    else:
        step("generating %d names into %s" % (args.names, zonefile))
        generate_zone(zonefile, args.names)
        gen_s = time.monotonic() - t0
    step("zone: %s bytes" % "{:,}".format(os.path.getsize(zonefile)))
    return zonefile, gen_s


def run_splits(args, work, zonefile):
    """{count: (shard files, wall s, peak RSS, peak anon)}; Nones when --reuse kept them."""
    splits = {}
    for count in args.counts:
        outdir = os.path.join(work, "shards%d" % count)
        if args.reuse and os.path.exists(os.path.join(outdir, "manifest.json")):
            step("reusing %s" % outdir)
            splits[count] = (shard_files(outdir), None, None, None)
            continue
        step("dnsrouter-split --shards %d" % count)
        splits[count] = split_zone(args.split, zonefile, outdir, count)
        step("  %.1f s, peak RSS %.1f MiB, peak anon %.1f MiB"
             % (splits[count][1], splits[count][2] / MIB, splits[count][3] / MIB))
    return splits


def run_knots(args, work, zonefile, splits):
    """The whole zone's measurement and [(count, [per-shard measurements])], one knotd at a
    time (measure_knot stops each, whatever happens)."""
    step("knotd: whole zone")
    whole = measure_knot("whole", os.path.join(work, "knot-whole"), zonefile, args)
    step("  loaded in %.1f s, RSS %.1f MiB" % (whole["load"], whole["rss"] / MIB))
    runs = []
    for count in args.counts:
        shards = []
        for i, f in enumerate(splits[count][0]):
            step("knotd: %d shards, s%d" % (count, i))
            shards.append(measure_knot("s%d" % i, os.path.join(work, "knot-%d-s%d" % (count, i)),
                                       f, args))
        runs.append((count, shards))
    return whole, runs


def fmt_opt(value, fmt):
    return fmt % value if value is not None else "reused"


def report(args, gen_s, splits, whole, runs):
    print("# knotd memory, whole zone vs shards (%s)\n" % datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    print("Zone `example.`: %s names (A; AAAA every 10th; MX every 50th), NSEC, one algorithm 13 "
          "key, an RRSIG per RRset, generation %s s. THE SIGNATURES AND THE KEY ARE RANDOM "
          "BYTES of the real sizes, not real ones (knotd does not verify signatures on load; "
          "the zone does not validate). %s, dnssec-signing off, no journal, 1 UDP/1 TCP/1 "
          "background worker; load = start to first SOA answer; RSS read 1 s later; HWM = "
          "VmHWM, the peak, which includes the zone file while libzscanner has it mmapped "
          "(page cache); anon = RssAnon after the load, anon peak = its highest value sampled "
          "every 50 ms during the load. Shards loaded one knotd at a time. Largest/smallest "
          "shard: by RSS. Last column: the zone size knotd itself logs when loaded.\n"
          % ("{:,}".format(args.names), fmt_opt(gen_s, "%.0f"), knot_version()))
    print(table(whole, runs, args.names))
    print("\ndnsrouter-split:\n")
    print("| shards | wall s | peak RSS MiB | anon peak MiB (sampled) "
          "| shard files, total bytes |")
    print("|---:|---:|---:|---:|---:|")
    for count in args.counts:
        files, wall, rss, anon = splits[count]
        print("| %d | %s | %s | %s | %s |" % (
            count, fmt_opt(wall, "%.1f"), fmt_opt(rss and rss / MIB, "%.1f"),
            fmt_opt(anon and anon / MIB, "%.1f"),
            "{:,}".format(sum(os.path.getsize(f) for f in files))))
    print("\nPer shard:\n")
    print(shard_detail(runs))
    sys.stdout.flush()


def main():
    args = parse_args()
    # SIGTERM takes the same path as an error, so the finally clauses stop every knotd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = os.path.join(os.path.abspath(args.work), "n%d" % args.names)
    os.makedirs(work, exist_ok=True)
    zonefile, gen_s = prepare_zone(args, work)
    splits = run_splits(args, work, zonefile)
    try:
        whole, runs = run_knots(args, work, zonefile, splits)
    except MemoryLimit as e:
        print("knotd did not fit: %s" % e, file=sys.stderr)
        sys.exit(2)
    report(args, gen_s, splits, whole, runs)
    if args.clean:
        step("deleting %s" % work)
        subprocess.run(["rm", "-rf", "--", work], check=True)


if __name__ == "__main__":
    main()
