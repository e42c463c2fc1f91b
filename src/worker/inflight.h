/* SPDX-License-Identifier: MIT */
/* worker/inflight.h -- a worker's UDP queries waiting for a backend, found by backend-side ID */
#ifndef DR_WORKER_INFLIGHT_H
#define DR_WORKER_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/rand.h"
#include "common/sockaddr.h"
#include "wire/ecs.h"
#include "worker/timer.h"

#define INFLIGHT_IDS 65536u /* one 16-bit ID space */
#define INFLIGHT_GROUPS 16u /* ID spaces; each has its own socket to every backend */
#define INFLIGHT_MAX (INFLIGHT_IDS * INFLIGHT_GROUPS)
#define INFLIGHT_RING_SIZE (4u << 20) /* bytes of the larger query copies kept for retries */
#define INFLIGHT_INLINE 128u          /* a query up to this size is kept in its own slot */
#define FRONT_STATE_MAX 320u /* a front's own state of one query; a DNSCurve session is 312 */

struct worker;
struct inflight;
struct wire_question;

/* How the answer to a query goes back to its client: the front it came through. <msg> of
 * <len> bytes carries the client's ID; <q> is its question, NULL for an error without one. */
typedef void (*inflight_answer_fn)(struct worker *w, struct inflight *s, uint8_t *msg, size_t len,
				   const struct wire_question *q);

/* One query in flight. */
struct inflight {
	struct timer timer; /* first: the worker finds the slot from the timer */
	struct udp_peer client;
	inflight_answer_fn answer; /* the front's, for the answer or our SERVFAIL */
	uint64_t ring_pos;         /* where the query's bytes were copied, when not inline */
	uint64_t sent_us;
	uint64_t snap_gen; /* the routing generation it was forwarded under */
	uint32_t backend_idx;
	uint32_t listener; /* the worker's listener the query came in on */
	uint32_t qhash;    /* wire_question_hash of the question */
	uint16_t qlen;
	uint16_t client_id;
	uint16_t id; /* what the backend sees, within <group> */
	uint8_t group;
	uint8_t port;  /* the source port of <group> it was sent from (upstream/state.h wsock), or
			* TRANSPARENT_GROUP: the transparent socket <tsock> */
	uint8_t epoch; /* and that port's epoch then */
	uint8_t tries;
	uint16_t tsock; /* upstream/transparent.c: the place of its socket */
	bool in_use;
	struct ecs_undo ecs; /* what the answer needs undone of the client-address edit */
	/* Last, and not cleared when the slot is taken: the copy of a query of up to
	 * INFLIGHT_INLINE bytes (nearly every query; RFC 8467 pads to 128), so that no amount of
	 * other traffic can take its retry away. Larger ones go to the ring. */
	uint8_t query[INFLIGHT_INLINE];
	/* What the front needs to answer (a DNSCurve key and nonce), written by the front that
	 * took the query and read by its answer function; untouched by plain DNS, so its pages
	 * are never backed when no front uses it. */
	uint8_t front[FRONT_STATE_MAX] __attribute__((aligned(8)));
};

/* One ID space: which slot holds each ID, and the free IDs to draw from at random. */
struct inflight_ids {
	uint32_t *slot_of; /* slot index + 1; 0: free */
	uint16_t *free_ids;
	uint32_t nfree;
};

/* Slots are reused last-freed-first, so the memory a worker touches follows the number of
 * queries in flight, not the table's size. IDs are drawn at random from the free ones of the
 * first ID space that has any, so the backend-side ID is neither sequential nor reused while
 * in flight (RFC 5452 §9.2), and a further ID space (with its own sockets) opens only when
 * 65,536 queries are already in flight. */
struct inflight_table {
	struct inflight *slots; /* INFLIGHT_MAX, mapped lazily */
	uint32_t *free_slots;   /* a stack of freed slot indices */
	uint32_t nfree_slots;
	uint32_t fresh; /* slots below this have been used */
	uint32_t count; /* in flight */
	struct inflight_ids groups[INFLIGHT_GROUPS];
	uint32_t ngroups;   /* ID spaces opened so far */
	uint8_t *ring;      /* INFLIGHT_RING_SIZE */
	uint64_t ring_head; /* bytes ever written, skips at the wrap included */
};

/* Allocate the table. Returns DR_EOK or DR_ENOMEM. */
int inflight_init(struct inflight_table *t);
void inflight_deinit(struct inflight_table *t);

static inline uint32_t inflight_count(const struct inflight_table *t)
{
	return t->count;
}

/* Take a slot and a random free ID for it (s->group, s->id), or NULL when all INFLIGHT_MAX are
 * in flight or memory for a new ID space cannot be had. The slot is zeroed but for in_use,
 * group and id. */
struct inflight *inflight_take(struct inflight_table *t, struct rand_state *rnd);

/* The slot in flight under <id> in ID space <group>, or NULL. */
static inline struct inflight *inflight_get(struct inflight_table *t, unsigned group, uint16_t id)
{
	uint32_t v;

	if (group >= t->ngroups) {
		return NULL;
	}
	v = t->groups[group].slot_of[id];
	return v != 0 ? &t->slots[v - 1] : NULL;
}

/* Return <s> and its ID. The caller disarms its timer first. */
void inflight_put(struct inflight_table *t, struct inflight *s);

/* Keep a copy of the query <msg> of <len> bytes for <s> (for a retry or a late SERVFAIL): in
 * the slot when it fits, else in the ring, where later large queries may overwrite it. */
void inflight_keep_query(struct inflight_table *t, struct inflight *s, const uint8_t *msg,
			 size_t len);

/* The kept copy of <s>'s query, or NULL when the ring has since been overwritten. */
const uint8_t *inflight_query(const struct inflight_table *t, const struct inflight *s);

#endif
