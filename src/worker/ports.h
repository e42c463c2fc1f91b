/* SPDX-License-Identifier: MIT */
/* worker/ports.h -- a worker's UDP source ports to a backend: random, several, renewed */
#ifndef DR_WORKER_PORTS_H
#define DR_WORKER_PORTS_H

#include "worker/worker.h"

/* Open the first port of <wb> (ID space 0), so that a backend that cannot be reached at all
 * is known at once. Returns DR_EOK or a negative errno (logged, at most once a second). */
int ports_open_first(struct worker *w, struct wbackend *wb);

/* True when <wb> has its first port open. */
bool ports_ready(const struct wbackend *wb);

/* The port of <wb> in ID space <group> that a query sent now goes out on: the one this loop
 * turn drew, opened on first use and renewed (a new socket, so a new random port) once it has
 * carried UDP_PORT_USES queries or lived UDP_PORT_LIFE_MS. NULL when no socket can be had. */
struct wsock *ports_pick(struct worker *w, struct wbackend *wb, unsigned group);

/* The port <s> was sent on (a transparent socket included), or NULL when it has been closed
 * since. */
struct wsock *ports_of(struct worker *w, const struct inflight *s);

/* <s> waits no more on its port: one query fewer in flight there. */
void ports_release(struct worker *w, const struct inflight *s);

/* Close the retired ports that no query waits on any more, and the transparent sockets idle
 * long. Cheap when called often: it looks at most once a second. */
void ports_sweep(struct worker *w);

/* Close every port of <wb> and free its groups. */
void ports_close_all(struct worker *w, struct wbackend *wb);

#endif
