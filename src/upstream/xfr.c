/* SPDX-License-Identifier: MIT */
/* upstream/xfr.c -- a client's zone transfer, relayed whole over its own backend connection
 *
 * A transfer is one query with many answer messages, so it does not share the pipelined
 * backend connections of upstream/tcp.c: it gets a connection of its own, closed when the last
 * message (wire/xfr.c tells which) has been relayed. The client sets the pace: while more
 * than TCP_XFR_WMARK bytes wait to be written to it, nothing more is read from the backend,
 * so a transfer of any size costs a bounded amount of memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/clock.h"
#include "common/err.h"
#include "wire/xfr.h"
#include "upstream/state.h"
#include "upstream/clientaddr.h"
#include "worker/stream.h"
#include "upstream/xfr.h"

#define XFR_FRAME_MAX (TCP_LEN_PREFIX + WIRE_TCP_MSG_MAX)
#define XFR_RBUF_MAX (2 * XFR_FRAME_MAX)
#define TCP_XFR_WMARK (256u << 10) /* unsent bytes to the client before the backend waits */

struct xfr {
	struct io io; /* first: epoll data.ptr */
	struct timer timer;
	struct tcp_job *job;
	struct wbackend *wb;
	struct xfr *next_dead;
	struct xfr_track track;
	uint16_t backend_id;
	bool connected;
	bool paused;  /* the client has enough to read: the backend waits */
	bool relayed; /* a message went to the client */
	bool counted; /* its outcome is in the counters */
	bool dead;
	uint32_t interest;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	uint8_t *rbuf;
	size_t rpos, rlen, rcap; /* frames start at rpos */
};

static void xfr_set_interest(struct worker *w, struct xfr *x, uint32_t want);

static uint32_t timeout_ms(const struct xfr *x)
{
	return atomic_load_explicit(&x->wb->be->timeout_ms, memory_order_relaxed);
}

/* Count how the transfer ended, once. */
static void xfr_count(struct worker *w, struct xfr *x, enum stat_counter outcome)
{
	if (!x->counted) {
		x->counted = true;
		STAT_INC(w, outcome);
	}
}

/* The backend failed the transfer: tell the client as the front's finish says. */
static void xfr_fail(struct worker *w, struct xfr *x)
{
	xfr_count(w, x, ST_XFR_FAILED);
	x->job->ops->finish(w, x->job, false, x->relayed);
}

int xfr_start(struct worker *w, struct tcp_job *j, struct wbackend *wb, uint16_t qtype)
{
	struct xfr *x = calloc(1, sizeof(*x));
	size_t head = 0;

	if (x == NULL || stream_reserve(&x->wbuf, &x->wcap, PROXY_V2_MAX + TCP_LEN_PREFIX + j->qlen,
					XFR_FRAME_MAX) != DR_EOK) {
		goto fail;
	}
	/* A transfer is a query like any other: the backend learns the client as it does for
	 * the rest (ECS aside: a zone is the same for every subnet). */
	if (clientaddr_proxied(wb->be) &&
	    (head = proxy_v2_header(x->wbuf, x->wcap, &j->client, &j->local, true)) == 0) {
		goto fail;
	}
	x->io.ready = xfr_event;
	x->timer.fire = xfr_expired;
	x->job = j;
	x->wb = wb;
	x->track.qtype = qtype;
	xfr_track_query(&x->track, j->query, j->qlen);
	x->backend_id = (uint16_t)rand_next(&w->rnd);
	wire_write_u16(x->wbuf + head, (uint16_t)j->qlen);
	memcpy(x->wbuf + head + TCP_LEN_PREFIX, j->query, j->qlen);
	wire_set_id(x->wbuf + head + TCP_LEN_PREFIX, x->backend_id);
	x->wlen = head + TCP_LEN_PREFIX + j->qlen;
	x->io.fd = stream_connect(&wb->be->addr, clientaddr_source(w, wb->be, &j->client));
	if (x->io.fd == -1) {
		goto fail;
	}
	if (worker_watch(w, &x->io, EPOLLIN | EPOLLOUT, true) != DR_EOK) {
		close(x->io.fd);
		goto fail;
	}
	x->interest = EPOLLIN | EPOLLOUT;
	wb->pending++;
	stat_add(&worker_counters(w, wb->be)->queries, 1);
	j->sent_us = clock_now_us();
	j->backend_idx = wb->be->idx;
	j->xfr = x;
	timer_arm(&w->wheel, &x->timer, w->now_ms + timeout_ms(x));
	return DR_EOK;
fail:
	if (x != NULL) {
		free(x->wbuf);
	}
	free(x);
	STAT_INC(w, ST_XFR_FAILED);
	return DR_ENOBACKEND;
}

