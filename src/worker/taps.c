/* SPDX-License-Identifier: MIT */
/* worker/taps.c -- the worker's dnstap events: the client's side and the backend's */
#include <time.h>
#include <urcu-qsbr.h>

#include "tap/tap.h"
#include "worker/stats.h"
#include "worker/taps.h"
#include "wire/wire.h"

static void submit(struct worker *w, struct tap *t, struct tap_event *e)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	e->sec = (uint64_t)ts.tv_sec;
	e->nsec = (uint32_t)ts.tv_nsec;
	if (tap_submit(t, w->id, e)) {
		STAT_INC(w, ST_DNSTAP_SENT);
	} else {
		STAT_INC(w, ST_DNSTAP_DROPPED);
	}
}

void taps_client(struct worker *w, enum tap_type type, bool tcp, const union sockaddr_any *client,
		 const union sockaddr_any *local, const uint8_t *msg, size_t len, int32_t id,
		 bool curve)
{
	struct tap *t = rcu_dereference(w->router->tap);
	struct tap_event e = {.type = type,
			      .tcp = tcp,
			      .query_addr = client,
			      .response_addr = local,
			      .msg = msg,
			      .len = len,
			      .id = id,
			      .extra = curve ? "dnscurve" : NULL};

	if (t == NULL || len < WIRE_HDR_LEN || !tap_wants(t, type) ||
	    !tap_sampled(t, client, id >= 0 ? (uint16_t)id : wire_id(msg))) {
		return;
	}
	submit(w, t, &e);
}

void taps_backend(struct worker *w, enum tap_type type, bool tcp, const union sockaddr_any *client,
		  uint16_t client_id, const union sockaddr_any *backend, const uint8_t *msg,
		  size_t len, int32_t id)
{
	struct tap *t = rcu_dereference(w->router->tap);
	struct tap_event e = {.type = type,
			      .tcp = tcp,
			      .response_addr = backend,
			      .msg = msg,
			      .len = len,
			      .id = id};

	if (t == NULL || !tap_wants(t, type) || !tap_sampled(t, client, client_id)) {
		return;
	}
	submit(w, t, &e);
}
