/* SPDX-License-Identifier: MIT */
/* pool/chash.c -- consistent hashing on the lower-cased name (a ring of virtual nodes)
 *
 * Each backend puts points_per_weight() x weight points on a 32-bit ring, at hashes of its
 * address, so the ring is the same in every run and on every router instance. A name goes to
 * the first usable backend clockwise from its own hash: when a backend leaves, only the names
 * that were on it move, and they spread over the others. */
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/hash.h"
#include "pool/pool.h"

#define POINTS_PER_WEIGHT 1024 /* at most; a power of two */
#define RING_MAX 200000        /* points in one ring: 1.6 MB */

static int point_cmp(const void *a, const void *b)
{
	const struct chash_point *x = a, *y = b;

	if (x->point != y->point) {
		return x->point < y->point ? -1 : 1;
	}
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Points per unit of weight for a pool whose weights add up to <weights>. About 1000 keep each
 * backend's share within a few percent of its weight (160 left it 6 % off for some sets of
 * addresses). A large pool gets fewer, to keep the ring under RING_MAX, but only in powers of
 * two: the number must not move with every backend that comes or goes, or the survivors' points
 * would move too, and names with them. It changes only when the total crosses a doubling. */
static uint32_t points_per_weight(uint32_t weights)
{
	uint32_t per = POINTS_PER_WEIGHT;

	while (per > 1 && (uint64_t)per * weights > RING_MAX) {
		per /= 2;
	}
	return per;
}

static int chash_build(struct pool *p)
{
	uint32_t weights = 0, per, total = 0, k = 0;

	for (uint32_t i = 0; i < p->n; i++) {
		weights += p->backends[i]->weight;
	}
	per = points_per_weight(weights);
	total = per * weights;
	p->ring = calloc(total ? total : 1, sizeof(*p->ring));
	if (p->ring == NULL) {
		return DR_ENOMEM;
	}
	for (uint32_t i = 0; i < p->n; i++) {
		char key[SOCKADDR_STRLEN + 16];
		char addr[SOCKADDR_STRLEN];
		sockaddr_format(&p->backends[i]->addr, addr, sizeof(addr));
		for (uint32_t v = 0; v < per * p->backends[i]->weight; v++) {
			int len = snprintf(key, sizeof(key), "%s#%u", addr, v);
			p->ring[k].point =
				(uint32_t)hash_bytes((const uint8_t *)key, (size_t)len, 0);
			p->ring[k].pos = i;
			k++;
		}
	}
	qsort(p->ring, total, sizeof(*p->ring), point_cmp);
	p->nring = total;
	return DR_EOK;
}

static bool any_candidate(const struct pool *p, const struct backend *exclude, bool strict)
{
	for (uint32_t i = 0; i < p->n; i++) {
		if (pool_candidate(p->backends[i], exclude, strict)) {
			return true;
		}
	}
	return false;
}

static struct backend *chash_pick(const struct pool *p, const struct wire_question *q,
				  const struct pool_ctx *pc, const struct backend *exclude,
				  bool strict)
{
	uint32_t h = pool_name_hash(q);
	uint32_t lo = 0, hi = p->nring;

	(void)pc;
	if (!any_candidate(p, exclude, strict)) {
		return NULL; /* not a walk over every point of the ring for nothing */
	}
	while (lo < hi) { /* the first point at or after h */
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->ring[mid].point < h) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (uint32_t k = 0; k < p->nring; k++) {
		struct backend *be = p->backends[p->ring[(lo + k) % p->nring].pos];
		if (pool_candidate(be, exclude, strict)) {
			return be;
		}
	}
	return NULL;
}

const struct pool_ops pool_hash_ops = {.build = chash_build, .pick = chash_pick};
