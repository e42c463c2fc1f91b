/* SPDX-License-Identifier: MIT */
/* common/rand.c -- seeding */
#include <errno.h>
#include <sys/random.h>

#include "common/err.h"
#include "common/rand.h"

int rand_seed(struct rand_state *st)
{
	size_t got = 0;

	while (got < sizeof(st->s)) {
		ssize_t n = getrandom((char *)st->s + got, sizeof(st->s) - got, 0);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			return -errno;
		}
		got += (size_t)n;
	}
	if ((st->s[0] | st->s[1] | st->s[2] | st->s[3]) == 0) {
		st->s[0] = 1; /* the all-zero state is a fixed point */
	}
	return DR_EOK;
}
