/* SPDX-License-Identifier: MIT */
/* upstream/upstream.h -- the backends' side of a worker, as one part of it */
#ifndef DR_UPSTREAM_UPSTREAM_H
#define DR_UPSTREAM_UPSTREAM_H

#include "worker/worker.h"

/* UDP ports and transparent sockets, pipelined TCP connections and zone transfers to the
 * backends: opened with a backend, swept and reaped as the loop turns, closed with it. */
extern const struct worker_part upstream_part;

#endif
