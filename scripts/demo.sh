#!/usr/bin/env bash
# dnsrouter demo: two Knot DNS backends, each holding half of the zone
# "example.", and dnsrouter in front of them routing every query by its name.
#
#   scripts/demo.sh start    start everything (stopping a running demo first),
#                            show some routed queries, leave it all running
#   scripts/demo.sh stop     stop everything the demo started (idempotent)
#   scripts/demo.sh status   show what is running (exit 1 if nothing is)
#
# Normally run through `make demo` / `make demo-stop` from the repository root.
#
# Everything the demo writes (pid files, Knot run and storage directories, logs)
# lives in .demo/ at the repository root.
#
#   ns-a    knotd      127.0.0.1:5301   examples/knot-ns-a.conf  names a-m
#   ns-b    knotd      127.0.0.1:5302   examples/knot-ns-b.conf  names n-z + apex
#   router  dnsrouter  127.0.0.1:5353   examples/demo.yaml

# bash is needed (arrays); re-run under it if started as "sh scripts/demo.sh".
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

ROOT=$(CDPATH="" cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"

STATE=.demo                              # the examples/knot-*.conf name it too
ROUTER=${DNSROUTER:-./build/dnsrouter}
KNOTD=${KNOTD:-$(command -v knotd 2>/dev/null || echo /usr/sbin/knotd)}
KDIG=${KDIG:-kdig}
DEADLINE=${DEMO_DEADLINE:-15}           # seconds to wait for each server

ROUTER_ADDR=127.0.0.1
ROUTER_PORT=5353

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- processes -------------------------------------------------------------

# pid of a running process we started, from its pid file; empty if none.
# The process must still be the program we started (pid files outlive reboots
# and pids are reused), so its command name is checked too.
live_pid() { # name program
    local pf pid comm
    pf=$STATE/$1.pid
    [ -f "$pf" ] || return 0
    pid=$(cat "$pf" 2>/dev/null || true)
    case $pid in ''|*[!0-9]*) return 0 ;; esac
    kill -0 "$pid" 2>/dev/null || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null || true)
    # (nohup and setsid: the moment between our fork and the program's exec)
    case $comm in "$2"*|nohup|setsid) printf '%s\n' "$pid" ;; esac
}

