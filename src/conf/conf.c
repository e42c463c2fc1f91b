/* SPDX-License-Identifier: MIT */
/* conf/conf.c -- configuration defaults, command-line additions and validation */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/err.h"
#include "common/strmap.h"
#include "common/transparent.h"
#include "conf/conf.h"
#include "common/regex.h"

#define DEFAULT_TIMEOUT_MS 1000
#define DEFAULT_TCP_MAX_CONNS 1024
#define DEFAULT_TCP_IDLE_MS 10000
#define DEFAULT_TCP_PER_CLIENT 64
#define DEFAULT_TCP_QUERY_MS 2000
#define DEFAULT_RRL_SLIP 2
#define DEFAULT_RRL_WINDOW_MS 15000
#define DEFAULT_RRL_TABLE 1000000
#define DEFAULT_HOLD_DOWN_MS 2000
#define DEFAULT_HOLD_DOWN_MAX_MS 60000
#define DEFAULT_LISTEN "127.0.0.1:5353"
#define DEFAULT_HEALTH_QUERY "id.server. CH TXT"

static const char *const policy_names[] = {
	[CONF_POLICY_ROUND_ROBIN] = "round-robin",
	[CONF_POLICY_WEIGHTED] = "weighted",
	[CONF_POLICY_LEAST_OUTSTANDING] = "least-outstanding",
	[CONF_POLICY_HASH] = "hash",
	[CONF_POLICY_FIRST_AVAILABLE] = "first-available",
};

