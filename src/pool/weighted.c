/* SPDX-License-Identifier: MIT */
/* pool/weighted.c -- weighted round robin over a precomputed smooth sequence */
#include <stdlib.h>

#include "common/err.h"
#include "pool/pool.h"

/* nginx's smooth weighted round robin, run once at build time: weights 5,1,1 give
 * a a b a c a a rather than a a a a a b c, so a backend's share is even over short spans too. */
static int weighted_build(struct pool *p)
{
	uint32_t total = 0;
	int64_t *current = calloc(p->n, sizeof(*current));

	for (uint32_t i = 0; i < p->n; i++) {
		total += p->backends[i]->weight;
	}
	p->wrr = calloc(total ? total : 1, sizeof(*p->wrr));
	if (current == NULL || p->wrr == NULL) {
		free(current);
		return DR_ENOMEM;
	}
	for (uint32_t k = 0; k < total; k++) {
		uint32_t best = 0;
		for (uint32_t i = 0; i < p->n; i++) {
			current[i] += p->backends[i]->weight;
			if (current[i] > current[best]) {
				best = i;
			}
		}
		current[best] -= total;
		p->wrr[k] = best;
	}
	p->nwrr = total;
	free(current);
	return DR_EOK;
}

static struct backend *weighted_pick(const struct pool *p, const struct wire_question *q,
				     const struct pool_ctx *pc, const struct backend *exclude,
				     bool strict)
{
	(void)q;
	/* A backend that is out gives its turns to the ones after it in the sequence. */
	for (uint32_t tries = 0; tries < p->nwrr; tries++) {
		struct backend *be = p->backends[p->wrr[(*pc->cursor)++ % p->nwrr]];
		if (pool_candidate(be, exclude, strict)) {
			return be;
		}
	}
	return NULL;
}

const struct pool_ops pool_weighted_ops = {.build = weighted_build, .pick = weighted_pick};
