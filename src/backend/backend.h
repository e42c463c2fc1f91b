/* SPDX-License-Identifier: MIT */
/* backend/backend.h -- long-lived backend objects, keyed by address, shared by snapshots */
#ifndef DR_BACKEND_BACKEND_H
#define DR_BACKEND_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "conf/conf.h"

/* A backend outlives the snapshots that name it, so a reload keeps its in-flight queries and
 * (later) its health and counters. The control thread creates and frees backends; workers only
 * read them, and keep their own sockets for each in an array indexed by <idx>. */
struct backend {
	uint32_t idx;			/* registry slot; stable while the backend lives */
	union sockaddr_any addr;	/* identity: never changes */
	char name[CONF_NAME_MAX];	/* control thread only */
	_Atomic uint32_t timeout_ms;	/* per-try timeout, set at each snapshot build */
	_Atomic int workers_open;	/* workers holding sockets to it; freed at zero */
	uint64_t last_gen;		/* control thread: newest snapshot that names it */
};

/* All live backends, by slot. Owned by the control thread. */
struct backend_registry {
	struct backend **slots;
	uint32_t cap;
};

void backend_registry_init(struct backend_registry *reg);

/* Free every backend; only when no worker runs any more. */
void backend_registry_deinit(struct backend_registry *reg);

/* The backend at <addr>, created when there is none. Returns NULL when out of memory. */
struct backend *backend_registry_get(struct backend_registry *reg, const union sockaddr_any *addr);

/* Free the backends no snapshot newer than <gen> names and no worker holds open. Call after
 * every worker has passed a quiescent point since snapshot <gen>+1 was published. */
void backend_registry_collect(struct backend_registry *reg, uint64_t gen);

#endif
