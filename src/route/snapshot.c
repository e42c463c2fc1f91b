/* SPDX-License-Identifier: MIT */
/* route/snapshot.c -- build and free routing snapshots */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/strmap.h"
#include "route/route.h"

/* What a build looks things up in: the configuration's backends by name, and the previous
 * snapshot's compiled regexps by pattern. */
struct build_index {
	struct strmap backends; /* name -> conf_backend position + 1 */
	struct strmap regexes;  /* pattern -> struct regex * */
};

static int index_init(struct build_index *ix, const struct conf *c, const struct snapshot *prev)
{
	if (strmap_init(&ix->backends, c->nbackends) != DR_EOK ||
	    strmap_init(&ix->regexes, prev ? prev->nregex : 0) != DR_EOK) {
		return DR_ENOMEM;
	}
	/* The first backend of a name wins, as conf_validate reports duplicates. */
	for (size_t i = c->nbackends; i-- > 0;) {
		if (strmap_put(&ix->backends, c->backends[i].name, (void *)(uintptr_t)(i + 1)) !=
		    DR_EOK) {
			return DR_ENOMEM;
		}
	}
	for (uint32_t i = 0; prev != NULL && i < prev->nregex; i++) {
		if (strmap_put(&ix->regexes, prev->regex[i]->pattern, prev->regex[i]->re) !=
		    DR_EOK) {
			return DR_ENOMEM;
		}
	}
	return DR_EOK;
}

static void index_deinit(struct build_index *ix)
{
	strmap_deinit(&ix->backends);
	strmap_deinit(&ix->regexes);
}

/* Record <be> in the snapshot's list of backends unless it is there already. */
static void note_backend(struct snapshot *s, struct backend *be)
{
	if (be->last_gen == s->gen) {
		return; /* named by an earlier route of this snapshot */
	}
	be->last_gen = s->gen;
	s->backends[s->nbackends++] = be;
	if (be->idx + 1 > s->max_backend_idx) {
		s->max_backend_idx = be->idx + 1;
	}
}

/* <be> serves <shard> of <cr>'s zone: its checks ask the apex too. */
static void shard_check(struct backend *be, const struct conf_route *cr,
			const struct conf_shard *shard)
{
	struct backend_shard *bs = &be->shard;

	bs->count = (uint32_t)cr->nshards;
	bs->index = (uint32_t)(shard - cr->shards);
	bs->zone_id = hash_bytes(cr->zone, cr->zone_len, 0);
	memcpy(bs->apex, cr->zone, cr->zone_len);
	bs->nsec3param = cr->nsec3 && shard->probe_type != 0;
	bs->nsec3 = cr->nsec3_params;
	bs->pinned = cr->serial_pinned;
	bs->serial = cr->serial;
}

/* A pool of <cr>'s policy over the <n> backends named <names>. A shard's backends
 * (<shard> not NULL) are checked with its probe unless they say otherwise: a backend loaded
 * with another shard, or none, leaves the pool. */
