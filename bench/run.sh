#!/usr/bin/env bash
# make bench: dnsperf against Knot directly, the floor (bench/floor.c), dnsrouter and dnsdist,
# and dnsrouter under a flood (tests/tools/flood.c), in one bounded run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/bench.py "$@"
