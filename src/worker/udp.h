/* SPDX-License-Identifier: MIT */
/* worker/udp.h -- UDP front end and UDP to the backends, in recvmmsg/sendmmsg batches */
#ifndef DR_WORKER_UDP_H
#define DR_WORKER_UDP_H

#include "worker/worker.h"

/* Allocate the worker's send queue. Returns DR_EOK or DR_ENOMEM. */
int udp_init(struct worker *w);
void udp_deinit(struct worker *w);

/* Open a listening UDP socket on <addr> (SO_REUSEPORT: one per worker). Returns the fd or a
 * negative errno. */
int udp_listen(const union sockaddr_any *addr);

/* Open a UDP socket connected to <addr>: the kernel then delivers only that address's answers.
 * Returns the fd or a negative errno. */
int udp_connect(const union sockaddr_any *addr);

/* Ask for ICMP errors on <fd> of <family> with the datagram that caused them (worker.c reads
 * them on EPOLLERR), so a query to a port nobody listens on fails over at once. Returns 0 or
 * -1 with errno. */
int udp_want_errors(int fd, sa_family_t family);

/* A listener's UDP socket is readable: read and route every pending query on it. */
void udp_listener_ready(struct worker *w, struct io *io, uint32_t events);

/* A backend socket (struct wsock) is readable or has an error: read the ICMP errors queued
 * on it (a query whose datagram found no one at the backend's address fails over to another
 * backend at once, as a timeout would), then relay every pending answer. */
void udp_backend_ready(struct worker *w, struct io *io, uint32_t events);

/* A query's timer fired (struct inflight): retry it once elsewhere, or answer SERVFAIL. */
void udp_inflight_fire(struct worker *w, struct timer *t);

/* Send everything queued, grouped by socket. Called once per batch and loop turn. */
void udp_tx_flush(struct worker *w);

#endif
