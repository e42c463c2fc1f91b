/* SPDX-License-Identifier: MIT */
/* front/tcp.c -- TCP clients, and the TCP queries relayed for them to the backends
 *
 * A client connection reads length-prefixed queries (RFC 7766), answers what the router
 * answers itself at once, and relays each other query over its own TCP connection to a
 * backend (a "job"), so answers of any size come back whole. Several jobs per client run at
 * once; answers are written in the order they complete (RFC 7766 §7). A zone transfer an
 * allowed client asks for is a job too, with many answers (upstream/xfr.c). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/err.h"
#include "common/log.h"
#include "limit/acl.h"
#include "front/curve.h"
#include "front/peercount.h"
#include "wire/synth.h"
#include "upstream/clientaddr.h"
#include "worker/taps.h"
#include "worker/query.h"
#include "worker/stream.h"
#include "front/tcp.h"
#include "front/tcp_conn.h"
#include "upstream/tcp.h"
#include "upstream/xfr.h"

#define TCP_ACCEPT_PAUSE_MS 100 /* accepts wait this long when descriptors run out */

static void tcp_client_event(struct worker *w, struct io *io, uint32_t events);
static void tcp_listener_ready(struct worker *w, struct io *io, uint32_t events);
static void tcp_reap(struct worker *w);
static void conn_fire(struct worker *w, struct timer *t);
static void conn_resume_transfers(struct worker *w, struct tcp_conn *c);

static int tcp_init(struct worker *w, uint32_t max_conns)
{
	struct tcp_state *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return DR_ENOMEM;
	}
	t->parked_fd = -1;
	t->conns = calloc(max_conns, sizeof(*t->conns));
	t->rd = malloc(STREAM_BUF_SIZE);
	if (t->conns == NULL || t->rd == NULL || tcp_stage_init(t) != DR_EOK ||
	    peercount_init(&t->peers, max_conns,
			   (uint64_t)rand_next(&w->rnd) << 32 | rand_next(&w->rnd)) != DR_EOK) {
		free(t->conns);
		free(t->rd);
		free(t);
		return DR_ENOMEM;
	}
	t->nconns = max_conns;
	for (uint32_t i = max_conns; i-- > 0;) {
		t->conns[i].io.ready = tcp_client_event;
		t->conns[i].io.fd = -1;
		t->conns[i].timer.fire = conn_fire;
		t->conns[i].stage_first = t->conns[i].stage_last = STAGE_NONE;
		t->conns[i].next_free = t->free_list;
		t->free_list = &t->conns[i];
	}
	w->tcp = t;
	return DR_EOK;
}

static void tcp_deinit(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	if (t == NULL) {
		return;
	}
	for (uint32_t i = 0; i < t->nconns; i++) {
		if (t->conns[i].open) {
			conn_close(w, &t->conns[i]);
		}
	}
	if (t->parked_fd != -1) {
		close(t->parked_fd);
		t->parked_fd = -1;
	}
	tcp_reap(w);
	stream_pool_deinit(&t->pool);
	peercount_deinit(&t->peers);
	jobs_pool_free(t);
	tcp_stage_free(t);
	free(t->rd);
	free(t->conns);
	free(t);
	w->tcp = NULL;
}

static int tcp_listen(const union sockaddr_any *addr)
{
	int one = 1;
	int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		return -errno;
	}
	/* TCP_NODELAY is inherited by every accepted connection: an answer must not wait for
	 * the client's ACK of the one before it (Nagle), which a client delays (delayed ACK)
	 * while its next query is pipelined. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
	    (addr->sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, &addr->sa, sockaddr_len(addr)) == -1 || listen(fd, 1024) == -1) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Client connections */
/* The router's address <c> connected to: what a PROXY v2 header names as the destination.
 * Asked of the kernel once per connection. */
union sockaddr_any conn_local(struct tcp_conn *c)
{
	socklen_t len = sizeof(c->local);

	if (c->local.sa.sa_family == 0 && getsockname(c->io.fd, &c->local.sa, &len) == -1) {
		c->local.sa.sa_family = 0; /* the header then says UNSPEC: see wire/proxy.h */
	}
	return c->local;
}

