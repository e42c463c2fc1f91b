/* SPDX-License-Identifier: MIT */
/* front/tcp_write.c -- answers on their way to TCP clients
 *
 * The answers a loop turn brings are gathered and written at its end, one writev per client
 * connection: a client that pipelines gets them in one segment rather than one each, which
 * spares system calls here and per-segment work in the kernel on both ends. They gather in
 * one buffer of the worker's (the stage), not in the connections' own, so that a thousand
 * clients answered in one turn take no buffer each. A connection holds a buffer of its own
 * only for what its socket did not take; its later answers queue behind that, and EPOLLOUT
 * writes them. A zone transfer's messages go straight out, as their flow control counts
 * what the connection holds unsent. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/clock.h"
#include "common/err.h"
#include "worker/taps.h"
#include "front/tcp_conn.h"

#define STAGE_BYTES (256u << 10)
#define STAGE_FRAMES 1024u /* at most IOV_MAX: one connection's frames fit one writev */
#define STAGE_NONE UINT32_MAX

_Static_assert(STAGE_FRAMES <= IOV_MAX, "a connection's frames fit one writev");

struct stage_frame {
	uint32_t off, len;
	uint32_t next;    /* the connection's next frame, or STAGE_NONE */
	uint64_t read_us; /* a backend's answer: when it was read; else 0 */
};

struct tcp_stage {
	uint8_t *buf; /* STAGE_BYTES */
	size_t len;
	uint32_t nframes;
	bool flushing;          /* in stage_flush: nothing more is staged meanwhile */
	struct tcp_conn *conns; /* with frames staged, through stage_next */
	struct stage_frame frames[STAGE_FRAMES];
	struct iovec iov[STAGE_FRAMES];
};

int tcp_stage_init(struct tcp_state *t)
{
	t->stage = calloc(1, sizeof(*t->stage));
	if (t->stage == NULL || (t->stage->buf = malloc(STAGE_BYTES)) == NULL) {
		free(t->stage);
		t->stage = NULL;
		return DR_ENOMEM;
	}
	return DR_EOK;
}

void tcp_stage_free(struct tcp_state *t)
{
	if (t->stage != NULL) {
		free(t->stage->buf);
		free(t->stage);
		t->stage = NULL;
	}
}

void conn_wbuf_put(struct worker *w, struct tcp_conn *c)
{
	stream_buf_put(&w->tcp->pool, c->wbuf, c->wcap);
	c->wbuf = NULL;
	c->wcap = 0;
	c->woff = c->wlen = 0;
}

bool conn_flush(struct worker *w, struct tcp_conn *c)
{
	size_t unsent = c->wlen - c->woff;
	bool ok = stream_flush(c->io.fd, c->wbuf, &c->woff, &c->wlen);

	if (c->wlen - c->woff < unsent) {
		c->wrote = true;
		c->ack_owed_us = 0; /* the answer carries it */
		w->tcp->unsent -= unsent - (c->wlen - c->woff);
		conn_touch(w, c);
	}
	if (ok && c->wlen == 0 && c->wbuf != NULL) {
		conn_wbuf_put(w, c); /* all out: an idle connection keeps no buffer */
	}
	return ok;
}

/* Write <iov> (<n> parts) to <c>. Returns the bytes written (0 when the socket is full), or
 * -1 when the connection failed. */
static ssize_t conn_writev(struct worker *w, struct tcp_conn *c, const struct iovec *iov, int n)
{
	for (;;) {
		ssize_t done = writev(c->io.fd, iov, n);
		if (done == -1 && errno == EINTR) {
			continue;
		}
		if (done == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 0;
		}
		if (done > 0) {
			c->wrote = true;
			c->ack_owed_us = 0; /* the answer carries it */
			conn_touch(w, c);
		}
		return done;
	}
}

/* Keep the bytes of <iov> (<n> parts) past the first <skip> in <c>'s own buffer, for
 * EPOLLOUT to write. False when <c> may hold no more: a client that reads too little is let
 * go (the caller closes it). */
