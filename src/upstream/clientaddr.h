/* SPDX-License-Identifier: MIT */
/* upstream/clientaddr.h -- how a backend learns the client's address: edits of the query on its
 * way out, undone on the answer on its way back, the same for every transport */
#ifndef DR_UPSTREAM_CLIENTADDR_H
#define DR_UPSTREAM_CLIENTADDR_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "common/sockaddr.h"
#include "wire/ecs.h"
#include "wire/proxy.h"
#include "worker/worker.h"

/* Room a query needs past its end for the edits (an OPT record with an ECS option, or a
 * PROXY v2 header in front). */
#define CLIENTADDR_HEADROOM                                                                        \
	(PROXY_V2_MAX > 11 + ECS_OPTION_MAX ? PROXY_V2_MAX : 11 + ECS_OPTION_MAX)

/* Edit the query in <msg> of <len> bytes (buffer of <cap>) for <be>, from <client> to the
 * router's <local> address, as the backend's client-address setting says; <undo> records what
 * its answer needs undone. Over <tcp> a PROXY v2 header goes once per backend connection
 * (upstream/tcp.c), not here. Returns the query's new length. A query that cannot be edited
 * (signed, malformed, no room) goes as it is, counted. Never allocates. */
size_t clientaddr_query(struct worker *w, const struct backend *be,
			const union sockaddr_any *client, const union sockaddr_any *local, bool tcp,
			uint8_t *msg, size_t len, size_t cap, struct ecs_undo *undo);

/* True when TCP connections to <be> carry one client each, announced by a PROXY v2 header. */
bool clientaddr_proxied(const struct backend *be);

/* True when a query of <client> goes to <be> from the client's own address. A transparent
 * backend of the other family cannot be sent to from it: such a query goes from the
 * router's address, counted as unedited. */
bool clientaddr_transparent(struct worker *w, const struct backend *be,
			    const union sockaddr_any *client);

/* The address a connection to <be> for <client> is made from: <client> itself when
 * clientaddr_transparent, else NULL (one of the router's). */
const union sockaddr_any *clientaddr_source(struct worker *w, const struct backend *be,
					    const union sockaddr_any *client);

/* Undo <undo> on the answer in <msg> of <len> bytes (buffer of <cap>); returns its new
 * length. An answer that cannot be undone is relayed as it is, counted. */
size_t clientaddr_answer(struct worker *w, uint8_t *msg, size_t len, size_t cap,
			 const struct ecs_undo *undo);

#endif