static int build_pool(struct snapshot *s, const struct conf *c, const struct conf_route *cr,
		      char (*names)[CONF_NAME_MAX], size_t n, const struct conf_shard *shard,
		      struct backend_registry *reg, struct build_index *ix, struct pool *p)
{
	p->policy = cr->policy;
	p->fallback = cr->fallback;
	p->backends = calloc(n + 1, sizeof(*p->backends));
	if (p->backends == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		void *pos = strmap_get(&ix->backends, names[i]);
		const struct conf_backend *cb;
		struct backend *be;

		if (pos == NULL) {
			return DR_ECONF; /* conf_validate rules this out */
		}
		cb = &c->backends[(uintptr_t)pos - 1];
		be = backend_registry_get(reg, &cb->addr);
		if (be == NULL) {
			return DR_ENOMEM;
		}
		snprintf(be->name, sizeof(be->name), "%s", cb->name);
		be->weight = cb->weight;
		be->health = cb->health;
		if (be->last_gen != s->gen) {
			memset(&be->shard, 0, sizeof(be->shard)); /* until a shard names it */
		}
		if (shard != NULL) {
			shard_check(be, cr, shard);
		}
		if (shard != NULL && shard->probe_type != 0 &&
		    !(cb->health.set & CONF_HEALTH_QUERY)) {
			memcpy(be->health.qname, shard->probe, sizeof(be->health.qname));
			be->health.qtype = shard->probe_type;
			be->health.qclass = WIRE_CLASS_IN;
			be->health.need_data = true;
		} else if (shard != NULL && cr->nsec3 && !(cb->health.set & CONF_HEALTH_QUERY)) {
			/* No probe: the shard must at least hash names as the route does. */
			memcpy(be->health.qname, cr->zone, cr->zone_len);
			be->health.qtype = WIRE_TYPE_NSEC3PARAM;
			be->health.qclass = WIRE_CLASS_IN;
			be->health.want_nsec3param = true;
			be->health.nsec3 = cr->nsec3_params;
		}
		atomic_store(&be->timeout_ms, cb->timeout_ms ? cb->timeout_ms : c->timeout_ms);
		atomic_store(&be->client_address, conf_client_address_of(c, cb));
		p->backends[p->n++] = be;
		note_backend(s, be);
	}
	return pool_build(p);
}

static int zone_insert(struct snapshot *s, struct route *r)
{
	uint64_t h = hash_bytes(r->zone, r->zone_len, 0);

	for (uint32_t i = (uint32_t)h & s->zone_mask;; i = (i + 1) & s->zone_mask) {
		struct zone_slot *slot = &s->zones[i];
		if (slot->route == NULL) {
			slot->hash = h;
			slot->route = r;
			return DR_EOK;
		}
		/* The same zone twice: the first one configured serves it. */
		if (slot->hash == h && slot->route->zone_len == r->zone_len &&
		    memcmp(slot->route->zone, r->zone, r->zone_len) == 0) {
			return DR_EOK;
		}
	}
}

static size_t total_backend_refs(const struct conf *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nroutes; i++) {
		n += c->routes[i].nbackends + (c->routes[i].full_zone[0] != '\0');
		for (size_t j = 0; j < c->routes[i].nshards; j++) {
			n += c->routes[i].shards[j].nbackends;
		}
	}
	return n;
}

/* Routes a snapshot of <c> holds: the configured ones, a route per shard and one per
 * full-zone source. */
static size_t total_routes(const struct conf *c)
{
	size_t n = c->nroutes;

	for (size_t i = 0; i < c->nroutes; i++) {
		n += c->routes[i].nshards + (c->routes[i].full_zone[0] != '\0');
	}
	return n;
}

/* A route of its own for a part of <zone>'s route, at the end of the snapshot's routes,
 * over the backends <names>. */
static struct route *part_route(struct snapshot *s, const struct conf *c, struct route *zone,
				const struct conf_route *cr, char (*names)[CONF_NAME_MAX], size_t n,
				const struct conf_shard *shard, const char *what,
				struct backend_registry *reg, struct build_index *ix)
{
	struct route *r = &s->routes[s->nroutes];
	size_t plen = strlen(zone->pattern) + strlen(what) + 2;

	r->idx = s->nroutes++;
	r->kind = CONF_ROUTE_ZONE;
	r->source = cr->source;
	r->shard_of = zone;
	r->origin = zone->origin;
	memcpy(r->zone, zone->zone, zone->zone_len);
	r->zone_len = zone->zone_len;
	r->pattern = malloc(plen);
	if (r->pattern == NULL ||
	    (cr->acl.n > 0 && (r->acl = acl_new(cr->acl.rules, cr->acl.n)) == NULL) ||
	    build_pool(s, c, cr, names, n, shard, reg, ix, &r->pool) != DR_EOK) {
		return NULL;
	}
	snprintf(r->pattern, plen, "%s %s", zone->pattern, what);
	return r;
}

static int build_shards(struct snapshot *s, const struct conf *c, const struct conf_route *cr,
			struct route *zone, struct backend_registry *reg, struct build_index *ix)
{
	struct shard_map *m = calloc(1, sizeof(*m));
	uint8_t off[WIRE_LABELS_MAX];

