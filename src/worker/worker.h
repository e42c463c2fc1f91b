/* SPDX-License-Identifier: MIT */
/* worker/worker.h -- one data-plane thread: its sockets, its tables, its event loop */
#ifndef DR_WORKER_WORKER_H
#define DR_WORKER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/rand.h"
#include "common/sockaddr.h"
#include "route/route.h"
#include "worker/inflight.h"
#include "worker/stats.h"
#include "worker/steer.h"
#include "worker/timer.h"

#define WORKER_BATCH 64       /* datagrams per recvmmsg/sendmmsg */
#define WORKER_QUERY_BUF 4096 /* largest UDP query accepted; larger ones are dropped */
#define WORKER_RESP_BUF 65536 /* backend answers can fill a whole datagram */
#define WORKER_SCRATCH (WIRE_TCP_MSG_MAX + 1024)
#define WORKER_EDIT_BUF (WIRE_TCP_MSG_MAX + 64) /* an answer, and the option given back */

/* What the control thread shares with the workers. */
struct router {
	struct snapshot *snap; /* RCU (QSBR): rcu_dereference it, publish by exchange */
	struct tap *tap;       /* dnstap, or NULL; RCU like snap (a rotation replaces it) */
	_Atomic bool stopping;
	uint32_t tcp_max_conns;      /* per worker */
	uint32_t limit_entries;      /* buckets per worker in each of its rate-limit tables */
	struct steer_state steer;    /* how the listeners are steered now (control thread only) */
	uint64_t nonce_floor;        /* the last DNSCurve nonce counter of the previous run */
	_Atomic uint64_t nonce_last; /* the highest this run used, gathered as workers stop */
};

/* Note that a worker used DNSCurve nonce counters up to <n>. */
static inline void router_nonce_seen(struct router *r, uint64_t n)
{
	uint64_t was = atomic_load(&r->nonce_last);

	while (n > was && !atomic_compare_exchange_weak(&r->nonce_last, &was, n)) {
	}
}

/* The kinds of file descriptor a worker's epoll loop serves. */
struct worker;
struct io;

/* What the owner of <io> does when epoll reports <events> on it. The loop knows no owner:
 * each module that registers a descriptor says how it is served. */
typedef void (*io_ready_fn)(struct worker *w, struct io *io, uint32_t events);

/* First member of every object registered with epoll: data.ptr points at it. */
struct io {
	int fd;
	io_ready_fn ready;
};

struct listener {
	struct io udp;
	struct io tcp;
	union sockaddr_any addr;
	bool pktinfo; /* wildcard address: learn each query's local address */
};

struct wbackend;
struct tap;
struct tcp_up;
struct xfr;

struct wgroup;

/* The worker's side of a backend: its connected UDP sockets and what waits on them. */
struct wbackend {
	bool ready; /* the upstream side could open it (its first socket) */
	struct wgroup *groups[INFLIGHT_GROUPS]; /* NULL until that ID space is first used */
	struct backend *be;
	struct tcp_up *tcp_ups; /* TCP connections to it, shared by client queries */
	uint32_t pending;       /* UDP slots and TCP jobs waiting on it */
	bool in_snap;           /* named by the worker's current snapshot */
	uint64_t retry_ms;      /* its first socket failed to open: try again from then */
};

struct tx_queue;
struct tcp_state;
struct worker_part;
struct rrl;
struct qlimit;
struct curve_front;
struct upstream_state;

struct worker {
	unsigned id;
	pthread_t thread;
	bool thread_started;
	struct router *router;
	int epfd;
	struct io wake;        /* eventfd: stop */
	struct snapshot *snap; /* valid between quiescent points only */
	uint64_t snap_gen;
	uint32_t busy_poll_us;  /* the snapshot's, kept for the wait that follows */
	uint64_t busy_until_us; /* poll without sleeping until then (CLOCK_MONOTONIC) */
	/* A part wants the loop back by then, finer than the timer wheel (CLOCK_MONOTONIC µs,
	 * set at a turn's end by worker_wake_by); 0: no such wish. */
	uint64_t wake_us;
	struct regex_scratch *rs;
	struct rand_state rnd;
	uint32_t *rr; /* round-robin cursor per route index */
	uint32_t nrr;
	const struct worker_part *const *parts; /* fronts first, then the upstream side */
	size_t nparts;
	struct listener *listeners;
	uint32_t nlisteners;
	struct wbackend **bes; /* by backend.idx; NULL where not open */
	uint32_t nbes;
	struct inflight_table inflight;
	struct timer_wheel wheel;
	struct tx_queue *tx;
	struct tcp_state *tcp;
	struct rrl *rrl;           /* response rate limiting state; NULL until the first use */
	struct qlimit *ql;         /* query limit state; NULL until the first use */
	struct curve_front *curve; /* the DNSCurve front's state */
	struct upstream_state *up; /* the backends' side: upstream/state.h */
	uint8_t *rxbuf;            /* WORKER_BATCH x WORKER_RESP_BUF */
	uint8_t *scratch;          /* WORKER_SCRATCH: a TCP query and our reply to it */
	uint8_t *edit; /* WORKER_EDIT_BUF: a TCP answer with its client-address edit undone */
	uint64_t now_ms;
	uint64_t accept_resume_ms; /* TCP accepts paused (no descriptors) until then; 0: not */
	bool draining;
	struct worker_stats stats;
};