int conf_policy_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(policy_names) / sizeof(policy_names[0]); i++) {
		if (strcmp(policy_names[i], name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

const char *conf_policy_name(enum conf_policy policy)
{
	return policy_names[policy];
}

static const struct {
	const char *name;
	uint16_t value;
} qtypes[] = {
	{"A", 1},      {"NS", 2},          {"CNAME", 5},  {"SOA", 6},   {"PTR", 12},
	{"MX", 15},    {"TXT", 16},        {"AAAA", 28},  {"SRV", 33},  {"NAPTR", 35},
	{"DNAME", 39}, {"DS", 43},         {"RRSIG", 46}, {"NSEC", 47}, {"DNSKEY", 48},
	{"NSEC3", 50}, {"NSEC3PARAM", 51}, {"CAA", 257},  {"SVCB", 64}, {"HTTPS", 65},
	{"ANY", 255},
};

static int parse_type(const char *s, uint16_t *out)
{
	for (size_t i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++) {
		if (strcasecmp(s, qtypes[i].name) == 0) {
			*out = qtypes[i].value;
			return DR_EOK;
		}
	}
	if (strncasecmp(s, "TYPE", 4) == 0 && s[4] >= '0' && s[4] <= '9') {
		char *end;
		unsigned long v = strtoul(s + 4, &end, 10);
		if (*end == '\0' && v <= 65535) {
			*out = (uint16_t)v;
			return DR_EOK;
		}
	}
	return DR_EINVAL;
}

static int parse_class(const char *s, uint16_t *out)
{
	if (strcasecmp(s, "IN") == 0) {
		*out = WIRE_CLASS_IN;
	} else if (strcasecmp(s, "CH") == 0) {
		*out = WIRE_CLASS_CH;
	} else {
		return DR_EINVAL;
	}
	return DR_EOK;
}

int conf_parse_health_query(const char *text, struct conf_health *h)
{
	char buf[WIRE_NAME_TEXT_MAX + 32];
	char *words[4], *save = NULL;
	int n = 0;
	uint16_t qclass = WIRE_CLASS_IN, qtype;
	uint8_t name[WIRE_NAME_MAX];

	if (strlen(text) >= sizeof(buf)) {
		return DR_EINVAL;
	}
	strcpy(buf, text);
	for (char *w = strtok_r(buf, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (n == 4) {
			return DR_EINVAL;
		}
		words[n++] = w;
	}
	if (n < 2 || n > 3 || wire_name_from_text(words[0], name) < 0 ||
	    (n == 3 && parse_class(words[1], &qclass) != DR_EOK) ||
	    parse_type(words[n - 1], &qtype) != DR_EOK) {
		return DR_EINVAL;
	}
	memcpy(h->qname, name, sizeof(name));
	h->qtype = qtype;
	h->qclass = qclass;
	return DR_EOK;
}

static void health_defaults(struct conf_health *h)
{
	memset(h, 0, sizeof(*h));
	h->enabled = true;
	h->tcp = true; /* as operators of the original DNS router expect */
	(void)conf_parse_health_query(DEFAULT_HEALTH_QUERY, h);
	h->interval_ms = 1000;
	h->timeout_ms = 500;
	h->fall = 3;
	h->rise = 2;
	h->rcodes =
		(1u << WIRE_RCODE_NOERROR) | (1u << WIRE_RCODE_REFUSED) | (1u << WIRE_RCODE_NOTIMP);
	h->hold_down_ms = DEFAULT_HOLD_DOWN_MS;
	h->hold_down_max_ms = DEFAULT_HOLD_DOWN_MAX_MS;
}

/* <be>'s health: the global block, then every key the backend's own block set. */
static void health_merge(struct conf_health *be, const struct conf_health *global)
{
	struct conf_health merged = *global;

	if (be->set & CONF_HEALTH_ENABLED) {
		merged.enabled = be->enabled;
	}
	if (be->set & CONF_HEALTH_TRANSPORT) {
		merged.tcp = be->tcp;
	}
	if (be->set & CONF_HEALTH_QUERY) {
		memcpy(merged.qname, be->qname, sizeof(merged.qname));
		merged.qtype = be->qtype;
		merged.qclass = be->qclass;
	}
	if (be->set & CONF_HEALTH_INTERVAL) {
		merged.interval_ms = be->interval_ms;
	}
	if (be->set & CONF_HEALTH_TIMEOUT) {
		merged.timeout_ms = be->timeout_ms;
	}
	if (be->set & CONF_HEALTH_FALL) {
		merged.fall = be->fall;
	}
	if (be->set & CONF_HEALTH_RISE) {
		merged.rise = be->rise;
	}
	if (be->set & CONF_HEALTH_RCODES) {
		merged.rcodes = be->rcodes;
	}
	if (be->set & CONF_HEALTH_HOLD_DOWN) {
		merged.hold_down_ms = be->hold_down_ms;
	}
	if (be->set & CONF_HEALTH_HOLD_DOWN_MAX) {
		merged.hold_down_max_ms = be->hold_down_max_ms;
	}
	merged.set = be->set;
	*be = merged;
}

int conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->no_route_rcode = WIRE_RCODE_SERVFAIL;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->tcp_max_conns = DEFAULT_TCP_MAX_CONNS;
	c->tcp_idle_ms = DEFAULT_TCP_IDLE_MS;
	c->tcp_per_client = DEFAULT_TCP_PER_CLIENT;
	c->tcp_query_ms = DEFAULT_TCP_QUERY_MS;
	c->rrl.slip = DEFAULT_RRL_SLIP;
	c->rrl.window_ms = DEFAULT_RRL_WINDOW_MS;
	c->rrl.table_size = DEFAULT_RRL_TABLE;
	c->qlimit.action = CONF_ACL_DROP;
	c->client_address = CONF_CA_NONE;
	c->ecs.v4_bits = 24; /* RFC 7871 §11.1: 24 and 56 keep the client private enough */
	c->ecs.v6_bits = 56;
	c->curve.all_listeners = true;
	c->curve.nonce_instance = 0;
	c->curve.key_cache = 65536;
	c->curve.new_keys_ps = 100;
	c->limit_v4_bits = 24; /* BIND's and Knot's defaults */
	c->limit_v6_bits = 56;
	health_defaults(&c->health);
	c->dnstap.identity = c->dnstap.queries = c->dnstap.responses = true;
	c->dnstap.sample = 1;
	/* As many as a small server has TCP workers (Knot: one per core), and few enough for
	 * a PowerDNS's 20 connections in all. */
	c->tcp_backend_conns = 4;
	c->dnstap.queue_size = 1024;
	if (prefix_parse("127.0.0.0/8", &c->explain_from[0]) != DR_EOK ||
	    prefix_parse("::1", &c->explain_from[1]) != DR_EOK) {
		return DR_EINVAL;
	}
	c->nexplain_from = 2;
	snprintf(c->etcd.prefix, sizeof(c->etcd.prefix), "/dnsrouter/");
	c->etcd.timeout_ms = 2000;
	if (gethostname(c->identity, sizeof(c->identity) - 1) == -1) {
		snprintf(c->identity, sizeof(c->identity), "dnsrouter");
	}
	return DR_EOK;
}

static void route_free(struct conf_route *r)
{
	free(r->pattern);
	free(r->origin);
	free(r->backends);
	conf_acl_free(&r->acl);
	conf_shards_free(r);
}

void conf_route_remove_last(struct conf *c)
{
	route_free(&c->routes[--c->nroutes]);
}

void conf_deinit(struct conf *c)
{
	for (size_t i = 0; i < c->nroutes; i++) {
		route_free(&c->routes[i]);
	}
	conf_acl_free(&c->acl);
	free(c->routes);
	free(c->backends);
	free(c->listen);
	free(c->file);
	for (size_t i = 0; i < c->etcd.nendpoints; i++) {
		free(c->etcd.endpoints[i]);
	}
	explicit_bzero(c->curve.keys, sizeof(c->curve.keys));
	memset(c, 0, sizeof(*c));
}

/* A decimal number of at most <max> followed by a unit (or nothing), which <unit> points at. */
static int parse_amount(const char *s, unsigned long long max, unsigned long long *v,
			const char **unit)
{
	char *end;

	if (*s < '0' || *s > '9') {
		return DR_EINVAL;
	}
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *v > max) {
		return DR_EINVAL;
	}
	*unit = end;
	return DR_EOK;
}

int conf_parse_duration(const char *s, uint32_t *ms)
{
	const char *unit;
	unsigned long long v;

	if (parse_amount(s, 3600u * 1000u, &v, &unit) != DR_EOK) {
		return DR_EINVAL;
	}
	if (strcmp(unit, "s") == 0) {
		v *= 1000; /* below 2^32 * 1000: no overflow */
	} else if (strcmp(unit, "ms") != 0 && *unit != '\0') {
		return DR_EINVAL;
	}
	if (v == 0 || v > 3600u * 1000u) {
		return DR_EINVAL;
	}
	*ms = (uint32_t)v;
	return DR_EOK;
}

int conf_parse_busy_poll(const char *s, uint32_t *us)
{
	const char *unit;
	unsigned long long v;

	if (parse_amount(s, CONF_BUSY_POLL_MAX_US, &v, &unit) != DR_EOK) {
		return DR_EINVAL;
	}
	if (strcmp(unit, "ms") == 0) {
		v *= 1000;
	} else if (strcmp(unit, "us") != 0 && !(*unit == '\0' && v == 0)) {
		return DR_EINVAL; /* a bare number is ambiguous unless it is 0 */
	}
	if (v > CONF_BUSY_POLL_MAX_US) {
		return DR_EINVAL;
	}
	*us = (uint32_t)v;
	return DR_EOK;
}

int conf_add_listen(struct conf *c, const char *addr, char *err, size_t len)
{
	union sockaddr_any sa;
	union sockaddr_any *grown;

	if (sockaddr_parse(addr, strlen(addr), 0, &sa) != DR_EOK) {
		snprintf(err, len, "bad listen address '%s' (want ip:port or [ipv6]:port)", addr);
		return DR_ECONF;
	}
	grown = realloc(c->listen, (c->nlisten + 1) * sizeof(*grown));
	if (grown == NULL) {
		return DR_ENOMEM;
	}
	c->listen = grown;
	c->listen[c->nlisten++] = sa;
	return DR_EOK;
}

/* Make room for one more element of <size> in <*arr> (<n> used of <*cap>), doubling: adding n
 * elements one by one then costs O(n) copies, not O(n^2). */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
	size_t want = *cap ? *cap * 2 : 8;
	void *grown;

	if (n < *cap) {
		return DR_EOK;
	}
	grown = realloc(*arr, want * size);
	if (grown == NULL) {
		return DR_ENOMEM;
	}
	*arr = grown;
	*cap = want;
	return DR_EOK;
}

struct conf_backend *conf_backend_add(struct conf *c)
{
	struct conf_backend *be;

	if (grow((void **)&c->backends, c->nbackends, &c->backends_cap, sizeof(*be)) != DR_EOK) {
		return NULL;
	}
	be = &c->backends[c->nbackends++];
	memset(be, 0, sizeof(*be));
	be->weight = 1;
	return be;
}

struct conf_route *conf_route_add(struct conf *c)
{
	struct conf_route *r;

	if (grow((void **)&c->routes, c->nroutes, &c->routes_cap, sizeof(*r)) != DR_EOK) {
		return NULL;
	}
	r = &c->routes[c->nroutes++];
	memset(r, 0, sizeof(*r));
	return r;
}

int conf_names_append(char (**names)[CONF_NAME_MAX], size_t *n, const char *name)
{
	char(*grown)[CONF_NAME_MAX] = realloc(*names, (*n + 1) * sizeof(*grown));

	if (grown == NULL) {
		return DR_ENOMEM;
	}
	*names = grown;
	snprintf(grown[(*n)++], CONF_NAME_MAX, "%s", name);
	return DR_EOK;
}

int conf_route_add_backend(struct conf_route *r, const char *name)
{
	return conf_names_append(&r->backends, &r->nbackends, name);
}

static struct conf_backend *backend_by_name(struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nbackends; i++) {
		if (strcmp(c->backends[i].name, name) == 0) {
			return &c->backends[i];
		}
	}
	return NULL;
}

