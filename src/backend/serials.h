/* SPDX-License-Identifier: MIT */
/* backend/serials.h -- the serial a sharded zone is served at, and which backends are stale */
#ifndef DR_BACKEND_SERIALS_H
#define DR_BACKEND_SERIALS_H

#include "backend/backend.h"

/* Settle the zone <be> serves a shard of: its target serial, and BE_STALE on each of its
 * shard backends at another. Caller holds the registry lock. */
void serials_settle_zone(struct backend_registry *reg, struct backend *be);

/* Settle every sharded zone, and clear BE_STALE from backends that serve no shard any more.
 * Caller holds the registry lock. */
void serials_settle(struct backend_registry *reg);

#endif
