/* SPDX-License-Identifier: MIT */
/* worker/tcp.c -- TCP clients, and the TCP queries relayed for them to the backends
 *
 * A client connection reads length-prefixed queries (RFC 7766), answers what the router
 * answers itself at once, and relays each other query over its own TCP connection to a
 * backend (a "job"), so answers of any size come back whole. Several jobs per client run at
 * once; answers are written in the order they complete (RFC 7766 §7). A zone transfer an
 * allowed client asks for is a job too, with many answers (worker/xfr.c). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/err.h"
#include "common/log.h"
#include "worker/query.h"
#include "worker/tcp.h"
#include "worker/stream.h"
#include "worker/tcp_up.h"
#include "worker/udp.h"
#include "worker/xfr.h"

#define TCP_PIPELINE_MAX 64       /* jobs per connection before we stop reading */
#define TCP_WBUF_MAX (256u << 10) /* unsent answer bytes before we stop reading */
#define TCP_ACCEPT_PAUSE_MS 100   /* accepts wait this long when descriptors run out */
/* Answers a connection may hold unsent: what its pipeline can bring after reading stopped,
 * so a client that reads, however slowly, loses none. A client that reads nothing is closed
 * by the idle rule, and all connections of a worker together hold at most TCP_UNSENT_MAX. */
#define TCP_CONN_UNSENT_MAX (TCP_WBUF_MAX + TCP_PIPELINE_MAX * (TCP_LEN_PREFIX + WIRE_TCP_MSG_MAX))
#define TCP_UNSENT_MAX (64u << 20)
#define TCP_WBUF_KEEP (64u << 10) /* a closed connection's larger buffer is given back */

struct tcp_conn {
	struct io io; /* first: epoll data.ptr */
	struct timer idle;
	struct tcp_conn *next_free;
	struct tcp_job *jobs; /* doubly linked through job.prev/next */
	unsigned njobs;
	uint32_t interest; /* epoll events asked for */
	union sockaddr_any peer;
	bool open;
	bool rd_closed; /* the client sent FIN */
	bool wrote;     /* answer bytes went out since the idle timer was last armed */
	int outq;       /* the kernel's unsent bytes at the last idle check */
	bool resuming;  /* in conn_resume_transfers: not again from inside it */
	bool parsing;   /* in conn_parse: a query failing at once can settle the connection */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen, wcap;
};

struct tcp_state {
	struct tcp_conn *conns;
	uint32_t nconns;
	uint32_t open;
	struct tcp_conn *free_list;
	struct tcp_conn *closed;   /* back to free_list at tcp_reap */
	struct tcp_job *dead_jobs; /* freed at tcp_reap */
	size_t unsent;             /* answer bytes waiting in all connections' buffers */
};

static void conn_close(struct worker *w, struct tcp_conn *c);

int tcp_init(struct worker *w, uint32_t max_conns)
{
	struct tcp_state *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return DR_ENOMEM;
	}
	t->conns = calloc(max_conns, sizeof(*t->conns));
	if (t->conns == NULL) {
		free(t);
		return DR_ENOMEM;
	}
	t->nconns = max_conns;
	for (uint32_t i = max_conns; i-- > 0;) {
		t->conns[i].io.kind = IO_TCP_CLIENT;
		t->conns[i].io.fd = -1;
		t->conns[i].idle.kind = TIMER_KIND_TCP_CONN;
		t->conns[i].next_free = t->free_list;
		t->free_list = &t->conns[i];
	}
	w->tcp = t;
	return DR_EOK;
}

void tcp_deinit(struct worker *w)
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
	tcp_reap(w);
	for (uint32_t i = 0; i < t->nconns; i++) {
		free(t->conns[i].rbuf);
		free(t->conns[i].wbuf);
	}
	free(t->conns);
	free(t);
	w->tcp = NULL;
}

int tcp_listen(const union sockaddr_any *addr)
{
	int one = 1;
	int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    (addr->sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, &addr->sa, sockaddr_len(addr)) == -1 || listen(fd, 1024) == -1) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Jobs: a client's query while a backend works on it */

static void conn_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len,
		      uint16_t id);
static void conn_settle(struct worker *w, struct tcp_conn *c);
static void conn_update(struct worker *w, struct tcp_conn *c);
static void conn_resume_transfers(struct worker *w, struct tcp_conn *c);

/* End <j>: off its client and its backend connection, freed at tcp_reap. Ending an ended job
 * does nothing: answering a job can close its client, which ends all of the client's jobs,
 * this one included, before the caller ends it too. */
