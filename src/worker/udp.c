/* SPDX-License-Identifier: MIT */
/* worker/udp.c -- UDP front end and UDP to the backends, in recvmmsg/sendmmsg batches */
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/clock.h"
#include "wire/wire.h"
#include "limit/rrl.h"
#include "worker/clientaddr.h"
#include "worker/ports.h"
#include "worker/query.h"
#include "worker/transparent.h"
#include "worker/udp.h"

#define TX_MAX (2 * WORKER_BATCH)
#define TX_OWN WORKER_BATCH /* messages that outlive the receive batch: retries, SERVFAIL */
#define SOCK_BUF_BYTES (4 << 20)
#define CTL_LEN CMSG_SPACE(sizeof(struct in6_pktinfo))

/* Outgoing datagrams of one loop turn. Most point into the receive buffers, edited in place;
 * the ones made from timers live in <own>. */
struct tx_queue {
	struct mmsghdr msgs[TX_MAX];
	struct iovec iov[TX_MAX];
	union sockaddr_any addr[TX_MAX];
	uint8_t ctl[TX_MAX][CTL_LEN] __attribute__((aligned(8)));
	int fd[TX_MAX];
	bool sent[TX_MAX];
	unsigned n;
	unsigned nown;
	uint8_t own[TX_OWN][WORKER_QUERY_BUF];
	/* receive side, reused for every batch */
	struct mmsghdr rx[WORKER_BATCH];
	struct iovec rx_iov[WORKER_BATCH];
	union sockaddr_any rx_addr[WORKER_BATCH];
	uint8_t rx_ctl[WORKER_BATCH][CTL_LEN] __attribute__((aligned(8)));
};

int udp_init(struct worker *w)
{
	w->tx = calloc(1, sizeof(*w->tx));
	return w->tx ? DR_EOK : DR_ENOMEM;
}

void udp_deinit(struct worker *w)
{
	free(w->tx);
	w->tx = NULL;
}

