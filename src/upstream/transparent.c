/* SPDX-License-Identifier: MIT */
/* upstream/transparent.c -- a worker's UDP sockets that send from the clients' own addresses
 *
 * A query to a transparent backend leaves from a socket bound (IP_TRANSPARENT) to the
 * client's address and port and connected to the backend, so the backend sees the client as
 * the packet's source and its answer, routed back through this host, reaches that socket.
 * One socket serves one client address and port towards one backend; a client that keeps its
 * port keeps its socket. The table is bounded: when it is full, the socket idle longest makes
 * room, and when none is idle the query fails (SERVFAIL, counted) rather than the worker
 * running out of descriptors. Idle sockets close after TRANSPARENT_IDLE_MS.
 *
 * The backend-side ID still tells queries apart: a socket carries queries of every ID space,
 * so an answer is looked up in each (upstream/udp.c), and kept only when its slot names this socket
 * and its epoch. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/transparent.h"
#include "upstream/transparent.h"
#include "upstream/ports.h"
#include "upstream/udp.h"

#define BUCKETS 2048 /* a power of two, twice TRANSPARENT_MAX */
#define NONE 0       /* list and chain ends: places are numbered from 1 */

struct tsock {
	struct wsock ws; /* first: epoll and the answer path see a backend port */
	union sockaddr_any client;
	uint32_t chain;      /* next place in the same bucket, or in the free list when closed */
	uint32_t prev, next; /* in the idle list, oldest first */
	bool idle;
	uint64_t idle_since;
};

struct transparent {
	struct tsock socks[TRANSPARENT_MAX]; /* place i + 1 is socks[i] */
	uint32_t buckets[BUCKETS];
	uint32_t free_top;  /* places never used: socks[free_top..] */
	uint32_t free_list; /* closed places, through their chain */
	uint32_t idle_head, idle_tail;
	uint32_t open;
	uint64_t seed; /* random: clients cannot choose ports that share a bucket */
};

static struct log_limit open_failed;

static struct tsock *at(struct transparent *t, uint32_t place)
{
	return &t->socks[place - 1];
}

static uint32_t place_of(const struct transparent *t, const struct tsock *ts)
{
	return (uint32_t)(ts - t->socks) + 1;
}

static uint32_t bucket_of(const struct transparent *t, const union sockaddr_any *client,
			  uint32_t backend_idx)
{
	uint8_t key[SOCKADDR_KEY_MAX + 4];
	size_t n = sockaddr_key(client, key);

	memcpy(key + n, &backend_idx, 4);
	return (uint32_t)hash_bytes(key, n + 4, t->seed) & (BUCKETS - 1);
}

static void idle_unlink(struct transparent *t, struct tsock *ts)
{
	if (!ts->idle) {
		return;
	}
	if (ts->prev != NONE) {
		at(t, ts->prev)->next = ts->next;
	} else {
		t->idle_head = ts->next;
	}
	if (ts->next != NONE) {
		at(t, ts->next)->prev = ts->prev;
	} else {
		t->idle_tail = ts->prev;
	}
	ts->idle = false;
}

static void chain_unlink(struct transparent *t, struct tsock *ts)
{
	uint32_t *p = &t->buckets[bucket_of(t, &ts->client, ts->ws.wb->be->idx)];
	uint32_t me = place_of(t, ts);

	while (*p != NONE && *p != me) {
		p = &at(t, *p)->chain;
	}
	if (*p == me) {
		*p = ts->chain;
	}
}

static void free_push(struct transparent *t, struct tsock *ts)
{
	ts->chain = t->free_list;
	t->free_list = place_of(t, ts);
}

/* Close <ts> and put its place on the free list. */
static void tsock_close(struct worker *w, struct tsock *ts)
{
	struct transparent *t = w->up->transparent;

	idle_unlink(t, ts);
	chain_unlink(t, ts);
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, ts->ws.io.fd, NULL);
	close(ts->ws.io.fd);
	ts->ws.io.fd = -1;
	ts->ws.epoch++; /* a slot that still names it does not match what comes next */
	t->open--;
	free_push(t, ts);
}

/* A closed place: a freed one, one never used, or that of the socket idle longest, closed
 * now. NULL: all are busy. */
static struct tsock *tsock_take(struct worker *w)
{
	struct transparent *t = w->up->transparent;
	struct tsock *ts;

	if (t->free_list == NONE && t->free_top < TRANSPARENT_MAX) {
		ts = &t->socks[t->free_top++];
		ts->ws.io.fd = -1;
		return ts;
	}
	if (t->free_list == NONE && t->idle_head != NONE) {
		tsock_close(w, at(t, t->idle_head));
	}
	if (t->free_list == NONE) {
		return NULL;
	}
	ts = at(t, t->free_list);
	t->free_list = ts->chain;
	return ts;
}

/* A UDP socket from <client> to <wb>'s backend, or a negative errno. */
static int tsock_socket(const struct wbackend *wb, const union sockaddr_any *client)
{
	const union sockaddr_any *to = &wb->be->addr;
	int fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc;

	if (fd == -1) {
		return -errno;
	}
	rc = transparent_bind(fd, client);
	if (rc == DR_EOK && udp_want_errors(fd, to->sa.sa_family) == -1) {
		rc = -errno;
	}
	if (rc == DR_EOK && connect(fd, &to->sa, sockaddr_len(to)) == -1) {
		rc = -errno;
	}
	if (rc != DR_EOK) {
		close(fd);
		return rc;
	}
	return fd;
}

