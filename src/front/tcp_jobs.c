/* SPDX-License-Identifier: MIT */
/* front/tcp_jobs.c -- a TCP client's queries while backends work on them ("jobs"): their
 * start, answer, retry, SERVFAIL and end, and the pool their memory comes from.
 *
 * A job's memory is kept for the next one: a relayed query costs no allocation. The pool
 * keeps at most JOB_POOL_KEEP spare jobs per worker; a burst past that is given back. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/clock.h"
#include "common/err.h"
#include "wire/synth.h"
#include "upstream/clientaddr.h"
#include "upstream/xfr.h"
#include "front/tcp_conn.h"

/* A query and its SERVFAIL fit here when the query is at most JOB_QUERY_INLINE - 512 bytes,
 * as nearly every one is; a longer one has its own allocation. */
#define JOB_QUERY_INLINE 1024
#define JOB_SERVFAIL_ROOM 512 /* a SERVFAIL with EDNS and an EDE after the query */
#define JOB_POOL_KEEP 2048

/* A job and what it keeps between uses. */
struct job_mem {
	struct tcp_job job; /* first */
	struct job_mem *next_free;
	struct curve_session *session; /* once a DNSCurve query needed one, or NULL */
	uint8_t query[JOB_QUERY_INLINE];
};

static void job_fire(struct worker *w, struct timer *t);
static void job_retry(struct worker *w, struct tcp_job *j);

/* A clean job with room for a query of <len> bytes and, with <curve>, a DNSCurve session;
 * NULL when memory runs out. */
static struct tcp_job *job_get(struct tcp_state *t, size_t len, bool curve)
{
	struct job_mem *m = t->free_jobs;
	size_t cap = len + JOB_SERVFAIL_ROOM;

	if (m != NULL) {
		t->free_jobs = m->next_free;
		t->nfree_jobs--;
	} else if ((m = malloc(sizeof(*m))) == NULL) {
		return NULL;
	} else {
		m->session = NULL;
	}
	memset(&m->job, 0, sizeof(m->job));
	m->job.query = cap <= sizeof(m->query) ? m->query : malloc(cap);
	if (curve && m->session == NULL) {
		m->session = malloc(sizeof(*m->session));
	}
	if (m->job.query == NULL || (curve && m->session == NULL)) {
		m->job.query = m->query;
		m->next_free = t->free_jobs;
		t->free_jobs = m;
		t->nfree_jobs++;
		return NULL;
	}
	m->job.qcap = cap <= sizeof(m->query) ? sizeof(m->query) : cap;
	m->job.front = curve ? m->session : NULL;
	return &m->job;
}

/* <j> back to the pool, or freed when the pool is full. */
static void job_put(struct tcp_state *t, struct tcp_job *j)
{
	struct job_mem *m = (struct job_mem *)j;

	if (j->query != m->query) {
		free(j->query);
	}
	if (m->session != NULL) {
		explicit_bzero(m->session, sizeof(*m->session)); /* its shared key */
	}
	if (t->nfree_jobs >= JOB_POOL_KEEP) {
		free(m->session);
		free(m);
		return;
	}
	m->next_free = t->free_jobs;
	t->free_jobs = m;
	t->nfree_jobs++;
}

void jobs_reap(struct worker *w)
{
	struct tcp_state *t = w->tcp;

	while (t->dead_jobs != NULL) {
		struct tcp_job *j = t->dead_jobs;
		t->dead_jobs = j->next_dead;
		job_put(t, j);
	}
}

void jobs_pool_free(struct tcp_state *t)
{
	while (t->free_jobs != NULL) {
		struct job_mem *m = t->free_jobs;
		t->free_jobs = m->next_free;
		free(m->session);
		free(m);
	}
	t->nfree_jobs = 0;
}

/* End <j>: off its client and its backend connection, back to the pool at jobs_reap. Ending an ended job
 * does nothing: answering a job can close its client, which ends all of the client's jobs,
 * this one included, before the caller ends it too. */
void job_end(struct worker *w, struct tcp_job *j)
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
		conn_answer(w, j->conn, j->query, (size_t)n, j->client_id, j->front, 0);
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

