/* SPDX-License-Identifier: MIT */
/* upstream/tcp.c -- a worker's TCP connections to the backends, shared by pipelined queries
 *
 * RFC 7766 §6.2.1: queries from many clients share a few connections to each backend and are
 * told apart by their IDs, so a burst of TCP clients does not become a burst of connection
 * attempts against the backend's listen queue. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/clock.h"
#include "common/err.h"
#include "wire/wire.h"
#include "worker/taps.h"
#include "worker/stream.h"
#include "upstream/state.h"
#include "upstream/clientaddr.h"
#include "upstream/tcp.h"

#define UP_JOBS_MAX                                                                                \
	512             /* queries on one connection at most: IDs and answers are found by a
			 * walk of its queries, which must stay short */
#define UP_IDLE_MS 3000 /* below the usual server idle timeout, so we close first */
#define UP_BUF_MAX (TCP_LEN_PREFIX + WIRE_TCP_MSG_MAX)

/* Whom a connection carries queries of. */
enum up_kind {
	UP_SHARED = 0,      /* any client's */
	UP_PROXY = 1,       /* one client's, announced by a PROXY v2 header */
	UP_TRANSPARENT = 2, /* one client's, sent from its own address */
};

struct tcp_up {
	struct io io; /* first: epoll data.ptr */
	struct timer idle;
	struct wbackend *wb;
	struct tcp_up *next;              /* in the backend's list, or the dead list */
	struct tcp_job *jobs, *jobs_last; /* in the order they were sent */
	unsigned njobs;
	unsigned nwire; /* jobs written on it (a rescue's others wait their turn) */
	bool connected;
	bool rescue;  /* holds the queries of a connection the backend closed, and no others */
	bool carried; /* a rescue that wrote its one query: the rest move to the next one */
	bool stale;   /* a query timed out with no answer since: no new queries */
	bool dead;
	enum up_kind kind;
	uint32_t interest;    /* the epoll events asked for */
	bool flush_due;       /* on the worker's list for the turn's end (tcp_up_flush_due) */
	uint64_t ack_owed_us; /* when answers were read unacknowledged while more are owed
			       * (clock_now_us); 0: none */
	struct tcp_up *flush_next;
	union sockaddr_any client, local; /* its client, one-client kinds, and the router's
					     address it reached */
	uint64_t heard_us;                /* when the last answer frame arrived */
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
	uint8_t *rbuf;
	size_t rlen, rcap;
};

static void job_detach(struct tcp_up *up, struct tcp_job *j)
{
	if (j->up_prev != NULL) {
		j->up_prev->up_next = j->up_next;
	} else {
		up->jobs = j->up_next;
	}
	if (j->up_next != NULL) {
		j->up_next->up_prev = j->up_prev;
	} else {
		up->jobs_last = j->up_prev;
	}
	j->up_prev = j->up_next = NULL;
	j->up = NULL;
	if (j->on_wire) {
		j->on_wire = false;
		up->nwire--;
	}
	up->njobs--;
	up->wb->pending--;
	if (up->njobs == 0) {
		up->rescue = false; /* its queries are done: an ordinary connection now */
	}
}

static void up_unlink(struct tcp_up *up)
{
	struct tcp_up **p = &up->wb->tcp_ups;

	while (*p != NULL && *p != up) {
		p = &(*p)->next;
	}
	if (*p == up) {
		*p = up->next;
	}
}

static struct tcp_up *up_open(struct worker *w, struct wbackend *wb, const struct tcp_job *j,
			      enum up_kind kind);
static int up_queue(struct worker *w, struct tcp_up *up, struct tcp_job *j);

/* Close <up>. When it had connected, a query written on it goes once more: the backend's idle
 * close may have raced our write, or one client's query made the backend drop the connection
 * (Knot answers FORMERR and closes on some; the answer itself can be lost with the
 * connection), and the other clients' queries on it are not at fault. Nor is the backend
 * slow: no timeout is counted, then or for the query sent once more. They go in the order they
 * were sent, each alone on a fresh connection to the same backend (a rescue, which takes no
 * other queries; see up_pump), so that a query which kills connections takes no other with it
 * the second time. A query already sent once more fails like one on a connection that never
 * connected (the front tries another backend), so such a query cannot go round for ever; queries
 * a rescue holds and has not written move on to the next rescue unharmed. */