int conf_acl_copy(struct conf_acl *dst, const struct conf_acl *src)
{
	dst->rules = NULL;
	dst->n = 0;
	if (src->n == 0) {
		return DR_EOK;
	}
	dst->rules = malloc(src->n * sizeof(*dst->rules));
	if (dst->rules == NULL) {
		return DR_ENOMEM;
	}
	memcpy(dst->rules, src->rules, src->n * sizeof(*dst->rules));
	dst->n = src->n;
	return DR_EOK;
}

void conf_acl_free(struct conf_acl *acl)
{
	free(acl->rules);
	acl->rules = NULL;
	acl->n = 0;
}

int conf_clone(struct conf *dst, const struct conf *src)
{
	*dst = *src;
	dst->acl.rules = NULL;
	dst->acl.n = 0;
	dst->etcd.nendpoints = 0;
	dst->file = NULL;
	dst->listen = NULL;
	dst->backends = NULL;
	dst->routes = NULL;
	dst->nroutes = 0;
	dst->backends_cap = src->nbackends + 1;
	dst->routes_cap = src->nroutes + 1;
	if ((src->file != NULL && (dst->file = strdup(src->file)) == NULL) ||
	    (dst->listen = malloc((src->nlisten + 1) * sizeof(*dst->listen))) == NULL ||
	    (dst->backends = malloc(dst->backends_cap * sizeof(*dst->backends))) == NULL ||
	    (dst->routes = calloc(dst->routes_cap, sizeof(*dst->routes))) == NULL ||
	    conf_acl_copy(&dst->acl, &src->acl) != DR_EOK) {
		goto fail;
	}
	if (src->nlisten > 0) {
		memcpy(dst->listen, src->listen, src->nlisten * sizeof(*dst->listen));
	}
	for (size_t i = 0; i < src->etcd.nendpoints; i++) {
		dst->etcd.endpoints[i] = strdup(src->etcd.endpoints[i]);
		if (dst->etcd.endpoints[i] == NULL) {
			goto fail;
		}
		dst->etcd.nendpoints++;
	}
	if (src->nbackends > 0) {
		memcpy(dst->backends, src->backends, src->nbackends * sizeof(*dst->backends));
	}
	for (size_t i = 0; i < src->nroutes; i++) {
		struct conf_route *r = &dst->routes[i];
		*r = src->routes[i];
		r->pattern = NULL;
		r->origin = NULL;
		r->backends = NULL;
		r->acl.rules = NULL;
		r->acl.n = 0;
		r->shards = NULL;
		r->nshards = 0;
		dst->nroutes++;
		r->pattern = strdup(src->routes[i].pattern);
		r->backends = malloc((r->nbackends + 1) * sizeof(*r->backends));
		if (src->routes[i].origin != NULL &&
		    (r->origin = strdup(src->routes[i].origin)) == NULL) {
			goto fail;
		}
		if (r->pattern == NULL || r->backends == NULL ||
		    conf_acl_copy(&r->acl, &src->routes[i].acl) != DR_EOK ||
		    conf_shards_copy(r, &src->routes[i]) != DR_EOK) {
			goto fail;
		}
		if (r->nbackends > 0) {
			memcpy(r->backends, src->routes[i].backends,
			       r->nbackends * sizeof(*r->backends));
		}
	}
	return DR_EOK;
fail:
	conf_deinit(dst);
	return DR_ENOMEM;
}

