/* SPDX-License-Identifier: MIT */
/* front/tcp_conn.h -- the TCP front's own: a client connection and a worker's TCP state,
 * shared by front/tcp.c (the connections) and front/tcp_jobs.c (their relayed queries).
 * Nothing outside src/front/tcp*.c includes it. */
#ifndef DR_FRONT_TCP_CONN_H
#define DR_FRONT_TCP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "front/curve.h"
#include "front/peercount.h"
#include "worker/query.h"
#include "worker/stream.h"
#include "worker/timer.h"
#include "worker/worker.h"
#include "upstream/tcp.h"

struct job_mem;
struct tcp_stage;

#define TCP_PIPELINE_MAX 64       /* jobs per connection before we stop reading */
#define TCP_WBUF_MAX (256u << 10) /* unsent answer bytes before we stop reading */
/* Answers a connection may hold unsent: what its pipeline can bring after reading stopped,
 * so a client that reads, however slowly, loses none. A client that reads nothing is closed
 * by the idle rule, and all connections of a worker together hold at most TCP_UNSENT_MAX. */
#define TCP_CONN_UNSENT_MAX (TCP_WBUF_MAX + TCP_PIPELINE_MAX * (TCP_LEN_PREFIX + WIRE_TCP_MSG_MAX))
#define TCP_UNSENT_MAX (64u << 20)
#define STAGE_NONE UINT32_MAX /* no frame staged */

/* A connection slot holds no buffer while it has nothing to keep: queries are read into the
 * worker's read buffer and served from there, and answers gather in the worker's stage and
 * go straight to the socket at the turn's end (tcp_write.c). Only bytes that must wait (part of a query, answers the socket did not take) go into a
 * buffer of the connection's own, taken from the worker's pool and given back once empty. */
struct tcp_conn {
	struct io io;       /* first: epoll data.ptr */
	struct timer timer; /* at the earlier of idle_at and query_at */
	struct tcp_conn *next_free;
	struct tcp_conn *lru_prev, *lru_next; /* open connections, least recent activity first */
	struct tcp_job *jobs;                 /* doubly linked through job.prev/next */
	unsigned njobs;
	uint32_t interest; /* epoll events asked for */
	uint32_t nqueries; /* whole queries read */
	uint32_t listener; /* the worker's listener it came through */
	bool curve;        /* DNSCurve is detected on that listener */
	union sockaddr_any peer;
	union sockaddr_any local; /* the router's address the client connected to, once known */
	bool open;
	bool rd_closed;    /* the client sent FIN */
	bool last;         /* tcp.max-queries-per-connection reached: answer, discard, close */
	bool wrote;        /* answer bytes went out since the idle timer was last armed */
	bool resuming;     /* in conn_resume_transfers: not again from inside it */
	bool parsing;      /* in conn_parse: a query failing at once can settle the connection */
	int outq;          /* the kernel's unsent bytes at the last idle check */
	uint64_t idle_at;  /* the idle rule's next check (now_ms) */
	uint64_t query_at; /* the query begun in rbuf must be whole by then; 0: none begun */
	uint8_t *rbuf;     /* NULL, or STREAM_BUF_SIZE bytes from the pool */
	size_t rlen;
	uint8_t *wbuf; /* NULL, or from the pool, grown on demand */
	size_t woff, wlen, wcap;
	uint32_t stage_first,
		stage_last; /* answers staged this turn (tcp_write.c), or STAGE_NONE */
	bool on_stage;      /* on the stage's list of connections */
	struct tcp_conn *stage_next;
	uint64_t ack_owed_us; /* when queries were read that no answer has acknowledged since
			       * (clock_now_us); 0: none */
	bool on_ack_list;     /* on tcp_state.ack_owed */
	bool pipelines;       /* has had two queries in flight: its reads are acknowledged */
	struct tcp_conn *ack_next;
};

