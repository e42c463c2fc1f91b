/* SPDX-License-Identifier: MIT */
/* backend/backend.c -- long-lived backend objects, keyed by address, shared by snapshots */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/err.h"
#include "common/log.h"

const uint32_t backend_lat_bounds_us[BACKEND_LAT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

void backend_count_answer(struct backend_counters *c, uint64_t us)
{
	unsigned b = 0;

	while (b < BACKEND_LAT_BUCKETS && us > backend_lat_bounds_us[b]) {
		b++;
	}
	/* One writer per block: plain relaxed stores, no locked instruction. */
	atomic_store_explicit(&c->answers,
			      atomic_load_explicit(&c->answers, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&c->lat[b],
			      atomic_load_explicit(&c->lat[b], memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&c->lat_sum_us,
			      atomic_load_explicit(&c->lat_sum_us, memory_order_relaxed) + us,
			      memory_order_relaxed);
}

int backend_registry_init(struct backend_registry *reg, unsigned nworkers)
{
	memset(reg, 0, sizeof(*reg));
	reg->nworkers = nworkers ? nworkers : 1;
	return pthread_mutex_init(&reg->lock, NULL) == 0 ? DR_EOK : DR_ENOMEM;
}

static void backend_free(struct backend_registry *reg, struct backend *be)
{
	if (reg->on_free != NULL) {
		reg->on_free(reg->on_free_ctx, be);
	}
	free(be->counters);
	free(be);
}

void backend_registry_deinit(struct backend_registry *reg)
{
	for (uint32_t i = 0; i < reg->cap; i++) {
		if (reg->slots[i] != NULL) {
			backend_free(reg, reg->slots[i]);
		}
	}
	free(reg->slots);
	pthread_mutex_destroy(&reg->lock);
	memset(reg, 0, sizeof(*reg));
}

static int registry_grow(struct backend_registry *reg)
{
	uint32_t cap = reg->cap ? reg->cap * 2 : 16;
	struct backend **grown = realloc(reg->slots, cap * sizeof(*grown));

	if (grown == NULL) {
		return -1;
	}
	memset(grown + reg->cap, 0, (cap - reg->cap) * sizeof(*grown));
	reg->slots = grown;
	reg->cap = cap;
	return 0;
}

struct backend *backend_registry_get(struct backend_registry *reg, const union sockaddr_any *addr)
{
	uint32_t free_slot = reg->cap;
	struct backend *be;

	for (uint32_t i = 0; i < reg->cap; i++) {
		be = reg->slots[i];
		if (be != NULL && sockaddr_equal(&be->addr, addr)) {
			return be;
		}
		if (be == NULL && free_slot == reg->cap) {
			free_slot = i;
		}
	}
	if (free_slot == reg->cap && registry_grow(reg) != 0) {
		return NULL;
	}
	be = calloc(1, sizeof(*be));
	if (be == NULL) {
		return NULL;
	}
	be->counters = aligned_alloc(64, reg->nworkers * sizeof(*be->counters));
	if (be->counters == NULL) {
		free(be);
		return NULL;
	}
	memset(be->counters, 0, reg->nworkers * sizeof(*be->counters));
	be->idx = free_slot;
	be->addr = *addr;
	be->weight = 1;
	reg->slots[free_slot] = be;
	return be;
}

struct backend *backend_registry_find(struct backend_registry *reg, const char *name)
{
	struct backend *leaving = NULL;

	for (uint32_t i = 0; i < reg->cap; i++) {
		struct backend *be = reg->slots[i];
		if (be == NULL || strcmp(be->name, name) != 0) {
			continue;
		}
		if (backend_current(reg, be)) {
			return be;
		}
		leaving = be;
	}
	return leaving;
}

void backend_registry_collect(struct backend_registry *reg, uint64_t gen)
{
	char addr[SOCKADDR_STRLEN];

	pthread_mutex_lock(&reg->lock);
	for (uint32_t i = 0; i < reg->cap; i++) {
		struct backend *be = reg->slots[i];
		if (be == NULL || be->last_gen > gen ||
		    atomic_load_explicit(&be->workers_open, memory_order_acquire) != 0) {
			continue;
		}
		log_info("backend", "%s (%s) removed", be->name,
			 sockaddr_format(&be->addr, addr, sizeof(addr)));
		reg->slots[i] = NULL;
		backend_free(reg, be);
	}
	pthread_mutex_unlock(&reg->lock);
}

uint64_t backend_sum(const struct backend *be, unsigned nworkers, size_t offset)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < nworkers; i++) {
		const char *block = (const char *)&be->counters[i];
		sum += atomic_load_explicit((const _Atomic uint64_t *)(block + offset),
					    memory_order_relaxed);
	}
	return sum;
}
