/* SPDX-License-Identifier: MIT */
/* route/explain.c -- why a name goes where it goes: the route lookup, step by step
 *
 * The same steps as route_lookup, with a trace: regex routes in order (one by one, where the
 * lookup uses the indexed set, which the fuzz target holds to the same answer), then each
 * suffix of the name as a zone, longest first, then the shard. Then the pool: each backend's
 * state and the one pool_pick takes now. For the admin API and the explain.dnsrouter. CH TXT
 * query; never on the query path. */
#include <stdio.h>
#include <string.h>

#include "route/explain.h"

static uint32_t no_pending(void *arg, const struct backend *be)
{
	(void)arg;
	(void)be;
	return 0;
}

static const struct route *regex_step(const struct snapshot *s, const struct wire_question *q,
				      struct regex_scratch *rs, struct explain *e)
{
	char text[WIRE_NAME_TEXT_MAX];
	int len = s->nregex > 0 ? wire_name_to_text(q->name, text, sizeof(text)) : 0;

	for (uint32_t i = 0; len > 0 && i < s->nregex; i++) {
		if (regex_match(s->regex[i]->re, text, (size_t)len, rs)) {
			return s->regex[i];
		}
		if (e->regex_tried < EXPLAIN_TRIED_MAX) {
			e->tried[e->regex_tried] = s->regex[i];
		}
		e->regex_tried++;
	}
	return NULL;
}

static const struct route *zone_step(const struct snapshot *s, const struct wire_question *q,
				     struct explain *e)
{
	for (unsigned pos = 0;; pos += 1u + q->name[pos]) {
		const struct route *r = route_zone_at(s, q->name + pos, q->name_len - pos);
		e->zone_tries++;
		if (r != NULL || q->name[pos] == 0) {
			return r;
		}
	}
}

void explain_route(const struct snapshot *s, const struct wire_question *q,
		   struct regex_scratch *rs, struct explain *e)
{
	uint32_t cursor = 0;
	struct pool_ctx pc = {.cursor = &cursor, .pending = no_pending, .arg = NULL};
	const struct route *r;

	memset(e, 0, sizeof(*e));
	r = regex_step(s, q, rs, e);
	if (r == NULL) {
		r = zone_step(s, q, e);
		if (r != NULL && r->shards != NULL) {
			r = r->shards->routes[shard_index(r->shards, q)];
		}
	}
	e->route = r;
	e->pick = r != NULL ? pool_pick(&r->pool, q, &pc, NULL) : NULL;
}

static const char *state_of(const struct backend *be)
{
	uint32_t st = atomic_load_explicit(&be->state, memory_order_relaxed);

	if (!(st & BE_CHECKED)) {
		return "unchecked";
	}
	if (st & BE_DRAINED) {
		return "drained";
	}
	if (!(st & BE_UP)) {
		return "down";
	}
	return (st & BE_STALE) ? "stale" : "up";
}

static const char *kind_of(const struct route *r)
{
	return r->kind == CONF_ROUTE_REGEX ? "regex" : r->shard_of != NULL ? "shard" : "zone";
}

static const char *source_of(const struct route *r)
{
	return r->source == CONF_SRC_ETCD ? "etcd" : "config";
}

/* Append to <line> (EXPLAIN_LINE_LEN) what fits. */
static void line_add(char *line, const char *fmt, const char *arg)
{
	size_t have = strlen(line);

	if (have < EXPLAIN_LINE_LEN - 1) {
		snprintf(line + have, EXPLAIN_LINE_LEN - have, fmt, arg);
	}
}