	zone->shards = m;
	if (m == NULL || (m->start = calloc(cr->nshards, sizeof(*m->start))) == NULL ||
	    (m->routes = calloc(cr->nshards, sizeof(*m->routes))) == NULL) {
		return DR_ENOMEM;
	}
	m->nsec3 = cr->nsec3;
	m->params = cr->nsec3_params;
	m->zone_labels = (uint8_t)wire_name_labels(cr->zone, off);
	for (size_t i = 0; i < cr->nshards; i++) {
		const struct conf_shard *sh = &cr->shards[i];
		struct shard_start *st = &m->start[m->n];
		char what[WIRE_NAME_TEXT_MAX + 32], from[WIRE_NAME_TEXT_MAX];

		memcpy(st->name, sh->from, sh->from_len);
		st->nlabels = (uint8_t)wire_name_labels(st->name, st->off);
		memcpy(st->prefix, sh->prefix, sizeof(st->prefix));
		if (m->nsec3) {
			snprintf(from, sizeof(from), "%s", sh->prefix);
		} else if (wire_name_to_text(sh->from, from, sizeof(from)) < 0) {
			from[0] = '\0';
		}
		snprintf(what, sizeof(what), "shard %zu from %s", i, from);
		m->routes[m->n] =
			part_route(s, c, zone, cr, sh->backends, sh->nbackends, sh, what, reg, ix);
		if (m->routes[m->n] == NULL) {
			return DR_ENOMEM;
		}
		m->n++;
	}
	if (cr->full_zone[0] != '\0') {
		char names[1][CONF_NAME_MAX];
		memcpy(names[0], cr->full_zone, CONF_NAME_MAX);
		m->full_zone = part_route(s, c, zone, cr, names, 1, NULL, "full zone", reg, ix);
		if (m->full_zone == NULL) {
			return DR_ENOMEM;
		}
	}
	return DR_EOK;
}

/* How long a stopping worker waits for answers: a query and its retry at the longest
 * timeout, with room to write the answer. */
static uint32_t drain_ms(const struct conf *c)
{
	uint32_t longest = c->timeout_ms;

	for (size_t i = 0; i < c->nbackends; i++) {
		if (c->backends[i].timeout_ms > longest) {
			longest = c->backends[i].timeout_ms;
		}
	}
	return 2 * longest + 500; /* timeouts are at most an hour: no overflow */
}

