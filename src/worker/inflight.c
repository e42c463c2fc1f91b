/* SPDX-License-Identifier: MIT */
/* worker/inflight.c -- a worker's UDP queries waiting for a backend, indexed by backend-side ID */
#include <stdlib.h>
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

int inflight_init(struct inflight_table *t)
{
	memset(t, 0, sizeof(*t));
	t->slots = map_zeroed(INFLIGHT_MAX * sizeof(*t->slots));
	t->free_ids = map_zeroed(INFLIGHT_MAX * sizeof(*t->free_ids));
	t->ring = map_zeroed(INFLIGHT_RING_SIZE);
	if (t->slots == NULL || t->free_ids == NULL || t->ring == NULL) {
		inflight_deinit(t);
		return DR_ENOMEM;
	}
	for (uint32_t i = 0; i < INFLIGHT_MAX; i++) {
		t->free_ids[i] = (uint16_t)i;
	}
	t->nfree = INFLIGHT_MAX;
	return DR_EOK;
}

void inflight_deinit(struct inflight_table *t)
{
	if (t->slots != NULL) {
		munmap(t->slots, INFLIGHT_MAX * sizeof(*t->slots));
	}
	if (t->free_ids != NULL) {
		munmap(t->free_ids, INFLIGHT_MAX * sizeof(*t->free_ids));
	}
	if (t->ring != NULL) {
		munmap(t->ring, INFLIGHT_RING_SIZE);
	}
	memset(t, 0, sizeof(*t));
}

struct inflight *inflight_take(struct inflight_table *t, struct rand_state *rnd)
{
	uint32_t j;
	uint16_t id;
	struct inflight *s;

	if (t->nfree == 0) {
		return NULL;
	}
	/* Swap-remove a random free ID: O(1), and any free ID is equally likely. */
	j = rand_below(rnd, t->nfree);
	id = t->free_ids[j];
	t->free_ids[j] = t->free_ids[--t->nfree];
	s = &t->slots[id];
	memset(s, 0, sizeof(*s));
	s->in_use = true;
	return s;
}

void inflight_put(struct inflight_table *t, struct inflight *s)
{
	s->in_use = false;
	t->free_ids[t->nfree++] = inflight_id(t, s);
}

void inflight_keep_query(struct inflight_table *t, struct inflight *s, const uint8_t *msg,
			 size_t len)
{
	uint64_t off = t->ring_head % INFLIGHT_RING_SIZE;

	/* A copy never straddles the end: skip the tail and start again at 0. */
	if (off + len > INFLIGHT_RING_SIZE) {
		t->ring_head += INFLIGHT_RING_SIZE - off;
		off = 0;
	}
	memcpy(t->ring + off, msg, len);
	s->ring_pos = t->ring_head;
	s->qlen = (uint16_t)len;
	t->ring_head += len;
}

const uint8_t *inflight_query(const struct inflight_table *t, const struct inflight *s)
{
	if (s->qlen == 0 || t->ring_head - s->ring_pos > INFLIGHT_RING_SIZE) {
		return NULL;
	}
	return t->ring + s->ring_pos % INFLIGHT_RING_SIZE;
}