static void tcp_job_answered(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	STAT_INC(w, ST_ANSWERS);
	if (j->tries == 0 && !j->resent) {
		/* Its way through the router, for dnsrouter_tcp_stage_seconds_total; the last
		 * stage is counted when the answer is written (tcp_write.c). */
		STAT_INC(w, ST_TCP_TIMED);
		STAT_ADD(w, ST_TCP_US_IN, j->sent_us - j->read_us);
		STAT_ADD(w, ST_TCP_US_BACKEND, j->answer_us - j->sent_us);
	}
	if (j->ecs.edit != ECS_NONE || j->front != NULL) {
		/* The answer is the backend connection's to keep: edit a copy (the client
		 * address undone, or cut to TC=1 to fit a box). */
		memcpy(w->edit, msg, len);
		if (j->ecs.edit != ECS_NONE) {
			len = clientaddr_answer(w, w->edit, len, WORKER_EDIT_BUF, &j->ecs);
		}
		conn_answer(w, c, w->edit, len, j->client_id, j->front, j->answer_us);
	} else {
		conn_send(w, c, msg, len, j->client_id, j->answer_us);
	}
	job_end(w, j);
	conn_settle(w, c);
}

static void tcp_job_failed(struct worker *w, struct tcp_job *j)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	timer_disarm(&w->wheel, &j->timer);
	job_retry(w, j);
	conn_settle(w, c);
}

static size_t tcp_job_unsent(const struct tcp_job *j);
static bool tcp_job_relay(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len);
static void tcp_job_finish(struct worker *w, struct tcp_job *j, bool ok, bool relayed);

static const struct tcp_job_ops job_ops = {
	.answered = tcp_job_answered,
	.failed = tcp_job_failed,
	.unsent = tcp_job_unsent,
	.relay = tcp_job_relay,
	.finish = tcp_job_finish,
};

void job_start(struct worker *w, struct tcp_conn *c, const struct query_verdict *v,
	       const struct wire_question *q, const uint8_t *msg, size_t len,
	       const struct curve_session *cs)
{
	struct tcp_job *j = job_get(w->tcp, len, cs != NULL);

	if (j == NULL) {
		STAT_INC(w, ST_INFLIGHT_FULL);
		return;
	}
	if (cs != NULL) {
		memcpy(j->front, cs, sizeof(*cs));
	}
	j->timer.fire = job_fire;
	j->ops = &job_ops;
	j->conn = c;
	j->client = c->peer;
	j->local = conn_local(c);
	j->client_id = q->id;
	j->qhash = wire_question_hash(q);
	j->read_us = clock_now_us();
	j->qlen = len;
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

static size_t tcp_job_unsent(const struct tcp_job *j)
{
	return j->conn->wlen - j->conn->woff;
}

static bool tcp_job_relay(struct worker *w, struct tcp_job *j, const uint8_t *msg, size_t len)
{
	conn_relay(w, j->conn, msg, len, j->client_id);
	if (j->ended) {
		return false;
	}
	conn_update(w, j->conn); /* what the socket did not take waits for EPOLLOUT */
	return !j->ended;
}

static void tcp_job_finish(struct worker *w, struct tcp_job *j, bool ok, bool relayed)
{
	struct tcp_conn *c = j->conn;

	if (j->ended) {
		return;
	}
	if (ok) {
		STAT_INC(w, ST_ANSWERS);
		job_end(w, j);
		/* A long transfer is not idleness: the next query has a whole idle time. */
		c->idle_at = w->now_ms + w->snap->tcp_idle_ms;
		conn_arm(w, c);
	} else if (!relayed) {
		job_servfail(w, j, WIRE_EDE_NETWORK_ERROR);
	} else {
		conn_close(w, c); /* a cut stream is the one failure a transfer client sees */
		return;
	}
	conn_settle(w, c);
}

/* A query's timer: its backend did not answer in time. */
static void job_fire(struct worker *w, struct timer *t)
{
	struct tcp_job *j = (struct tcp_job *)((char *)t - offsetof(struct tcp_job, timer));
	struct tcp_conn *c = j->conn;

	/* A query sent once more after its connection closed (or waiting its turn to be) says
	 * nothing of the backend's speed: upstream/tcp.c, up_close. */
	if (j->backend_idx < w->nbes && w->bes[j->backend_idx] != NULL && !j->resent) {
		stat_add(&worker_counters(w, w->bes[j->backend_idx]->be)->timeouts, 1);
	}
	tcp_up_timed_out(w, j);
	job_retry(w, j);
	conn_settle(w, c);
}
