/* SPDX-License-Identifier: MIT */
/* backend/backend.c -- long-lived backend objects, keyed by address, shared by snapshots */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/log.h"

void backend_registry_init(struct backend_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void backend_registry_deinit(struct backend_registry *reg)
{
	for (uint32_t i = 0; i < reg->cap; i++) {
		free(reg->slots[i]);
	}
	free(reg->slots);
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
	be->idx = free_slot;
	be->addr = *addr;
	reg->slots[free_slot] = be;
	return be;
}

void backend_registry_collect(struct backend_registry *reg, uint64_t gen)
{
	char addr[SOCKADDR_STRLEN];

	for (uint32_t i = 0; i < reg->cap; i++) {
		struct backend *be = reg->slots[i];
		if (be == NULL || be->last_gen > gen ||
		    atomic_load_explicit(&be->workers_open, memory_order_acquire) != 0) {
			continue;
		}
		log_info("backend", "%s (%s) removed", be->name,
			 sockaddr_format(&be->addr, addr, sizeof(addr)));
		free(be);
		reg->slots[i] = NULL;
	}
}
