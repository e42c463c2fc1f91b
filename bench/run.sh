#!/usr/bin/env bash
# make bench: dnsperf against Knot directly, dnsrouter and dnsdist, in one bounded run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/bench.py "$@"
