/* SPDX-License-Identifier: MIT */
/* upstream/transparent.h -- a worker's UDP sockets that send from the clients' own addresses,
 * for backends whose client-address is transparent */
#ifndef DR_UPSTREAM_TRANSPARENT_H
#define DR_UPSTREAM_TRANSPARENT_H

#include "upstream/state.h"

#define TRANSPARENT_MAX 1024     /* sockets a worker keeps open, busy and idle together */
#define TRANSPARENT_IDLE_MS 2000 /* an idle socket is closed after this long */
#define TRANSPARENT_GROUP 0xff   /* wsock.group and inflight.port of a transparent socket */

/* The socket from <client> (address and port) to <wb>: the open one when there is one, else a
 * new one in a free place or in that of the socket idle longest. NULL, counted, when every
 * socket is busy or the new one cannot be opened (logged at most once a second). */
struct wsock *transparent_pick(struct worker *w, struct wbackend *wb,
			       const union sockaddr_any *client);

/* The transparent socket <s> was sent on, or NULL when it has been closed since. */
struct wsock *transparent_of(struct worker *w, const struct inflight *s);

/* Record in <s> that it goes out on the transparent socket <ws>. */
void transparent_mark(const struct wsock *ws, struct inflight *s);

/* <ws> has no query in flight any more: it may be reused, and is closed once idle long. */
void transparent_idle(struct worker *w, struct wsock *ws);

/* Close the sockets idle for TRANSPARENT_IDLE_MS. */
void transparent_sweep(struct worker *w);

/* Close every socket to <wb> (no query may wait on them). */
void transparent_close_backend(struct worker *w, struct wbackend *wb);

/* Close everything and free the table. */
void transparent_free(struct worker *w);

#endif
