/* SPDX-License-Identifier: MIT */
/* upstream/upstream.c -- the backends' side of a worker, as one part of it */
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "upstream/state.h"
#include "upstream/ports.h"
#include "upstream/tcp.h"
#include "upstream/transparent.h"
#include "upstream/upstream.h"
#include "upstream/xfr.h"

/* The first ID space's port opens with the backend, so that a backend that cannot be
 * reached at all is known at once; the rest open as queries need them. */
static int backend_open(struct worker *w, struct wbackend *wb)
{
	return ports_ready(wb) ? DR_EOK : ports_open_first(w, wb);
}

static void backend_close(struct worker *w, struct wbackend *wb)
{
	tcp_up_close_all(w, wb);
	ports_close_all(w, wb);
	transparent_close_backend(w, wb);
}

static void turn_end(struct worker *w)
{
	tcp_up_flush_due(w);
	tcp_up_reap(w);
	xfr_reap(w);
	ports_sweep(w);
	transparent_sweep(w);
	/* The next turn's port: every query of a turn leaves a group on one, so a batch still
	 * goes out in one sendmmsg per socket. */
	w->up->port_pick = rand_next(&w->rnd);
}

static int init(struct worker *w, char *err, size_t len)
{
	w->up = calloc(1, sizeof(*w->up));
	if (w->up == NULL) {
		snprintf(err, len, "out of memory");
		return DR_ENOMEM;
	}
	w->up->port_pick = rand_next(&w->rnd);
	return DR_EOK;
}

static void deinit(struct worker *w)
{
	if (w->up == NULL) {
		return;
	}
	transparent_free(w);
	w->up->tcp_up_flush = NULL; /* the worker stops: nothing more is written */
	tcp_up_reap(w);
	xfr_reap(w);
	free(w->up);
	w->up = NULL;
}

const struct worker_part upstream_part = {
	.init = init,
	.turn_end = turn_end,
	.backend_open = backend_open,
	.backend_close = backend_close,
	.deinit = deinit,
};
