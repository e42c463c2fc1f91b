/* SPDX-License-Identifier: MIT */
/* worker/udp.h -- UDP front end and UDP to the backends, in recvmmsg/sendmmsg batches */
#ifndef DR_WORKER_UDP_H
#define DR_WORKER_UDP_H

#include "worker/worker.h"

enum {
	TIMER_KIND_INFLIGHT = 1,
	TIMER_KIND_TCP_CONN = 2,
	TIMER_KIND_TCP_JOB = 3,
	TIMER_KIND_TCP_UP = 4,
	TIMER_KIND_XFR = 5,
};

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

/* Read and route every pending query on listener <ls_idx>. */
void udp_listener_read(struct worker *w, uint32_t ls_idx);

/* Read and relay every pending answer on backend socket <ws>. */
void udp_backend_read(struct worker *w, struct wsock *ws);

/* Read the ICMP errors queued on backend socket <ws>: a query whose datagram found no one at
 * the backend's address fails over to another backend at once, as a timeout would. */
void udp_backend_errors(struct worker *w, struct wsock *ws);

/* A query's timer fired: retry it once elsewhere, or answer SERVFAIL. */
void udp_inflight_expired(struct worker *w, struct inflight *s);

/* Send everything queued, grouped by socket. Called once per batch and loop turn. */
void udp_tx_flush(struct worker *w);

#endif
