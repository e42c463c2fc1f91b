/* SPDX-License-Identifier: MIT */
/* worker/worker.c -- one data-plane thread: its sockets, its tables, its event loop */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "limit/qlimit.h"
#include "limit/rrl.h"
#include "worker/tx.h"
#include "worker/worker.h"

#define EVENTS_PER_WAIT 128
#define IDLE_WAIT_MS 1000
#define BUSY_WAIT_MS 5       /* timers pending: wake often enough to keep them punctual */
#define SOCKET_RETRY_MS 1000 /* a backend socket that failed to open is tried again after */

int worker_watch(struct worker *w, struct io *io, uint32_t events, bool add)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (epoll_ctl(w->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, io->fd, &ev) == -1) {
		return -errno;
	}
	return DR_EOK;
}

int worker_listen(struct worker *w, bool tcp, int (*open)(const union sockaddr_any *addr),
		  io_ready_fn ready, char *err, size_t len)
{
	char text[SOCKADDR_STRLEN];

	for (uint32_t i = 0; i < w->nlisteners; i++) {
		struct listener *ls = &w->listeners[i];
		struct io *io = tcp ? &ls->tcp : &ls->udp;
		int fd = open(&ls->addr);
		if (fd < 0) {
			snprintf(err, len, "cannot listen on %s (%s)",
				 sockaddr_format(&ls->addr, text, sizeof(text)), dr_strerror(fd));
			return DR_ECONF;
		}
		io->fd = fd;
		io->ready = ready;
		if (worker_watch(w, io, EPOLLIN, true) != DR_EOK) {
			snprintf(err, len, "epoll: %s", strerror(errno));
			return DR_ECONF;
		}
	}
	return DR_EOK;
}

void worker_local_address(const struct worker *w, const struct udp_peer *client, uint32_t ls_idx,
			  union sockaddr_any *out)
{
	*out = w->listeners[ls_idx].addr;
	if (client->local_family == AF_INET) {
		out->sin.sin_addr = client->local.v4;
	} else if (client->local_family == AF_INET6) {
		out->sin6.sin6_addr = client->local.v6;
	}
}

/* Ask every part to open its side of <wb>; should one fail, try again after a while. */
static void backend_try_open(struct worker *w, struct wbackend *wb)
{
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->backend_open != NULL &&
		    w->parts[i]->backend_open(w, wb) != DR_EOK) {
			wb->retry_ms = w->now_ms + SOCKET_RETRY_MS;
			return;
		}
	}
	wb->ready = true;
}

struct wbackend *worker_backend(struct worker *w, const struct backend *be)
{
	struct wbackend *wb = be->idx < w->nbes ? w->bes[be->idx] : NULL;

	if (wb == NULL) {
		return NULL;
	}
	/* Its first socket failed to open (out of descriptors, say): try again, once a second,
	 * rather than answer SERVFAIL for this backend until the next reload. */
	if (!wb->ready && w->now_ms >= wb->retry_ms) {
		backend_try_open(w, wb);
	}
	return wb->ready ? wb : NULL;
}

static void backend_close(struct worker *w, struct wbackend *wb)
{
	w->bes[wb->be->idx] = NULL;
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->backend_close != NULL) {
			w->parts[i]->backend_close(w, wb);
		}
	}
	atomic_fetch_sub_explicit(&wb->be->workers_open, 1, memory_order_release);
	free(wb);
}

static int backend_open(struct worker *w, struct backend *be)
{
	struct wbackend *wb = calloc(1, sizeof(*wb));

	if (wb == NULL) {
		return DR_ENOMEM;
	}
	wb->be = be;
	wb->in_snap = true;
	atomic_fetch_add_explicit(&be->workers_open, 1, memory_order_acq_rel);
	w->bes[be->idx] = wb;
	/* Its sockets now; should that fail, worker_backend tries again. */
	backend_try_open(w, wb);
	return DR_EOK;
}

/* Close the sockets of backends that left the snapshot once nothing waits on them. */
static void backends_reap(struct worker *w)
{
	for (uint32_t i = 0; i < w->nbes; i++) {
		struct wbackend *wb = w->bes[i];
		if (wb != NULL && !wb->in_snap && wb->pending == 0) {
			backend_close(w, wb);
		}
	}
}