/* "FILE:LINE: " for a key of the file, or "" for one that came from the command line. */
/* Where a problem is: FILE:LINE for what the file says; what has no line came from a -b
 * entry (etcd entries are checked one by one before they get here). */
static int where(const struct conf *c, int line, char *buf, size_t len)
{
	if (c->file != NULL && line > 0) {
		return snprintf(buf, len, "%s:%d: ", c->file, line);
	}
	return snprintf(buf, len, "-b: ");
}

static int validate_route(struct conf *c, struct conf_route *r, char *err, size_t len)
{
	int n;

	if (r->nbackends == 0 && r->nshards == 0) {
		n = where(c, r->line, err, len);
		snprintf(err + n, len - (size_t)n, "route '%s' has no backends", r->pattern);
		return DR_ECONF;
	}
	if (conf_validate_shards(c, r, err, len) != DR_EOK) {
		return DR_ECONF;
	}
	for (size_t i = 0; i < r->nbackends; i++) {
		if (backend_by_name(c, r->backends[i]) == NULL) {
			n = where(c, r->line, err, len);
			snprintf(err + n, len - (size_t)n, "route '%s' names unknown backend '%s'",
				 r->pattern, r->backends[i]);
			return DR_ECONF;
		}
	}
	if (r->kind == CONF_ROUTE_REGEX) {
		char rerr[256];
		if (regex_check(r->pattern, rerr, sizeof(rerr)) != DR_EOK) {
			n = where(c, r->line, err, len);
			snprintf(err + n, len - (size_t)n, "bad regex '%s': %s", r->pattern, rerr);
			return DR_ECONF;
		}
	}
	return DR_EOK;
}