static void up_close(struct worker *w, struct tcp_up *up)
{
	struct wbackend *wb = up->wb;
	bool accepted = up->connected && !w->draining;
	struct tcp_up *fresh = NULL;

	if (up->dead) {
		return;
	}
	up->dead = true;
	up_unlink(up);
	timer_disarm(&w->wheel, &up->idle);
	close(up->io.fd); /* also leaves epoll */
	up->io.fd = -1;
	while (up->jobs != NULL) {
		struct tcp_job *j = up->jobs;
		bool sent = j->on_wire;
		uint64_t due = j->timer.expire_ms;
		job_detach(up, j);
		if (accepted && !(sent && j->resent)) {
			j->resent = j->resent || sent;
			if (fresh == NULL || fresh->dead) {
				fresh = up_open(w, wb, j, up->kind);
			}
			if (fresh != NULL) {
				fresh->rescue = true;
				if (up_queue(w, fresh, j) == DR_EOK) {
					if (!sent) {
						timer_arm(&w->wheel, &j->timer, due);
					}
					continue;
				}
			}
		}
		j->ops->failed(w, j);
	}
	/* Freed at the end of the loop turn: an event for it may still be pending. */
	up->next = w->up->tcp_up_dead;
	w->up->tcp_up_dead = up;
}

/* Have the turn's end look at <up> (tcp_up_flush_due). */
static void up_due(struct worker *w, struct tcp_up *up)
{
	if (!up->flush_due) {
		up->flush_due = true;
		up->flush_next = w->up->tcp_up_flush;
		w->up->tcp_up_flush = up;
	}
}

/* Write the queries waiting on <up>; any byte written carries the ACK owed. */
static bool up_flush(struct tcp_up *up)
{
	size_t unsent = up->wlen - up->woff;
	bool ok = stream_flush(up->io.fd, up->wbuf, &up->woff, &up->wlen);

	if (up->wlen - up->woff < unsent) {
		up->ack_owed_us = 0;
	}
	return ok;
}

/* Ask epoll for <ev> on <up>; a system call only when that changes, not for every query. */
static int up_watch(struct worker *w, struct tcp_up *up, uint32_t ev)
{
	int rc = ev == up->interest ? DR_EOK : worker_watch(w, &up->io, ev, false);

	if (rc == DR_EOK) {
		up->interest = ev;
	}
	return rc;
}

static void up_interest(struct worker *w, struct tcp_up *up)
{
	uint32_t ev = EPOLLIN;

	if (!up->connected || up->wlen > up->woff) {
		ev |= EPOLLOUT;
	}
	if (up_watch(w, up, ev) != DR_EOK) {
		up_close(w, up);
	}
}

/* The kind of connection <j> needs to <be> now. */
static enum up_kind kind_for(struct worker *w, const struct backend *be, const struct tcp_job *j)
{
	if (clientaddr_proxied(be)) {
		return UP_PROXY;
	}
	return clientaddr_transparent(w, be, &j->client) ? UP_TRANSPARENT : UP_SHARED;
}

/* A connection to a backend that learns the client's address from a PROXY v2 header
 * carries one client's queries: the header, first on the connection, names it. */
static int up_announce(struct tcp_up *up, const struct tcp_job *j)
{
	if (stream_reserve(&up->wbuf, &up->wcap, PROXY_V2_MAX, UP_BUF_MAX * 4) != DR_EOK) {
		return DR_ENOMEM;
	}
	up->wlen = proxy_v2_header(up->wbuf, up->wcap, &j->client, &j->local, true);
	return up->wlen > 0 ? DR_EOK : DR_EINVAL;
}

/* A new connection to <wb> of <kind>: for the client of <j> alone when <wb> wants PROXY
 * headers or the client's own address. */
