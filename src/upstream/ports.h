/* SPDX-License-Identifier: MIT */
/* upstream/ports.h -- a worker's UDP source ports to a backend: random, several, renewed */
#ifndef DR_UPSTREAM_PORTS_H
#define DR_UPSTREAM_PORTS_H

#include "upstream/state.h"

/* Open a UDP socket connected to <addr>: the kernel then delivers only that address's answers.
 * Returns the fd or a negative errno. */
int udp_connect(const union sockaddr_any *addr);

/* Ask for ICMP errors on <fd> of <family> with the datagram that caused them (upstream/udp.c
 * reads them on EPOLLERR), so a query to a port nobody listens on fails over at once. Returns
 * 0 or -1 with errno. */
int udp_want_errors(int fd, sa_family_t family);

/* Open the first port of <wb> (ID space 0), so that a backend that cannot be reached at all
 * is known at once. Returns DR_EOK or a negative errno (logged, at most once a second). */
int ports_open_first(struct worker *w, struct wbackend *wb);

/* True when <wb> has its first port open. */
bool ports_ready(const struct wbackend *wb);

/* The port of <wb> in ID space <group> that a query sent now goes out on: the one this loop
 * turn drew, opened on first use and renewed (a new socket, so a new random port) once it has
 * carried UDP_PORT_USES queries or lived UDP_PORT_LIFE_MS. NULL when no socket can be had. */
struct wsock *ports_pick(struct worker *w, struct wbackend *wb, unsigned group);

/* The port <s> was sent on, or NULL when it has been closed since. */
struct wsock *ports_of(struct worker *w, const struct inflight *s);

/* Close the retired ports that no query waits on any more. Cheap when called often: it
 * looks at most once a second. */
void ports_sweep(struct worker *w);

/* Close every port of <wb> and free its groups. */
void ports_close_all(struct worker *w, struct wbackend *wb);

#endif
