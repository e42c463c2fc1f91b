/* SPDX-License-Identifier: MIT */
/* upstream/udp.h -- queries to the backends over UDP: sent from the backend's ports (or the
 * client's own address), answers matched to their queries, timeouts retried elsewhere */
#ifndef DR_UPSTREAM_UDP_H
#define DR_UPSTREAM_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"
#include "worker/worker.h"

/* How a query came and how its answer goes back: what a front hands to the upstream side. */
struct udp_origin {
	const struct udp_peer *client;
	uint32_t listener;         /* the worker's listener the client reached */
	uint16_t client_id;        /* the ID the answer gets back */
	inflight_answer_fn answer; /* the front's: the answer, or the SERVFAIL ending its tries */
	const void *front; /* the front's own state of the query (NULL: none), copied into the */
	size_t front_len;  /* slot for <answer>: at most FRONT_STATE_MAX bytes */
};

/* Send the query <msg> of <len> bytes (buffer of <cap>), whose question is <q>, to <wb> for
 * the client <from>; <tries> backends had it before. False when the in-flight table is full
 * or no socket to <wb> can be had (the caller answers). */
bool upstream_udp_forward(struct worker *w, struct wbackend *wb, const struct wire_question *q,
			  uint8_t *msg, size_t len, size_t cap, const struct udp_origin *from,
			  uint8_t tries);

/* A backend socket (struct wsock) is readable or has an error: read the ICMP errors queued
 * on it (a query whose datagram found no one at the backend's address fails over to another
 * backend at once, as a timeout would), then relay every pending answer. */
void udp_backend_ready(struct worker *w, struct io *io, uint32_t events);

#endif