static struct tcp_up *up_open(struct worker *w, struct wbackend *wb, const struct tcp_job *j,
			      enum up_kind kind)
{
	struct tcp_up *up = calloc(1, sizeof(*up));

	if (up == NULL) {
		return NULL;
	}
	up->io.ready = tcp_up_event;
	up->idle.fire = tcp_up_expired;
	up->wb = wb;
	up->kind = kind;
	up->client = j->client;
	up->local = j->local;
	if (kind == UP_PROXY && up_announce(up, j) != DR_EOK) {
		free(up->wbuf);
		free(up);
		return NULL;
	}
	up->io.fd = stream_connect(&wb->be->addr, kind == UP_TRANSPARENT ? &j->client : NULL);
	if (up->io.fd == -1) {
		if (kind == UP_TRANSPARENT) {
			STAT_INC(w, ST_TRANSPARENT_FAILED);
		}
		free(up->wbuf);
		free(up);
		return NULL;
	}
	if (worker_watch(w, &up->io, EPOLLIN | EPOLLOUT, true) != DR_EOK) {
		close(up->io.fd);
		free(up->wbuf);
		free(up);
		return NULL;
	}
	up->interest = EPOLLIN | EPOLLOUT;
	up->next = wb->tcp_ups;
	wb->tcp_ups = up;
	return up;
}

/* Whether <j> may ride on <up>, a connection of <kind>: any job may on a shared connection;
 * on one that carries one client, only that client's (the same address and port, so the
 * same client connection, and the same router address). */
static bool up_fits(const struct tcp_up *up, const struct tcp_job *j, enum up_kind kind)
{
	if (up->kind != kind) {
		return false; /* the backend's setting changed: old connections finish alone */
	}
	return kind == UP_SHARED ||
	       (sockaddr_equal(&up->client, &j->client) && sockaddr_equal(&up->local, &j->local));
}

/* A connection whose oldest query has waited this long is held up by a slow answer: the
 * backend answers its queries in turn, so it takes new ones only when every other is too. */
#define UP_STUCK_US 50000

static bool up_stuck(const struct tcp_up *up, uint64_t now)
{
	return up->jobs != NULL && now > up->jobs->sent_us + UP_STUCK_US;
}

/* Whether <a> is a better place for a query than <b>: not held up, then fewer queries. */
static bool up_better(const struct tcp_up *a, const struct tcp_up *b, uint64_t now)
{
	bool sa = up_stuck(a, now), sb = up_stuck(b, now);

	return sa != sb ? !sa : a->njobs < b->njobs;
}

/* The least busy connection to <wb> that <j> may use, or a new one when every one has a query
 * waiting: a server answers the queries of one connection more or less in turn, so queries
 * spread over connections are served side by side, and one slow answer holds up nothing
 * else. Up to tcp.backend-connections of them, counted among those <j> may use (a backend with
 * one client a connection gets that many per client); past that, queries pipeline on the
 * least busy. */
static struct tcp_up *up_pick(struct worker *w, struct wbackend *wb, const struct tcp_job *j)
{
	enum up_kind kind = kind_for(w, wb->be, j);
	struct tcp_up *best = NULL;
	unsigned n = 0;

	/* The loop turn's coarse clock, which may read a little behind sent_us: enough to tell
	 * 50 ms, without reading the clock for every query. */
	uint64_t now = w->now_ms * 1000;

	for (struct tcp_up *up = wb->tcp_ups; up != NULL; up = up->next) {
		if (up->stale || up->rescue || !up_fits(up, j, kind)) {
			continue; /* closes once its queries are done, or is a rescue: not counted */
		}
		n++;
		if (best == NULL || up_better(up, best, now)) {
			best = up;
		}
	}
	if (best == NULL || (best->njobs > 0 && n < w->snap->tcp_backend_conns)) {
		/* Every one has a query waiting: another connection serves side by side. */
		struct tcp_up *fresh = up_open(w, wb, j, kind);
		if (fresh != NULL) {
			return fresh;
		}
	}
	return best != NULL && best->njobs < UP_JOBS_MAX ? best : NULL;
}

