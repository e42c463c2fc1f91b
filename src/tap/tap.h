/* SPDX-License-Identifier: MIT */
/* tap/tap.h -- dnstap: what the router sees and sends, to a file or a socket */
#ifndef DR_TAP_TAP_H
#define DR_TAP_TAP_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "tap/encode.h"

struct tap;

/* Open the sink of <c> (a Frame Streams file or unix socket, written by a thread of its own)
 * with one input queue per worker. NULL with <err> when it cannot be. */
struct tap *tap_open(const struct conf_dnstap *c, const char *identity, unsigned nworkers,
		     char *err, size_t len);

/* Flush what is queued and close. */
void tap_close(struct tap *t);

/* After a SIGHUP: true when the file was moved or removed since it was opened (rotated), so
 * the caller opens a new one; false for a socket. */
bool tap_rotated(const struct tap *t);

/* Whether worker events of the client at <client> with DNS ID <id> are logged: the same
 * answer for a query and its response, 1 in <sample> of them. */
bool tap_sampled(const struct tap *t, const union sockaddr_any *client, uint16_t id);

/* Which event types are logged. */
bool tap_wants(const struct tap *t, enum tap_type type);

/* Encode <e> (identity and version filled in here) and queue it on worker <worker>'s queue.
 * Never blocks: false when the queue is full or memory short (the caller counts a drop). */
bool tap_submit(struct tap *t, unsigned worker, struct tap_event *e);

#endif
