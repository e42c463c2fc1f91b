/* SPDX-License-Identifier: MIT */
/* worker/query.h -- what to do with a client's query, whatever transport brought it */
#ifndef DR_WORKER_QUERY_H
#define DR_WORKER_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"
#include "worker/worker.h"

enum query_action {
	QUERY_DROP = 0,     /* say nothing (short packet, a response) */
	QUERY_REPLY = 1,    /* the buffer now holds our own answer, reply_len bytes */
	QUERY_FORWARD = 2,  /* send to <be> */
	QUERY_TRANSFER = 3, /* an allowed AXFR/IXFR over TCP: relay it whole from <be> */
};

struct query_verdict {
	enum query_action action;
	int reply_len;
	bool close; /* with QUERY_DROP: an access rule or the query limit dropped it, and a TCP
		     * client is closed rather than left waiting */
	const struct route *route;
	struct backend *be;
	struct wbackend *wb;
};

/* Where a query came from: the client's address decides whether it may transfer zones. */
struct query_origin {
	const union sockaddr_any *client;
	bool tcp;
};

/* Decide what to do with the query in <msg> (<len> bytes, buffer of <cap> bytes) from
 * <from> and parse its question into <q>. Local answers, FORMERR, no-route and no-backend
 * replies are written in place. Counts what it decides. Never blocks, never allocates. */
void query_decide(struct worker *w, const struct query_origin *from, uint8_t *msg, size_t len,
		  size_t cap, struct wire_question *q, struct query_verdict *v);

/* Pick a backend for a retry of <q> other than <failed>, under the current snapshot. Returns
 * the worker's socket state for it, or NULL when the route or its backends are gone. */
struct wbackend *query_pick_retry(struct worker *w, const struct wire_question *q,
				  const struct backend *failed);

/* Turn the query in <msg> into SERVFAIL with EDE <ede>; returns the length or DR_ESPACE. */
int query_servfail(uint8_t *msg, size_t len, size_t cap, int ede);

#endif
