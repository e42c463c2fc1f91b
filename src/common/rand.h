/* SPDX-License-Identifier: MIT */
/* common/rand.h -- per-thread fast random numbers (xoshiro128**), seeded from getrandom() */
#ifndef DR_COMMON_RAND_H
#define DR_COMMON_RAND_H

#include <stdint.h>

struct rand_state {
	uint32_t s[4];
};

/* Seed <st> from the kernel's random pool. Returns DR_EOK or a negative errno. */
int rand_seed(struct rand_state *st);

static inline uint32_t rand_rotl(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

static inline uint32_t rand_next(struct rand_state *st)
{
	uint32_t *s = st->s;
	uint32_t r = rand_rotl(s[1] * 5, 7) * 9;
	uint32_t t = s[1] << 9;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rand_rotl(s[3], 11);
	return r;
}

/* A uniform number in [0, <n>), <n> > 0 (Lemire's multiply-shift; bias below 2^-32 * n). */
static inline uint32_t rand_below(struct rand_state *st, uint32_t n)
{
	return (uint32_t)(((uint64_t)rand_next(st) * n) >> 32);
}

#endif
