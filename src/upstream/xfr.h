/* SPDX-License-Identifier: MIT */
/* upstream/xfr.h -- a client's zone transfer, relayed whole over its own backend connection */
#ifndef DR_UPSTREAM_XFR_H
#define DR_UPSTREAM_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream/tcp.h"
#include "worker/timer.h"
#include "worker/worker.h"

struct xfr;

/* Relay the AXFR or IXFR (<qtype>) query of <j> to <wb> over a new connection. On failure
 * nothing is started (counted as a failed transfer) and the caller answers <j>. Returns
 * DR_EOK or a negative code. */
int xfr_start(struct worker *w, struct tcp_job *j, struct wbackend *wb, uint16_t qtype);

/* <j> is ending (done, or its client gone): close the backend connection. */
void xfr_cancel(struct worker *w, struct xfr *x);

/* The client took some of what it was sent: relay more when it has room. */
void xfr_resume(struct worker *w, struct xfr *x);

/* Serve epoll <events> on a transfer's backend connection. */
void xfr_event(struct worker *w, struct io *io, uint32_t events);

/* A transfer's backend sent nothing for its timeout. */
void xfr_expired(struct worker *w, struct timer *t);

/* Free the transfers that ended during this loop turn. */
void xfr_reap(struct worker *w);

#endif
