/* SPDX-License-Identifier: MIT */
/* upstream/ports.c -- a worker's UDP source ports to a backend: random, several, renewed
 *
 * A backend's answer is accepted when it comes from the backend's address to the port the
 * query left from, with an ID in flight there and the same question. Someone who can send
 * packets with the backend's address must then guess port and ID together. One socket kept
 * for the whole run gives away the port to anyone who learns it once (and leaves only the
 * 16-bit ID to guess: 78 of 100,000 forged answers got through when that was so). So each
 * ID space spreads its queries over UDP_PORTS sockets, each bound by the kernel to a random
 * ephemeral port, and each is replaced by a fresh one after a while, as resolvers do
 * (RFC 5452 §9.2). A replaced socket stays open, retired, until every query sent on it has
 * had its timeout; the slot records port and epoch so an answer is taken only where its
 * query went. The port a query uses is drawn once per loop turn, so a batch of queries to
 * one backend still leaves in one sendmmsg. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "upstream/ports.h"
#include "upstream/udp.h"
#include "worker/tx.h"

#define UDP_PORT_USES 10000     /* queries on one port before it is renewed */
#define UDP_PORT_LIFE_MS 2000   /* or this long, whichever comes first */
#define UDP_PORT_LINGER_MS 1000 /* a retired port outlives its queries' timeout by this */
#define SWEEP_MS 1000

int udp_want_errors(int fd, sa_family_t family)
{
	int one = 1;

	if (family == AF_INET) {
		return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	}
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
}

int udp_connect(const union sockaddr_any *addr)
{
	int fd = socket(addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		return -errno;
	}
	if (connect(fd, &addr->sa, sockaddr_len(addr)) == -1) {
		int e = errno;
		close(fd);
		return -e;
	}
	tx_socket_buffers(fd);
	return fd;
}

/* Out of descriptors, every query would say so: one line a second for all workers. */
static struct log_limit open_failed;

/* A new socket connected to the backend of <ws>, or a negative errno (logged). */
static int port_socket(struct worker *w, const struct wsock *ws)
{
	char addr[SOCKADDR_STRLEN];
	const union sockaddr_any *to = &ws->wb->be->addr;
	int fd = udp_connect(to);

	if (fd >= 0 && udp_want_errors(fd, to->sa.sa_family) == -1) {
		int e = -errno;
		close(fd);
		fd = e;
	}
	if (fd < 0) {
		log_err_limited(&open_failed, "worker",
				"worker %u: cannot open a socket to %s (%s)", w->id,
				sockaddr_format(to, addr, sizeof(addr)), dr_strerror(fd));
	}
	return fd;
}

/* Put <fd> in <ws> as a port fresh for use, watched by epoll. */
static int port_use(struct worker *w, struct wsock *ws, int fd)
{
	int rc;

	ws->io.fd = fd;
	ws->uses = 0;
	ws->inflight = 0;
	ws->due_ms = w->now_ms + UDP_PORT_LIFE_MS;
	rc = worker_watch(w, &ws->io, EPOLLIN, true);
	if (rc != DR_EOK) {
		log_err("worker", "worker %u: epoll: %s", w->id, dr_strerror(rc));
		close(fd);
		ws->io.fd = -1;
	}
	return rc;
}

static int port_open(struct worker *w, struct wsock *ws)
{
	int fd = port_socket(w, ws);

	return fd < 0 ? fd : port_use(w, ws, fd);
}

static void port_close(struct worker *w, struct wsock *ws)
{
	if (ws->io.fd != -1) {
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, ws->io.fd, NULL);
		close(ws->io.fd);
		ws->io.fd = -1;
	}
}

static void port_init(struct wsock *ws, struct wbackend *wb, unsigned group, unsigned port)
{
	ws->io.ready = udp_backend_ready;
	ws->io.fd = -1;
	ws->wb = wb;
	ws->group = (uint8_t)group;
	ws->port = (uint8_t)port;
}

static struct wgroup *group_get(struct wbackend *wb, unsigned group)
{
	struct wgroup *g = wb->groups[group];

	if (g != NULL) {
		return g;
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		return NULL;
	}
	for (unsigned i = 0; i < UDP_PORTS; i++) {
		port_init(&g->cur[i], wb, group, i);
		port_init(&g->old[i], wb, group, i);
	}
	wb->groups[group] = g;
	return g;
}