struct tcp_state {
	struct tcp_conn *conns;
	uint32_t nconns;
	uint32_t open;
	struct tcp_conn *free_list;
	struct tcp_conn *closed;     /* back to free_list at tcp_reap */
	struct tcp_conn *lru_oldest; /* the eviction candidate */
	struct tcp_conn *lru_newest;
	struct tcp_job *dead_jobs; /* back to the job pool at jobs_reap */
	struct job_mem *free_jobs; /* the job pool: jobs kept for reuse */
	struct tcp_stage *stage;   /* this turn's answers (tcp_write.c) */
	struct tcp_conn *ack_owed; /* connections that may owe their client an ACK */
	uint32_t nfree_jobs;
	size_t unsent; /* answer bytes waiting in all connections' buffers */
	uint8_t *rd;   /* STREAM_BUF_SIZE: what a connection without a buffer reads */
	struct stream_pool pool;
	struct peercount peers;
	int parked_fd; /* accepted for a slot that frees at tcp_reap; -1: none */
	union sockaddr_any parked_peer;
	uint32_t parked_listener;
};

/* front/tcp.c: the connections. */

/* A job of <c> ended or changed: read on, write, or close <c> as its state asks. */
void conn_settle(struct worker *w, struct tcp_conn *c);

/* Ask epoll for what <c> can use now, or close it when it is done. */
void conn_update(struct worker *w, struct tcp_conn *c);

/* Arm <c>'s timer at the earlier of its idle check and its query deadline. */
void conn_arm(struct worker *w, struct tcp_conn *c);

void conn_close(struct worker *w, struct tcp_conn *c);

/* The router's address <c> connected to (asked of the kernel once per connection). */
union sockaddr_any conn_local(struct tcp_conn *c);

/* Move <c> to the newest end of the eviction order (it did something). */
void conn_touch(struct worker *w, struct tcp_conn *c);

/* Whether answers wait for <c>'s socket: in its own buffer, or staged for the turn's end. */
static inline bool conn_unsent(const struct tcp_conn *c)
{
	return c->wlen > c->woff || c->stage_first != STAGE_NONE;
}

/* front/tcp_write.c: answers to the clients. */

/* Send the answer <msg> of <len> bytes to <c> under the client's ID <id>, at the end of the
 * loop turn with the turn's other answers to <c>. <read_us>: when a backend's answer was read
 * (its time to the client is counted), or 0. */
void conn_send(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len, uint16_t id,
	       uint64_t read_us);

/* The same, written at once: a zone transfer's message (its flow control counts what waits). */
void conn_relay(struct worker *w, struct tcp_conn *c, const uint8_t *msg, size_t len, uint16_t id);

/* The same as conn_send for an answer that may need boxing: <msg> is writable, and <cs> is the
 * DNSCurve session its query came in, or NULL. */
void conn_answer(struct worker *w, struct tcp_conn *c, uint8_t *msg, size_t len, uint16_t id,
		 const struct curve_session *cs, uint64_t read_us);

/* Write what waits in <c>'s own buffer. False when the connection failed. */
bool conn_flush(struct worker *w, struct tcp_conn *c);

/* Give <c>'s write buffer back to the pool. */
void conn_wbuf_put(struct worker *w, struct tcp_conn *c);

/* Write the answers staged this turn (at its end, and before connection slots are reused). */
void tcp_stage_flush(struct worker *w);

int tcp_stage_init(struct tcp_state *t);
void tcp_stage_free(struct tcp_state *t);

/* front/tcp_jobs.c: the queries relayed for a connection. */

/* Relay the query <msg> of <len> bytes (its question <q>) for <c> as <v> says: to a backend,
 * or as a zone transfer; <cs> is its DNSCurve session or NULL. When nothing can take it the
 * client is answered SERVFAIL at once. */
void job_start(struct worker *w, struct tcp_conn *c, const struct query_verdict *v,
	       const struct wire_question *q, const uint8_t *msg, size_t len,
	       const struct curve_session *cs);

/* End <j>: off its client and its backend connection, back to the pool at jobs_reap. */
void job_end(struct worker *w, struct tcp_job *j);

/* Jobs ended this loop turn go back to the pool. */
void jobs_reap(struct worker *w);

/* Free the pool (the worker stops). */
void jobs_pool_free(struct tcp_state *t);

#endif
