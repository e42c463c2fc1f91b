/* SPDX-License-Identifier: MIT */
/* pool/pool.h -- a route's backends and the policy that spreads queries over them */
#ifndef DR_POOL_POOL_H
#define DR_POOL_POOL_H

#include <stdint.h>

#include "backend/backend.h"
#include "conf/conf.h"
#include "wire/wire.h"

struct pool {
	struct backend **backends;	/* borrowed from the registry for the snapshot's life */
	uint32_t n;
	enum conf_policy policy;
};

/* Pick a backend of <p> for question <q>, other than <exclude> (NULL: any). <cursor> is the
 * calling worker's own round-robin position for this pool. NULL when the pool is empty or has
 * no backend but <exclude>. */
struct backend *pool_pick(const struct pool *p, const struct wire_question *q, uint32_t *cursor,
			  const struct backend *exclude);

#endif
