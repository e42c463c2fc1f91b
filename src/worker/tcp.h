/* SPDX-License-Identifier: MIT */
/* worker/tcp.h -- TCP clients, and the TCP queries relayed for them to the backends */
#ifndef DR_WORKER_TCP_H
#define DR_WORKER_TCP_H

#include "worker/timer.h"
#include "worker/worker.h"

/* Allocate the worker's connection pool of <max_conns>. Returns DR_EOK or DR_ENOMEM. */
int tcp_init(struct worker *w, uint32_t max_conns);

/* Close every connection and free the pool. */
void tcp_deinit(struct worker *w);

/* Open a listening TCP socket on <addr> (SO_REUSEPORT). Returns the fd or a negative errno. */
int tcp_listen(const union sockaddr_any *addr);

/* A listener's TCP socket is readable: accept the pending connections. */
void tcp_listener_ready(struct worker *w, struct io *io, uint32_t events);

/* Watch the listeners again once a pause for want of descriptors is over. */
void tcp_accept_resume(struct worker *w);

/* Serve epoll <events> on a client connection. */
void tcp_client_event(struct worker *w, struct io *io, uint32_t events);

/* Free what was closed during this loop turn (events for it may still have been pending). */
void tcp_reap(struct worker *w);

/* Stopping: close idle connections and stop reading from the others. */
void tcp_drain(struct worker *w);

/* True while any connection still has a query waiting or an answer to write. */
bool tcp_busy(const struct worker *w);

#endif