/* Out of descriptors: stop watching the listeners for a while rather than wake up for the
 * same waiting connection in a loop. The worker turns them back on (tcp_accept_resume). */
static void tcp_accept_pause(struct worker *w)
{
	if (w->accept_resume_ms != 0) {
		return;
	}
	log_warn("worker",
		 "worker %u: out of descriptors accepting TCP clients (%s); "
		 "pausing accepts for %u ms",
		 w->id, strerror(errno), TCP_ACCEPT_PAUSE_MS);
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].tcp.fd != -1) {
			(void)worker_watch(w, &w->listeners[i].tcp, 0, false);
		}
	}
	w->accept_resume_ms = w->now_ms + TCP_ACCEPT_PAUSE_MS;
}

static void tcp_accept_resume(struct worker *w)
{
	if (w->accept_resume_ms == 0 || w->now_ms < w->accept_resume_ms) {
		return;
	}
	w->accept_resume_ms = 0;
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].tcp.fd != -1) {
			(void)worker_watch(w, &w->listeners[i].tcp, EPOLLIN, false);
		}
	}
}

/* The order of activity. A connection moves to the newest end when it is accepted, when a
 * whole query arrives and when answer bytes go out; the oldest is the one a newcomer evicts
 * from a full table. A query every few seconds does not keep a connection from being evicted
 * by one that asks now: the idle timer alone would let such clients hold every slot. */
static void lru_unlink(struct tcp_state *t, struct tcp_conn *c)
{
	if (c->lru_prev != NULL) {
		c->lru_prev->lru_next = c->lru_next;
	} else {
		t->lru_oldest = c->lru_next;
	}
	if (c->lru_next != NULL) {
		c->lru_next->lru_prev = c->lru_prev;
	} else {
		t->lru_newest = c->lru_prev;
	}
	c->lru_prev = c->lru_next = NULL;
}

static void lru_append(struct tcp_state *t, struct tcp_conn *c)
{
	c->lru_next = NULL;
	c->lru_prev = t->lru_newest;
	if (t->lru_newest != NULL) {
		t->lru_newest->lru_next = c;
	} else {
		t->lru_oldest = c;
	}
	t->lru_newest = c;
}

void conn_touch(struct worker *w, struct tcp_conn *c)
{
	if (w->tcp->lru_newest != c) {
		lru_unlink(w->tcp, c);
		lru_append(w->tcp, c);
	}
}

/* One timer serves both rules: the idle check and the deadline of a query begun. */
void conn_arm(struct worker *w, struct tcp_conn *c)
{
	uint64_t at = c->idle_at;

	if (c->query_at != 0 && c->query_at < at) {
		at = c->query_at;
	}
	timer_arm(&w->wheel, &c->timer, at);
}

/* Serve <fd> from <peer>, already counted for its address, in a free slot. */
static void conn_open(struct worker *w, int fd, const union sockaddr_any *peer, uint32_t ls_idx)
{
	struct tcp_state *t = w->tcp;
	struct tcp_conn *c = t->free_list;

	t->free_list = c->next_free;
	c->io.fd = fd;
	c->peer = *peer;
	c->listener = ls_idx;
	c->curve = curve_front_on(w, ls_idx);
	c->local.sa.sa_family = 0;
	c->open = true;
	c->rd_closed = false;
	c->last = false;
	c->parsing = false;
	c->resuming = false;
	c->wrote = false;
	c->outq = 0;
	c->nqueries = 0;
	c->rlen = c->woff = c->wlen = 0;
	c->interest = 0;
	c->stage_first = c->stage_last = STAGE_NONE;
	c->ack_owed_us = 0;
	c->pipelines = false;
	c->query_at = 0;
	c->idle_at = w->now_ms + w->snap->tcp_idle_ms;
	t->open++;
	lru_append(t, c);
	if (worker_watch(w, &c->io, EPOLLIN, true) != DR_EOK) {
		conn_close(w, c);
		return;
	}
	c->interest = EPOLLIN;
	conn_arm(w, c);
}

