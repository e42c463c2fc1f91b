/* SPDX-License-Identifier: MIT */
/* route/explain.h -- why a name goes where it goes: the route lookup, step by step */
#ifndef DR_ROUTE_EXPLAIN_H
#define DR_ROUTE_EXPLAIN_H

#include "common/strbuf.h"
#include "route/route.h"

#define EXPLAIN_TRIED_MAX 8  /* regex routes named among those tried before the match */
#define EXPLAIN_LINES_MAX 40 /* lines of a DNS answer: the route, its pool, the pick */
#define EXPLAIN_LINE_LEN 256 /* a TXT string's 255 bytes and a NUL */

/* The lookup of one question against one snapshot. */
struct explain {
	const struct route *route; /* what route_lookup gives; NULL: no route */
	uint32_t regex_tried;      /* regex routes tried that did not match (in order) */
	const struct route *tried[EXPLAIN_TRIED_MAX]; /* the first of them */
	uint32_t zone_tries;        /* names looked up as zones (0: a regex route matched) */
	const struct backend *pick; /* the backend the route's pool picks now; NULL: none */
};

/* Explain <q> against <s>, as route_lookup and pool_pick would route it now (a pick that
 * rotates follows no worker's turn: it is the one a fresh cursor gets). */
void explain_route(const struct snapshot *s, const struct wire_question *q,
		   struct regex_scratch *rs, struct explain *e);

/* The explanation as lines of text, each under EXPLAIN_LINE_LEN bytes (backends by address,
 * which never changes under a reader). Returns how many lines. */
size_t explain_lines(const struct snapshot *s, const struct wire_question *q,
		     const struct explain *e, char (*lines)[EXPLAIN_LINE_LEN], size_t max);

/* The explanation as a JSON object, backends with their names: the caller holds the
 * registry's lock. */
void explain_json(struct strbuf *sb, const struct snapshot *s, const struct wire_question *q,
		  const struct explain *e);

#endif