static bool id_taken(const struct tcp_up *up, uint16_t id)
{
	for (const struct tcp_job *j = up->jobs; j != NULL; j = j->up_next) {
		if (j->backend_id == id) {
			return true;
		}
	}
	return false;
}

/* Put <j>'s frame in <up>'s buffer (the caller flushes it, or EPOLLOUT does). */
static int up_write(struct worker *w, struct tcp_up *up, struct tcp_job *j)
{
	size_t room = TCP_LEN_PREFIX + j->qlen + CLIENTADDR_HEADROOM;
	size_t len;
	uint8_t *p;

	stream_compact(up->wbuf, &up->woff, &up->wlen);
	if (stream_reserve(&up->wbuf, &up->wcap, up->wlen + room, UP_BUF_MAX * 4) != DR_EOK) {
		return DR_ESPACE;
	}
	/* From the client's own query every time: a resend may go to another backend. */
	p = up->wbuf + up->wlen;
	memcpy(p + TCP_LEN_PREFIX, j->query, j->qlen);
	len = clientaddr_query(
		w, up->wb->be, &j->client, &j->local, true, p + TCP_LEN_PREFIX, j->qlen,
		WIRE_TCP_MSG_MAX < room - TCP_LEN_PREFIX ? WIRE_TCP_MSG_MAX : room - TCP_LEN_PREFIX,
		&j->ecs);
	wire_write_u16(p, (uint16_t)len);
	if (taps_on(w)) { /* as forwarded, before the client-address edit */
		taps_backend(w, TAP_FORWARDER_QUERY, true, &j->client, j->client_id,
			     &up->wb->be->addr, j->query, j->qlen, j->backend_id);
	}
	wire_set_id(p + TCP_LEN_PREFIX, j->backend_id);
	up->wlen += TCP_LEN_PREFIX + len;
	j->sent_us = clock_now_us();
	stat_add(&worker_counters(w, up->wb->be)->queries, 1);
	return DR_EOK;
}

/* Queue <j> on <up> and arm its timer; written at once unless <up> is a rescue, which writes
 * it when its turn comes (up_pump). */
static int up_queue(struct worker *w, struct tcp_up *up, struct tcp_job *j)
{
	struct wbackend *wb = up->wb;

	do {
		j->backend_id = (uint16_t)rand_next(&w->rnd);
	} while (id_taken(up, j->backend_id));
	if (!up->rescue && up_write(w, up, j) != DR_EOK) {
		return DR_ESPACE;
	}
	j->on_wire = !up->rescue;
	up->nwire += j->on_wire;
	j->up = up;
	j->up_next = NULL;
	j->up_prev = up->jobs_last;
	if (up->jobs_last != NULL) {
		up->jobs_last->up_next = j;
	} else {
		up->jobs = j;
	}
	up->jobs_last = j;
	up->njobs++;
	wb->pending++;
	j->sent_us = clock_now_us();
	j->backend_idx = wb->be->idx;
	timer_disarm(&w->wheel, &up->idle);
	timer_arm(&w->wheel, &j->timer,
		  w->now_ms + atomic_load_explicit(&wb->be->timeout_ms, memory_order_relaxed));
	if (up->connected && !up->rescue) {
		/* Written at the end of the loop turn, with the other queries the turn brings
		 * for this connection: one system call for them all. */
		up_due(w, up);
	}
	return DR_EOK;
}

/* A rescue sends one query, the first it holds, once connected; when that one is done the
 * others move to a fresh rescue. The query before may be the one that kills connections, and
 * its answer can come just before the close: the next query must not be on that connection.
 * Queries go one after another, never as a burst of connections. The query is flushed by the
 * caller or at EPOLLOUT. */
