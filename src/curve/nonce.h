/* SPDX-License-Identifier: MIT */
/* curve/nonce.h -- the server's half of a response nonce: unique per process, worker, instance */
#ifndef DR_CURVE_NONCE_H
#define DR_CURVE_NONCE_H

#include <stdint.h>

#include "common/rand.h"
#include "curve/box.h"

/* Layout of the 12 bytes (crypto-fronts.md §1.4). A client may repeat its own half (a replay
 * is answered again), so uniqueness of the 24-byte nonce under one shared key rests on ours:
 *   0-1   instance number, big-endian: distinct per mesh instance holding the same key
 *   2     worker index: distinct per worker of the instance
 *   3-10  a per-worker counter, big-endian, +1 per response
 *   11    random: no part of uniqueness, it only keeps the nonce from being predictable
 *
 * Restarts. The counter starts at the CLOCK_REALTIME nanoseconds read when the worker starts.
 * A worker cannot answer more than once per nanosecond (a seal alone takes ~500 ns), so its
 * counter stays behind the clock, and the next process starts above every value this one
 * used -- provided the clock has not gone back meanwhile. curve_nonce_init() refuses to start
 * below a <floor> the caller saved at shutdown (curve_nonce_last()), which covers a clock set
 * back across a restart. */
enum {
	CURVE_NONCE_OFF_INSTANCE = 0,
	CURVE_NONCE_OFF_WORKER = 2,
	CURVE_NONCE_OFF_COUNTER = 3,
	CURVE_NONCE_OFF_RANDOM = 11,
};

struct curve_nonce {
	uint64_t counter; /* the last value used */
	uint16_t instance;
	uint8_t worker;
	struct rand_state rnd;
};

/* Start <n> for worker <worker> of instance <instance>. <floor> is the highest counter a
 * previous process used (0 when unknown). Returns DR_EOK; DR_EINVAL when the clock reads at
 * or below <floor> (it went back: refuse, or nonces could repeat), or a negative errno when
 * the clock or the random pool cannot be read. */
int curve_nonce_init(struct curve_nonce *n, uint16_t instance, uint8_t worker, uint64_t floor);

/* Write the next server nonce into <out>. Never repeats within a process for one worker. */
static inline void curve_nonce_next(struct curve_nonce *n, uint8_t out[CURVE_HALF_NONCE])
{
	uint64_t c = ++n->counter;

	out[CURVE_NONCE_OFF_INSTANCE] = (uint8_t)(n->instance >> 8);
	out[CURVE_NONCE_OFF_INSTANCE + 1] = (uint8_t)n->instance;
	out[CURVE_NONCE_OFF_WORKER] = n->worker;
	for (int i = 7; i >= 0; i--) {
		out[CURVE_NONCE_OFF_COUNTER + i] = (uint8_t)c;
		c >>= 8;
	}
	out[CURVE_NONCE_OFF_RANDOM] = (uint8_t)rand_next(&n->rnd);
}

/* Open the counter file <path> (created with mode 0600 when missing) and read into *<floor>
 * the counter a previous process saved there (0 when the file is new or empty). Returns the
 * descriptor, kept open so that the value can be saved after privileges are dropped, or
 * DR_ECONF with "<path>: problem" in <err> of <len> bytes. */
int curve_nonce_file_open(const char *path, uint64_t *floor, char *err, size_t len);

/* Save <counter> in the counter file <fd> (replacing what it held) and flush it to disk.
 * Returns DR_EOK or a negative errno. */
int curve_nonce_file_save(int fd, uint64_t counter);

/* The last counter value <n> used, for the caller to save at shutdown. */
static inline uint64_t curve_nonce_last(const struct curve_nonce *n)
{
	return n->counter;
}

#endif