static void tcp_accept(struct worker *w, uint32_t ls_idx)
{
	struct tcp_state *t = w->tcp;

	/* While a newcomer waits for the slot an eviction frees, the others wait in the
	 * backlog: one eviction per newcomer, and only for one that is let in. */
	for (int i = 0; i < 64 && t->parked_fd == -1; i++) {
		union sockaddr_any peer;
		socklen_t peer_len = sizeof(peer);
		int fd = accept4(w->listeners[ls_idx].tcp.fd, &peer.sa, &peer_len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint32_t per_client = w->snap->tcp_per_client;

		if (fd == -1 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			tcp_accept_pause(
				w); /* else epoll reports the waiting client at once again */
			return;
		}
		if (fd == -1) {
			return; /* EAGAIN, or a connection reset before we took it */
		}
		if (w->draining) {
			STAT_INC(w, ST_TCP_REFUSED);
			close(fd);
			continue;
		}
		if (acl_check(w->snap->acl, &peer) == CONF_ACL_DROP) {
			STAT_INC(w, ST_ACL_DROP);
			close(fd);
			continue;
		}
		if (per_client != 0 && peercount_get(&t->peers, &peer) >= per_client) {
			STAT_INC(w, ST_TCP_CLOSE_PER_CLIENT);
			close(fd);
			continue;
		}
		peercount_add(&t->peers, &peer);
		if (t->free_list != NULL) {
			conn_open(w, fd, &peer, ls_idx);
			continue;
		}
		/* Full: the connection with the least recent activity makes room, unless one
		 * closed during this turn already did. A slot is free again at tcp_reap (an
		 * event for its old descriptor may still be pending), and the newcomer waits
		 * for it there. */
		if (t->closed == NULL) {
			STAT_INC(w, ST_TCP_CLOSE_EVICTED);
			conn_close(w, t->lru_oldest);
		}
		t->parked_fd = fd;
		t->parked_peer = peer;
		t->parked_listener = ls_idx;
	}
}

static void tcp_listener_ready(struct worker *w, struct io *io, uint32_t events)
{
	(void)events;
	tcp_accept(w, (uint32_t)((struct listener *)((char *)io - offsetof(struct listener, tcp)) -
				 w->listeners));
}

void conn_close(struct worker *w, struct tcp_conn *c)
{
	struct tcp_state *t = w->tcp;

	while (c->jobs != NULL) {
		job_end(w, c->jobs);
	}
	timer_disarm(&w->wheel, &c->timer);
	close(c->io.fd);
	c->io.fd = -1;
	c->open = false;
	t->open--;
	t->unsent -= c->wlen - c->woff;
	c->wlen = c->woff = 0;
	lru_unlink(t, c);
	peercount_del(&t->peers, &c->peer);
	/* Its buffers go back at tcp_reap: a parse under way may still hold the read buffer. */
	c->next_free = t->closed;
	t->closed = c;
}

static void conn_rbuf_put(struct worker *w, struct tcp_conn *c)
{
	stream_buf_put(&w->tcp->pool, c->rbuf, STREAM_BUF_SIZE);
	c->rbuf = NULL;
	c->rlen = 0;
}

/* A query that came in a DNSCurve format, opened into <buf> (<*len> bytes, then those of the
 * plain query) with its session in <cs>. False when it is dropped (counted). */
static bool conn_open_curve(struct worker *w, struct tcp_conn *c, uint8_t *buf, size_t *len,
			    struct curve_session *cs)
{
	size_t n;

	if (curve_front_open(w, buf, *len, WORKER_SCRATCH, true, &c->peer, &n, cs) != DR_EOK) {
		return false;
	}
	*len = n;
	return true;
}

/* One length-prefixed query of <len> bytes at <msg>. */
static void conn_query(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	uint8_t *buf = w->scratch;
	struct curve_session session, *cs = NULL;
	struct wire_question q;
	struct query_verdict v;
	struct query_origin from = {.client = &c->peer, .tcp = true};
	uint32_t max = w->snap->tcp_max_queries;

	STAT_INC(w, ST_QUERIES_TCP);
	/* Idle counts from the last whole query: bytes that never make one (a client sending
	 * a frame a byte at a time) do not keep the connection. The next query's deadline
	 * starts with its first byte. */
	c->idle_at = w->now_ms + w->snap->tcp_idle_ms;
	c->query_at = 0;
	conn_arm(w, c);
	conn_touch(w, c);
	c->nqueries++;
	memcpy(buf, msg, len);
	if (c->curve && curve_detect(buf, len) != CURVE_FMT_PLAIN) {
		if (!conn_open_curve(w, c, buf, &len, &session)) {
			return; /* no key to answer under: the next query is served */
		}
		cs = &session;
	}
	if (taps_on(w)) {
		union sockaddr_any local = conn_local(c);
		taps_client(w, TAP_CLIENT_QUERY, true, &c->peer, &local, buf, len, -1, cs != NULL);
	}
	query_decide(w, &from, buf, len, WORKER_SCRATCH, &q, &v);
	if (cs != NULL && v.action == QUERY_TRANSFER) {
		/* A transfer is many messages, each boxed with its own nonce: not offered. */
		v.reply_len = synth_reply(buf, len, WORKER_SCRATCH, &q, WIRE_RCODE_REFUSED,
					  WIRE_EDE_PROHIBITED, NULL);
		v.action = v.reply_len > 0 ? QUERY_REPLY : QUERY_DROP;
	}
	if (v.action == QUERY_DROP && v.close) {
		/* An access rule or the query limit: the client goes, once it has the answers
		 * of the queries it was allowed (read no more, as after its last query). */
		c->last = true;
		return;
	}
	if (v.action == QUERY_REPLY) {
		conn_answer(w, c, buf, (size_t)v.reply_len, wire_id(buf), cs, 0);
	} else if (v.action == QUERY_FORWARD || v.action == QUERY_TRANSFER) {
		job_start(w, c, &v, &q, buf, len, cs);
	}
	if (cs != NULL) {
		explicit_bzero(session.shared, sizeof(session.shared));
	}
	if (max != 0 && c->nqueries >= max && c->open && !c->last) {
		/* Answer what was asked, read no more queries, then close. */
		STAT_INC(w, ST_TCP_CLOSE_MAX_QUERIES);
		c->last = true;
	}
}

static bool conn_can_read(const struct tcp_conn *c, const struct worker *w)
{
	return !c->rd_closed && !c->last && !w->draining && c->njobs < TCP_PIPELINE_MAX &&
	       c->wlen - c->woff < TCP_WBUF_MAX;
}

/* Past its last query a connection still reads, and discards what it reads, until its
 * answers are out: closing with unread bytes would reset it and lose them. */
static bool conn_discards(const struct tcp_conn *c)
{
	return c->last && !c->rd_closed;
}

static bool frame_whole(const uint8_t *buf, size_t len)
{
	return len >= TCP_LEN_PREFIX && len >= TCP_LEN_PREFIX + (size_t)wire_read_u16(buf);
}

/* Serve the whole queries at the start of <buf> (<len> bytes) while <c> may take more.
 * Returns the bytes used, or -1 when the stream is garbage. */
static ssize_t conn_serve(struct worker *w, struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	size_t pos = 0;

	while (c->open && conn_can_read(c, w) && len - pos >= TCP_LEN_PREFIX) {
		size_t flen = wire_read_u16(buf + pos);
		if (flen < WIRE_HDR_LEN) {
			STAT_INC(w, ST_DROP_SHORT);
			return -1;
		}
		if (len - pos < TCP_LEN_PREFIX + flen) {
			break;
		}
		conn_query(w, c, buf + pos + TCP_LEN_PREFIX, flen);
		pos += TCP_LEN_PREFIX + flen;
	}
	return (ssize_t)pos;
}

/* Serve the complete queries in the connection's own buffer. False when the stream is
 * garbage. */
static bool conn_parse(struct worker *w, struct tcp_conn *c)
{
	ssize_t used;

	/* A query can fail while it starts (a shared backend connection whose write fails
	 * fails its other queries too, this client's among them), and that settles the client:
	 * a second pass over the same buffer would start its queries twice and leave this one's
	 * position past the end. The pass under way serves what remains. */
	if (c->parsing || c->rbuf == NULL) {
		return true;
	}
	c->parsing = true;
	used = conn_serve(w, c, c->rbuf, c->rlen);
	c->parsing = false;
	if (used < 0) {
		return false;
	}
	if (c->open) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
		if (c->rlen == 0 || c->last) {
			conn_rbuf_put(w, c);
		}
	}
	return true;
}