static void job_end(struct worker *w, struct tcp_job *j)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	j->ended = true;
	tcp_up_cancel(w, j);
	if (j->xfr != NULL) {
		xfr_cancel(w, j->xfr);
	}
	timer_disarm(&w->wheel, &j->timer);
	if (j->prev != NULL) {
		j->prev->next = j->next;
	} else {
		c->jobs = j->next;
	}
	if (j->next != NULL) {
		j->next->prev = j->prev;
	}
	c->njobs--;
	j->next_dead = w->tcp->dead_jobs;
	w->tcp->dead_jobs = j;
}

/* Answer <j>'s client with SERVFAIL and end the job. */
static void job_servfail(struct worker *w, struct tcp_job *j, int ede)
{
	int n;

	if (j->ended) {
		return;
	}
	n = query_servfail(j->query, j->qlen, j->qcap, ede);
	STAT_INC(w, ede == WIRE_EDE_NO_REACHABLE_AUTHORITY ? ST_SERVFAIL_NOBACKEND
							   : ST_SERVFAIL_TIMEOUT);
	if (n > 0) {
		conn_send(w, j->conn, j->query, (size_t)n, j->client_id);
	}
	job_end(w, j);
}

/* <j>'s backend failed it: one retry on another backend of the route, then SERVFAIL. */
static void job_retry(struct worker *w, struct tcp_job *j)
{
	struct wbackend *failed = j->backend_idx < w->nbes ? w->bes[j->backend_idx] : NULL;
	struct wire_question q;
	struct wbackend *next;

	if (j->ended) {
		return;
	}
	tcp_up_cancel(w, j);
	timer_disarm(&w->wheel, &j->timer);
	if (j->tries > 0 || w->draining || wire_parse_question(j->query, j->qlen, &q) != DR_EOK) {
		job_servfail(w, j, WIRE_EDE_NETWORK_ERROR);
		return;
	}
	j->tries++;
	next = query_pick_retry(w, &q, failed ? failed->be : NULL);
	if (next == NULL || tcp_up_send(w, j, next) != DR_EOK) {
		job_servfail(w, j, WIRE_EDE_NETWORK_ERROR);
		return;
	}
	STAT_INC(w, ST_RETRIES);
}

void tcp_job_answered(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	STAT_INC(w, ST_ANSWERS);
	conn_send(w, c, msg, len, j->client_id);
	job_end(w, j);
	conn_settle(w, c);
}

void tcp_job_failed(struct worker *w, struct tcp_job *j)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	timer_disarm(&w->wheel, &j->timer);
	job_retry(w, j);
	conn_settle(w, c);
}

static void job_start(struct worker *w, struct tcp_conn *c, const struct query_verdict *v,
		      const struct wire_question *q, const uint8_t *msg, size_t len)
{
	struct tcp_job *j = calloc(1, sizeof(*j));
	size_t cap = len + 512; /* a SERVFAIL with EDNS fits */

	if (j == NULL || (j->query = malloc(cap)) == NULL) {
		free(j);
		STAT_INC(w, ST_INFLIGHT_FULL);
		return;
	}
	j->timer.kind = TIMER_KIND_TCP_JOB;
	j->conn = c;
	j->client_id = q->id;
	j->qhash = wire_question_hash(q);
	j->qlen = len;
	j->qcap = cap;
	memcpy(j->query, msg, len);
	j->next = c->jobs;
	if (c->jobs != NULL) {
		c->jobs->prev = j;
	}
	c->jobs = j;
	c->njobs++;
	if ((v->action == QUERY_TRANSFER ? xfr_start(w, j, v->wb, q->qtype)
					 : tcp_up_send(w, j, v->wb)) != DR_EOK) {
		job_servfail(w, j, WIRE_EDE_NO_REACHABLE_AUTHORITY);
	}
}

size_t tcp_job_unsent(const struct tcp_job *j)
{
	return j->conn->wlen - j->conn->woff;
}

bool tcp_job_relay(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len)
{
	conn_send(w, j->conn, msg, len, j->client_id);
	if (j->ended) {
		return false;
	}
	conn_update(w, j->conn); /* what the socket did not take waits for EPOLLOUT */
	return !j->ended;
}

void tcp_job_finish(struct worker *w, struct tcp_job *j, bool ok, bool relayed)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	if (ok) {
		STAT_INC(w, ST_ANSWERS);
		job_end(w, j);
		/* A long transfer is not idleness: the next query has a whole idle time. */
		timer_arm(&w->wheel, &c->idle, w->now_ms + w->snap->tcp_idle_ms);
	} else if (!relayed) {
		job_servfail(w, j, WIRE_EDE_NETWORK_ERROR);
	} else {
		conn_close(w, c); /* a cut stream is the one failure a transfer client sees */
		return;
	}
	conn_settle(w, c);
}

/* Client connections */

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

