/* SPDX-License-Identifier: MIT */
/* front/udp.c -- plain DNS over UDP from the clients: listeners, batches of queries, answers
 * back through response rate limiting */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "limit/rrl.h"
#include "wire/wire.h"
#include "front/curve.h"
#include "front/udp.h"
#include "upstream/udp.h"
#include "worker/query.h"
#include "worker/taps.h"
#include "worker/tx.h"

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

static int udp_listen(const union sockaddr_any *addr)
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
	tx_socket_buffers(fd);
	return fd;
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

/* A dnstap event of <client>'s, who reached listener <ls_idx>. */
static void tap_client(struct worker *w, enum tap_type type, uint32_t ls_idx,
		       const struct udp_peer *client, const uint8_t *msg, size_t len, bool curve)
{
	union sockaddr_any local;

	worker_local_address(w, client, ls_idx, &local);
	taps_client(w, type, false, &client->remote, &local, msg, len, -1, curve);
}

/* Queue the answer <msg> of <len> bytes to <client> through listener <ls_idx>, as response
 * rate limiting allows; boxed first when the query came in a DNSCurve <cs>. */
static void reply_to(struct worker *w, uint32_t ls_idx, const struct udp_peer *client,
		     const struct wire_question *q, uint8_t *msg, size_t len,
		     const struct curve_session *cs)
{
	int fd = w->listeners[ls_idx].udp.fd;

	len = rate_limit(w, client, q, msg, len);
	if (len == 0) {
		return;
	}
	STAT_RESPONSE(w, msg);
	if (taps_on(w)) {
		tap_client(w, TAP_CLIENT_RESPONSE, ls_idx, client, msg, len, cs != NULL);
	}
	if (cs != NULL && (len = curve_front_seal(w, cs, msg, len, &msg)) == 0) {
		return;
	}
	tx_push(w, fd, client, msg, len);
}

/* The answer (or our SERVFAIL) to a query forwarded from this front, <q> NULL for an error
 * without the question. */
static void answered(struct worker *w, struct inflight *s, uint8_t *msg, size_t len,
		     const struct wire_question *q)
{
	reply_to(w, s->listener, &s->client, q, msg, len, NULL);
}

/* The same for a query that came boxed: its session is the slot's front state. */
static void answered_curve(struct worker *w, struct inflight *s, uint8_t *msg, size_t len,
			   const struct wire_question *q)
{
	struct curve_session cs;

	memcpy(&cs, s->front, sizeof(cs));
	reply_to(w, s->listener, &s->client, q, msg, len, &cs);
}

/* The plain query <msg> of <len> bytes from <client>, which came in the DNSCurve session
 * <cs> when that is not NULL. */
static void handle_query(struct worker *w, uint32_t ls_idx, uint8_t *msg, size_t len,
			 const struct udp_peer *client, const struct curve_session *cs)
{
	struct wire_question q;
	struct query_verdict v;
	struct query_origin from = {.client = &client->remote, .tcp = false};

	STAT_INC(w, ST_QUERIES_UDP);
	if (taps_on(w)) {
		tap_client(w, TAP_CLIENT_QUERY, ls_idx, client, msg, len, cs != NULL);
	}
	query_decide(w, &from, msg, len, WORKER_QUERY_BUF, &q, &v);
	if (v.action == QUERY_FORWARD) {
		struct udp_origin origin = {.client = client,
					    .listener = ls_idx,
					    .client_id = q.id,
					    .answer = cs != NULL ? answered_curve : answered,
					    .front = cs,
					    .front_len = cs != NULL ? sizeof(*cs) : 0};
		if (!upstream_udp_forward(w, v.wb, &q, msg, len, WORKER_QUERY_BUF, &origin, 0)) {
			STAT_INC(w, ST_SERVFAIL_NOBACKEND);
			v.reply_len = query_servfail(msg, len, WORKER_QUERY_BUF,
						     WIRE_EDE_NO_REACHABLE_AUTHORITY);
			v.action = v.reply_len > 0 ? QUERY_REPLY : QUERY_DROP;
		}
	}
	if (v.action == QUERY_REPLY) {
		/* A FORMERR answers a question that could not be parsed. */
		reply_to(w, ls_idx, client, wire_rcode(msg) == WIRE_RCODE_FORMERR ? NULL : &q, msg,
			 (size_t)v.reply_len, cs);
	}
}

/* A datagram in a DNSCurve format: opened, it is a plain query of its session. */
static void handle_curve(struct worker *w, uint32_t ls_idx, uint8_t *msg, size_t len,
			 const struct udp_peer *client)
{
	struct curve_session cs;
	size_t n;

	if (curve_front_open(w, msg, len, WORKER_QUERY_BUF, false, &client->remote, &n, &cs) ==
	    DR_EOK) {
		handle_query(w, ls_idx, msg, n, client, &cs);
	}
	explicit_bzero(cs.shared, sizeof(cs.shared));
}

static void listener_read(struct worker *w, uint32_t ls_idx)
{
	struct tx_queue *tx = w->tx;
	int fd = w->listeners[ls_idx].udp.fd;
	bool pktinfo = w->listeners[ls_idx].pktinfo;
	bool curve = curve_front_on(w, ls_idx);

	/* A bounded number of batches per turn, so one busy socket cannot starve the others. */
	for (int round = 0; round < 8; round++) {
		int n = tx_receive(w, fd, WORKER_QUERY_BUF, pktinfo);
		if (n <= 0) {
			break;
		}
		for (int i = 0; i < n; i++) {
			struct udp_peer peer;
			if (tx->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
				STAT_INC(w, ST_DROP_TRUNC);
				continue;
			}
			uint8_t *msg = tx->rx_iov[i].iov_base;
			size_t len = tx->rx[i].msg_len;
			tx_peer(tx, (unsigned)i, pktinfo, &peer);
			if (curve && curve_detect(msg, len) != CURVE_FMT_PLAIN) {
				handle_curve(w, ls_idx, msg, len, &peer);
			} else {
				handle_query(w, ls_idx, msg, len, &peer, NULL);
			}
		}
		tx_flush(w);
		if (n < WORKER_BATCH) {
			break;
		}
	}
}

static void udp_listener_ready(struct worker *w, struct io *io, uint32_t events)
{
	(void)events;
	listener_read(w, (uint32_t)((struct listener *)io - w->listeners));
}

/* The listening UDP sockets, one per listener address. */
static int udp_front_init(struct worker *w, char *err, size_t len)
{
	return worker_listen(w, false, udp_listen, udp_listener_ready, err, len);
}

/* Stopping: read no more queries; the sockets stay open to send the answers still owed. */
static void udp_front_drain(struct worker *w)
{
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[i].udp.fd, NULL);
	}
}

const struct worker_part udp_front = {
	.init = udp_front_init,
	.drain = udp_front_drain,
};
