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

static int build_pool(struct snapshot *s, const struct conf *c, const struct conf_route *cr,
		      struct backend_registry *reg, struct build_index *ix, struct pool *p)
{
	p->policy = cr->policy;
	p->fallback = cr->fallback;
	p->backends = calloc(cr->nbackends, sizeof(*p->backends));
	if (p->backends == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < cr->nbackends; i++) {
		void *pos = strmap_get(&ix->backends, cr->backends[i]);
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
		n += c->routes[i].nbackends;
	}
	return n;
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
		if (r->pattern == NULL) {
			return DR_ENOMEM;
		}
		if (cr->acl.n > 0 && (r->acl = acl_new(cr->acl.rules, cr->acl.n)) == NULL) {
			return DR_ENOMEM;
		}
		rc = build_pool(s, c, cr, reg, ix, &r->pool);
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
	s->qlimit = c->qlimit;
	s->ecs = c->ecs;
	s->curve = c->curve;
	s->rrl = c->rrl;
	s->limit_v4_bits = c->limit_v4_bits;
	s->limit_v6_bits = c->limit_v6_bits;
	s->tcp_per_client = c->tcp_per_client;
	s->tcp_query_ms = c->tcp_query_ms;
	s->tcp_max_queries = c->tcp_max_queries;
	while (zone_slots < 2 * c->nroutes) {
		zone_slots *= 2; /* at most half full keeps probes short */
	}
	s->zone_mask = zone_slots - 1;
	s->routes = calloc(c->nroutes + 1, sizeof(*s->routes));
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
		pool_deinit(&s->routes[i].pool);
		regex_free(s->routes[i].re);
		acl_free(s->routes[i].acl);
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