static int sync_backends(struct worker *w, const struct snapshot *s)
{
	if (s->max_backend_idx > w->nbes) {
		struct wbackend **grown = realloc(w->bes, s->max_backend_idx * sizeof(*grown));
		if (grown == NULL) {
			return DR_ENOMEM;
		}
		memset(grown + w->nbes, 0, (s->max_backend_idx - w->nbes) * sizeof(*grown));
		w->bes = grown;
		w->nbes = s->max_backend_idx;
	}
	for (uint32_t i = 0; i < w->nbes; i++) {
		if (w->bes[i] != NULL) {
			w->bes[i]->in_snap = false;
		}
	}
	for (uint32_t i = 0; i < s->nbackends; i++) {
		struct backend *be = s->backends[i];
		if (w->bes[be->idx] != NULL) {
			w->bes[be->idx]->in_snap = true;
		} else if (backend_open(w, be) != DR_EOK) {
			return DR_ENOMEM;
		}
	}
	/* No reaping here: this turn's events, already taken from epoll, may point into a
	 * backend that just left. The end of the turn reaps it, before the next wait. */
	return DR_EOK;
}

/* Pick up the newest snapshot. Runs right after the worker comes back online. */
static void sync_snapshot(struct worker *w)
{
	struct snapshot *s = rcu_dereference(w->router->snap);

	w->snap = s;
	w->busy_poll_us = s->busy_poll_us;
	if (s->gen == w->snap_gen) {
		return;
	}
	if (s->nroutes + 1 > w->nrr) {
		uint32_t *grown = realloc(w->rr, (s->nroutes + 1) * sizeof(*grown));
		if (grown == NULL) {
			log_err("worker", "worker %u: out of memory taking routing generation %llu",
				w->id, (unsigned long long)s->gen);
			return; /* retried next turn; cursors stay in range meanwhile */
		}
		memset(grown + w->nrr, 0, (s->nroutes + 1 - w->nrr) * sizeof(*grown));
		w->rr = grown;
		w->nrr = s->nroutes + 1;
	}
	if (sync_backends(w, s) != DR_EOK) {
		log_err("worker", "worker %u: out of memory opening backend sockets", w->id);
		return;
	}
	w->snap_gen = s->gen;
}

static void run_timers(struct worker *w)
{
	struct timer *t;

	while ((t = timer_expire_one(&w->wheel, w->now_ms)) != NULL) {
		t->fire(w, t);
	}
	tx_flush(w);
}

/* The eventfd that stop writes to: the loop looks at router.stopping after every turn. */
static void wake_ready(struct worker *w, struct io *io, uint32_t events)
{
	uint64_t count;

	(void)events;
	/* Level-triggered: empty it, or every wait returns at once. */
	if (read(io->fd, &count, sizeof(count)) == -1 && errno != EAGAIN) {
		log_debug("worker", "worker %u: wake-up read failed (%s)", w->id, strerror(errno));
	}
}

/* Stop taking queries; keep the sockets to send the answers still owed. */
static void begin_drain(struct worker *w)
{
	w->draining = true;
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->drain != NULL) {
			w->parts[i]->drain(w);
		}
	}
}

static bool drained(const struct worker *w)
{
	if (inflight_count(&w->inflight) != 0) {
		return false;
	}
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->busy != NULL && w->parts[i]->busy(w)) {
			return false;
		}
	}
	return true;
}

/* Last part first: the backends' side writes the queries the turn queued, and a failure
 * there is answered by a front whose own turn end then writes that answer. */
static void turn_end(struct worker *w)
{
	for (size_t i = w->nparts; i-- > 0;) {
		if (w->parts[i]->turn_end != NULL) {
			w->parts[i]->turn_end(w);
		}
	}
}

/* The next events. A worker that had work less than busy-poll ago asks again without
 * sleeping: a wake-up is most of what a query costs on a virtual machine and much of the
 * latency it adds, and polling spares both at the price of a core kept busy while traffic
 * flows. It still comes back to run the timers as often as a sleep would, and by the time a
 * part asked for (worker_wake_by). */