void xfr_cancel(struct worker *w, struct xfr *x)
{
	if (x->dead) {
		return;
	}
	x->dead = true;
	xfr_count(w, x, ST_XFR_FAILED); /* unless it was counted: the client left, or a drain */
	x->job->xfr = NULL;
	timer_disarm(&w->wheel, &x->timer);
	close(x->io.fd); /* also leaves epoll */
	x->io.fd = -1;
	x->wb->pending--;
	/* Freed at the end of the loop turn: an event for it may still be pending. */
	x->next_dead = w->up->xfr_dead;
	w->up->xfr_dead = x;
}

/* Is <msg> an answer to our query? The first message repeats the question (or is an error
 * without one); the ID is ours throughout (RFC 5936 §2.2.1). */
static bool answer_ours(const struct xfr *x, const uint8_t *msg, size_t len)
{
	struct wire_question q;

	if (len < WIRE_HDR_LEN || !wire_is_response(msg) || wire_id(msg) != x->backend_id) {
		return false;
	}
	if (x->track.messages > 0 || wire_is_bare_error(msg, len)) {
		return true;
	}
	return wire_parse_question(msg, len, &q) == DR_EOK &&
	       wire_question_hash(&q) == x->job->qhash;
}

/* One answer message: relay it and see whether the transfer is over. False when the
 * transfer ended (x is then dead). */
static bool relay_message(struct worker *w, struct xfr *x, const uint8_t *msg, size_t len)
{
	struct tcp_job *j = x->job;
	int verdict;

	if (!answer_ours(x, msg, len) || (verdict = xfr_track_message(&x->track, msg, len)) < 0) {
		STAT_INC(w, ST_DROP_BAD_RESPONSE);
		xfr_fail(w, x);
		return false;
	}
	if (x->track.messages == 1) {
		backend_count_answer(worker_counters(w, x->wb->be), clock_now_us() - j->sent_us);
	}
	if (!j->ops->relay(w, j, msg, len)) {
		return false; /* the client is gone, and the transfer with it */
	}
	x->relayed = true;
	if (verdict != XFR_MORE) {
		/* An error answer (REFUSED: the backend's ACL) reached the client whole, but it
		 * is no transfer. */
		xfr_count(w, x, verdict == XFR_DONE ? ST_XFR_COMPLETE : ST_XFR_FAILED);
		j->ops->finish(w, j, true, true);
		return false;
	}
	timer_arm(&w->wheel, &x->timer, w->now_ms + timeout_ms(x));
	return true;
}

/* Relay the whole frames in the read buffer while the client has room. False when the
 * transfer ended. */
static bool relay_buffered(struct worker *w, struct xfr *x)
{
	while (x->rlen - x->rpos >= TCP_LEN_PREFIX) {
		size_t len = wire_read_u16(x->rbuf + x->rpos);
		if (x->rlen - x->rpos < TCP_LEN_PREFIX + len) {
			break;
		}
		if (x->job->ops->unsent(x->job) + TCP_LEN_PREFIX + len > TCP_XFR_WMARK) {
			x->paused = true;
			timer_disarm(&w->wheel,
				     &x->timer); /* the client is slow, not the backend */
			break;
		}
		x->rpos += TCP_LEN_PREFIX + len;
		if (!relay_message(w, x, x->rbuf + x->rpos - len, len)) {
			return false;
		}
	}
	stream_compact(x->rbuf, &x->rpos, &x->rlen);
	return true;
}

