/* SPDX-License-Identifier: MIT */
/* worker/inflight.c -- a worker's UDP queries waiting for a backend, found by backend-side ID */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include "common/err.h"
#include "worker/inflight.h"

/* mmap: pages are only backed once touched, so a quiet worker stays small. */
static void *map_zeroed(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t len)
{
	if (p != NULL) {
		munmap(p, len);
	}
}

static int ids_open(struct inflight_ids *g)
{
	g->slot_of = map_zeroed(INFLIGHT_IDS * sizeof(*g->slot_of));
	g->free_ids = map_zeroed(INFLIGHT_IDS * sizeof(*g->free_ids));
	if (g->slot_of == NULL || g->free_ids == NULL) {
		return DR_ENOMEM;
	}
	for (uint32_t i = 0; i < INFLIGHT_IDS; i++) {
		g->free_ids[i] = (uint16_t)i;
	}
	g->nfree = INFLIGHT_IDS;
	return DR_EOK;
}

int inflight_init(struct inflight_table *t)
{
	memset(t, 0, sizeof(*t));
	t->slots = map_zeroed((size_t)INFLIGHT_MAX * sizeof(*t->slots));
	t->free_slots = map_zeroed((size_t)INFLIGHT_MAX * sizeof(*t->free_slots));
	t->ring = map_zeroed(INFLIGHT_RING_SIZE);
	if (t->slots == NULL || t->free_slots == NULL || t->ring == NULL ||
	    ids_open(&t->groups[0]) != DR_EOK) {
		t->ngroups = 1;
		inflight_deinit(t);
		return DR_ENOMEM;
	}
	t->ngroups = 1;
	return DR_EOK;
}

void inflight_deinit(struct inflight_table *t)
{
	for (uint32_t g = 0; g < t->ngroups; g++) {
		unmap(t->groups[g].slot_of, INFLIGHT_IDS * sizeof(*t->groups[g].slot_of));
		unmap(t->groups[g].free_ids, INFLIGHT_IDS * sizeof(*t->groups[g].free_ids));
	}
	unmap(t->slots, (size_t)INFLIGHT_MAX * sizeof(*t->slots));
	unmap(t->free_slots, (size_t)INFLIGHT_MAX * sizeof(*t->free_slots));
	unmap(t->ring, INFLIGHT_RING_SIZE);
	memset(t, 0, sizeof(*t));
}

/* The first ID space with a free ID, opening a new one when all are full. */
static int group_with_room(struct inflight_table *t)
{
	for (uint32_t g = 0; g < t->ngroups; g++) {
		if (t->groups[g].nfree > 0) {
			return (int)g;
		}
	}
	if (t->ngroups == INFLIGHT_GROUPS || ids_open(&t->groups[t->ngroups]) != DR_EOK) {
		return -1;
	}
	return (int)t->ngroups++;
}

struct inflight *inflight_take(struct inflight_table *t, struct rand_state *rnd)
{
	int g = group_with_room(t);
	struct inflight_ids *ids;
	struct inflight *s;
	uint32_t idx, j;
	uint16_t id;

	if (g < 0) {
		return NULL;
	}
	ids = &t->groups[g];
	idx = t->nfree_slots > 0 ? t->free_slots[--t->nfree_slots] : t->fresh++;
	/* Swap-remove a random free ID: O(1), and any free ID is equally likely. */
	j = rand_below(rnd, ids->nfree);
	id = ids->free_ids[j];
	ids->free_ids[j] = ids->free_ids[--ids->nfree];
	ids->slot_of[id] = idx + 1;
	s = &t->slots[idx];
	memset(s, 0, offsetof(struct inflight, query)); /* the copy is written when kept */
	s->in_use = true;
	s->group = (uint8_t)g;
	s->id = id;
	t->count++;
	return s;
}

void inflight_put(struct inflight_table *t, struct inflight *s)
{
	struct inflight_ids *ids = &t->groups[s->group];

	s->in_use = false;
	ids->slot_of[s->id] = 0;
	ids->free_ids[ids->nfree++] = s->id;
	t->free_slots[t->nfree_slots++] = (uint32_t)(s - t->slots);
	t->count--;
}

void inflight_keep_query(struct inflight_table *t, struct inflight *s, const uint8_t *msg,
			 size_t len)
{
	uint64_t off = t->ring_head % INFLIGHT_RING_SIZE;

	s->qlen = (uint16_t)len;
	if (len <= INFLIGHT_INLINE) {
		memcpy(s->query, msg, len);
		return;
	}
	/* A copy never straddles the end: skip the tail and start again at 0. */
	if (off + len > INFLIGHT_RING_SIZE) {
		t->ring_head += INFLIGHT_RING_SIZE - off;
		off = 0;
	}
	memcpy(t->ring + off, msg, len);
	s->ring_pos = t->ring_head;
	t->ring_head += len;
}

const uint8_t *inflight_query(const struct inflight_table *t, const struct inflight *s)
{
	if (s->qlen <= INFLIGHT_INLINE) {
		return s->qlen != 0 ? s->query : NULL;
	}
	if (t->ring_head - s->ring_pos > INFLIGHT_RING_SIZE) {
		return NULL;
	}
	return t->ring + s->ring_pos % INFLIGHT_RING_SIZE;
}