static void up_pump(struct worker *w, struct tcp_up *up)
{
	struct tcp_job *j = up->jobs;
	struct tcp_up *next;

	if (up->dead || !up->rescue || !up->connected || up->nwire > 0 || j == NULL) {
		return;
	}
	if (!up->carried) {
		if (up_write(w, up, j) == DR_EOK) {
			j->on_wire = true;
			up->nwire++;
			up->carried = true;
			(void)up_watch(w, up, EPOLLIN | EPOLLOUT);
		}
		return; /* a query that cannot be written times out */
	}
	next = up_open(w, up->wb, up->jobs, up->kind);
	if (next == NULL) {
		return; /* they time out */
	}
	next->rescue = true;
	while ((j = up->jobs) != NULL) {
		uint64_t due = j->timer.expire_ms; /* waiting its turn is not a new send */
		job_detach(up, j);
		(void)up_queue(w, next, j); /* a rescue only links it: cannot fail */
		timer_arm(&w->wheel, &j->timer, due);
	}
	timer_arm(&w->wheel, &up->idle, w->now_ms + UP_IDLE_MS);
}

int tcp_up_send(struct worker *w, struct tcp_job *j, struct wbackend *wb)
{
	struct tcp_up *up = up_pick(w, wb, j);

	return up != NULL ? up_queue(w, up, j) : DR_ENOBACKEND;
}

void tcp_up_cancel(struct worker *w, struct tcp_job *j)
{
	struct tcp_up *up = j->up;

	if (up == NULL) {
		return;
	}
	job_detach(up, j);
	if (up->njobs == 0 && !up->dead) {
		if (up->stale) {
			up_close(w, up); /* no queries left on it: nothing fails */
		} else {
			timer_arm(&w->wheel, &up->idle, w->now_ms + UP_IDLE_MS);
		}
	}
	up_pump(w, up);
}

void tcp_up_timed_out(struct worker *w, struct tcp_job *j)
{
	(void)w;
	if (j->up != NULL && j->up->heard_us < j->sent_us) {
		j->up->stale = true;
	}
}

/* One framed answer of <len> bytes at <msg>. */
static void up_answer(struct worker *w, struct tcp_up *up, const uint8_t *msg, size_t len)
{
	struct wire_question q;
	bool bare = false;

	if (wire_parse_question(msg, len, &q) != DR_EOK || !wire_is_response(msg)) {
		bare = wire_is_bare_error(msg, len); /* as over UDP: matched by ID alone */
		if (!bare) {
			STAT_INC(w, ST_DROP_BAD_RESPONSE);
			return;
		}
	}
	for (struct tcp_job *j = up->jobs; j != NULL; j = j->up_next) {
		if (j->backend_id == wire_id(msg) && (bare || j->qhash == wire_question_hash(&q))) {
			j->answer_us = clock_now_us();
			backend_count_answer(worker_counters(w, up->wb->be),
					     j->answer_us - j->sent_us);
			job_detach(up, j);
			if (taps_on(w)) {
				taps_backend(w, TAP_FORWARDER_RESPONSE, true, &j->client,
					     j->client_id, &up->wb->be->addr, msg, len, -1);
			}
			j->ops->answered(w, j, msg, len);
			return;
		}
	}
	/* Not ours any more (timed out, client gone) or not matching: dropped and counted. */
	STAT_INC(w, ST_DROP_BAD_RESPONSE);
}

/* Answers were read on <up>: while more are owed, a query written by the turn's end carries
 * their ACK, or one goes alone once they have waited STREAM_ACK_DELAY_US (tcp_up_flush_due). */
static void up_ack_if_owed(struct worker *w, struct tcp_up *up)
{
	if (!up->dead && up->nwire > 0) {
		if (up->ack_owed_us == 0) {
			up->ack_owed_us = up->heard_us;
		}
		up_due(w, up);
	}
}

