/* SPDX-License-Identifier: MIT */
/* pool/pool.c -- a route's backends and the policy that spreads queries over them */
#include <stdlib.h>

#include "common/err.h"
#include "common/hash.h"
#include "pool/pool.h"

static const struct pool_ops *const ops_by_policy[] = {
	[CONF_POLICY_ROUND_ROBIN] = &pool_rr_ops,
	[CONF_POLICY_WEIGHTED] = &pool_weighted_ops,
	[CONF_POLICY_LEAST_OUTSTANDING] = &pool_least_ops,
	[CONF_POLICY_HASH] = &pool_hash_ops,
	[CONF_POLICY_FIRST_AVAILABLE] = &pool_first_ops,
};

int pool_build(struct pool *p)
{
	const struct pool_ops *ops = ops_by_policy[p->policy];

	return ops->build != NULL ? ops->build(p) : DR_EOK;
}

void pool_deinit(struct pool *p)
{
	free(p->backends);
	free(p->wrr);
	free(p->ring);
	p->backends = NULL;
	p->wrr = NULL;
	p->ring = NULL;
	p->n = p->nwrr = p->nring = 0;
}

struct backend *pool_pick(const struct pool *p, const struct wire_question *q,
			  const struct pool_ctx *pc, const struct backend *exclude)
{
	const struct pool_ops *ops = ops_by_policy[p->policy];
	struct backend *be;

	if (p->n == 0) {
		return NULL;
	}
	be = ops->pick(p, q, pc, exclude, true);
	if (be == NULL && p->fallback == CONF_FALLBACK_ALL) {
		be = ops->pick(p, q, pc, exclude, false);
	}
	return be;
}

uint32_t pool_name_hash(const struct wire_question *q)
{
	return (uint32_t)hash_bytes(q->name, q->name_len, 0);
}
