#!/bin/sh
# contrib/etcd-register.sh -- a DNS backend registers itself with dnsrouter through etcd.
#
#   etcd-register.sh [-e ENDPOINTS] [-p PREFIX] [-t TTL] ID 'IP:PORT,REGEXP'
#   etcd-register.sh [-e ENDPOINTS] [-p PREFIX] [-t TTL] _shards/ZONE/INDEX/ID IP:PORT
#
# (the second form: a server of shard INDEX of a sharded zone whose map is in etcd)
#
# Puts PREFIX/ID = 'IP:PORT,REGEXP' under a lease of TTL seconds and keeps the lease alive for as
# long as this script runs. Run it beside the DNS server (for example as a systemd unit bound to
# it): when the host dies or the script stops, the lease runs out and every dnsrouter watching
# etcd stops sending queries to this backend by itself. On SIGTERM/SIGINT the lease is revoked at
# once. Needs etcdctl (Debian: etcd-client).
set -eu

endpoints=${ETCDCTL_ENDPOINTS:-http://127.0.0.1:2379}
prefix=/dnsrouter/
ttl=10

usage() {
	echo "usage: $0 [-e ENDPOINTS] [-p PREFIX] [-t TTL] ID 'IP:PORT,REGEXP'" >&2
	exit 2
}

while getopts e:p:t: opt; do
	case $opt in
	e) endpoints=$OPTARG ;;
	p) prefix=$OPTARG ;;
	t) ttl=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
id=$1
value=$2

export ETCDCTL_API=3
unset ETCDCTL_ENDPOINTS	# the flag below says it; etcdctl refuses both
ctl() { etcdctl --endpoints="$endpoints" "$@"; }

# "lease 694d7a1b2c3d4e5f granted with TTL(10s)"
lease=$(ctl lease grant "$ttl" | awk '/granted/ { print $2 }')
[ -n "$lease" ] || { echo "$0: could not get a lease from $endpoints" >&2; exit 1; }
ctl put --lease="$lease" "$prefix$id" "$value" >/dev/null
echo "registered $prefix$id = $value (lease $lease, ttl ${ttl}s)"

revoke() {
	ctl lease revoke "$lease" >/dev/null 2>&1 || true
	exit 0
}
trap revoke INT TERM

# keep-alive runs until killed or until etcd says the lease is gone.
ctl lease keep-alive "$lease" >/dev/null &
keepalive=$!
wait "$keepalive" || true
echo "$0: lease $lease is gone; $prefix$id is no longer registered" >&2
exit 1