static bool up_read(struct worker *w, struct tcp_up *up)
{
	for (;;) {
		size_t pos = 0, room;
		ssize_t n;

		if (stream_reserve(&up->rbuf, &up->rcap, up->rlen + 4096, UP_BUF_MAX * 4) !=
		    DR_EOK) {
			return false;
		}
		room = up->rcap - up->rlen;
		n = read(up->io.fd, up->rbuf + up->rlen, room);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		}
		if (n <= 0) {
			return false;
		}
		up->rlen += (size_t)n;
		while (up->rlen - pos >= TCP_LEN_PREFIX) {
			size_t len = wire_read_u16(up->rbuf + pos);
			if (up->rlen - pos < TCP_LEN_PREFIX + len) {
				break;
			}
			up->heard_us = clock_now_us();
			up_answer(w, up, up->rbuf + pos + TCP_LEN_PREFIX, len);
			pos += TCP_LEN_PREFIX + len;
		}
		memmove(up->rbuf, up->rbuf + pos, up->rlen - pos);
		up->rlen -= pos;
		if ((size_t)n < room) {
			/* The socket is empty for now: epoll (level-triggered) says when it is
			 * not, which spares a read that would only say EAGAIN. */
			up_ack_if_owed(w, up);
			return !up->dead;
		}
	}
}

void tcp_up_event(struct worker *w, struct io *io, uint32_t events)
{
	struct tcp_up *up = (struct tcp_up *)io;

	if (up->dead) {
		return;
	}
	if (!up->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		if (!stream_connected(up->io.fd)) {
			up_close(w, up);
			return;
		}
		up->connected = true;
	}
	if ((events & EPOLLOUT) && !up_flush(up)) {
		up_close(w, up);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !up_read(w, up)) {
		up_close(w, up);
		return;
	}
	up_pump(w, up);
	if (up->connected && up->wlen > up->woff && !up_flush(up)) {
		up_close(w, up);
		return;
	}
	if (up->njobs == 0 && !timer_armed(&up->idle)) {
		timer_arm(&w->wheel, &up->idle, w->now_ms + UP_IDLE_MS);
	}
	up_interest(w, up);
}

void tcp_up_expired(struct worker *w, struct timer *t)
{
	struct tcp_up *up = (struct tcp_up *)((char *)t - offsetof(struct tcp_up, idle));

	if (up->njobs == 0) {
		up_close(w, up);
	}
}

void tcp_up_close_all(struct worker *w, struct wbackend *wb)
{
	while (wb->tcp_ups != NULL) {
		up_close(w, wb->tcp_ups);
	}
}

/* An ACK owed on <up> with no query to carry it: sent alone once the answers it covers have
 * waited STREAM_ACK_DELAY_US, the loop woken for it. True when it is still owed: the turn's
 * end looks again. */
static bool up_ack_alone(struct worker *w, struct tcp_up *up, uint64_t *now)
{
	uint64_t due;

	if (up->nwire == 0) {
		up->ack_owed_us = 0; /* nothing more to come: the backend holds nothing back */
	}
	due = stream_ack_due(up->io.fd, &up->ack_owed_us, now);
	if (due != 0) {
		worker_wake_by(w, due);
	}
	return due != 0;
}

void tcp_up_flush_due(struct worker *w)
{
	struct tcp_up *up, *later = NULL;
	uint64_t now = 0;

	while ((up = w->up->tcp_up_flush) != NULL) {
		w->up->tcp_up_flush = up->flush_next;
		up->flush_due = false;
		if (up->dead) {
			continue;
		}
		if (up->wlen == up->woff) {
			if (up_ack_alone(w, up, &now)) {
				up->flush_due = true;
				up->flush_next = later;
				later = up;
			}
			continue;
		}
		if (!up_flush(up)) {
			/* Its queries go with the connection: sent once more on a fresh
			 * connection (the backend's idle close racing our write), or retried on
			 * another backend. Either way they are taken care of. */
			up_close(w, up);
			continue;
		}
		up_interest(w, up);
	}
	w->up->tcp_up_flush = later;
}

void tcp_up_reap(struct worker *w)
{
	while (w->up->tcp_up_dead != NULL) {
		struct tcp_up *up = w->up->tcp_up_dead;
		w->up->tcp_up_dead = up->next;
		free(up->wbuf);
		free(up->rbuf);
		free(up);
	}
}
