/* SPDX-License-Identifier: MIT */
/* pool/pool.h -- a route's backends and the policy that spreads queries over them */
#ifndef DR_POOL_POOL_H
#define DR_POOL_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "conf/conf.h"
#include "wire/wire.h"

struct chash_point {
	uint32_t point;
	uint32_t pos; /* index into pool.backends */
};

struct pool {
	struct backend **backends; /* borrowed from the registry for the snapshot's life */
	uint32_t n;
	enum conf_policy policy;
	enum conf_fallback fallback;
	uint32_t *wrr; /* weighted: a smooth sequence of positions */
	uint32_t nwrr;
	struct chash_point *ring; /* hash: points sorted by value */
	uint32_t nring;
};

/* What the calling worker lends a pick: its own cursor for this pool, and how many of its
 * queries wait on a backend (least-outstanding). */
struct pool_ctx {
	uint32_t *cursor;
	uint32_t (*pending)(void *arg, const struct backend *be);
	void *arg;
};

/* Precompute the policy's tables once <p>'s backends are set. Returns DR_EOK or DR_ENOMEM. */
int pool_build(struct pool *p);

/* Free the policy's tables and the backend array (not the backends). */
void pool_deinit(struct pool *p);

/* Pick a usable (up, not drained, not stale) backend of <p> for <q>, other than <exclude> (NULL: any).
 * When none is usable and the pool's fallback is "all", any backend that is not drained.
 * NULL when there is none: the caller answers SERVFAIL. Never blocks, never allocates. */
struct backend *pool_pick(const struct pool *p, const struct wire_question *q,
			  const struct pool_ctx *pc, const struct backend *exclude);

/* One policy. <strict>: only usable backends; otherwise any not drained. */
struct pool_ops {
	int (*build)(struct pool *p);
	struct backend *(*pick)(const struct pool *p, const struct wire_question *q,
				const struct pool_ctx *pc, const struct backend *exclude,
				bool strict);
};

extern const struct pool_ops pool_rr_ops, pool_weighted_ops, pool_least_ops, pool_hash_ops,
	pool_first_ops;

/* True when <be> may take a query in this pick. */
static inline bool pool_candidate(const struct backend *be, const struct backend *exclude,
				  bool strict)
{
	uint32_t st = atomic_load_explicit(&be->state, memory_order_relaxed);

	if (be == exclude || (st & BE_DRAINED)) {
		return false;
	}
	return !strict || (st & (BE_UP | BE_STALE)) == BE_UP;
}

/* The hash of a name that the hash policy places on its ring. */
uint32_t pool_name_hash(const struct wire_question *q);

#endif