static int wait_events(struct worker *w, struct epoll_event *events)
{
	uint64_t wait_us = (w->wheel.armed ? BUSY_WAIT_MS : IDLE_WAIT_MS) * 1000ull;
	bool fine = w->wake_us != 0;
	uint64_t now = w->busy_until_us != 0 || fine ? clock_now_us() : 0;
	int n;

	if (fine) {
		uint64_t left = w->wake_us > now ? w->wake_us - now : 0;

		wait_us = left < wait_us ? left : wait_us;
		w->wake_us = 0;
	}
	/* Offline meanwhile: the control thread never waits for an idle or polling worker. */
	rcu_thread_offline();
	if (now < w->busy_until_us) {
		uint64_t until = now + wait_us;

		if (until > w->busy_until_us) {
			until = w->busy_until_us;
		}
		do {
			n = epoll_wait(w->epfd, events, EVENTS_PER_WAIT, 0);
		} while (n == 0 && clock_now_us() < until);
	} else if (fine) {
		struct timespec ts = {.tv_sec = (time_t)(wait_us / 1000000u),
				      .tv_nsec = (long)(wait_us % 1000000u) * 1000};

		n = epoll_pwait2(w->epfd, events, EVENTS_PER_WAIT, &ts, NULL);
		if (n == -1 && errno == ENOSYS) {
			/* A kernel before 5.11, or valgrind: to the next millisecond. */
			n = epoll_wait(w->epfd, events, EVENTS_PER_WAIT,
				       (int)((wait_us + 999) / 1000));
		}
	} else {
		n = epoll_wait(w->epfd, events, EVENTS_PER_WAIT, (int)(wait_us / 1000));
	}
	rcu_thread_online();
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[EVENTS_PER_WAIT];
	uint64_t drain_deadline = 0;

	rcu_register_thread();
	for (;;) {
		int n = wait_events(w, events);

		w->now_ms = clock_now_ms();
		sync_snapshot(w);
		/* After the snapshot, so that a reloaded busy-poll counts from its first event. */
		if (n > 0) {
			w->busy_until_us =
				w->busy_poll_us > 0 ? clock_now_us() + w->busy_poll_us : 0;
		}
		for (int i = 0; i < n; i++) {
			struct io *io = events[i].data.ptr;
			io->ready(w, io, events[i].events);
		}
		run_timers(w);
		turn_end(w);
		if (!w->draining && atomic_load(&w->router->stopping)) {
			begin_drain(w);
			drain_deadline = w->now_ms + w->snap->drain_ms;
		}
		if (w->draining && (drained(w) || w->now_ms >= drain_deadline)) {
			break;
		}
		backends_reap(w);
	}
	rcu_unregister_thread();
	return NULL;
}

/* The listeners' addresses; the fronts open their sockets on them (worker_part.init). */
static int listeners_alloc(struct worker *w, const union sockaddr_any *addrs, size_t naddrs)
{
	w->listeners = calloc(naddrs, sizeof(*w->listeners));
	if (w->listeners == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < naddrs; i++) {
		struct listener *ls = &w->listeners[i];
		ls->addr = addrs[i];
		ls->pktinfo = sockaddr_is_wildcard(&addrs[i]);
		ls->udp.fd = -1;
		ls->tcp.fd = -1;
	}
	w->nlisteners = (uint32_t)naddrs;
	return DR_EOK;
}