static void set_buffers(int fd)
{
	int size = SOCK_BUF_BYTES;

	/* Best effort: the kernel caps it at net.core.[rw]mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* On a wildcard address, ask for each datagram's destination (IP_PKTINFO), to answer from it. */
static int want_pktinfo(int fd, const union sockaddr_any *addr)
{
	int one = 1;

	if (!sockaddr_is_wildcard(addr)) {
		return 0;
	}
	if (addr->sa.sa_family == AF_INET) {
		return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

int udp_listen(const union sockaddr_any *addr)
{
	int one = 1;
	int fd = socket(addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    want_pktinfo(fd, addr) == -1 ||
	    (addr->sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, &addr->sa, sockaddr_len(addr)) == -1) {
		int e = errno;
		close(fd);
		return -e;
	}
	set_buffers(fd);
	return fd;
}

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
	set_buffers(fd);
	return fd;
}

/* Ask the kernel to send from <to>'s local address (ipi_spec_dst / ipi6_addr). */
static void set_source(struct msghdr *h, uint8_t *ctl, const struct udp_peer *to)
{
	struct cmsghdr *c;

	memset(ctl, 0, CTL_LEN);
	h->msg_control = ctl;
	c = (struct cmsghdr *)ctl;
	if (to->local_family == AF_INET) {
		struct in_pktinfo pi = {.ipi_spec_dst = to->local.v4};
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = {.ipi6_addr = to->local.v6};
		h->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/* Queue <len> bytes at <buf> for <fd>, to <to> (NULL on a connected socket). */
static void tx_push(struct worker *w, int fd, const struct udp_peer *to, uint8_t *buf, size_t len)
{
	struct tx_queue *tx = w->tx;
	unsigned i;

	if (tx->n == TX_MAX) {
		udp_tx_flush(w);
	}
	i = tx->n++;
	tx->fd[i] = fd;
	tx->iov[i].iov_base = buf;
	tx->iov[i].iov_len = len;
	memset(&tx->msgs[i].msg_hdr, 0, sizeof(tx->msgs[i].msg_hdr));
	tx->msgs[i].msg_hdr.msg_iov = &tx->iov[i];
	tx->msgs[i].msg_hdr.msg_iovlen = 1;
	if (to != NULL) {
		STAT_RESPONSE(w, buf); /* every datagram with an address goes to a client */
		tx->addr[i] = to->remote;
		tx->msgs[i].msg_hdr.msg_name = &tx->addr[i];
		tx->msgs[i].msg_hdr.msg_namelen = sockaddr_len(&to->remote);
		if (to->local_family != 0) {
			set_source(&tx->msgs[i].msg_hdr, tx->ctl[i], to);
		}
	}
}

/* A buffer that stays valid until the next flush, for messages built from timers. */
static uint8_t *tx_own_buffer(struct worker *w)
{
	if (w->tx->nown == TX_OWN || w->tx->n == TX_MAX) {
		udp_tx_flush(w);
	}
	return w->tx->own[w->tx->nown++];
}

static void send_group(struct worker *w, int fd, struct mmsghdr *msgs, unsigned n)
{
	unsigned done = 0;
	bool retried = false;

	while (done < n) {
		int rc = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
		if (rc == -1) {
			if (errno == EINTR) {
				continue;
			}
			/* An ICMP error that arrived for an earlier datagram fails the next send
			 * and is gone with it: this datagram was not the one refused. */
			if (!retried && (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
					 errno == ENETUNREACH)) {
				retried = true;
				continue;
			}
			/* Full socket buffer or an ICMP error for an earlier datagram: UDP may
			 * lose this one, the client retries. Skip it and go on. */
			STAT_INC(w, ST_DROP_SEND);
			done++;
			continue;
		}
		done += (unsigned)rc;
	}
}

void udp_tx_flush(struct worker *w)
{
	struct tx_queue *tx = w->tx;
	struct mmsghdr group[TX_MAX];

	memset(tx->sent, 0, tx->n * sizeof(tx->sent[0]));
	/* Group by socket, keeping order within a socket: one sendmmsg per socket. */
	for (unsigned i = 0; i < tx->n; i++) {
		unsigned n = 0;
		if (tx->sent[i]) {
			continue;
		}
		for (unsigned j = i; j < tx->n; j++) {
			if (!tx->sent[j] && tx->fd[j] == tx->fd[i]) {
				group[n++] = tx->msgs[j];
				tx->sent[j] = true;
			}
		}
		send_group(w, tx->fd[i], group, n);
	}
	tx->n = 0;
	tx->nown = 0;
}

static int rx_batch(struct worker *w, int fd, size_t bufsize, bool pktinfo)
{
	struct tx_queue *tx = w->tx;
	int n;

	for (unsigned i = 0; i < WORKER_BATCH; i++) {
		tx->rx_iov[i].iov_base = w->rxbuf + (size_t)i * WORKER_RESP_BUF;
		tx->rx_iov[i].iov_len = bufsize;
		memset(&tx->rx[i].msg_hdr, 0, sizeof(tx->rx[i].msg_hdr));
		tx->rx[i].msg_hdr.msg_iov = &tx->rx_iov[i];
		tx->rx[i].msg_hdr.msg_iovlen = 1;
		tx->rx[i].msg_hdr.msg_name = &tx->rx_addr[i];
		tx->rx[i].msg_hdr.msg_namelen = sizeof(tx->rx_addr[i]);
		if (pktinfo) {
			tx->rx[i].msg_hdr.msg_control = tx->rx_ctl[i];
			tx->rx[i].msg_hdr.msg_controllen = CTL_LEN;
		}
	}
	do {
		n = recvmmsg(fd, tx->rx, WORKER_BATCH, MSG_DONTWAIT, NULL);
	} while (n == -1 && errno == EINTR);
	return n;
}

static void inflight_expired(struct worker *w, struct inflight *s);

static void finish_slot(struct worker *w, struct inflight *s)
{
	ports_release(w, s);
	timer_disarm(&w->wheel, &s->timer);
	inflight_put(&w->inflight, s);
	w->bes[s->backend_idx]->pending--;
}

/* The client of datagram <i> of the last batch, with the local address it wrote to. */
static void rx_peer(const struct tx_queue *tx, unsigned i, bool pktinfo, struct udp_peer *peer)
{
	const struct msghdr *h = &tx->rx[i].msg_hdr;

	peer->remote = tx->rx_addr[i];
	peer->local_family = 0;
	if (!pktinfo) {
		return;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			peer->local.v4 = pi.ipi_addr;
			peer->local_family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			peer->local.v6 = pi.ipi6_addr;
			peer->local_family = AF_INET6;
		}
	}
}

/* The router's address that <client> sent to on listener <ls_idx>: the one it learned from
 * IP_PKTINFO on a wildcard listener, else the listener's own. */
static void local_address(const struct worker *w, const struct udp_peer *client, uint32_t ls_idx,
			  union sockaddr_any *out)
{
	const union sockaddr_any *ls = &w->listeners[ls_idx].addr;

	*out = *ls;
	if (client->local_family == AF_INET) {
		out->sin.sin_addr = client->local.v4;
	} else if (client->local_family == AF_INET6) {
		out->sin6.sin6_addr = client->local.v6;
	}
}

/* The socket a query in <s> from <client> goes to <wb> on, recorded in <s>: one of the
 * backend's random ports, or the socket from the client's own address. */
static struct wsock *source_pick(struct worker *w, struct wbackend *wb, struct inflight *s,
				 const union sockaddr_any *client)
{
	struct wsock *ws;

	if (clientaddr_transparent(w, wb->be, client)) {
		ws = transparent_pick(w, wb, client);
		if (ws != NULL) {
			transparent_mark(ws, s);
		}
		return ws;
	}
	ws = ports_pick(w, wb, s->group);
	if (ws != NULL) {
		s->port = ws->port;
		s->epoch = ws->epoch;
	}
	return ws;
}

/* Send <msg> to <wb> on behalf of the client in <client>/<ls_idx>. False when the table is
 * full or no socket to <wb> can be had. */
static bool forward(struct worker *w, struct wbackend *wb, const struct wire_question *q,
		    uint8_t *msg, size_t len, size_t cap, const struct udp_peer *client,
		    uint32_t ls_idx, uint16_t client_id, uint8_t tries)
{
	struct inflight *s = inflight_take(&w->inflight, &w->rnd);
	union sockaddr_any local;
	struct wsock *port;
	uint32_t timeout;

	if (s == NULL) {
		STAT_INC(w, ST_INFLIGHT_FULL);
		return false;
	}
	port = source_pick(w, wb, s, &client->remote);
	if (port == NULL) {
		inflight_put(&w->inflight, s);
		return false; /* the caller's SERVFAIL is counted by its cause */
	}
	s->timer.fire = udp_inflight_fire;
	s->client = *client;
	s->listener = ls_idx;
	s->client_id = client_id;
	s->backend_idx = wb->be->idx;
	s->qhash = wire_question_hash(q);
	port->inflight++;
	s->tries = tries;
	s->snap_gen = w->snap_gen;
	s->sent_us = clock_now_us();
	/* The copy for a retry is the client's own query: the next backend may want another
	 * edit. */
	inflight_keep_query(&w->inflight, s, msg, len);
	wire_set_id(msg, s->id); /* before a PROXY header moves the message along */
	local_address(w, client, ls_idx, &local);
	len = clientaddr_query(w, wb->be, &client->remote, &local, false, msg, len, cap, &s->ecs);
	timeout = atomic_load_explicit(&wb->be->timeout_ms, memory_order_relaxed);
	timer_arm(&w->wheel, &s->timer, w->now_ms + timeout);
	wb->pending++;
	stat_add(&worker_counters(w, wb->be)->queries, 1);
	tx_push(w, port->io.fd, NULL, msg, len);
	return true;
}

/* What response rate limiting leaves of the answer <msg> of <len> bytes to <client>, whose
 * question is <q> (NULL when it has none): <len>, the length of the empty TC=1 answer it
 * slipped into <msg>, or 0 to send nothing. */
static size_t rate_limit(struct worker *w, const struct udp_peer *client,
			 const struct wire_question *q, uint8_t *msg, size_t len)
{
	const struct snapshot *s = w->snap;
	enum rrl_verdict v;
	bool would;
	size_t n;

	if (s->rrl.responses_ps == 0) {
		return len;
	}
	v = rrl_check(w->rrl, &s->rrl, s->limit_v4_bits, s->limit_v6_bits, &client->remote, q,
		      wire_rcode(msg), w->now_ms, &would);
	if (v == RRL_PASS) {
		if (would) {
			STAT_INC(w, ST_RRL_WOULD);
		}
		return len;
	}
	if (v == RRL_SLIP && (n = rrl_slip_reply(msg, len)) > 0) {
		STAT_INC(w, ST_RRL_SLIP);
		return n;
	}
	STAT_INC(w, ST_RRL_DROP);
	return 0;
}

/* Queue the answer <msg> of <len> bytes to <client> through the listening socket <fd>, as
 * response rate limiting allows. */
static void reply_to(struct worker *w, int fd, const struct udp_peer *client,
		     const struct wire_question *q, uint8_t *msg, size_t len)
{
	len = rate_limit(w, client, q, msg, len);
	if (len > 0) {
		tx_push(w, fd, client, msg, len);
	}
}

static void handle_query(struct worker *w, uint32_t ls_idx, uint8_t *msg, size_t len,
			 const struct udp_peer *client)
{
	struct listener *ls = &w->listeners[ls_idx];
	struct wire_question q;
	struct query_verdict v;
	struct query_origin from = {.client = &client->remote, .tcp = false};

	STAT_INC(w, ST_QUERIES_UDP);
	query_decide(w, &from, msg, len, WORKER_QUERY_BUF, &q, &v);
	if (v.action == QUERY_FORWARD &&
	    !forward(w, v.wb, &q, msg, len, WORKER_RESP_BUF, client, ls_idx, q.id, 0)) {
		STAT_INC(w, ST_SERVFAIL_NOBACKEND);
		v.reply_len =
			query_servfail(msg, len, WORKER_QUERY_BUF, WIRE_EDE_NO_REACHABLE_AUTHORITY);
		v.action = v.reply_len > 0 ? QUERY_REPLY : QUERY_DROP;
	}
	if (v.action == QUERY_REPLY) {
		/* A FORMERR answers a question that could not be parsed. */
		reply_to(w, ls->udp.fd, client, wire_rcode(msg) == WIRE_RCODE_FORMERR ? NULL : &q,
			 msg, (size_t)v.reply_len);
	}
}

static void listener_read(struct worker *w, uint32_t ls_idx)
{
	struct tx_queue *tx = w->tx;
	int fd = w->listeners[ls_idx].udp.fd;
	bool pktinfo = w->listeners[ls_idx].pktinfo;

	/* A bounded number of batches per turn, so one busy socket cannot starve the others. */
	for (int round = 0; round < 8; round++) {
		int n = rx_batch(w, fd, WORKER_QUERY_BUF, pktinfo);
		if (n <= 0) {
			break;
		}
		for (int i = 0; i < n; i++) {
			struct udp_peer peer;
			if (tx->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
				STAT_INC(w, ST_DROP_TRUNC);
				continue;
			}
			rx_peer(tx, (unsigned)i, pktinfo, &peer);
			handle_query(w, ls_idx, tx->rx_iov[i].iov_base, tx->rx[i].msg_len, &peer);
		}
		udp_tx_flush(w);
		if (n < WORKER_BATCH) {
			break;
		}
	}
}

void udp_listener_ready(struct worker *w, struct io *io, uint32_t events)
{
	(void)events;
	listener_read(w, (uint32_t)((struct listener *)io - w->listeners));
}

/* True when <s> went out on <ws>: the backend, the port and the port's epoch. */
static bool sent_on(const struct inflight *s, const struct wsock *ws)
{
	return s->backend_idx == ws->wb->be->idx && s->port == ws->port && s->epoch == ws->epoch &&
	       (ws->group != TRANSPARENT_GROUP || s->tsock == ws->place);
}

/* The query in flight on <ws> under backend-side <id>, or NULL. A port belongs to one ID
 * space; a transparent socket carries queries of any, so each is looked at. */
static struct inflight *slot_on(struct worker *w, const struct wsock *ws, uint16_t id)
{
	if (ws->group != TRANSPARENT_GROUP) {
		struct inflight *s = inflight_get(&w->inflight, ws->group, id);
		return s != NULL && sent_on(s, ws) ? s : NULL;
	}
	for (unsigned g = 0; g < w->inflight.ngroups; g++) {
		struct inflight *s = inflight_get(&w->inflight, g, id);
		if (s != NULL && sent_on(s, ws)) {
			return s;
		}
	}
	return NULL;
}

static void handle_answer(struct worker *w, struct wsock *ws, uint8_t *msg, size_t len)
{
	struct wbackend *wb = ws->wb;
	struct wire_question q;
	struct inflight *s;
	bool bare = false;

	if (wire_parse_question(msg, len, &q) != DR_EOK || !wire_is_response(msg)) {
		/* An error without the question: matched by ID alone (the socket is connected,
		 * the ID random), relayed as it is rather than left to time out. */
		bare = wire_is_bare_error(msg, len);
		if (!bare) {
			STAT_INC(w, ST_DROP_BAD_RESPONSE);
			return;
		}
	}
	s = slot_on(w, ws, wire_id(msg));
	if (s == NULL || (!bare && s->qhash != wire_question_hash(&q))) {
		STAT_INC(w, ST_DROP_BAD_RESPONSE);
		return;
	}
	wire_set_id(msg, s->client_id);
	len = clientaddr_answer(w, msg, len, WORKER_RESP_BUF, &s->ecs);
	reply_to(w, w->listeners[s->listener].udp.fd, &s->client, bare ? NULL : &q, msg, len);
	STAT_INC(w, ST_ANSWERS);
	backend_count_answer(worker_counters(w, wb->be), clock_now_us() - s->sent_us);
	finish_slot(w, s);
}

static void backend_read(struct worker *w, struct wsock *ws)
{
	struct tx_queue *tx = w->tx;

	for (int round = 0; round < 8; round++) {
		int n = rx_batch(w, ws->io.fd, WORKER_RESP_BUF, false);
		if (n <= 0) {
			break;
		}
		for (int i = 0; i < n; i++) {
			handle_answer(w, ws, tx->rx_iov[i].iov_base, tx->rx[i].msg_len);
		}
		udp_tx_flush(w);
		if (n < WORKER_BATCH) {
			break;
		}
	}
}

/* Whether an ICMP error <ee> says nobody will answer at that address. */
static bool unreachable(const struct sock_extended_err *ee)
{
	if (ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6) {
		return false;
	}
	return ee->ee_errno == ECONNREFUSED || ee->ee_errno == EHOSTUNREACH ||
	       ee->ee_errno == ENETUNREACH || ee->ee_errno == EHOSTDOWN;
}

/* The ICMP error in <h> (from the error queue) and its offending datagram's first bytes in
 * <data>: the query it names, if that is still in flight on <ws>, fails over at once. */
static void handle_error(struct worker *w, struct wsock *ws, const struct msghdr *h,
			 const uint8_t *data, size_t len)
{
	const struct sock_extended_err *ee = NULL;
	struct inflight *s;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
			ee = (const struct sock_extended_err *)CMSG_DATA(c);
		}
	}
	if (ee == NULL || !unreachable(ee) || len < WIRE_HDR_LEN) {
		return;
	}
	s = slot_on(w, ws, wire_id(data));
	if (s == NULL) {
		return;
	}
	STAT_INC(w, ST_BACKEND_UNREACHABLE);
	timer_disarm(&w->wheel, &s->timer);
	inflight_expired(w, s);
}

static void backend_errors(struct worker *w, struct wsock *ws)
{
	uint8_t data[WIRE_HDR_LEN];
	uint8_t ctl[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))]
		__attribute__((aligned(8)));
	int err;
	socklen_t errlen = sizeof(err);

	/* Bounded: the queue holds at most what the socket buffer allows anyway. */
	for (int i = 0; i < WORKER_BATCH; i++) {
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr h = {.msg_iov = &iov,
				   .msg_iovlen = 1,
				   .msg_control = ctl,
				   .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(ws->io.fd, &h, MSG_ERRQUEUE | MSG_DONTWAIT);

		if (n == -1) {
			break;
		}
		handle_error(w, ws, &h, data, (size_t)n);
	}
	/* The error is also pending on the socket, where it would fail the next send: take it
	 * now, as it has been dealt with. */
	(void)getsockopt(ws->io.fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
	udp_tx_flush(w);
}

void udp_backend_ready(struct worker *w, struct io *io, uint32_t events)
{
	struct wsock *ws = (struct wsock *)io;

	if (events & EPOLLERR) {
		backend_errors(w, ws);
	}
	backend_read(w, ws);
}

void udp_inflight_fire(struct worker *w, struct timer *t)
{
	inflight_expired(w, (struct inflight *)t);
}

static void inflight_expired(struct worker *w, struct inflight *s)
{
	const uint8_t *kept = inflight_query(&w->inflight, s);
	struct wbackend *failed = w->bes[s->backend_idx];
	struct listener *ls = &w->listeners[s->listener];
	struct wire_question q;
	uint8_t *msg;
	int n;

	/* A timeout whatever became of the copy: passive health checks count these. */
	stat_add(&worker_counters(w, failed->be)->timeouts, 1);
	if (kept == NULL || wire_parse_question(kept, s->qlen, &q) != DR_EOK) {
		STAT_INC(w, ST_DROP_RING);
		finish_slot(w, s);
		return;
	}
	msg = tx_own_buffer(w);
	memcpy(msg, kept, s->qlen);
	if (s->tries == 0 && !w->draining) {
		struct wbackend *next = query_pick_retry(w, &q, failed->be);
		if (next != NULL && forward(w, next, &q, msg, s->qlen, WORKER_QUERY_BUF, &s->client,
					    s->listener, s->client_id, 1)) {
			STAT_INC(w, ST_RETRIES);
			finish_slot(w, s);
			return;
		}
	}
	STAT_INC(w, ST_SERVFAIL_TIMEOUT);
	n = query_servfail(msg, s->qlen, WORKER_QUERY_BUF, WIRE_EDE_NETWORK_ERROR);
	if (n > 0) {
		wire_set_id(msg, s->client_id);
		reply_to(w, ls->udp.fd, &s->client, &q, msg, (size_t)n);
	}
	finish_slot(w, s);
}
