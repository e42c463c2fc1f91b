/* SPDX-License-Identifier: MIT */
/* upstream/clientaddr.c -- how a backend learns the client's address: edits of the query on its
 * way out, undone on the answer on its way back, the same for every transport */
#include "common/err.h"
#include "upstream/clientaddr.h"

size_t clientaddr_query(struct worker *w, const struct backend *be,
			const union sockaddr_any *client, const union sockaddr_any *local, bool tcp,
			uint8_t *msg, size_t len, size_t cap, struct ecs_undo *undo)
{
	const struct conf_ecs *ecs = &w->snap->ecs;
	uint32_t mode = atomic_load_explicit(&be->client_address, memory_order_relaxed);

	undo->edit = ECS_NONE;
	if (mode == CONF_CA_PROXY && !tcp) {
		if (proxy_v2_prepend(msg, &len, cap, client, local, false) != DR_EOK) {
			STAT_INC(w, ST_CLIENTADDR_UNEDITED);
		}
		return len;
	}
	if (mode != CONF_CA_ECS) {
		return len;
	}
	if (ecs_add(msg, &len, cap, client, ecs->v4_bits, ecs->v6_bits, ecs->override, undo) !=
	    DR_EOK) {
		STAT_INC(w, ST_CLIENTADDR_UNEDITED);
		return len; /* unchanged: the backend sees the router's address alone */
	}
	return len;
}

bool clientaddr_proxied(const struct backend *be)
{
	return atomic_load_explicit(&be->client_address, memory_order_relaxed) == CONF_CA_PROXY;
}

bool clientaddr_transparent(struct worker *w, const struct backend *be,
			    const union sockaddr_any *client)
{
	if (atomic_load_explicit(&be->client_address, memory_order_relaxed) !=
	    CONF_CA_TRANSPARENT) {
		return false;
	}
	if (client->sa.sa_family != be->addr.sa.sa_family) {
		STAT_INC(w, ST_CLIENTADDR_UNEDITED);
		return false;
	}
	return true;
}

const union sockaddr_any *clientaddr_source(struct worker *w, const struct backend *be,
					    const union sockaddr_any *client)
{
	return clientaddr_transparent(w, be, client) ? client : NULL;
}

size_t clientaddr_answer(struct worker *w, uint8_t *msg, size_t len, size_t cap,
			 const struct ecs_undo *undo)
{
	if (undo->edit == ECS_NONE || undo->edit == ECS_KEPT) {
		return len;
	}
	if (ecs_undo(msg, &len, cap, undo) != DR_EOK) {
		STAT_INC(w, ST_CLIENTADDR_UNEDITED);
	}
	return len;
}