static bool conn_keep(struct worker *w, struct tcp_conn *c, const struct iovec *iov, int n,
		      size_t skip)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		total += iov[i].iov_len;
	}
	total -= skip;
	if (c->wbuf == NULL) {
		c->wbuf = stream_buf_get(&w->tcp->pool);
		c->wcap = c->wbuf != NULL ? STREAM_BUF_SIZE : 0;
		c->woff = c->wlen = 0;
	}
	if (c->wbuf == NULL) {
		return false;
	}
	stream_compact(c->wbuf, &c->woff, &c->wlen);
	if (w->tcp->unsent + total > TCP_UNSENT_MAX ||
	    stream_buf_grow(&c->wbuf, &c->wcap, c->wlen + total, TCP_CONN_UNSENT_MAX) != DR_EOK) {
		return false;
	}
	w->tcp->unsent += total;
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len, from = skip < len ? skip : len;
		memcpy(c->wbuf + c->wlen, (const uint8_t *)iov[i].iov_base + from, len - from);
		c->wlen += len - from;
		skip -= from;
	}
	return true;
}

/* Write <iov> to <c>, which has nothing waiting in its own buffer; keep what the socket does
 * not take. False when <c> failed (closed here). */
static bool conn_write_or_keep(struct worker *w, struct tcp_conn *c, const struct iovec *iov, int n)
{
	ssize_t done = conn_writev(w, c, iov, n);
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		total += iov[i].iov_len;
	}
	if (done == -1 || ((size_t)done < total && !conn_keep(w, c, iov, n, (size_t)done))) {
		conn_close(w, c);
		return false;
	}
	return true;
}

/* Write the frames staged for <c>, and ask for EPOLLOUT when the socket took only part. */
static void conn_write_staged(struct worker *w, struct tcp_conn *c)
{
	struct tcp_stage *s = w->tcp->stage;
	uint64_t relayed = 0, read_sum = 0; /* backends' answers among them, and their read_us */
	int n = 0;

	for (uint32_t i = c->stage_first; i != STAGE_NONE; i = s->frames[i].next) {
		s->iov[n].iov_base = s->buf + s->frames[i].off;
		s->iov[n].iov_len = s->frames[i].len;
		n++;
		if (s->frames[i].read_us != 0) {
			relayed++;
			read_sum += s->frames[i].read_us;
		}
	}
	c->stage_first = c->stage_last = STAGE_NONE; /* before conn_update: nothing staged now */
	if (n > 0 && c->open && conn_write_or_keep(w, c, s->iov, n)) {
		if (relayed > 0) {
			STAT_ADD(w, ST_TCP_US_OUT, relayed * clock_now_us() - read_sum);
		}
		conn_update(w, c);
	}
}

/* Write every connection's staged frames; the stage is empty after. */
static void stage_flush(struct worker *w)
{
	struct tcp_stage *s = w->tcp->stage;
	struct tcp_conn *c;

	s->flushing = true;
	while ((c = s->conns) != NULL) {
		s->conns = c->stage_next;
		c->on_stage = false;
		conn_write_staged(w, c);
	}
	s->len = 0;
	s->nframes = 0;
	s->flushing = false;
}

void tcp_stage_flush(struct worker *w)
{
	if (w->tcp->stage->conns != NULL) {
		stage_flush(w);
	}
}

/* Stage the frame <head> (length and ID) and <msg> past its ID for <c>. False when it does
 * not fit even an empty stage, or a flush is under way. */
static bool stage_add(struct worker *w, struct tcp_conn *c, const uint8_t head[4],
		      const uint8_t *msg, size_t len, uint64_t read_us)
{
	struct tcp_stage *s = w->tcp->stage;
	size_t frame = TCP_LEN_PREFIX + len;
	struct stage_frame *f;

	if (s->flushing || frame > STAGE_BYTES) {
		return false;
	}
	if (s->len + frame > STAGE_BYTES || s->nframes == STAGE_FRAMES) {
		stage_flush(w); /* a full turn: what is staged goes now */
		if (!c->open) {
			return true; /* the flush found <c> gone: nothing to send */
		}
	}
	f = &s->frames[s->nframes];
	f->off = (uint32_t)s->len;
	f->len = (uint32_t)frame;
	f->next = STAGE_NONE;
	f->read_us = read_us;
	memcpy(s->buf + s->len, head, 4);
	memcpy(s->buf + s->len + 4, msg + 2, len - 2);
	s->len += frame;
	if (c->stage_first == STAGE_NONE) {
		c->stage_first = s->nframes;
	} else {
		s->frames[c->stage_last].next = s->nframes;
	}
	c->stage_last = s->nframes++;
	if (!c->on_stage) {
		c->on_stage = true;
		c->stage_next = s->conns;
		s->conns = c;
	}
	return true;
}