void tcp_accept_resume(struct worker *w)
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

void tcp_accept(struct worker *w, uint32_t ls_idx)
{
	struct tcp_state *t = w->tcp;

	for (int i = 0; i < 64; i++) {
		union sockaddr_any peer;
		socklen_t peer_len = sizeof(peer);
		int fd = accept4(w->listeners[ls_idx].tcp.fd, &peer.sa, &peer_len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tcp_conn *c;

		if (fd == -1 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			tcp_accept_pause(
				w); /* else epoll reports the waiting client at once again */
			return;
		}
		if (fd == -1) {
			return; /* EAGAIN, or a connection reset before we took it */
		}
		c = t->free_list;
		if (c == NULL || w->draining) {
			STAT_INC(w, ST_TCP_REFUSED);
			close(fd);
			continue;
		}
		t->free_list = c->next_free;
		c->io.fd = fd;
		c->peer = peer;
		c->open = true;
		c->rd_closed = false;
		c->parsing = false;
		c->resuming = false;
		c->wrote = false;
		c->outq = 0;
		c->rlen = c->woff = c->wlen = 0;
		c->interest = 0;
		t->open++;
		if (worker_watch(w, &c->io, EPOLLIN, true) != DR_EOK) {
			conn_close(w, c);
			continue;
		}
		c->interest = EPOLLIN;
		timer_arm(&w->wheel, &c->idle, w->now_ms + w->snap->tcp_idle_ms);
	}
}

static void conn_close(struct worker *w, struct tcp_conn *c)
{
	while (c->jobs != NULL) {
		job_end(w, c->jobs);
	}
	timer_disarm(&w->wheel, &c->idle);
	close(c->io.fd);
	c->io.fd = -1;
	c->open = false;
	w->tcp->open--;
	w->tcp->unsent -= c->wlen - c->woff;
	c->wlen = c->woff = 0;
	if (c->wcap > TCP_WBUF_KEEP) {
		free(c->wbuf); /* one slow client's peak is not kept for every later one */
		c->wbuf = NULL;
		c->wcap = 0;
	}
	c->next_free = w->tcp->closed;
	w->tcp->closed = c;
}

static bool conn_flush(struct worker *w, struct tcp_conn *c)
{
	size_t unsent = c->wlen - c->woff;
	bool ok = stream_flush(c->io.fd, c->wbuf, &c->woff, &c->wlen);

	if (c->wlen - c->woff < unsent) {
		c->wrote = true;
		w->tcp->unsent -= unsent - (c->wlen - c->woff);
	}
	return ok;
}

static void conn_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len,
		      uint16_t id)
{
	if (!c->open) {
		return;
	}
	stream_compact(c->wbuf, &c->woff, &c->wlen);
	if (w->tcp->unsent + TCP_LEN_PREFIX + len > TCP_UNSENT_MAX ||
	    stream_reserve(&c->wbuf, &c->wcap, c->wlen + TCP_LEN_PREFIX + len,
			   TCP_CONN_UNSENT_MAX) != DR_EOK) {
		conn_close(w, c); /* a client that reads too little: let it go */
		return;
	}
	STAT_RESPONSE(w, msg);
	wire_write_u16(c->wbuf + c->wlen, (uint16_t)len);
	memcpy(c->wbuf + c->wlen + TCP_LEN_PREFIX, msg, len);
	wire_set_id(c->wbuf + c->wlen + TCP_LEN_PREFIX, id);
	c->wlen += TCP_LEN_PREFIX + len;
	w->tcp->unsent += TCP_LEN_PREFIX + len;
	if (!conn_flush(w, c)) {
		conn_close(w, c);
	}
}

/* One length-prefixed query of <len> bytes at <msg>. */
static void conn_query(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len)
{
	uint8_t *buf = w->scratch;
	struct wire_question q;
	struct query_verdict v;
	struct query_origin from = {.client = &c->peer, .tcp = true};

	STAT_INC(w, ST_QUERIES_TCP);
	/* Idle counts from the last whole query: bytes that never make one (a client sending
	 * a frame a byte at a time) do not keep the connection. */
	timer_arm(&w->wheel, &c->idle, w->now_ms + w->snap->tcp_idle_ms);
	memcpy(buf, msg, len);
	query_decide(w, &from, buf, len, WORKER_SCRATCH, &q, &v);
	if (v.action == QUERY_REPLY) {
		conn_send(w, c, buf, (size_t)v.reply_len, wire_id(buf));
	} else if (v.action == QUERY_FORWARD || v.action == QUERY_TRANSFER) {
		job_start(w, c, &v, &q, buf, len);
	}
}

