/* SPDX-License-Identifier: MIT */
/* worker/xfr.h -- a client's zone transfer, relayed whole over its own backend connection */
#ifndef DR_WORKER_XFR_H
#define DR_WORKER_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker/tcp_up.h"
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

/* Implemented by tcp.c, for the client's side of <j>: */

/* Unsent bytes queued for the client. */
size_t tcp_job_unsent(const struct tcp_job *j);

/* Send answer message <msg> of <len> bytes with the client's ID; <j> goes on. False when
 * the client is gone (and <j> with it). */
bool tcp_job_relay(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len);

/* The transfer is over: end <j>. <ok> false: it failed; before anything was relayed the
 * client gets SERVFAIL, after that its connection is closed, so that it can tell. */
void tcp_job_finish(struct worker *w, struct tcp_job *j, bool ok, bool relayed);

#endif
