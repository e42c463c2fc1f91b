/* SPDX-License-Identifier: MIT */
/* front/peercount.c -- connections per client address, one fixed table per worker */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "front/peercount.h"

int peercount_init(struct peercount *pc, uint32_t max_addrs, uint64_t seed)
{
	uint64_t slots = 16;

	while (slots < 2 * (uint64_t)max_addrs) {
		slots *= 2;
	}
	pc->e = calloc(slots, sizeof(*pc->e));
	if (pc->e == NULL) {
		return DR_ENOMEM;
	}
	pc->mask = (uint32_t)(slots - 1);
	pc->seed = seed;
	return DR_EOK;
}

void peercount_deinit(struct peercount *pc)
{
	free(pc->e);
	pc->e = NULL;
}

static void key_of(const union sockaddr_any *a, uint8_t key[16])
{
	if (a->sa.sa_family == AF_INET6) {
		memcpy(key, &a->sin6.sin6_addr, 16);
		return;
	}
	memset(key, 0, 10);
	key[10] = key[11] = 0xff;
	memcpy(key + 12, &a->sin.sin_addr, 4);
}

/* The slot holding <key>, or the empty slot where it would go. */
static uint32_t find(const struct peercount *pc, const uint8_t key[16])
{
	uint32_t i = (uint32_t)hash_bytes(key, 16, pc->seed) & pc->mask;

	while (pc->e[i].count != 0 && memcmp(pc->e[i].addr, key, 16) != 0) {
		i = (i + 1) & pc->mask;
	}
	return i;
}

uint32_t peercount_get(const struct peercount *pc, const union sockaddr_any *a)
{
	uint8_t key[16];

	key_of(a, key);
	return pc->e[find(pc, key)].count;
}

void peercount_add(struct peercount *pc, const union sockaddr_any *a)
{
	uint8_t key[16];
	uint32_t i;

	key_of(a, key);
	i = find(pc, key);
	if (pc->e[i].count == 0) {
		memcpy(pc->e[i].addr, key, 16);
	}
	pc->e[i].count++;
}

void peercount_del(struct peercount *pc, const union sockaddr_any *a)
{
	uint8_t key[16];
	uint32_t i, j;

	key_of(a, key);
	i = find(pc, key);
	assert(pc->e[i].count > 0);
	if (pc->e[i].count == 0 || --pc->e[i].count > 0) {
		return;
	}
	/* Backward shift: move each later entry of the run into the hole when the hole lies
	 * between its home slot and where it sits, so every entry stays reachable from home. */
	j = i;
	for (;;) {
		uint32_t home;
		j = (j + 1) & pc->mask;
		if (pc->e[j].count == 0) {
			break;
		}
		home = (uint32_t)hash_bytes(pc->e[j].addr, 16, pc->seed) & pc->mask;
		if (((j - home) & pc->mask) >= ((j - i) & pc->mask)) {
			pc->e[i] = pc->e[j];
			pc->e[j].count = 0;
			i = j;
		}
	}
}