static bool conn_can_read(const struct tcp_conn *c, const struct worker *w)
{
	return !c->rd_closed && !w->draining && c->njobs < TCP_PIPELINE_MAX &&
	       c->wlen - c->woff < TCP_WBUF_MAX;
}

/* Serve the complete queries in the read buffer. False when the stream is garbage. */
static bool conn_parse(struct worker *w, struct tcp_conn *c)
{
	size_t pos = 0;

	/* A query can fail while it starts (a shared backend connection whose write fails
	 * fails its other queries too, this client's among them), and that settles the client:
	 * a second pass over the same buffer would start its queries twice and leave this one's
	 * position past the end. The pass under way serves what remains. */
	if (c->parsing) {
		return true;
	}
	c->parsing = true;
	while (c->open && c->rlen - pos >= TCP_LEN_PREFIX) {
		size_t len = wire_read_u16(c->rbuf + pos);
		if (len < WIRE_HDR_LEN) {
			STAT_INC(w, ST_DROP_SHORT);
			c->parsing = false;
			return false;
		}
		if (c->rlen - pos < TCP_LEN_PREFIX + len) {
			break;
		}
		conn_query(w, c, c->rbuf + pos + TCP_LEN_PREFIX, len);
		pos += TCP_LEN_PREFIX + len;
		if (!conn_can_read(c, w)) {
			break;
		}
	}
	if (pos > 0 && c->open) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	c->parsing = false;
	return true;
}

static void conn_read(struct worker *w, struct tcp_conn *c)
{
	while (c->open && conn_can_read(c, w)) {
		ssize_t n;
		if (stream_reserve(&c->rbuf, &c->rcap, c->rlen + 4096,
				   TCP_LEN_PREFIX + WIRE_TCP_MSG_MAX + 4096) != DR_EOK) {
			conn_close(w, c);
			return;
		}
		n = read(c->io.fd, c->rbuf + c->rlen, c->rcap - c->rlen);
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
		c->rlen += (size_t)n;
		if (!conn_parse(w, c)) {
			conn_close(w, c);
			return;
		}
	}
}

/* Ask epoll for what <c> can use now, or close it when it is done. */
static void conn_update(struct worker *w, struct tcp_conn *c)
{
	uint32_t want = 0;

	if (!c->open) {
		return;
	}
	if ((c->rd_closed || w->draining) && c->njobs == 0 && c->wlen == c->woff) {
		conn_close(w, c);
		return;
	}
	if (conn_can_read(c, w)) {
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
static void conn_settle(struct worker *w, struct tcp_conn *c)
{
	if (c->open && conn_can_read(c, w) && !conn_parse(w, c)) {
		conn_close(w, c);
	}
	conn_resume_transfers(w, c);
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

void tcp_client_event(struct worker *w, struct io *io, uint32_t events)
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

void tcp_timer_expired(struct worker *w, struct timer *t)
{
	if (t->kind == TIMER_KIND_TCP_JOB) {
		struct tcp_job *j = (struct tcp_job *)((char *)t - offsetof(struct tcp_job, timer));
		struct tcp_conn *c = j->conn;
		if (j->backend_idx < w->nbes && w->bes[j->backend_idx] != NULL) {
			stat_add(&worker_counters(w, w->bes[j->backend_idx]->be)->timeouts, 1);
		}
		tcp_up_timed_out(w, j);
		job_retry(w, j);
		conn_settle(w, c);
		return;
	}
	struct tcp_conn *c = (struct tcp_conn *)((char *)t - offsetof(struct tcp_conn, idle));
	if (c->njobs == 0 && c->wlen == c->woff) {
		conn_close(w, c); /* RFC 7766 §6.2.3: the server may close idle ones */
		return;
	}
	bool drained = conn_kernel_drained(c); /* also the mark for the next check */
	if (c->wlen > c->woff && !c->wrote && !drained) {
		conn_close(w, c); /* answers waiting and none read for a whole idle time */
		return;
	}
	c->wrote = false;
	timer_arm(&w->wheel, &c->idle, w->now_ms + w->snap->tcp_idle_ms);
}

void tcp_reap(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	while (t->dead_jobs != NULL) {
		struct tcp_job *j = t->dead_jobs;
		t->dead_jobs = j->next_dead;
		free(j->query);
		free(j);
	}
	while (t->closed != NULL) {
		struct tcp_conn *c = t->closed;
		t->closed = c->next_free;
		c->next_free = t->free_list;
		t->free_list = c;
	}
}

void tcp_drain(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	for (uint32_t i = 0; i < t->nconns; i++) {
		if (t->conns[i].open) {
			conn_settle(w, &t->conns[i]);
		}
	}
}

bool tcp_busy(const struct worker *w)
{
	return w->tcp->open > 0;
}