static int build_routes(struct snapshot *s, const struct conf *c, struct backend_registry *reg,
			struct build_index *ix, char *err, size_t len)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct conf_route *cr = &c->routes[i];
		struct route *r = &s->routes[s->nroutes++];
		int rc;

		r->idx = (uint32_t)i;
		r->kind = cr->kind;
		r->source = cr->source;
		r->pattern = strdup(cr->pattern);
		if (r->pattern == NULL ||
		    (cr->origin != NULL && (r->origin = strdup(cr->origin)) == NULL)) {
			return DR_ENOMEM;
		}
		if (cr->acl.n > 0 && (r->acl = acl_new(cr->acl.rules, cr->acl.n)) == NULL) {
			return DR_ENOMEM;
		}
		/* A sharded zone's own route has no pool: its shards' routes do. */
		rc = cr->nshards > 0 ? DR_EOK
				     : build_pool(s, c, cr, cr->backends, cr->nbackends, NULL, reg,
						  ix, &r->pool);
		if (rc != DR_EOK) {
			return rc;
		}
		if (cr->kind == CONF_ROUTE_REGEX) {
			struct regex *shared = strmap_get(&ix->regexes, cr->pattern);
			r->re = shared ? regex_ref(shared) : regex_new(cr->pattern, err, len);
			if (r->re == NULL) {
				return DR_ECONF;
			}
			s->regex[s->nregex++] = r;
		} else {
			memcpy(r->zone, cr->zone, cr->zone_len);
			r->zone_len = cr->zone_len;
			zone_insert(s, r);
		}
	}
	/* The shards' routes after every configured one, whose places stay as configured. */
	for (size_t i = 0; i < c->nroutes; i++) {
		int rc;
		if (c->routes[i].nshards > 0 &&
		    (rc = build_shards(s, c, &c->routes[i], &s->routes[i], reg, ix)) != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

struct snapshot *snapshot_build(const struct conf *c, struct backend_registry *reg,
				const struct snapshot *prev, uint64_t gen, char *err, size_t len)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct build_index ix = {0};
	uint32_t zone_slots = 16;
	int rc;

	if (s == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->gen = gen;
	s->no_route_rcode = c->no_route_rcode;
	s->busy_poll_us = c->busy_poll_us;
	s->tcp_idle_ms = c->tcp_idle_ms;
	s->drain_ms = drain_ms(c);
	memcpy(s->identity, c->identity, sizeof(s->identity));
	memcpy(s->version, c->version, sizeof(s->version));
	memcpy(s->transfers, c->transfers, c->ntransfers * sizeof(*s->transfers));
	s->ntransfers = (uint32_t)c->ntransfers;
	memcpy(s->explain_from, c->explain_from, c->nexplain_from * sizeof(*s->explain_from));
	s->nexplain_from = (uint32_t)c->nexplain_from;
	s->qlimit = c->qlimit;
	s->ecs = c->ecs;
	s->curve = c->curve;
	s->rrl = c->rrl;
	s->limit_v4_bits = c->limit_v4_bits;
	s->limit_v6_bits = c->limit_v6_bits;
	s->tcp_per_client = c->tcp_per_client;
	s->tcp_query_ms = c->tcp_query_ms;
	s->tcp_max_queries = c->tcp_max_queries;
	s->tcp_backend_conns = c->tcp_backend_conns;
	while (zone_slots < 2 * c->nroutes) {
		zone_slots *= 2; /* at most half full keeps probes short */
	}
	s->zone_mask = zone_slots - 1;
	s->routes = calloc(total_routes(c) + 1, sizeof(*s->routes));
	s->regex = calloc(c->nroutes + 1, sizeof(*s->regex));
	s->zones = calloc(zone_slots, sizeof(*s->zones));
	s->backends = calloc(total_backend_refs(c) + 1, sizeof(*s->backends));
	if (c->acl.n > 0) {
		s->acl = acl_new(c->acl.rules, c->acl.n);
	}
	if (s->routes == NULL || s->regex == NULL || s->zones == NULL || s->backends == NULL ||
	    (c->acl.n > 0 && s->acl == NULL) || index_init(&ix, c, prev) != DR_EOK) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	rc = build_routes(s, c, reg, &ix, err, len);
	if (rc != DR_EOK) {
		if (rc != DR_ECONF) {
			snprintf(err, len, "%s", dr_strerror(rc));
		}
		goto fail;
	}
	s->regex_set = regex_set_new(s->regex, s->nregex);
	if (s->regex_set == NULL) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	index_deinit(&ix);
	return s;
fail:
	index_deinit(&ix);
	snapshot_free(s);
	return NULL;
}

void snapshot_free(struct snapshot *s)
{
	if (s == NULL) {
		return;
	}
	for (uint32_t i = 0; i < s->nroutes; i++) {
		free(s->routes[i].pattern);
		if (s->routes[i].shard_of == NULL) {
			free(s->routes[i].origin); /* a part route borrows its zone's */
		}
		pool_deinit(&s->routes[i].pool);
		regex_free(s->routes[i].re);
		acl_free(s->routes[i].acl);
		if (s->routes[i].shards != NULL) {
			free(s->routes[i].shards->start);
			free(s->routes[i].shards->routes);
			free(s->routes[i].shards);
		}
	}
	acl_free(s->acl);
	regex_set_free(s->regex_set);
	free(s->routes);
	free(s->regex);
	free(s->zones);
	free(s->backends);
	explicit_bzero(s->curve.keys, sizeof(s->curve.keys));
	free(s);
}
