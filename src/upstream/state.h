/* SPDX-License-Identifier: MIT */
/* upstream/state.h -- a worker's state on the backends' side: its UDP sockets to them and
 * what the end of a loop turn reaps */
#ifndef DR_UPSTREAM_STATE_H
#define DR_UPSTREAM_STATE_H

#include <stdint.h>

#include "worker/worker.h"

#define UDP_PORTS 4 /* source ports per backend and ID space, each renewed now and then */

/* One connected UDP socket to a backend: a source port of one ID space of the in-flight
 * table. A forged answer must hit both the port and an ID in flight on it (RFC 5452 §4). */
struct wsock {
	struct io io; /* first: epoll data.ptr; fd -1 when closed */
	struct wbackend *wb;
	uint8_t group;     /* the ID space, or TRANSPARENT_GROUP: carries queries of every one */
	uint8_t port;      /* which of the group's ports, 0..UDP_PORTS-1 */
	uint8_t epoch;     /* bumped at each renewal: an answer returns on the port it left from */
	uint16_t place;    /* a transparent socket's place in its table (upstream/transparent.c) */
	uint32_t uses;     /* queries sent on it */
	uint32_t inflight; /* of them, still waiting for their answer or timeout */
	uint64_t due_ms;   /* in use: renewed from then on; retired: closed then at the latest */
};

/* The ports of one ID space: those in use, and the ones they replaced, which stay open until
 * the queries sent on them have had their timeout. */
struct wgroup {
	struct wsock cur[UDP_PORTS];
	struct wsock old[UDP_PORTS];
};

struct transparent;

/* Owned by the upstream part (upstream.c), one per worker. */
struct upstream_state {
	struct transparent *transparent; /* sockets from clients' addresses; NULL until used */
	struct tcp_up *tcp_up_dead;      /* closed this turn, freed at its end */
	struct tcp_up *tcp_up_flush;     /* with queries queued this turn, written at its end */
	struct xfr *xfr_dead;            /* transfers ended this turn, freed at its end */
	uint64_t ports_sweep_ms;         /* when retired backend ports are next looked at */
	uint32_t port_pick; /* drawn each loop turn: which port of a group queries use */
};

#endif
