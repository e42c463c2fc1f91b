#!/usr/bin/env bash
# make bench: dnsperf against Knot directly, the floor (bench/floor.c), dnsrouter and dnsdist,
# dnsrouter under a flood (tests/tools/flood.c), and DNSCurve (bench/curveperf/ against CurveDNS
# and dnsrouter), in one bounded run. Arguments go to bench.py: --only curve runs DNSCurve alone.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/bench.py "$@"