static struct tsock *tsock_open(struct worker *w, struct wbackend *wb,
				const union sockaddr_any *client)
{
	struct transparent *t = w->up->transparent;
	char from[SOCKADDR_STRLEN];
	struct tsock *ts = tsock_take(w);
	uint32_t b;
	int fd;

	if (ts == NULL) {
		return NULL;
	}
	fd = tsock_socket(wb, client);
	if (fd < 0) {
		log_err_limited(&open_failed, "worker",
				"worker %u: cannot send from %s to backend %s (%s)", w->id,
				sockaddr_format(client, from, sizeof(from)), wb->be->name,
				dr_strerror(fd));
		free_push(t, ts);
		return NULL;
	}
	ts->ws.io.ready = udp_backend_ready;
	ts->ws.io.fd = fd;
	ts->ws.wb = wb;
	ts->ws.group = TRANSPARENT_GROUP;
	ts->ws.port = TRANSPARENT_GROUP;
	ts->ws.place = (uint16_t)(place_of(t, ts) - 1);
	ts->ws.inflight = 0;
	ts->client = *client;
	ts->idle = false;
	if (worker_watch(w, &ts->ws.io, EPOLLIN, true) != DR_EOK) {
		close(fd);
		ts->ws.io.fd = -1;
		free_push(t, ts);
		return NULL;
	}
	b = bucket_of(t, client, wb->be->idx);
	ts->chain = t->buckets[b];
	t->buckets[b] = place_of(t, ts);
	t->open++;
	STAT_INC(w, ST_TRANSPARENT_OPENED);
	return ts;
}

static struct tsock *tsock_find(struct transparent *t, const struct wbackend *wb,
				const union sockaddr_any *client)
{
	for (uint32_t p = t->buckets[bucket_of(t, client, wb->be->idx)]; p != NONE;
	     p = at(t, p)->chain) {
		struct tsock *ts = at(t, p);
		if (ts->ws.wb == wb && sockaddr_equal(&ts->client, client)) {
			return ts;
		}
	}
	return NULL;
}

struct wsock *transparent_pick(struct worker *w, struct wbackend *wb,
			       const union sockaddr_any *client)
{
	struct tsock *ts;

	if (w->up->transparent == NULL) {
		w->up->transparent = calloc(1, sizeof(*w->up->transparent));
		if (w->up->transparent == NULL) {
			STAT_INC(w, ST_TRANSPARENT_FAILED);
			return NULL;
		}
		w->up->transparent->seed = rand_next(&w->rnd);
	}
	ts = tsock_find(w->up->transparent, wb, client);
	if (ts == NULL) {
		ts = tsock_open(w, wb, client);
	}
	if (ts == NULL) {
		STAT_INC(w, ST_TRANSPARENT_FAILED);
		return NULL;
	}
	idle_unlink(w->up->transparent, ts);
	return &ts->ws;
}

void transparent_mark(const struct wsock *ws, struct inflight *s)
{
	s->port = TRANSPARENT_GROUP;
	s->epoch = ws->epoch;
	s->tsock = ws->place;
}

struct wsock *transparent_of(struct worker *w, const struct inflight *s)
{
	struct tsock *ts;

	if (w->up->transparent == NULL || s->tsock >= TRANSPARENT_MAX) {
		return NULL;
	}
	ts = &w->up->transparent->socks[s->tsock];
	return ts->ws.io.fd != -1 && ts->ws.epoch == s->epoch ? &ts->ws : NULL;
}

void transparent_idle(struct worker *w, struct wsock *ws)
{
	struct transparent *t = w->up->transparent;
	struct tsock *ts = (struct tsock *)ws;
	uint32_t me = place_of(t, ts);

	if (ts->idle) {
		return;
	}
	ts->idle = true;
	ts->idle_since = w->now_ms;
	ts->next = NONE;
	ts->prev = t->idle_tail;
	if (t->idle_tail != NONE) {
		at(t, t->idle_tail)->next = me;
	} else {
		t->idle_head = me;
	}
	t->idle_tail = me;
}

void transparent_sweep(struct worker *w)
{
	struct transparent *t = w->up->transparent;

	while (t != NULL && t->idle_head != NONE) {
		struct tsock *ts = at(t, t->idle_head);
		if (w->now_ms < ts->idle_since + TRANSPARENT_IDLE_MS) {
			break;
		}
		tsock_close(w, ts);
	}
}

void transparent_close_backend(struct worker *w, struct wbackend *wb)
{
	struct transparent *t = w->up->transparent;

	for (uint32_t i = 0; t != NULL && i < t->free_top; i++) {
		if (t->socks[i].ws.io.fd != -1 && t->socks[i].ws.wb == wb) {
			tsock_close(w, &t->socks[i]);
		}
	}
}

void transparent_free(struct worker *w)
{
	struct transparent *t = w->up->transparent;

	for (uint32_t i = 0; t != NULL && i < t->free_top; i++) {
		if (t->socks[i].ws.io.fd != -1) {
			tsock_close(w, &t->socks[i]);
		}
	}
	free(t);
	w->up->transparent = NULL;
}
