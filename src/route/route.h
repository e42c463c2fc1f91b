/* SPDX-License-Identifier: MIT */
/* route/route.h -- routing snapshots: immutable tables of routes, swapped whole on change */
#ifndef DR_ROUTE_ROUTE_H
#define DR_ROUTE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "conf/conf.h"
#include "limit/acl.h"
#include "pool/pool.h"
#include "common/regex.h"
#include "route/regex_set.h"
#include "route/shard.h"
#include "wire/wire.h"

struct route {
	uint32_t idx; /* position in snapshot.routes: indexes per-worker state */
	enum conf_route_kind kind;
	enum conf_source source;
	char *pattern; /* as configured, for logs */
	char *origin;  /* etcd routes: the keys that made them, else NULL; a part route borrows */
	struct regex *re;            /* regex routes */
	uint8_t zone[WIRE_NAME_MAX]; /* zone routes: lower-cased wire form */
	unsigned zone_len;
	struct acl *acl; /* the route's own rules, after the global ones; NULL: none */
	struct pool pool;
	struct shard_map *shards;     /* a zone served in shards: each has a route of its own */
	const struct route *shard_of; /* a shard's (or full-zone source's) route: its zone's */
};

struct zone_slot {
	uint64_t hash;
	struct route *route; /* NULL: empty */
};

/* Everything a worker needs to answer a query, published by one pointer swap and never
 * changed afterwards. Workers borrow it until their next quiescent point. */
struct snapshot {
	uint64_t gen;         /* strictly increasing; workers compare it, not the pointer */
	struct route *routes; /* in configuration order */
	uint32_t nroutes;
	struct route **regex; /* regex routes, in order */
	uint32_t nregex;
	struct regex_set *regex_set; /* the same, indexed by literal suffix */
	struct zone_slot *zones;     /* open addressing, power-of-two size */
	uint32_t zone_mask;
	struct backend **backends; /* every backend the routes name, once */
	uint32_t nbackends;
	uint32_t max_backend_idx; /* highest backend.idx + 1 */
	int no_route_rcode;
	uint32_t busy_poll_us; /* how long a worker polls before it sleeps; 0: it does not */
	uint32_t tcp_idle_ms;  /* a client connection with nothing in flight closes after this */
	uint32_t drain_ms;     /* how long a stopping worker waits for the answers it owes */
	char identity[CONF_TEXT_MAX + 1];
	char version[CONF_TEXT_MAX + 1];
	struct prefix transfers[CONF_TRANSFERS_MAX]; /* clients whose AXFR/IXFR are relayed */
	uint32_t ntransfers;
	struct prefix explain_from[CONF_EXPLAIN_FROM_MAX]; /* who may ask explain.dnsrouter. */
	uint32_t nexplain_from;
	struct acl *acl;           /* the global rules, before routing; NULL: none */
	struct conf_qlimit qlimit; /* per client prefix, before routing */
	struct conf_rrl rrl;       /* on UDP answers */
	struct conf_ecs ecs;       /* the client subnet added for client-address: ecs */
	struct conf_curve curve;   /* the DNSCurve front; curve.nkeys 0: off */
	uint8_t limit_v4_bits;     /* the client prefix of qlimit and rrl */
	uint8_t limit_v6_bits;
	uint32_t tcp_per_client;    /* connections from one address; 0: no limit */
	uint32_t tcp_query_ms;      /* a query must arrive whole this long after its first byte */
	uint32_t tcp_max_queries;   /* queries per connection; 0: no limit */
	uint32_t tcp_backend_conns; /* TCP connections to one backend, per worker */
};

/* Build snapshot <gen> from <c>, taking backends from <reg> (creating the new ones, and
 * setting every backend's name, weight, timeout and health from <c>). Compiled regexps of
 * <prev> (may be NULL) are shared rather than compiled again, so thousands of routes rebuild
 * fast. The caller holds the registry's lock. Returns NULL with a reason in <err>. */
struct snapshot *snapshot_build(const struct conf *c, struct backend_registry *reg,
				const struct snapshot *prev, uint64_t gen, char *err, size_t len);

void snapshot_free(struct snapshot *s);

/* The zone route of exactly the zone <name> (<len> bytes, lower-cased wire form), or NULL. */
const struct route *route_zone_at(const struct snapshot *s, const uint8_t *name, unsigned len);

/* The route for question <q>: regex routes in order, then the longest matching zone. NULL
 * when nothing matches. <rs> is the calling thread's regex scratch. */
const struct route *route_lookup(const struct snapshot *s, const struct wire_question *q,
				 struct regex_scratch *rs);

#endif