/* The key under which route <r> must be unique: its zone, or its pattern. NULL when the
 * pattern is too long to be worth a key (a regexp of thousands of bytes is not repeated). */
static const char *route_key(const struct conf_route *r, char *key, size_t cap)
{
	if (r->kind == CONF_ROUTE_ZONE) {
		key[0] = 'z';
		return wire_name_to_text(r->zone, key + 1, cap - 1) >= 0 ? key : NULL;
	}
	return (size_t)snprintf(key, cap, "r%s", r->pattern) < cap ? key : NULL;
}

/* A second route for the same zone or the same pattern would never be used (the first one
 * wins): say so rather than route silently past it. */
static int check_duplicate_routes(struct conf *c, char *err, size_t len)
{
	struct strmap seen;
	char key[CONF_ENTRY_MAX];
	int rc = strmap_init(&seen, c->nroutes);

	for (size_t i = 0; rc == DR_EOK && i < c->nroutes; i++) {
		struct conf_route *r = &c->routes[i], *first;
		const char *k = route_key(r, key, sizeof(key));
		if (k == NULL) {
			continue;
		}
		first = strmap_get(&seen, k);
		if (first == NULL) {
			rc = strmap_put(&seen, k, r);
			continue;
		}
		int n = where(c, r->line, err, len);
		const char *what = r->kind == CONF_ROUTE_ZONE ? "zone" : "regex";
		if (first->line > 0) {
			snprintf(err + n, len - (size_t)n, "%s '%s' is already routed at line %d",
				 what, r->pattern, first->line);
		} else {
			snprintf(err + n, len - (size_t)n,
				 "%s '%s' is already routed by a -b entry", what, r->pattern);
		}
		rc = DR_ECONF;
	}
	strmap_deinit(&seen);
	return rc;
}

/* DNSCurve is detected on listeners, so each address dnscurve.listen names must be one. */
static int check_curve_listen(const struct conf *c, char *err, size_t len)
{
	for (size_t i = 0; i < c->curve.nlisten; i++) {
		size_t j = 0;
		while (j < c->nlisten && !sockaddr_equal(&c->listen[j], &c->curve.listen[i])) {
			j++;
		}
		if (j == c->nlisten) {
			char a[SOCKADDR_STRLEN];
			int n = where(c, c->curve.listen_line, err, len);
			sockaddr_format(&c->curve.listen[i], a, sizeof(a));
			snprintf(err + n, len - (size_t)n,
				 "dnscurve listen: %s is not one of the listen addresses", a);
			return DR_ECONF;
		}
	}
	return DR_EOK;
}

