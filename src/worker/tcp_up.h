/* SPDX-License-Identifier: MIT */
/* worker/tcp_up.h -- a worker's TCP connections to the backends, shared by pipelined queries */
#ifndef DR_WORKER_TCP_UP_H
#define DR_WORKER_TCP_UP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/ecs.h"
#include "worker/timer.h"
#include "worker/worker.h"

#define TCP_LEN_PREFIX 2

struct tcp_conn;
struct tcp_up;
struct xfr;

/* A client's TCP query while a backend works on it. Owned by tcp.c; tcp_up.c queues it on a
 * backend connection and hands back its answer or its failure. */
struct tcp_job {
	struct timer timer;
	struct tcp_conn *conn;       /* the client */
	struct tcp_job *prev, *next; /* in the client's list */
	struct tcp_up *up;           /* the backend connection carrying it, or NULL */
	struct xfr *xfr;             /* a zone transfer's own backend connection, or NULL */
	struct tcp_job *up_prev, *up_next;
	struct tcp_job *next_dead;
	uint32_t backend_idx;
	uint32_t qhash;
	uint16_t client_id;
	uint16_t backend_id;
	uint64_t sent_us;
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

/* Free connections closed during this loop turn. */
void tcp_up_reap(struct worker *w);

/* Implemented by tcp.c: the answer <msg> of <len> bytes for <j>, checked against its ID and
 * question; and the failure of <j>'s backend (tcp.c tries another backend once, then
 * answers SERVFAIL). */
void tcp_job_answered(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len);
void tcp_job_failed(struct worker *w, struct tcp_job *j);

#endif
