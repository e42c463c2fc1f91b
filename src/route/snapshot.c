/* SPDX-License-Identifier: MIT */
/* route/snapshot.c -- build and free routing snapshots */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "route/route.h"

static const struct conf_backend *conf_backend_named(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nbackends; i++) {
		if (strcmp(c->backends[i].name, name) == 0) {
			return &c->backends[i];
		}
	}
	return NULL;
}

/* Record <be> in the snapshot's list of backends unless it is there already. */
static int note_backend(struct snapshot *s, struct backend *be)
{
	for (uint32_t i = 0; i < s->nbackends; i++) {
		if (s->backends[i] == be) {
			return DR_EOK;
		}
	}
	s->backends[s->nbackends++] = be;
	if (be->idx + 1 > s->max_backend_idx) {
		s->max_backend_idx = be->idx + 1;
	}
	be->last_gen = s->gen;
	return DR_EOK;
}

static int build_pool(struct snapshot *s, const struct conf *c, const struct conf_route *cr,
		      struct backend_registry *reg, struct pool *p)
{
	p->policy = cr->policy;
	p->fallback = cr->fallback;
	p->backends = calloc(cr->nbackends, sizeof(*p->backends));
	if (p->backends == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < cr->nbackends; i++) {
		const struct conf_backend *cb = conf_backend_named(c, cr->backends[i]);
		struct backend *be;

		if (cb == NULL) {
			return DR_ECONF;	/* conf_validate rules this out */
		}
		be = backend_registry_get(reg, &cb->addr);
		if (be == NULL) {
			return DR_ENOMEM;
		}
		snprintf(be->name, sizeof(be->name), "%s", cb->name);
		be->weight = cb->weight;
		be->health = cb->health;
		atomic_store(&be->timeout_ms, cb->timeout_ms ? cb->timeout_ms : c->timeout_ms);
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

static int build_routes(struct snapshot *s, const struct conf *c, struct backend_registry *reg,
			char *err, size_t len)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		const struct conf_route *cr = &c->routes[i];
		struct route *r = &s->routes[s->nroutes++];
		int rc;

		r->idx = (uint32_t)i;
		r->kind = cr->kind;
		r->pattern = strdup(cr->pattern);
		if (r->pattern == NULL) {
			return DR_ENOMEM;
		}
		rc = build_pool(s, c, cr, reg, &r->pool);
		if (rc != DR_EOK) {
			return rc;
		}
		if (cr->kind == CONF_ROUTE_REGEX) {
			r->re = regex_new(cr->pattern, err, len);
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

struct snapshot *snapshot_build(const struct conf *c, struct backend_registry *reg, uint64_t gen,
				char *err, size_t len)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	uint32_t zone_slots = 16;
	int rc;

	if (s == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	s->gen = gen;
	s->no_route_rcode = c->no_route_rcode;
	memcpy(s->identity, c->identity, sizeof(s->identity));
	memcpy(s->version, c->version, sizeof(s->version));
	while (zone_slots < 2 * c->nroutes) {
		zone_slots *= 2;	/* at most half full keeps probes short */
	}
	s->zone_mask = zone_slots - 1;
	s->routes = calloc(c->nroutes + 1, sizeof(*s->routes));
	s->regex = calloc(c->nroutes + 1, sizeof(*s->regex));
	s->zones = calloc(zone_slots, sizeof(*s->zones));
	s->backends = calloc(total_backend_refs(c) + 1, sizeof(*s->backends));
	if (s->routes == NULL || s->regex == NULL || s->zones == NULL || s->backends == NULL) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	rc = build_routes(s, c, reg, err, len);
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
	return s;
fail:
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
	}
	regex_set_free(s->regex_set);
	free(s->routes);
	free(s->regex);
	free(s->zones);
	free(s->backends);
	free(s);
}