size_t explain_lines(const struct snapshot *s, const struct wire_question *q,
		     const struct explain *e, char (*lines)[EXPLAIN_LINE_LEN], size_t max)
{
	const struct route *r = e->route;
	char name[WIRE_NAME_TEXT_MAX], addr[SOCKADDR_STRLEN];
	size_t n = 0;

	if (wire_name_to_text(q->name, name, sizeof(name)) < 0) {
		snprintf(name, sizeof(name), "?");
	}
	snprintf(lines[n++], EXPLAIN_LINE_LEN, "name %.200s generation %llu", name,
		 (unsigned long long)s->gen);
	snprintf(lines[n], EXPLAIN_LINE_LEN, "tried %u regex routes", e->regex_tried);
	for (uint32_t i = 0; i < e->regex_tried && i < EXPLAIN_TRIED_MAX; i++) {
		line_add(lines[n], " %s", e->tried[i]->pattern);
	}
	if (e->zone_tries > 0) {
		snprintf(lines[++n], EXPLAIN_LINE_LEN, "looked up %u zones", e->zone_tries);
	}
	n++;
	if (r == NULL) {
		snprintf(lines[n++], EXPLAIN_LINE_LEN, "no route: answered %s",
			 s->no_route_rcode == WIRE_RCODE_REFUSED ? "REFUSED" : "SERVFAIL");
		return n;
	}
	snprintf(lines[n], EXPLAIN_LINE_LEN, "route %s %s (%s", kind_of(r), r->pattern,
		 source_of(r));
	if (r->origin != NULL) {
		line_add(lines[n], " %s", r->origin);
	}
	line_add(lines[n], "%s", ")");
	snprintf(lines[++n], EXPLAIN_LINE_LEN, "policy %s, fallback %s, %u backends",
		 conf_policy_name(r->pool.policy),
		 r->pool.fallback == CONF_FALLBACK_ALL ? "all" : "servfail", r->pool.n);
	n++;
	for (uint32_t i = 0; i < r->pool.n && n + 1 < max; i++) {
		const struct backend *be = r->pool.backends[i];
		snprintf(lines[n++], EXPLAIN_LINE_LEN, "backend %s %s",
			 sockaddr_format(&be->addr, addr, sizeof(addr)), state_of(be));
	}
	if (e->pick != NULL) {
		snprintf(lines[n++], EXPLAIN_LINE_LEN, "pick %s",
			 sockaddr_format(&e->pick->addr, addr, sizeof(addr)));
	} else {
		snprintf(lines[n++], EXPLAIN_LINE_LEN, "pick none: answered SERVFAIL");
	}
	return n;
}

static void backend_json(struct strbuf *sb, const struct backend *be)
{
	char addr[SOCKADDR_STRLEN];

	strbuf_printf(sb, "{\"name\":\"");
	strbuf_json(sb, be->name);
	strbuf_printf(sb, "\",\"address\":\"%s\",\"state\":\"%s\"}",
		      sockaddr_format(&be->addr, addr, sizeof(addr)), state_of(be));
}

static void route_json(struct strbuf *sb, const struct route *r)
{
	strbuf_printf(sb, "{\"kind\":\"%s\",\"source\":\"%s\",\"pattern\":\"", kind_of(r),
		      source_of(r));
	strbuf_json(sb, r->pattern);
	strbuf_printf(sb, "\"");
	if (r->origin != NULL) {
		strbuf_printf(sb, ",\"etcd_keys\":\"");
		strbuf_json(sb, r->origin);
		strbuf_printf(sb, "\"");
	}
	strbuf_printf(sb, "}");
}

void explain_json(struct strbuf *sb, const struct snapshot *s, const struct wire_question *q,
		  const struct explain *e)
{
	const struct route *r = e->route;
	char name[WIRE_NAME_TEXT_MAX];

	if (wire_name_to_text(q->name, name, sizeof(name)) < 0) {
		snprintf(name, sizeof(name), "?");
	}
	strbuf_printf(sb, "{\"name\":\"");
	strbuf_json(sb, name);
	strbuf_printf(sb, "\",\"type\":%u,\"generation\":%llu,\"regex_tried\":%u,\"tried\":[",
		      q->qtype, (unsigned long long)s->gen, e->regex_tried);
	for (uint32_t i = 0; i < e->regex_tried && i < EXPLAIN_TRIED_MAX; i++) {
		strbuf_printf(sb, "%s", i ? "," : "");
		route_json(sb, e->tried[i]);
	}
	strbuf_printf(sb, "],\"zone_lookups\":%u,\"route\":", e->zone_tries);
	if (r == NULL) {
		strbuf_printf(sb, "null,\"rcode\":\"%s\"}\n",
			      s->no_route_rcode == WIRE_RCODE_REFUSED ? "REFUSED" : "SERVFAIL");
		return;
	}
	route_json(sb, r);
	strbuf_printf(sb, ",\"policy\":\"%s\",\"fallback\":\"%s\",\"backends\":[",
		      conf_policy_name(r->pool.policy),
		      r->pool.fallback == CONF_FALLBACK_ALL ? "all" : "servfail");
	for (uint32_t i = 0; i < r->pool.n; i++) {
		strbuf_printf(sb, "%s", i ? "," : "");
		backend_json(sb, r->pool.backends[i]);
	}
	strbuf_printf(sb, "],\"pick\":");
	if (e->pick != NULL) {
		backend_json(sb, e->pick);
	} else {
		strbuf_printf(sb, "null");
	}
	strbuf_printf(sb, "}\n");
}
