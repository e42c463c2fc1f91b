/* SPDX-License-Identifier: MIT */
/* worker/taps.h -- the worker's dnstap events: the client's side and the backend's */
#ifndef DR_WORKER_TAPS_H
#define DR_WORKER_TAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tap/encode.h"
#include "worker/worker.h"

/* Whether dnstap is on: one load, so the events cost nothing when it is off. */
static inline bool taps_on(const struct worker *w)
{
	return __atomic_load_n(&w->router->tap, __ATOMIC_RELAXED) != NULL;
}

/* A client's query (CLIENT_QUERY) or the answer to it (CLIENT_RESPONSE): <client> asked the
 * router at <local>; the client's ID is <id> (-1: the one <msg> carries); <curve>: it came
 * in a DNSCurve box (the plain message is logged). */
void taps_client(struct worker *w, enum tap_type type, bool tcp, const union sockaddr_any *client,
		 const union sockaddr_any *local, const uint8_t *msg, size_t len, int32_t id,
		 bool curve);

/* A query the router sent <backend> (FORWARDER_QUERY: as forwarded, before a client-address
 * edit, under the backend-side ID <id>, -1 when <msg> carries it) or its answer
 * (FORWARDER_RESPONSE), for the query of <client> with ID <client_id> (which decides the
 * sample). */
void taps_backend(struct worker *w, enum tap_type type, bool tcp, const union sockaddr_any *client,
		  uint16_t client_id, const union sockaddr_any *backend, const uint8_t *msg,
		  size_t len, int32_t id);

#endif