int ports_open_first(struct worker *w, struct wbackend *wb)
{
	struct wgroup *g = group_get(wb, 0);

	return g == NULL ? DR_ENOMEM : port_open(w, &g->cur[0]);
}

bool ports_ready(const struct wbackend *wb)
{
	return wb->groups[0] != NULL && wb->groups[0]->cur[0].io.fd != -1;
}

/* Move <cur> to its retired twin <old> (which is closed) and open a fresh socket in its
 * place. Should that fail, the old socket stays in use for another while. */
static void port_renew(struct worker *w, struct wsock *cur, struct wsock *old)
{
	uint32_t timeout = atomic_load_explicit(&cur->wb->be->timeout_ms, memory_order_relaxed);
	int fd = port_socket(w, cur);

	if (fd < 0) {
		cur->due_ms = w->now_ms + UDP_PORT_LIFE_MS;
		return;
	}
	*old = *cur;
	old->due_ms = w->now_ms + timeout + UDP_PORT_LINGER_MS;
	/* epoll holds the object's address: point it at the retired copy. */
	if (worker_watch(w, &old->io, EPOLLIN, false) != DR_EOK) {
		port_close(w, old);
	}
	cur->epoch++;
	(void)port_use(w, cur, fd);
}

struct wsock *ports_pick(struct worker *w, struct wbackend *wb, unsigned group)
{
	struct wgroup *g = group_get(wb, group);
	unsigned i = w->up->port_pick % UDP_PORTS;
	struct wsock *ws;

	if (g == NULL) {
		return NULL;
	}
	ws = &g->cur[i];
	if (ws->io.fd == -1 && port_open(w, ws) != DR_EOK) {
		/* Another port of the group may still be open. */
		ws = &g->cur[0];
		if (ws->io.fd == -1) {
			return NULL;
		}
	}
	if (++ws->uses >= UDP_PORT_USES || w->now_ms >= ws->due_ms) {
		struct wsock *old = &g->old[ws->port];
		/* The port it replaced last time must be done with first. */
		if (old->io.fd != -1 && old->inflight == 0) {
			port_close(w, old);
		}
		if (old->io.fd == -1) {
			port_renew(w, ws, old);
		}
	}
	return ws->io.fd != -1 ? ws : NULL;
}

struct wsock *ports_of(struct worker *w, const struct inflight *s)
{
	struct wbackend *wb = w->bes[s->backend_idx];
	struct wgroup *g = wb != NULL ? wb->groups[s->group] : NULL;

	if (g == NULL) {
		return NULL;
	}
	if (g->cur[s->port].io.fd != -1 && g->cur[s->port].epoch == s->epoch) {
		return &g->cur[s->port];
	}
	if (g->old[s->port].io.fd != -1 && g->old[s->port].epoch == s->epoch) {
		return &g->old[s->port];
	}
	return NULL;
}

void ports_sweep(struct worker *w)
{
	if (w->now_ms < w->up->ports_sweep_ms) {
		return;
	}
	w->up->ports_sweep_ms = w->now_ms + SWEEP_MS;
	for (uint32_t b = 0; b < w->nbes; b++) {
		struct wbackend *wb = w->bes[b];
		for (unsigned gi = 0; wb != NULL && gi < INFLIGHT_GROUPS; gi++) {
			struct wgroup *g = wb->groups[gi];
			for (unsigned i = 0; g != NULL && i < UDP_PORTS; i++) {
				struct wsock *old = &g->old[i];
				if (old->io.fd != -1 &&
				    (old->inflight == 0 || w->now_ms >= old->due_ms)) {
					port_close(w, old);
				}
			}
		}
	}
}

void ports_close_all(struct worker *w, struct wbackend *wb)
{
	for (unsigned gi = 0; gi < INFLIGHT_GROUPS; gi++) {
		struct wgroup *g = wb->groups[gi];
		for (unsigned i = 0; g != NULL && i < UDP_PORTS; i++) {
			port_close(w, &g->cur[i]);
			port_close(w, &g->old[i]);
		}
		free(g);
		wb->groups[gi] = NULL;
	}
}
