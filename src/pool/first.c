/* SPDX-License-Identifier: MIT */
/* pool/first.c -- first available: the first usable backend in list order takes everything */
#include "pool/pool.h"

static struct backend *first_pick(const struct pool *p, const struct wire_question *q,
				  const struct pool_ctx *pc, const struct backend *exclude,
				  bool strict)
{
	(void)q;
	(void)pc;
	for (uint32_t i = 0; i < p->n; i++) {
		if (pool_candidate(p->backends[i], exclude, strict)) {
			return p->backends[i];
		}
	}
	return NULL;
}

const struct pool_ops pool_first_ops = {.build = NULL, .pick = first_pick};