/* A part of every worker: a front (the clients' side of a transport) or the upstream side
 * (the backends'). The loop knows the parts only by these hooks, so a front or a transport to
 * the backends is added without touching it. Any hook may be NULL. */
struct worker_part {
	/* Allocate the part's state and open its sockets on every listener (w->listeners: the
	 * addresses are set, every fd is -1). DR_EOK, or an error with one line in <err>. */
	int (*init)(struct worker *w, char *err, size_t len);
	/* Once per loop turn, after the events and the timers: write what the turn gathered,
	 * free what closed during it, take up what was paused. Called last part first, so the
	 * backends' side (last) hands the fronts what it settles there in the same turn. */
	void (*turn_end)(struct worker *w);
	/* The router is stopping: take no new queries; what is owed is still answered. */
	void (*drain)(struct worker *w);
	/* Whether answers are still owed (the worker then keeps draining). */
	bool (*busy)(const struct worker *w);
	/* The worker's side of a backend: open it (idempotent: DR_EOK once open) and close it. */
	int (*backend_open)(struct worker *w, struct wbackend *wb);
	void (*backend_close)(struct worker *w, struct wbackend *wb);
	/* At the end: close the clients (taking their queries off backend connections) before
	 * the backends close; then free the rest. */
	void (*close_clients)(struct worker *w);
	void (*deinit)(struct worker *w);
};

/* Create worker <id> made of <parts> (fronts first, then the upstream side; the array must
 * outlive the worker): listeners on <addrs>, its tables. Returns NULL with a reason in <err>.
 * The thread is not started. */
struct worker *worker_new(unsigned id, struct router *r, const union sockaddr_any *addrs,
			  size_t naddrs, const struct worker_part *const *parts, size_t nparts,
			  char *err, size_t len);

/* Start the thread. Returns DR_EOK or a negative errno. */
int worker_start(struct worker *w);

/* Ask the thread to stop after answering what is in flight (bounded by router.drain_ms). */
void worker_stop(struct worker *w);

/* Join the thread and free everything. */
void worker_free(struct worker *w);

/* Steer the listeners of <ws> (all <n> workers, in order) by the client prefix of <s> when
 * per-prefix state needs every query of a prefix in one worker: TCP always (connections
 * per client), UDP while rate-limit, query-limit or the DNSCurve fresh-key budget is on.
 * Runs on the control thread at
 * start and after every publish; does nothing when nothing changed. */
void worker_steer(struct worker **ws, unsigned n, const struct snapshot *s);

/* Internal to the worker's modules. */

/* The worker's side of <be>, or NULL when it could not open a socket to it. */
struct wbackend *worker_backend(struct worker *w, const struct backend *be);

/* This worker's counters for <be>. */
static inline struct backend_counters *worker_counters(struct worker *w, struct backend *be)
{
	return &be->counters[w->id];
}

/* Have the loop come back by <us> (CLOCK_MONOTONIC µs) even if nothing happens: for a
 * deadline finer than the timer wheel's milliseconds. Called at a turn's end. */
static inline void worker_wake_by(struct worker *w, uint64_t us)
{
	if (w->wake_us == 0 || us < w->wake_us) {
		w->wake_us = us;
	}
}

/* The router's address that <client> sent to on listener <ls_idx>: the one it learned from
 * IP_PKTINFO on a wildcard listener, else the listener's own. */
void worker_local_address(const struct worker *w, const struct udp_peer *client, uint32_t ls_idx,
			  union sockaddr_any *out);

/* Open a front's socket on every listener with <open> (the udp or, with <tcp>, the tcp one of
 * struct listener), served by <ready>. DR_EOK, or DR_ECONF with "cannot listen on ADDR
 * (reason)" in <err>. */
int worker_listen(struct worker *w, bool tcp, int (*open)(const union sockaddr_any *addr),
		  io_ready_fn ready, char *err, size_t len);

/* Tell epoll the interest set of <io>. Returns DR_EOK or a negative errno. */
int worker_watch(struct worker *w, struct io *io, uint32_t events, bool add);

#endif