# Stop everything we started: SIGTERM to all at once (knotd takes about two
# seconds to wind down), then wait for each, SIGKILL after a deadline.
do_stop() {
    local spec name prog pid end stopped=""
    local -a pids=() names=()
    for spec in dnsrouter:dnsrouter ns-a:knotd ns-b:knotd; do
        name=${spec%%:*} prog=${spec#*:}
        pid=$(live_pid "$name" "$prog")
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid") names+=("$name")
        fi
    done
    end=$(( $(date +%s) + 10 ))
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$(date +%s)" -ge "$end" ]; then
                say "demo: ${names[$i]} (pid $pid) did not stop on SIGTERM, killing it"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
        say "stopped ${names[$i]} (pid $pid)"
        stopped=1
    done
    rm -f "$STATE"/dnsrouter.pid "$STATE"/ns-a.pid "$STATE"/ns-b.pid
    [ -n "$stopped" ] || say "demo: not running"
}

# Start a program in the background, detached from this terminal and session,
# output to a log file, its pid in a pid file.  setsid does not fork here (we
# are not a process group leader), so $! is the program's own pid.
spawn() { # name log program args...
    local name="$1" log="$2"
    shift 2
    nohup setsid "$@" >"$log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
}

# kdig with short timeouts, for polling.
probe() { # port args...
    local port="$1"
    shift
    "$KDIG" @127.0.0.1 -p "$port" +time=1 +retry=0 +short "$@" 2>/dev/null || true
}

# Poll until "probe port args..." prints expect, the process dies, or the
# deadline passes.
wait_for() { # name program port expect args...
    local name="$1" prog="$2" port="$3" expect="$4" end
    shift 4
    end=$(( $(date +%s) + DEADLINE ))
    while :; do
        [ "$(probe "$port" "$@")" = "$expect" ] && return 0
        if [ -z "$(live_pid "$name" "$prog")" ]; then
            fail "$name exited during start-up"
        fi
        if [ "$(date +%s)" -ge "$end" ]; then
            fail "$name: no answer '$expect' to '$*' on 127.0.0.1:$port within ${DEADLINE}s"
        fi
        sleep 0.1
    done
}

# Start-up failed: show the logs, stop what was started, exit non-zero.
fail() {
    printf '\ndemo: %s\n' "$*" >&2
    for f in "$STATE"/ns-a.log "$STATE"/ns-b.log "$STATE"/dnsrouter.log; do
        [ -s "$f" ] || continue
        printf -- '--- last lines of %s\n' "$f" >&2
        tail -n 15 "$f" >&2
    done
    do_stop >&2
    exit 1
}

port_in_use() { # port
    command -v ss >/dev/null 2>&1 || return 1
    [ -n "$(ss -Hlnut "sport = :$1" 2>/dev/null)" ]
}

# --- the demo queries --------------------------------------------------------

# Print a kdig command line, then run it and print what it prints.
show() { # args for kdig after the server...
    say "\$ kdig @$ROUTER_ADDR -p $ROUTER_PORT $*"
    "$KDIG" @"$ROUTER_ADDR" -p "$ROUTER_PORT" +time=2 +retry=0 "$@" 2>&1 | sed 's/^./    &/' || true
}

show_backend() { # port args...
    local port="$1"
    shift
    say "\$ kdig @127.0.0.1 -p $port $*"
    "$KDIG" @127.0.0.1 -p "$port" +time=2 +retry=0 "$@" 2>&1 | sed 's/^./    &/' || true
}

demo_queries() {
    say
    say "== Names a-m are routed to ns-a, names n-z (and the apex) to ns-b"
    show +short alpha.example TXT
    show +short mike.example TXT
    show +short november.example TXT
    show +short zulu.example TXT
    say
    say "== A whole answer: the backend's own reply, passed through unchanged"
    say "   (Knot adds its NSID on request, which names the server that answered)"
    show +nsid +nostats +noquestion november.example A
    say
    say "== Names below them follow the same route (here a CNAME to kilo/tango)"
    show +short www.kilo.example TXT
    show +short www.tango.example TXT
    say
    say "== The apex matches no regex, so the zone route sends it to ns-b"
    say "   (ns-a holds its own copy of the apex; asked directly it says ns-a)"
    show +short example. TXT
    show_backend 5301 +short example. TXT
    say
    say "== The router answers id.server itself; each backend has its own identity"
    show +short id.server CH TXT
    show_backend 5301 +short id.server CH TXT
    show_backend 5302 +short id.server CH TXT
    say
    say "== Zone transfers through the router are refused"
    show +noall example. AXFR
    say
    say "== A name outside every route gets SERVFAIL"
    show +noall +header www.example.com A
}

row() { # name program address what
    printf '%-10s %-10s %-15s %-34s pid %s, log %s\n' "$1" "$2" "$3" "$4" \
        "$(cat "$STATE/$1.pid")" "$STATE/$1.log"
}

# --- start ---------------------------------------------------------------------

do_start() {
    command -v "$KDIG" >/dev/null 2>&1 || die "kdig not found (Debian package knot-dnsutils; run make deps)"
    [ -x "$KNOTD" ] || die "knotd not found (Debian package knot; run make deps)"
    [ -x "$ROUTER" ] || die "$ROUTER not found; build it first (make)"

    # Already running (or leftovers of a crashed run): stop first.
    if [ -n "$(live_pid dnsrouter dnsrouter)$(live_pid ns-a knotd)$(live_pid ns-b knotd)" ]; then
        say "== The demo is already running: stopping it first"
        do_stop
        say
    fi
    for port in 5301 5302 $ROUTER_PORT; do
        if port_in_use "$port"; then
            die "127.0.0.1:$port is already in use by a process this demo did not start:
$(ss -Hlnutp "sport = :$port" 2>/dev/null)"
        fi
    done

    # Fresh state every time: no Knot timers/journal from an earlier run.
    rm -rf "$STATE"
    mkdir -p "$STATE/ns-a" "$STATE/ns-b"

    say "== Starting two Knot DNS backends, each with half of the zone example."
    spawn ns-a "$STATE/ns-a.log" "$KNOTD" -c examples/knot-ns-a.conf
    spawn ns-b "$STATE/ns-b.log" "$KNOTD" -c examples/knot-ns-b.conf
    wait_for ns-a knotd 5301 '"ns-a"' id.server CH TXT
    wait_for ns-a knotd 5301 '"served-by ns-a"' alpha.example TXT
    wait_for ns-b knotd 5302 '"ns-b"' id.server CH TXT
    wait_for ns-b knotd 5302 '"served-by ns-b"' november.example TXT
    row ns-a knotd 127.0.0.1:5301 "examples/example.ns-a.zone (a-m)"
    row ns-b knotd 127.0.0.1:5302 "examples/example.ns-b.zone (n-z)"

    say
    say "== Starting dnsrouter in front of them: $ROUTER -c examples/demo.yaml"
    spawn dnsrouter "$STATE/dnsrouter.log" "$ROUTER" -c examples/demo.yaml
    # Listening, then routing to both backends (each backend gets a health
    # check before it takes traffic, so the first queries may get SERVFAIL).
    wait_for dnsrouter dnsrouter $ROUTER_PORT '"demo-router"' id.server CH TXT
    wait_for dnsrouter dnsrouter $ROUTER_PORT '"served-by ns-a"' alpha.example TXT
    wait_for dnsrouter dnsrouter $ROUTER_PORT '"served-by ns-b"' november.example TXT
    row dnsrouter dnsrouter "$ROUTER_ADDR:$ROUTER_PORT" examples/demo.yaml
    say
    say "Routes (examples/demo.yaml):"
    say "  regex '^([^.]+\\.)*[a-m][^.]*\\.example\\.\$'  -> ns-a"
    say "  zone  example.                              -> ns-b"

    demo_queries

    say
    say "All three servers are still running; pid files and logs are in $STATE/"
    say "(dnsrouter.log, ns-a.log, ns-b.log).  Try your own queries, e.g."
    say "  kdig @$ROUTER_ADDR -p $ROUTER_PORT hotel.example A"
    say "Stop them with: make demo-stop   (or: scripts/demo.sh stop)"
}

do_status() {
    local any="" spec name rest prog port pid
    for spec in ns-a:knotd:5301 ns-b:knotd:5302 dnsrouter:dnsrouter:$ROUTER_PORT; do
        name=${spec%%:*} rest=${spec#*:}
        prog=${rest%%:*} port=${rest#*:}
        pid=$(live_pid "$name" "$prog")
        if [ -n "$pid" ]; then
            printf '%-10s running  127.0.0.1:%s  pid %s\n' "$name" "$port" "$pid"
            any=1
        else
            printf '%-10s not running\n' "$name"
        fi
    done
    [ -n "$any" ]
}

case ${1:-} in
    start)  do_start ;;
    stop)   do_stop ;;
    restart) do_stop; do_start ;;
    status) do_status ;;
    *)      die "usage: $0 start|stop|status" ;;
esac
