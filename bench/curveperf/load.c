/* SPDX-License-Identifier: MIT */
/* bench/curveperf/load.c -- the load: closed loop or fixed rate, batches, timeouts */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "curveperf.h"

#define RX_ROUNDS 16       /* recvmmsg batches per loop turn */
#define SCAN_NS 5000000ULL /* how often outstanding queries are checked for their timeout */

uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("curveperf: clock_gettime");
		exit(1);
	}
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static void recv_all(struct run *r)
{
	for (int round = 0; round < RX_ROUNDS; round++) {
		for (unsigned i = 0; i < BATCH; i++) {
			r->rx_iov[i] = (struct iovec){.iov_base = r->rx_buf[i], .iov_len = RX_MAX};
			r->rx[i].msg_hdr =
				(struct msghdr){.msg_iov = &r->rx_iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(r->fd, r->rx, BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == ECONNREFUSED) {
				r->st.refused++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				r->st.recv_errors++;
			}
			return;
		}
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++) {
			answer_handle(r, r->rx_buf[i], r->rx[i].msg_len,
				      (r->rx[i].msg_hdr.msg_flags & MSG_TRUNC) != 0, now);
		}
		if (n < BATCH) {
			return;
		}
	}
}

/* Build and send up to <want> queries in one sendmmsg. Returns how many left. */
static unsigned send_batch(struct run *r, unsigned want)
{
	unsigned n = 0;
	int sent;

	while (n < want && n < BATCH && r->nfree > 0) {
		uint32_t si = r->free[--r->nfree];
		query_build(r, si);
		r->tx_slot[n] = si;
		r->tx_iov[n] =
			(struct iovec){.iov_base = r->slots[si].pkt, .iov_len = r->slots[si].len};
		r->tx[n].msg_hdr = (struct msghdr){.msg_iov = &r->tx_iov[n], .msg_iovlen = 1};
		n++;
	}
	if (n == 0) {
		return 0;
	}
	uint64_t now = now_ns();
	do {
		sent = sendmmsg(r->fd, r->tx, n, 0);
	} while (sent == -1 && errno == EINTR);
	if (sent == -1) {
		if (errno == ECONNREFUSED) {
			r->st.refused++;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			r->st.send_errors++;
		}
		sent = 0;
	}
	if (r->t_first_send == 0 && sent > 0) {
		r->t_first_send = now;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t si = r->tx_slot[i];
		if ((int)i < sent) {
			r->slots[si].busy = true;
			r->slots[si].sent_ns = now;
		} else {
			r->free[r->nfree++] = si; /* its nonce is spent: the next use bumps gen */
		}
	}
	r->st.sent += (uint64_t)sent;
	return (unsigned)sent;
}

static void timeouts_scan(struct run *r, uint64_t now)
{
	const uint64_t limit = (uint64_t)r->o.timeout_ms * 1000000ULL;

	for (uint32_t si = 0; si < r->nslots; si++) {
		if (r->slots[si].busy && now - r->slots[si].sent_ns >= limit) {
			r->st.lost++;
			slot_release(r, si);
		}
	}
}

static void wait_readable(int fd, uint64_t wait_ns)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts = {.tv_sec = (time_t)(wait_ns / NS), .tv_nsec = (long)(wait_ns % NS)};

	if (ppoll(&pfd, 1, &ts, NULL) == -1 && errno != EINTR) {
		perror("curveperf: ppoll");
		exit(1);
	}
}

/* Closed loop: fill every free slot (up to <cap> queries). */
static void send_closed(struct run *r, uint64_t cap)
{
	while (r->nfree > 0 && cap > 0) {
		unsigned got = send_batch(r, cap < BATCH ? (unsigned)cap : BATCH);
		if (got == 0) {
			return;
		}
		cap -= got;
	}
}

/* Fixed rate: send the queries due by <now> (query k is due k / rate seconds after <t0>);
 * those due while every slot is taken are skipped, not sent late in a burst, so the rate
 * stays fixed. Returns how long until the next one is due. */
static uint64_t send_fixed(struct run *r, uint64_t t0, uint64_t now, uint64_t cap,
			   uint64_t *scheduled)
{
	const double rate = (double)r->o.rate;
	uint64_t due = (uint64_t)((double)(now - t0) * rate / (double)NS) + 1;

	while (*scheduled < due && cap > 0) {
		uint64_t want = due - *scheduled < cap ? due - *scheduled : cap;
		if (r->nfree == 0) {
			r->st.skipped += want;
			*scheduled += want;
			break;
		}
		unsigned got = send_batch(r, want < BATCH ? (unsigned)want : BATCH);
		if (got == 0) {
			break;
		}
		*scheduled += got;
		cap -= got;
	}
	uint64_t next = t0 + (uint64_t)((double)*scheduled * (double)NS / rate);
	now = now_ns();
	return next > now ? next - now : 0;
}

/* Send for -l seconds (or -n queries), closed loop or at the fixed rate, then wait for the
 * outstanding answers up to the timeout. Returns the elapsed ns. */
uint64_t load_run(struct run *r)
{
	const uint64_t t0 = now_ns(), end = t0 + (uint64_t)(r->o.seconds * (double)NS);
	uint64_t scheduled = 0, last_scan = t0, now = t0;
	bool sending = true;

	while (sending || r->nfree < r->nslots) {
		recv_all(r);
		now = now_ns();
		if (now - last_scan >= SCAN_NS) {
			timeouts_scan(r, now);
			last_scan = now;
		}
		if (sending &&
		    (now >= end || (r->o.max_queries && r->st.sent >= r->o.max_queries))) {
			sending = false;
		}
		/* Closed loop: every free slot is filled, so wait for answers (or the scan). */
		uint64_t wait = SCAN_NS;
		if (sending) {
			uint64_t cap =
				r->o.max_queries ? r->o.max_queries - r->st.sent : UINT64_MAX;
			if (r->o.rate == 0) {
				send_closed(r, cap);
			} else {
				wait = send_fixed(r, t0, now, cap, &scheduled);
			}
		}
		if (wait > SCAN_NS) {
			wait = SCAN_NS;
		}
		if (wait > 0) {
			wait_readable(r->fd, wait);
		}
	}
	return now - t0;
}