/* Serve the <n> bytes just read into the worker's buffer; what is left over (part of a
 * query, or whole ones while the connection takes no more) moves into a buffer of the
 * connection's own. False when the stream is garbage or no buffer is to be had. */
static bool conn_parse_read(struct worker *w, struct tcp_conn *c, size_t n)
{
	uint8_t *rd = w->tcp->rd;
	ssize_t used;

	c->parsing = true;
	used = conn_serve(w, c, rd, n);
	c->parsing = false;
	if (used < 0) {
		return false;
	}
	if (!c->open || c->last || (size_t)used == n) {
		return true;
	}
	c->rbuf = stream_buf_get(&w->tcp->pool);
	if (c->rbuf == NULL) {
		return false;
	}
	c->rlen = n - (size_t)used;
	memcpy(c->rbuf, rd + used, c->rlen);
	return true;
}

/* Queries were read on <c>. A client that pipelines without TCP_NODELAY holds its next query
 * until these are acknowledged: an answer written within STREAM_ACK_DELAY_US carries the ACK,
 * or one goes alone at the first turn's end after that (conn_acks_due). Only for a client
 * that has had two queries in flight: one that asks a query at a time sends the next after
 * the answer, which carries the ACK, and an ACK alone would be a packet per query for
 * nothing. */