/* A backend's answer read at <read_us> (0: not one) is out of the router's hands: written,
 * or kept for EPOLLOUT. */
static void count_out(struct worker *w, uint64_t read_us)
{
	if (read_us != 0) {
		STAT_ADD(w, ST_TCP_US_OUT, clock_now_us() - read_us);
	}
}

/* Bytes wait in <c>'s own buffer: the frame <iov> (head and message) queues behind them. */
static void conn_queue_behind(struct worker *w, struct tcp_conn *c, const struct iovec iov[2],
			      uint64_t read_us)
{
	if (!conn_keep(w, c, iov, 2, 0) || !conn_flush(w, c)) {
		conn_close(w, c);
		return;
	}
	count_out(w, read_us);
}

/* Frame the message <msg> of <len> bytes with ID <id> (written in the frame, not in <msg>) for
 * <c>: staged for the turn's end when <gather>, else written now after what is staged.
 * <read_us>: as for conn_send. */
static void conn_send_frame(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len,
			    uint16_t id, bool gather, uint64_t read_us)
{
	uint8_t head[4];
	struct iovec iov[2] = {{head, 4}, {(void *)(msg + 2), len - 2}};

	if (!c->open) {
		return;
	}
	wire_write_u16(head, (uint16_t)len);
	wire_write_u16(head + TCP_LEN_PREFIX, id);
	if (c->wlen > c->woff) {
		conn_queue_behind(w, c, iov, read_us);
		return;
	}
	if (gather && stage_add(w, c, head, msg, len, read_us)) {
		return;
	}
	if (c->stage_first != STAGE_NONE) {
		conn_write_staged(w, c); /* in order: what is staged goes first */
		if (!c->open) {
			return;
		}
		if (c->wlen > c->woff) {
			conn_queue_behind(w, c, iov, read_us);
			return;
		}
	}
	if (conn_write_or_keep(w, c, iov, 2)) {
		count_out(w, read_us);
	}
}

static void conn_send_as(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len,
			 uint16_t id, bool gather, uint64_t read_us)
{
	if (c->open) {
		STAT_RESPONSE(w, msg);
		if (taps_on(w)) {
			taps_client(w, TAP_CLIENT_RESPONSE, true, &c->peer, &c->local, msg, len, id,
				    false);
		}
		conn_send_frame(w, c, msg, len, id, gather, read_us);
	}
}

void conn_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len, uint16_t id,
	       uint64_t read_us)
{
	conn_send_as(w, c, msg, len, id, true, read_us);
}

void conn_relay(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len, uint16_t id)
{
	conn_send_as(w, c, msg, len, id, false, 0);
}

void conn_answer(struct worker *w, struct tcp_conn *c, uint8_t *msg, size_t len, uint16_t id,
		 const struct curve_session *cs, uint64_t read_us)
{
	uint8_t *out;

	if (cs == NULL) {
		conn_send(w, c, msg, len, id, read_us);
		return;
	}
	if (!c->open) {
		return;
	}
	wire_set_id(msg, id);
	STAT_RESPONSE(w, msg);
	if (taps_on(w)) {
		taps_client(w, TAP_CLIENT_RESPONSE, true, &c->peer, &c->local, msg, len, -1, true);
	}
	len = curve_front_seal(w, cs, msg, len, &out);
	if (len > 0) {
		conn_send_frame(w, c, out, len, wire_id(out), true, read_us);
	}
}
