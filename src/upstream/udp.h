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

/* Send the query <msg> of <len> bytes (buffer of <cap>), whose question is <q>, to <wb> on
 * behalf of <client>, who reached listener <ls_idx> with ID <client_id>; <tries> backends
 * had it before. Its answer, or the SERVFAIL that ends its tries, goes to <answer> with the
 * client's ID. False when the in-flight table is full or no socket to <wb> can be had (the
 * caller answers). */
bool upstream_udp_forward(struct worker *w, struct wbackend *wb, const struct wire_question *q,
			  uint8_t *msg, size_t len, size_t cap, const struct udp_peer *client,
			  uint32_t ls_idx, uint16_t client_id, uint8_t tries,
			  inflight_answer_fn answer);

/* A backend socket (struct wsock) is readable or has an error: read the ICMP errors queued
 * on it (a query whose datagram found no one at the backend's address fails over to another
 * backend at once, as a timeout would), then relay every pending answer. */
void udp_backend_ready(struct worker *w, struct io *io, uint32_t events);

#endif
