# SPDX-License-Identifier: MIT
# tests/integration/nsquery.py -- a DNS client (dnspython) that netnstools.Lab runs inside the
# client namespace. Prints one line per query, in order: "RCODE rdata|rdata|..." (rcode
# "TIMEOUT" when nothing came back).
#
#   nsquery.py --server IP --name NAME [--type T] [--tcp] [--src IP] [--sport N]
#              [--count N] [--parallel N] [--timeout S]
#
# --sport 0 (the default) sends each query from a fresh port; any other value sends every one
# from that port (then --parallel must be 1: one socket is bound to it at a time).

import argparse
import concurrent.futures
import sys

import dns.exception
import dns.message
import dns.query
import dns.rcode


def one(args, i):
    q = dns.message.make_query(args.name, args.type)
    kw = {"timeout": args.timeout, "port": 53}
    if args.src:
        kw["source"] = args.src
    if args.sport:
        kw["source_port"] = args.sport
    try:
        if args.tcp:
            r = dns.query.tcp(q, args.server, **kw)
        else:
            r = dns.query.udp(q, args.server, **kw)
    except (dns.exception.Timeout, OSError):
        return "TIMEOUT"
    rdata = [rd.to_text() for rrset in r.answer for rd in rrset]
    return "%s %s" % (dns.rcode.to_text(r.rcode()), "|".join(rdata))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--type", default="TXT")
    p.add_argument("--tcp", action="store_true")
    p.add_argument("--src")
    p.add_argument("--sport", type=int, default=0)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args()
    if args.sport and args.parallel != 1:
        p.error("--sport needs --parallel 1")
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as ex:
        for line in ex.map(lambda i: one(args, i), range(args.count)):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
