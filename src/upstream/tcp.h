/* SPDX-License-Identifier: MIT */
/* upstream/tcp.h -- a worker's TCP connections to the backends, shared by pipelined queries */
#ifndef DR_UPSTREAM_TCP_H
#define DR_UPSTREAM_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/ecs.h"
#include "worker/timer.h"
#include "worker/worker.h"

#define TCP_LEN_PREFIX 2

struct tcp_conn;
struct tcp_job;
struct tcp_up;
struct xfr;

/* How the front that owns a job hears what became of it. */
struct tcp_job_ops {
	/* The answer <msg> of <len> bytes for <j>, to check against its ID and question. */
	void (*answered)(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len);
	/* <j>'s backend failed it (the front tries another backend once, then SERVFAIL). */
	void (*failed)(struct worker *w, struct tcp_job *j);
	/* Zone transfers: bytes still queued for the client, ... */
	size_t (*unsent)(const struct tcp_job *j);
	/* ... one more message of the transfer for the client with its ID (false: the client
	 * is gone, and <j> with it), ... */
	bool (*relay)(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len);
	/* ... and its end: <ok> false, it failed; before anything was relayed the client gets
	 * SERVFAIL, after that its connection is closed, so that it can tell. */
	void (*finish)(struct worker *w, struct tcp_job *j, bool ok, bool relayed);
};

/* A client's TCP query while a backend works on it. Owned by a front; upstream/tcp.c queues
 * it on a backend connection and hands back its answer or its failure through <ops>. */
struct tcp_job {
	struct timer timer;
	const struct tcp_job_ops *ops; /* the front's */
	struct tcp_conn *conn;         /* the client, the front's own */
	struct tcp_job *prev, *next;   /* in the client's list */
	struct tcp_up *up;             /* the backend connection carrying it, or NULL */
	struct xfr *xfr;               /* a zone transfer's own backend connection, or NULL */
	struct tcp_job *up_prev, *up_next;
	struct tcp_job *next_dead;
	uint32_t backend_idx;
	uint32_t qhash;
	uint16_t client_id;
	uint16_t backend_id;
	uint64_t read_us;   /* when the client's query was read */
	uint64_t sent_us;   /* when it went into the backend connection's buffer */
	uint64_t answer_us; /* when its answer was read */
	uint8_t tries;
	bool resent;    /* already sent once more after its connection closed */
	bool on_wire;   /* written on its connection (a rescue writes one at a time) */
	bool ended;     /* answered or given up: waits for tcp_reap, touched by nobody */
	uint8_t *query; /* the client's query, room for a SERVFAIL after it */
	size_t qlen;
	size_t qcap;
	union sockaddr_any client; /* for the backend's client-address edit */
	union sockaddr_any local;  /* the router's address the client reached */
	struct ecs_undo ecs;       /* what the answer needs undone of that edit */
	void *front;               /* the front's own state of the query (a DNSCurve session), or
				    * NULL; the front frees it */
};

/* Queue <j> on a connection to <wb> (opening one when all are busy) and arm its timer. On
 * failure <j> is not queued and the caller answers it. Returns DR_EOK or a negative code. */
int tcp_up_send(struct worker *w, struct tcp_job *j, struct wbackend *wb);

/* Take <j> off its connection; an answer that still comes for it is dropped. */
void tcp_up_cancel(struct worker *w, struct tcp_job *j);

/* <j> timed out: when its connection has carried no answer since <j> was sent, the connection
 * may be wedged, so it takes no new queries and closes once its last one is done. */
void tcp_up_timed_out(struct worker *w, struct tcp_job *j);

/* Serve epoll <events> on a backend connection. */
void tcp_up_event(struct worker *w, struct io *io, uint32_t events);

/* A backend connection's idle timer fired. */
void tcp_up_expired(struct worker *w, struct timer *t);

/* Close every connection to <wb> (their jobs must be gone already). */
void tcp_up_close_all(struct worker *w, struct wbackend *wb);

/* Write what this loop turn queued on the backend connections (at the turn's end, before
 * tcp_up_reap). */
void tcp_up_flush_due(struct worker *w);

/* Free connections closed during this loop turn. */
void tcp_up_reap(struct worker *w);

#endif