static void conn_owe_ack(struct worker *w, struct tcp_conn *c)
{
	c->pipelines = c->pipelines || c->njobs > 1;
	if (!c->pipelines) {
		return;
	}
	if (c->ack_owed_us == 0) {
		c->ack_owed_us = clock_now_us();
	}
	if (!c->on_ack_list) {
		c->on_ack_list = true;
		c->ack_next = w->tcp->ack_owed;
		w->tcp->ack_owed = c;
	}
}

/* At the turn's end, after its answers went out: the ACKs owed that no answer carried and
 * that waited long enough go alone. The loop is not woken for the others, unlike for a
 * backend's (upstream/tcp.c): a client's query is usually answered within that time, and a
 * timer that short, armed for nearly every wait, cost more than the ACKs it would send (6 µs
 * a query at 10,000 q/s in the TCP benchmark). While connections are open the loop comes
 * back within 5 ms all the same (it waits no longer while timers are armed, and their idle
 * timers are), and a busy one much sooner. Runs before tcp_reap, so that a closed connection
 * leaves the list before its slot can be reused. */
static void conn_acks_due(struct worker *w)
{
	struct tcp_conn *c = w->tcp->ack_owed, *later = NULL;
	uint64_t now = 0;

	while (c != NULL) {
		struct tcp_conn *next = c->ack_next;

		c->on_ack_list = c->open && stream_ack_due(c->io.fd, &c->ack_owed_us, &now) != 0;
		if (c->on_ack_list) {
			c->ack_next = later;
			later = c;
		}
		c = next;
	}
	w->tcp->ack_owed = later;
}

static void conn_read(struct worker *w, struct tcp_conn *c)
{
	/* Whole queries kept while reading paused go first. */
	if (conn_can_read(c, w) && !conn_parse(w, c)) {
		conn_close(w, c);
		return;
	}
	while (c->open && (conn_can_read(c, w) || conn_discards(c))) {
		bool own = c->rbuf != NULL && !c->last;
		uint8_t *buf = own ? c->rbuf : w->tcp->rd;
		size_t have = own ? c->rlen : 0;
		bool emptied;
		ssize_t n;

		if (have >= STREAM_BUF_SIZE) {
			break; /* cannot happen: a frame is shorter than the buffer */
		}
		n = read(c->io.fd, buf + have, STREAM_BUF_SIZE - have);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		}
		if (n == -1) {
			conn_close(w, c);
			return;
		}
		if (n == 0) {
			c->rd_closed = true;
			break;
		}
		/* A short read emptied the socket: epoll (level-triggered) says when more
		 * comes, which spares a read that would only say EAGAIN. */
		emptied = (size_t)n < STREAM_BUF_SIZE - have;
		if (c->last) {
			if (emptied) {
				break;
			}
			continue; /* past the last query: discarded */
		}
		if (own) {
			c->rlen += (size_t)n;
		}
		if (!(own ? conn_parse(w, c) : conn_parse_read(w, c, (size_t)n))) {
			conn_close(w, c);
			return;
		}
		conn_owe_ack(w, c);
		if (emptied) {
			break;
		}
	}
}

