/* SPDX-License-Identifier: MIT */
/* admin/http.h -- the admin HTTP endpoint: /metrics and /api/v1 (libmicrohttpd) */
#ifndef DR_ADMIN_HTTP_H
#define DR_ADMIN_HTTP_H

#include <stddef.h>

#include "admin/metrics.h"
#include "conf/conf.h"

struct http;

/* Serve on c->admin from a thread of its own, with c->admin_key and c->acl (copied; see
 * http_configure); <src> is borrowed for the server's life. Nothing it does blocks a worker:
 * it reads counters and takes only the registry's lock. At most 64 connections are served at
 * once (a newcomer closes the oldest), and each must finish a request within 10 s of its
 * accept or of its previous request (see http.c). Returns NULL with <err>. */
struct http *http_new(const struct conf *c, const struct metrics_source *src, char *err,
		      size_t len);

/* Take the admin key and the global access rules of <c> (a reloaded configuration): the
 * requests that follow use them. Returns DR_EOK, or DR_ENOMEM when the rules could not be
 * copied (the key is taken all the same; /api/v1/limits keeps showing the previous rules). */
int http_configure(struct http *h, const struct conf *c);

/* Stop serving and free. */
void http_free(struct http *h);

#endif