int conf_validate(struct conf *c, char *err, size_t len)
{
	char tmp[CONF_ERR_LEN];
	int rc;

	for (size_t i = 0; i < c->nbackends; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->backends[i].name, c->backends[j].name) == 0) {
				int n = where(c, c->backends[i].line, err, len);
				snprintf(err + n, len - (size_t)n, "duplicate backend name '%s'",
					 c->backends[i].name);
				return DR_ECONF;
			}
			/* One address is one backend (its state, counters and health are kept by
			 * address): two names for it would overwrite each other's settings. */
			if (sockaddr_equal(&c->backends[i].addr, &c->backends[j].addr)) {
				int n = where(c, c->backends[i].line, err, len);
				snprintf(err + n, len - (size_t)n,
					 "backend '%s' has the address of backend '%s'",
					 c->backends[i].name, c->backends[j].name);
				return DR_ECONF;
			}
		}
	}
	for (size_t i = 0; i < c->nroutes; i++) {
		rc = validate_route(c, &c->routes[i], err, len);
		if (rc != DR_EOK) {
			return rc;
		}
	}
	rc = check_duplicate_routes(c, err, len);
	if (rc != DR_EOK) {
		return rc;
	}
	for (size_t i = 0; i < c->nbackends; i++) {
		health_merge(&c->backends[i].health, &c->health);
		if (c->backends[i].health.hold_down_max_ms < c->backends[i].health.hold_down_ms) {
			int n = where(c, c->backends[i].line, err, len);
			snprintf(err + n, len - (size_t)n,
				 "health hold-down-max of backend '%s' is below its hold-down",
				 c->backends[i].name);
			return DR_ECONF;
		}
	}
	if (c->group[0] != '\0' && c->user[0] == '\0') {
		snprintf(err, len, "%s:0: group needs user (root keeps its groups otherwise)",
			 c->file ? c->file : "-");
		return DR_ECONF;
	}
	if (c->nlisten == 0) {
		rc = conf_add_listen(c, DEFAULT_LISTEN, tmp, sizeof(tmp));
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return check_curve_listen(c, err, len);
}

enum conf_client_address conf_client_address_of(const struct conf *c, const struct conf_backend *be)
{
	return be->client_address != CONF_CA_DEFAULT ? be->client_address : c->client_address;
}

/* transparent_probe for <family>, made once per check: a reload with many transparent
 * backends opens one socket a family, not one a backend. */
static int probe_family(sa_family_t family, int memo[2])
{
	int *m = &memo[family == AF_INET6];

	if (*m == 1) {
		*m = transparent_probe(family);
	}
	return *m;
}

int conf_check_transparent(const struct conf *c, char *err, size_t len)
{
	int memo[2] = {1, 1}; /* 1: not probed yet (the results are DR_EOK or negative) */
	int rc;

	for (size_t i = 0; i < c->nbackends; i++) {
		const struct conf_backend *be = &c->backends[i];
		if (conf_client_address_of(c, be) != CONF_CA_TRANSPARENT ||
		    (rc = probe_family(be->addr.sa.sa_family, memo)) == DR_EOK) {
			continue;
		}
		int n = where(c, be->line, err, len);
		snprintf(err + n, len - (size_t)n,
			 "backend '%s': client-address transparent needs CAP_NET_ADMIN and kernel "
			 "support (%s)",
			 be->name, dr_strerror(rc));
		return DR_ECONF;
	}
	/* Backends etcd adds later take the global setting: the same check, once. */
	if (c->client_address == CONF_CA_TRANSPARENT &&
	    (rc = probe_family(AF_INET, memo)) != DR_EOK) {
		snprintf(
			err, len,
			"%s:0: client-address transparent needs CAP_NET_ADMIN and kernel support (%s)",
			c->file ? c->file : "-", dr_strerror(rc));
		return DR_ECONF;
	}
	return DR_EOK;
}

bool conf_has_transparent(const struct conf *c)
{
	for (size_t i = 0; i < c->nbackends; i++) {
		if (c->backends[i].client_address == CONF_CA_TRANSPARENT) {
			return true;
		}
	}
	return c->client_address == CONF_CA_TRANSPARENT;
}
