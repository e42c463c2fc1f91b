/* SPDX-License-Identifier: MIT */
/* pool/rr.c -- round robin: each query to the next usable backend */
#include "pool/pool.h"

static struct backend *rr_pick(const struct pool *p, const struct wire_question *q,
			       const struct pool_ctx *pc, const struct backend *exclude,
			       bool strict)
{
	(void)q;
	for (uint32_t tries = 0; tries < p->n; tries++) {
		struct backend *be = p->backends[(*pc->cursor)++ % p->n];
		if (pool_candidate(be, exclude, strict)) {
			return be;
		}
	}
	return NULL;
}

const struct pool_ops pool_rr_ops = {.build = NULL, .pick = rr_pick};
