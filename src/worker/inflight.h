/* SPDX-License-Identifier: MIT */
/* worker/inflight.h -- a worker's UDP queries waiting for a backend, indexed by backend-side ID */
#ifndef DR_WORKER_INFLIGHT_H
#define DR_WORKER_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rand.h"
#include "common/sockaddr.h"
#include "worker/timer.h"

#define INFLIGHT_MAX 65536u	/* one slot per 16-bit ID */
#define INFLIGHT_RING_SIZE (4u << 20)	/* bytes of query copies kept for retries */

/* One query in flight. The slot's index is the ID the backend sees. */
struct inflight {
	struct timer timer;		/* first: the worker finds the slot from the timer */
	union sockaddr_any client;
	uint64_t ring_pos;		/* where the query's bytes were copied */
	uint64_t sent_us;
	uint32_t backend_idx;
	uint32_t listener;		/* the worker's listener the query came in on */
	uint32_t qhash;			/* wire_question_hash of the question */
	uint64_t snap_gen;		/* the routing generation it was forwarded under */
	uint16_t qlen;
	uint16_t client_id;
	uint8_t tries;
	bool in_use;
};

/* The table and the ring of query copies. IDs are drawn at random from the free ones, so the
 * backend-side ID is neither sequential nor reused while in flight (RFC 5452 §9.2 spirit). */
struct inflight_table {
	struct inflight *slots;		/* INFLIGHT_MAX */
	uint16_t *free_ids;
	uint32_t nfree;
	uint8_t *ring;			/* INFLIGHT_RING_SIZE */
	uint64_t ring_head;		/* bytes ever written, skips at the wrap included */
};

/* Allocate the table. Returns DR_EOK or DR_ENOMEM. */
int inflight_init(struct inflight_table *t);
void inflight_deinit(struct inflight_table *t);

static inline uint32_t inflight_count(const struct inflight_table *t)
{
	return INFLIGHT_MAX - t->nfree;
}

/* Take a free slot with a random ID, or NULL when all 65536 are in flight. The slot is zeroed
 * but for in_use; its ID is inflight_id(). */
struct inflight *inflight_take(struct inflight_table *t, struct rand_state *rnd);

static inline uint16_t inflight_id(const struct inflight_table *t, const struct inflight *s)
{
	return (uint16_t)(s - t->slots);
}

/* The slot in use under <id>, or NULL. */
static inline struct inflight *inflight_get(struct inflight_table *t, uint16_t id)
{
	struct inflight *s = &t->slots[id];

	return s->in_use ? s : NULL;
}

/* Return <s> to the free IDs. The caller disarms its timer first. */
void inflight_put(struct inflight_table *t, struct inflight *s);

/* Keep a copy of the query <msg> of <len> bytes for <s> (for a retry or a late SERVFAIL). */
void inflight_keep_query(struct inflight_table *t, struct inflight *s, const uint8_t *msg,
			 size_t len);

/* The kept copy of <s>'s query, or NULL when the ring has since been overwritten. */
const uint8_t *inflight_query(const struct inflight_table *t, const struct inflight *s);

#endif
