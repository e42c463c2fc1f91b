/* SPDX-License-Identifier: MIT */
/* backend/backend.h -- long-lived backend objects, keyed by address, shared by snapshots */
#ifndef DR_BACKEND_BACKEND_H
#define DR_BACKEND_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "conf/conf.h"

/* The one word workers read to know whether a backend takes queries. */
enum {
	BE_UP = 1u << 0,      /* health: in rotation */
	BE_DRAINED = 1u << 1, /* operator: finishes what it has, takes nothing new */
	BE_CHECKED = 1u << 2, /* its first health check is done */
	BE_STALE = 1u << 3,   /* a shard backend at another serial than its zone's target */
};

#define BACKEND_LAT_BUCKETS 12 /* finite histogram bounds; one more for +Inf */

/* Upper bounds of the latency buckets, in microseconds. */
extern const uint32_t backend_lat_bounds_us[BACKEND_LAT_BUCKETS];

/* One worker's counters for one backend, on a cache line of their own: one writer each. */
struct backend_counters {
	_Atomic uint64_t queries;                      /* sent, UDP and TCP, retries included */
	_Atomic uint64_t answers;                      /* accepted answers */
	_Atomic uint64_t timeouts;                     /* no answer within the timeout */
	_Atomic uint64_t lat[BACKEND_LAT_BUCKETS + 1]; /* answers by latency bucket */
	_Atomic uint64_t lat_sum_us;
} __attribute__((aligned(64)));

struct health_probe;

/* What a backend serving one shard of a sharded zone is checked for besides its own check:
 * the apex SOA serial, which must be the zone's target (the same in every shard), and for a
 * zone sharded by NSEC3 hash the apex NSEC3PARAM. Set by the snapshot build. */
struct backend_shard {
	uint32_t count;   /* shards of the zone; 0: not a shard backend */
	uint32_t index;   /* which one it serves */
	uint64_t zone_id; /* the zone's name hashed: its shard backends settle together */
	uint8_t apex[WIRE_NAME_MAX]; /* lower-cased wire form */
	bool nsec3param;             /* ask the apex NSEC3PARAM too (its own check is a probe) */
	struct conf_nsec3 nsec3;     /* with nsec3param */
	bool pinned;                 /* the route names the target: `serial` */
	uint32_t serial;             /* with pinned */
};

/* A backend outlives the snapshots that name it, so a reload keeps its in-flight queries, its
 * health and its counters. The control thread creates and frees backends under the registry's
 * lock; workers read only <state>, <timeout_ms>, <client_address> and <addr>, write only their
 * own counters, and
 * keep their own sockets for it in an array indexed by <idx>. */
struct backend {
	uint32_t idx;                      /* registry slot; stable while the backend lives */
	union sockaddr_any addr;           /* identity: never changes */
	_Atomic uint32_t state;            /* BE_* bits */
	_Atomic uint32_t timeout_ms;       /* per-try timeout, set at each snapshot build */
	_Atomic uint32_t client_address;   /* CONF_CA_NONE or CONF_CA_ECS, set with it */
	_Atomic int workers_open;          /* workers holding sockets to it; freed at zero */
	struct backend_counters *counters; /* one per worker */
	/* Under the registry lock: */
	char name[CONF_NAME_MAX];
	uint32_t weight;
	struct conf_health health;
	uint64_t last_gen;          /* newest snapshot that names it */
	struct health_probe *probe; /* the health thread's state for it */
	struct backend_shard shard;
	bool serial_known; /* shard backends: the apex SOA serial at the last passed check */
	uint32_t serial;
	uint32_t settle_pass; /* serial settling: the pass that looked at its zone last */
	uint8_t serial_said;  /* and what the log said of its zone's target last */
	uint32_t said_target;
};

/* All live backends, by slot. */
struct backend_registry {
	pthread_mutex_t lock; /* control, health and admin threads; never a worker */
	struct backend **slots;
	uint32_t cap;
	unsigned nworkers;      /* counters per backend */
	uint64_t published_gen; /* the snapshot the workers route by (under the lock) */
	void (*on_free)(void *ctx, struct backend *be); /* health: drop its probe */
	void *on_free_ctx;
};

static inline bool backend_usable(const struct backend *be)
{
	return (atomic_load_explicit(&be->state, memory_order_relaxed) &
		(BE_UP | BE_DRAINED | BE_STALE)) == BE_UP;
}

/* Count one answer after <us> microseconds in <c>. */
void backend_count_answer(struct backend_counters *c, uint64_t us);

/* <nworkers>: how many counter blocks each backend gets. */
int backend_registry_init(struct backend_registry *reg, unsigned nworkers);

/* Free every backend; only when no worker runs any more. */
void backend_registry_deinit(struct backend_registry *reg);

/* The backend at <addr>, created (down, unchecked) when there is none. Caller holds the lock.
 * Returns NULL when out of memory. */
struct backend *backend_registry_get(struct backend_registry *reg, const union sockaddr_any *addr);

/* Whether the snapshot the workers use names <be>. A backend a reload took out (or moved to
 * another address under the same name) lingers until its last query is answered; listings
 * leave it out, so a name appears once. Caller holds the lock. */
static inline bool backend_current(const struct backend_registry *reg, const struct backend *be)
{
	return be->last_gen >= reg->published_gen;
}

/* The backend called <name>, the current one first, or NULL. Caller holds the lock. */
struct backend *backend_registry_find(struct backend_registry *reg, const char *name);

/* Free the backends no snapshot newer than <gen> names and no worker holds open. Call after
 * every worker has passed a quiescent point since snapshot <gen>+1 was published. Takes the
 * lock. */
void backend_registry_collect(struct backend_registry *reg, uint64_t gen);

/* Sum of one counter of <be> over every worker. */
uint64_t backend_sum(const struct backend *be, unsigned nworkers, size_t offset);

#define BACKEND_SUM(be, n, field) backend_sum((be), (n), offsetof(struct backend_counters, field))

#endif