/* Read what the backend sent and relay it. False when the transfer ended. */
static bool xfr_read(struct worker *w, struct xfr *x)
{
	while (!x->paused) {
		ssize_t n;
		if (stream_reserve(&x->rbuf, &x->rcap, x->rlen + 4096, XFR_RBUF_MAX) != DR_EOK) {
			xfr_fail(w, x);
			return false;
		}
		n = read(x->io.fd, x->rbuf + x->rlen, x->rcap - x->rlen);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		}
		if (n <= 0) {
			xfr_fail(w, x); /* closed or reset before the last message */
			return false;
		}
		x->rlen += (size_t)n;
		/* Bytes came: the backend is not stalled, however long its messages take. */
		timer_arm(&w->wheel, &x->timer, w->now_ms + timeout_ms(x));
		if (!relay_buffered(w, x)) {
			return false;
		}
	}
	return true;
}

static void xfr_set_interest(struct worker *w, struct xfr *x, uint32_t want)
{
	if (want != x->interest) {
		if (worker_watch(w, &x->io, want, false) != DR_EOK) {
			xfr_fail(w, x);
			return;
		}
		x->interest = want;
	}
}

/* Ask epoll for what <x> can use now: nothing from the backend while it is paused. */
static void xfr_update(struct worker *w, struct xfr *x)
{
	uint32_t want = x->paused ? 0 : EPOLLIN;

	if (!x->connected || x->wlen > x->woff) {
		want |= EPOLLOUT;
	}
	xfr_set_interest(w, x, want);
}

void xfr_event(struct worker *w, struct io *io, uint32_t events)
{
	struct xfr *x = (struct xfr *)io;

	if (x->dead) {
		return;
	}
	if (!x->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		if (!stream_connected(x->io.fd)) {
			xfr_fail(w, x);
			return;
		}
		x->connected = true;
	}
	/* Reset while it waits for the client: epoll reports that whatever it is asked for. */
	if (x->paused && (events & (EPOLLERR | EPOLLHUP))) {
		xfr_fail(w, x);
		return;
	}
	if ((events & EPOLLOUT) && !stream_flush(x->io.fd, x->wbuf, &x->woff, &x->wlen)) {
		xfr_fail(w, x);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !xfr_read(w, x)) {
		return;
	}
	xfr_update(w, x);
}

void xfr_resume(struct worker *w, struct xfr *x)
{
	/* Half the mark: the backend is not woken for every few kilobytes the client reads. */
	if (x->dead || !x->paused || x->job->ops->unsent(x->job) > TCP_XFR_WMARK / 2) {
		return;
	}
	x->paused = false;
	timer_arm(&w->wheel, &x->timer, w->now_ms + timeout_ms(x));
	if (!relay_buffered(w, x)) {
		return;
	}
	xfr_update(w, x); /* epoll is level-triggered: what waits in the socket is reported */
}

void xfr_expired(struct worker *w, struct timer *t)
{
	struct xfr *x = (struct xfr *)((char *)t - offsetof(struct xfr, timer));

	/* Not a backend timeout for passive health: that is about live queries, and a transfer
	 * may sit behind a slow link that queries never notice. */
	xfr_fail(w, x);
}

void xfr_reap(struct worker *w)
{
	while (w->up->xfr_dead != NULL) {
		struct xfr *x = w->up->xfr_dead;
		w->up->xfr_dead = x->next_dead;
		free(x->wbuf);
		free(x->rbuf);
		free(x);
	}
}
