/* SPDX-License-Identifier: MIT */
/* curve/nonce.c -- the server's half of a response nonce */
#include "curve/nonce.h"

#include <errno.h>
#include <time.h>

#include "common/err.h"

int curve_nonce_init(struct curve_nonce *n, uint16_t instance, uint8_t worker, uint64_t floor)
{
	struct timespec ts;
	uint64_t now;
	int rc;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
		return -errno;
	}
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (ts.tv_sec < 0 || now <= floor) {
		return DR_EINVAL;
	}
	rc = rand_seed(&n->rnd);
	if (rc != DR_EOK) {
		return rc;
	}
	/* curve_nonce_next() adds 1 first, so the first nonce carries now + 1 > floor. */
	n->counter = now;
	n->instance = instance;
	n->worker = worker;
	return DR_EOK;
}
