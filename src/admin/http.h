/* SPDX-License-Identifier: MIT */
/* admin/http.h -- the admin HTTP endpoint: /metrics and /api/v1 (libmicrohttpd) */
#ifndef DR_ADMIN_HTTP_H
#define DR_ADMIN_HTTP_H

#include <stddef.h>

#include "admin/metrics.h"
#include "common/sockaddr.h"

struct http;

/* Serve on <addr> from libmicrohttpd's own thread; <src> is borrowed for the server's life.
 * Nothing it does blocks a worker: it reads counters and takes only the registry's lock.
 * Returns NULL with <err>. */
struct http *http_new(const union sockaddr_any *addr, const struct metrics_source *src, char *err,
		      size_t len);

/* Stop serving and free. */
void http_free(struct http *h);

#endif
