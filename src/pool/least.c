/* SPDX-License-Identifier: MIT */
/* pool/least.c -- least outstanding: the usable backend with the fewest of this worker's
 * queries in flight; ties go round robin so equal backends share the load */
#include "pool/pool.h"

static struct backend *least_pick(const struct pool *p, const struct wire_question *q,
				  const struct pool_ctx *pc, const struct backend *exclude,
				  bool strict)
{
	struct backend *best = NULL;
	uint32_t best_pending = UINT32_MAX, best_at = 0;
	uint32_t start = *pc->cursor;

	(void)q;
	for (uint32_t k = 0; k < p->n; k++) {
		struct backend *be = p->backends[(start + k) % p->n];
		uint32_t pending;
		if (!pool_candidate(be, exclude, strict)) {
			continue;
		}
		pending = pc->pending(pc->arg, be);
		if (pending < best_pending) {
			best = be;
			best_pending = pending;
			best_at = start + k;
		}
	}
	/* The next tie starts after the one chosen, not after the cursor: a backend down or
	 * excluded would otherwise hand its turns to its neighbour. */
	*pc->cursor = best != NULL ? best_at + 1 : start + 1;
	return best;
}

const struct pool_ops pool_least_ops = {.build = NULL, .pick = least_pick};
