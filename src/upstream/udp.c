/* SPDX-License-Identifier: MIT */
/* upstream/udp.c -- queries to the backends over UDP: sent from the backend's ports (or the
 * client's own address), answers matched to their queries, timeouts retried elsewhere */
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "wire/wire.h"
#include "upstream/clientaddr.h"
#include "upstream/ports.h"
#include "upstream/transparent.h"
#include "upstream/udp.h"
#include "worker/taps.h"
#include "worker/tx.h"
#include "worker/query.h"

static void inflight_expired(struct worker *w, struct inflight *s);
static void inflight_fire(struct worker *w, struct timer *t);

/* The socket <s> was sent on: a port, or a transparent socket; NULL once closed. */
static struct wsock *sent_from(struct worker *w, const struct inflight *s)
{
	return s->port == TRANSPARENT_GROUP ? transparent_of(w, s) : ports_of(w, s);
}

/* <s> waits no more on its socket: one query fewer in flight there. */
static void release(struct worker *w, const struct inflight *s)
{
	struct wsock *ws = sent_from(w, s);

	if (ws != NULL && --ws->inflight == 0 && ws->group == TRANSPARENT_GROUP) {
		transparent_idle(w, ws);
	}
}

static void finish_slot(struct worker *w, struct inflight *s)
{
	release(w, s);
	timer_disarm(&w->wheel, &s->timer);
	inflight_put(&w->inflight, s);
	w->bes[s->backend_idx]->pending--;
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

bool upstream_udp_forward(struct worker *w, struct wbackend *wb, const struct wire_question *q,
			  uint8_t *msg, size_t len, size_t cap, const struct udp_origin *from,
			  uint8_t tries)
{
	const struct udp_peer *client = from->client;
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
	s->timer.fire = inflight_fire;
	s->client = *client;
	s->listener = from->listener;
	s->client_id = from->client_id;
	s->answer = from->answer;
	if (from->front_len > 0) {
		memcpy(s->front, from->front, from->front_len);
	}
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
	if (taps_on(w)) {        /* as forwarded, before the client-address edit */
		taps_backend(w, TAP_FORWARDER_QUERY, false, &client->remote, from->client_id,
			     &wb->be->addr, msg, len, -1);
	}
	worker_local_address(w, client, from->listener, &local);
	len = clientaddr_query(w, wb->be, &client->remote, &local, false, msg, len, cap, &s->ecs);
	timeout = atomic_load_explicit(&wb->be->timeout_ms, memory_order_relaxed);
	timer_arm(&w->wheel, &s->timer, w->now_ms + timeout);
	wb->pending++;
	stat_add(&worker_counters(w, wb->be)->queries, 1);
	tx_push(w, port->io.fd, NULL, msg, len);
	return true;
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
	if (taps_on(w)) {
		taps_backend(w, TAP_FORWARDER_RESPONSE, false, &s->client.remote, s->client_id,
			     &wb->be->addr, msg, len, -1);
	}
	wire_set_id(msg, s->client_id);
	len = clientaddr_answer(w, msg, len, WORKER_RESP_BUF, &s->ecs);
	s->answer(w, s, msg, len, bare ? NULL : &q);
	STAT_INC(w, ST_ANSWERS);
	backend_count_answer(worker_counters(w, wb->be), clock_now_us() - s->sent_us);
	finish_slot(w, s);
}

static void backend_read(struct worker *w, struct wsock *ws)
{
	struct tx_queue *tx = w->tx;

	for (int round = 0; round < 8; round++) {
		int n = tx_receive(w, ws->io.fd, WORKER_RESP_BUF, false);
		if (n <= 0) {
			break;
		}
		for (int i = 0; i < n; i++) {
			handle_answer(w, ws, tx->rx_iov[i].iov_base, tx->rx[i].msg_len);
		}
		tx_flush(w);
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
	tx_flush(w);
}

void udp_backend_ready(struct worker *w, struct io *io, uint32_t events)
{
	struct wsock *ws = (struct wsock *)io;

	if (events & EPOLLERR) {
		backend_errors(w, ws);
	}
	backend_read(w, ws);
}

static void inflight_fire(struct worker *w, struct timer *t)
{
	inflight_expired(w, (struct inflight *)t);
}

static void inflight_expired(struct worker *w, struct inflight *s)
{
	const uint8_t *kept = inflight_query(&w->inflight, s);
	struct wbackend *failed = w->bes[s->backend_idx];
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
		struct udp_origin from = {.client = &s->client,
					  .listener = s->listener,
					  .client_id = s->client_id,
					  .answer = s->answer,
					  .front = s->front,
					  .front_len = sizeof(s->front)};
		if (next != NULL &&
		    upstream_udp_forward(w, next, &q, msg, s->qlen, WORKER_QUERY_BUF, &from, 1)) {
			STAT_INC(w, ST_RETRIES);
			finish_slot(w, s);
			return;
		}
	}
	STAT_INC(w, ST_SERVFAIL_TIMEOUT);
	n = query_servfail(msg, s->qlen, WORKER_QUERY_BUF, WIRE_EDE_NETWORK_ERROR);
	if (n > 0) {
		wire_set_id(msg, s->client_id);
		s->answer(w, s, msg, (size_t)n, &q);
	}
	finish_slot(w, s);
}
