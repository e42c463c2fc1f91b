/* SPDX-License-Identifier: MIT */
/* pool/pool.c -- a route's backends and the policy that spreads queries over them */
#include "pool/pool.h"

static struct backend *pick_round_robin(const struct pool *p, uint32_t *cursor,
					const struct backend *exclude)
{
	for (uint32_t tries = 0; tries < p->n; tries++) {
		struct backend *be = p->backends[(*cursor)++ % p->n];
		if (be != exclude) {
			return be;
		}
	}
	return NULL;	/* only <exclude> is left */
}

struct backend *pool_pick(const struct pool *p, const struct wire_question *q, uint32_t *cursor,
			  const struct backend *exclude)
{
	(void)q;	/* the hash policy will use it */
	if (p->n == 0) {
		return NULL;
	}
	return pick_round_robin(p, cursor, exclude);
}
