/* SPDX-License-Identifier: MIT */
/* conf/entry.c -- backends and routes from entries "ip:port,regexp" (-b, and etcd values) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strmap.h"
#include "conf/conf.h"
#include "common/regex.h"

/* Backends by address and regex routes by pattern, as positions + 1 (the arrays move as they
 * grow), so that adding n entries costs O(n), not O(n^2). */
struct entry_index {
	struct strmap backends; /* by address in presentation form */
	struct strmap routes;
};

static void *pos_value(size_t pos)
{
	return (void *)(uintptr_t)(pos + 1);
}

static size_t value_pos(void *v)
{
	return (size_t)(uintptr_t)v - 1;
}

static int index_init(struct entry_index *ix, const struct conf *c, size_t extra)
{
	if (strmap_init(&ix->backends, c->nbackends + extra) != DR_EOK ||
	    strmap_init(&ix->routes, c->nroutes + extra) != DR_EOK) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < c->nbackends; i++) {
		char addr[SOCKADDR_STRLEN];

		sockaddr_format(&c->backends[i].addr, addr, sizeof(addr));
		if (strmap_get(&ix->backends, addr) == NULL &&
		    strmap_put(&ix->backends, addr, pos_value(i)) != DR_EOK) {
			return DR_ENOMEM;
		}
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		if (c->routes[i].kind == CONF_ROUTE_REGEX &&
		    strmap_get(&ix->routes, c->routes[i].pattern) == NULL &&
		    strmap_put(&ix->routes, c->routes[i].pattern, pos_value(i)) != DR_EOK) {
			return DR_ENOMEM;
		}
	}
	return DR_EOK;
}

static void index_deinit(struct entry_index *ix)
{
	strmap_deinit(&ix->backends);
	strmap_deinit(&ix->routes);
}

static int parse_entry(const char *entry, union sockaddr_any *sa, const char **pattern, char *err,
		       size_t len)
{
	const char *comma = strchr(entry, ',');

	if (comma == NULL || comma[1] == '\0') {
		snprintf(err, len, "bad entry '%.200s' (want ip:port,regexp)", entry);
		return DR_ECONF;
	}
	if (sockaddr_parse(entry, (size_t)(comma - entry), 0, sa) != DR_EOK) {
		snprintf(err, len, "bad address in entry '%.200s' (want ip:port or [ipv6]:port)",
			 entry);
		return DR_ECONF;
	}
	*pattern = comma + 1;
	return DR_EOK;
}

/* A backend learnt from an entry: named by its address, with the global health settings. */
static struct conf_backend *backend_new_at(struct conf *c, const union sockaddr_any *sa)
{
	struct conf_backend *be = conf_backend_add(c);

	if (be != NULL) {
		sockaddr_format(sa, be->name, sizeof(be->name));
		be->addr = *sa;
		be->health = c->health;
	}
	return be;
}

const struct conf_backend *conf_backend_at(struct conf *c, const union sockaddr_any *sa)
{
	for (size_t i = 0; i < c->nbackends; i++) {
		if (sockaddr_equal(&c->backends[i].addr, sa)) {
			return &c->backends[i]; /* one address is one backend */
		}
	}
	return backend_new_at(c, sa);
}

#define ORIGIN_MAX 512 /* an origin names this many bytes of keys, then "..." */

/* Add <key> to the keys <r> lists as its origin. */
static int note_key(struct conf_route *r, const char *key)
{
	size_t have = r->origin ? strlen(r->origin) : 0, add = strlen(key);
	char *grown;

	if (have >= ORIGIN_MAX) {
		return DR_EOK;
	}
	if (have + add > ORIGIN_MAX) {
		key = "...";
		add = 3;
	}
	grown = realloc(r->origin, have + add + 2);
	if (grown == NULL) {
		return DR_ENOMEM;
	}
	if (have > 0) {
		grown[have++] = ' ';
	}
	memcpy(grown + have, key, add + 1);
	r->origin = grown;
	return DR_EOK;
}

static int add_indexed(struct conf *c, struct entry_index *ix, const char *key, const char *entry,
		       enum conf_source source, char *err, size_t len)
{
	union sockaddr_any sa;
	const char *pattern;
	char addr[SOCKADDR_STRLEN];
	const char *name;
	struct conf_route *r;
	void *v;
	int rc = parse_entry(entry, &sa, &pattern, err, len);

	if (rc != DR_EOK) {
		return rc;
	}
	sockaddr_format(&sa, addr, sizeof(addr));
	v = strmap_get(&ix->backends, addr);
	if (v != NULL) {
		/* A configured backend at this address: the entry routes to it, with its name and
		 * settings (one address is one backend). */
		name = c->backends[value_pos(v)].name;
	} else {
		struct conf_backend *be = backend_new_at(c, &sa);
		if (be == NULL ||
		    strmap_put(&ix->backends, addr, pos_value(c->nbackends - 1)) != DR_EOK) {
			return DR_ENOMEM;
		}
		name = be->name;
	}
	v = strmap_get(&ix->routes, pattern);
	if (v != NULL) {
		r = &c->routes[value_pos(v)];
	} else {
		r = conf_route_add(c);
		if (r == NULL || (r->pattern = strdup(pattern)) == NULL ||
		    strmap_put(&ix->routes, pattern, pos_value(c->nroutes - 1)) != DR_EOK) {
			return DR_ENOMEM;
		}
		r->kind = CONF_ROUTE_REGEX;
		r->source = source;
	}
	if (key != NULL && note_key(r, key) != DR_EOK) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < r->nbackends; i++) {
		if (strcmp(r->backends[i], name) == 0) {
			return DR_EOK; /* the same entry twice adds nothing */
		}
	}
	return conf_route_add_backend(r, name);
}

int conf_add_entry(struct conf *c, const char *entry, char *err, size_t len)
{
	const char *const one[] = {entry};

	return conf_add_entries(c, NULL, one, 1, CONF_SRC_CONFIG, err, len);
}

int conf_add_entries(struct conf *c, const char *const *keys, const char *const *entries, size_t n,
		     enum conf_source source, char *err, size_t len)
{
	struct entry_index ix = {0};
	int rc = index_init(&ix, c, n);

	for (size_t i = 0; rc == DR_EOK && i < n; i++) {
		rc = add_indexed(c, &ix, keys ? keys[i] : NULL, entries[i], source, err, len);
	}
	index_deinit(&ix);
	return rc;
}

int conf_entry_check(const char *entry, char *err, size_t len)
{
	union sockaddr_any sa;
	const char *pattern;
	char rerr[256];
	int rc;

	if (strlen(entry) > CONF_ENTRY_MAX) {
		snprintf(err, len, "value of %zu bytes is over %d", strlen(entry), CONF_ENTRY_MAX);
		return DR_ECONF;
	}
	rc = parse_entry(entry, &sa, &pattern, err, len);
	if (rc != DR_EOK) {
		return rc;
	}
	if (regex_check(pattern, rerr, sizeof(rerr)) != DR_EOK) {
		snprintf(err, len, "bad regex '%.200s': %s", pattern, rerr);
		return DR_ECONF;
	}
	return DR_EOK;
}