/* tcp.query-timeout: a query begun (bytes of it buffered, not yet whole) must be whole by a
 * deadline counted from when it began, however its bytes trickle in. */
static void conn_watch_query(struct worker *w, struct tcp_conn *c)
{
	uint32_t ms = w->snap->tcp_query_ms;
	uint64_t at = 0;

	if (!c->open) {
		return;
	}
	if (ms != 0 && c->rbuf != NULL && !frame_whole(c->rbuf, c->rlen)) {
		at = c->query_at != 0 ? c->query_at : w->now_ms + ms;
	}
	if (at != c->query_at) {
		c->query_at = at;
		conn_arm(w, c);
	}
}

/* Ask epoll for what <c> can use now, or close it when it is done. */
void conn_update(struct worker *w, struct tcp_conn *c)
{
	uint32_t want = 0;

	if (!c->open) {
		return;
	}
	if ((c->rd_closed || c->last || w->draining) && c->njobs == 0 && !conn_unsent(c)) {
		conn_close(w, c);
		return;
	}
	if (conn_can_read(c, w) || conn_discards(c)) {
		want |= EPOLLIN;
	}
	if (c->wlen > c->woff) {
		want |= EPOLLOUT;
	}
	if (want != c->interest) {
		if (worker_watch(w, &c->io, want, false) != DR_EOK) {
			conn_close(w, c);
			return;
		}
		c->interest = want;
	}
}

/* After anything happened to <c>: serve queries still buffered (reading may have paused
 * with whole queries in the buffer), then ask epoll for what it can use now. */
void conn_settle(struct worker *w, struct tcp_conn *c)
{
	if (c->open && conn_can_read(c, w) && !conn_parse(w, c)) {
		conn_close(w, c);
	}
	conn_resume_transfers(w, c);
	conn_watch_query(w, c);
	conn_update(w, c);
}

/* The client may have read some of what it was sent: transfers waiting for room go on. */
static void conn_resume_transfers(struct worker *w, struct tcp_conn *c)
{
	struct tcp_job *j = c->jobs;

	if (c->resuming) {
		return; /* a transfer that ends settles its client, and so comes back here */
	}
	c->resuming = true;
	while (j != NULL && c->open) {
		struct tcp_job *next = j->next; /* <j> may end, and stays allocated this turn */
		if (j->xfr != NULL) {
			xfr_resume(w, j->xfr);
		}
		j = next;
	}
	c->resuming = false;
}

static void tcp_client_event(struct worker *w, struct io *io, uint32_t events)
{
	struct tcp_conn *c = (struct tcp_conn *)io;

	if (!c->open) {
		return;
	}
	/* Reset, or shut both ways: no answer can reach the client any more. Reading is not
	 * always asked for (a full pipeline), and epoll would report this at every wait. */
	if (events & (EPOLLHUP | EPOLLERR)) {
		conn_close(w, c);
		return;
	}
	if ((events & EPOLLOUT) && !conn_flush(w, c)) {
		conn_close(w, c);
		return;
	}
	if (events & EPOLLIN) {
		conn_read(w, c);
	}
	conn_settle(w, c);
}

/* Did the client read from the kernel's send queue since the last check? Our own writes can
 * stall for longer than an idle time while a slow client works through megabytes the
 * kernel holds for it; that client is reading all the same. */
static bool conn_kernel_drained(struct tcp_conn *c)
{
	int outq = 0;
	bool drained;

	if (ioctl(c->io.fd, SIOCOUTQ, &outq) == -1) {
		return false;
	}
	drained = outq < c->outq;
	c->outq = outq;
	return drained;
}