static int parts_init(struct worker *w, char *err, size_t len)
{
	for (size_t i = 0; i < w->nparts; i++) {
		int rc = w->parts[i]->init != NULL ? w->parts[i]->init(w, err, len) : DR_EOK;
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

static uint64_t hash_seed(struct rand_state *rnd)
{
	return (uint64_t)rand_next(rnd) << 32 | rand_next(rnd);
}

struct worker *worker_new(unsigned id, struct router *r, const union sockaddr_any *addrs,
			  size_t naddrs, const struct worker_part *const *parts, size_t nparts,
			  char *err, size_t len)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	w->id = id;
	w->router = r;
	w->parts = parts;
	w->nparts = nparts;
	w->wake.ready = wake_ready;
	w->wake.fd = -1;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->rs = regex_scratch_new();
	w->rxbuf = mmap(NULL, (size_t)WORKER_BATCH * WORKER_RESP_BUF, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w->scratch = malloc(WORKER_SCRATCH);
	w->edit = malloc(WORKER_EDIT_BUF);
	if (w->rxbuf == MAP_FAILED) {
		w->rxbuf = NULL;
	}
	w->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd == -1 || w->rs == NULL || w->rxbuf == NULL || w->scratch == NULL ||
	    w->edit == NULL || w->wake.fd == -1 || rand_seed(&w->rnd) != DR_EOK ||
	    inflight_init(&w->inflight) != DR_EOK || tx_init(w) != DR_EOK ||
	    (w->rrl = rrl_new(r->limit_entries, hash_seed(&w->rnd))) == NULL ||
	    (w->ql = qlimit_new(r->limit_entries, hash_seed(&w->rnd))) == NULL ||
	    worker_watch(w, &w->wake, EPOLLIN, true) != DR_EOK) {
		snprintf(err, len, "worker %u: cannot allocate its tables (%s)", id,
			 strerror(errno));
		goto fail;
	}
	timer_wheel_init(&w->wheel, clock_now_ms());
	if (listeners_alloc(w, addrs, naddrs) != DR_EOK) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	if (parts_init(w, err, len) != DR_EOK) {
		goto fail;
	}
	return w;
fail:
	worker_free(w);
	return NULL;
}

static int steer_listeners(struct worker *w0, unsigned n, const struct steer_state *st)
{
	for (uint32_t i = 0; i < w0->nlisteners; i++) {
		const struct listener *ls = &w0->listeners[i];
		sa_family_t family = ls->addr.sa.sa_family;
		int rc = steer_socket(ls->tcp.fd, family, n, st->v4_bits, st->v6_bits, true);

		if (rc == DR_EOK) {
			rc = steer_socket(ls->udp.fd, family, n, st->v4_bits, st->v6_bits, st->udp);
		}
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

void worker_steer(struct worker **ws, unsigned n, const struct snapshot *s)
{
	struct router *r = ws[0]->router;
	struct steer_state want = {
		.v4_bits = s->limit_v4_bits,
		.v6_bits = s->limit_v6_bits,
		.udp = s->rrl.responses_ps != 0 || s->qlimit.per_second != 0 ||
		       (s->curve.nkeys > 0 && s->curve.new_keys_ps != 0),
	};
	int rc;

	if (n < 2 || memcmp(&want, &r->steer, sizeof(want)) == 0) {
		return;
	}
	rc = steer_listeners(ws[0], n, &want);
	if (rc != DR_EOK) {
		/* Limits then hold per worker: a client spread over n workers gets up to n
		 * times its limit. Said once per change. */
		log_warn("worker",
			 "cannot steer clients to workers by prefix (%s): per-client "
			 "limits apply per worker",
			 dr_strerror(rc));
	}
	r->steer = want;
}

int worker_start(struct worker *w)
{
	char name[16];
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0) {
		return -rc;
	}
	w->thread_started = true;
	/* For top -H and ps -L; a name that does not fit is only cosmetic. */
	snprintf(name, sizeof(name), "dnsr-worker-%u", w->id % 1000u);
	(void)pthread_setname_np(w->thread, name);
	return DR_EOK;
}

void worker_stop(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->wake.fd, &one, sizeof(one)) == -1) {
		/* The eventfd counter cannot overflow from one write; a worker that misses
		 * the wake-up still sees router.stopping within IDLE_WAIT_MS. */
		log_debug("worker", "worker %u: wake-up write failed (%s)", w->id, strerror(errno));
	}
}

void worker_free(struct worker *w)
{
	if (w == NULL) {
		return;
	}
	if (w->thread_started) {
		pthread_join(w->thread, NULL);
	}
	/* Clients first: closing them takes their queries off the backend connections. */
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->close_clients != NULL) {
			w->parts[i]->close_clients(w);
		}
	}
	for (uint32_t i = 0; i < w->nbes; i++) {
		if (w->bes[i] != NULL) {
			backend_close(w, w->bes[i]);
		}
	}
	free(w->bes);
	for (size_t i = 0; i < w->nparts; i++) {
		if (w->parts[i]->deinit != NULL) {
			w->parts[i]->deinit(w);
		}
	}
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].udp.fd >= 0) {
			close(w->listeners[i].udp.fd);
		}
		if (w->listeners[i].tcp.fd >= 0) {
			close(w->listeners[i].tcp.fd);
		}
	}
	free(w->listeners);
	tx_deinit(w);
	rrl_free(w->rrl);
	qlimit_free(w->ql);
	inflight_deinit(&w->inflight);
	if (w->rxbuf != NULL) {
		munmap(w->rxbuf, (size_t)WORKER_BATCH * WORKER_RESP_BUF);
	}
	free(w->scratch);
	free(w->edit);
	free(w->rr);
	regex_scratch_free(w->rs);
	if (w->wake.fd >= 0) {
		close(w->wake.fd);
	}
	if (w->epfd >= 0) {
		close(w->epfd);
	}
	free(w);
}
