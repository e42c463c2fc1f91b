/* SPDX-License-Identifier: MIT */
/* limit/qlimit.c -- the query limit: a token bucket per client prefix, before routing */
#include <stdlib.h>

#include "limit/bucket.h"
#include "limit/qlimit.h"

struct qlimit {
	struct bucket_table *t;
};

struct qlimit *qlimit_new(uint32_t entries, uint64_t seed)
{
	struct qlimit *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		return NULL;
	}
	l->t = bucket_table_new(entries, seed);
	if (l->t == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void qlimit_free(struct qlimit *l)
{
	if (l == NULL) {
		return;
	}
	bucket_table_free(l->t);
	free(l);
}

uint32_t qlimit_count(const struct qlimit *l)
{
	return bucket_table_count(l->t);
}

bool qlimit_allow(struct qlimit *l, const struct conf_qlimit *c, unsigned v4_bits, unsigned v6_bits,
		  const union sockaddr_any *client, uint64_t now_ms)
{
	if (c->per_second == 0) {
		return true;
	}
	/* No debt: a query limit is a rate, not a penalty; a client that slows down to it is
	 * served at once again. */
	uint32_t burst = c->burst != 0 ? c->burst : c->per_second;
	uint64_t key = bucket_prefix_key(client, v4_bits, v6_bits);

	return bucket_charge(l->t, key, now_ms, c->per_second, burst, 0) == 0;
}