/* The connection's timer fired: the deadline of a query begun, or the idle check. */
static void conn_expired(struct worker *w, struct tcp_conn *c)
{
	uint32_t query_ms = w->snap->tcp_query_ms;

	if (c->query_at != 0 && w->now_ms >= c->query_at) {
		if (query_ms != 0 && conn_can_read(c, w)) {
			STAT_INC(w, ST_TCP_CLOSE_QUERY_TIMEOUT);
			conn_close(w, c); /* a query that does not come whole: slowloris */
			return;
		}
		/* Reading paused on our side (answers owed): the client is not the slow one. */
		c->query_at = query_ms != 0 ? w->now_ms + query_ms : 0;
	}
	if (w->now_ms >= c->idle_at) {
		bool drained;
		if (c->njobs == 0 && !conn_unsent(c)) {
			conn_close(w, c); /* RFC 7766 §6.2.3: the server may close idle ones */
			return;
		}
		drained = conn_kernel_drained(c); /* also the mark for the next check */
		if (c->wlen > c->woff && !c->wrote && !drained) {
			conn_close(w, c); /* answers waiting and none read for a whole idle time */
			return;
		}
		c->wrote = false;
		c->idle_at = w->now_ms + w->snap->tcp_idle_ms;
	}
	conn_arm(w, c);
}

/* A connection's timer: idle, or a query not whole in time. */
static void conn_fire(struct worker *w, struct timer *t)
{
	conn_expired(w, (struct tcp_conn *)((char *)t - offsetof(struct tcp_conn, timer)));
}

static void tcp_reap(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	jobs_reap(w);
	while (t->closed != NULL) {
		struct tcp_conn *c = t->closed;
		t->closed = c->next_free;
		conn_rbuf_put(w, c);
		conn_wbuf_put(w, c);
		c->next_free = t->free_list;
		t->free_list = c;
	}
	/* The newcomer an eviction made room for. */
	if (t->parked_fd != -1 && t->free_list != NULL) {
		int fd = t->parked_fd;
		t->parked_fd = -1;
		if (w->draining) {
			peercount_del(&t->peers, &t->parked_peer);
			STAT_INC(w, ST_TCP_REFUSED);
			close(fd);
		} else {
			conn_open(w, fd, &t->parked_peer, t->parked_listener);
		}
	}
}

static void tcp_drain(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	for (uint32_t i = 0; i < t->nconns; i++) {
		if (t->conns[i].open) {
			conn_settle(w, &t->conns[i]);
		}
	}
}

static bool tcp_busy(const struct worker *w)
{
	return w->tcp->open > 0 || w->tcp->parked_fd != -1;
}

static int tcp_front_init(struct worker *w, char *err, size_t len)
{
	if (tcp_init(w, w->router->tcp_max_conns) != DR_EOK) {
		snprintf(err, len, "worker %u: cannot allocate its TCP connections (%s)", w->id,
			 strerror(errno));
		return DR_ENOMEM;
	}
	return worker_listen(w, true, tcp_listen, tcp_listener_ready, err, len);
}

static void tcp_front_turn_end(struct worker *w)
{
	tcp_stage_flush(w); /* before tcp_reap: a staged connection's slot is not free yet */
	conn_acks_due(w);
	tcp_accept_resume(w);
	tcp_reap(w);
}

/* Stopping: no new connections; the open ones finish what they carry. */
static void tcp_front_drain(struct worker *w)
{
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].tcp.fd >= 0) {
			close(w->listeners[i].tcp.fd); /* also leaves epoll */
			w->listeners[i].tcp.fd = -1;
		}
	}
	tcp_drain(w);
}

static void tcp_front_close_clients(struct worker *w)
{
	if (w->tcp != NULL) {
		tcp_deinit(w);
	}
}

const struct worker_part tcp_front = {
	.init = tcp_front_init,
	.turn_end = tcp_front_turn_end,
	.drain = tcp_front_drain,
	.busy = tcp_busy,
	.close_clients = tcp_front_close_clients,
};
