/* SPDX-License-Identifier: MIT */
/* curve/cache.c -- a worker's cache of shared keys: 4-way sets, CLOCK, keyed hash */
#include "curve/cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct entry {
	uint8_t client_pk[CURVE_KEY_LEN];
	uint8_t shared[CURVE_KEY_LEN];
	uint8_t index;
	bool used;
	bool ref; /* CLOCK's bit: set on a hit, cleared as the hand passes */
};

struct set {
	struct entry way[CURVE_CACHE_WAYS];
	uint8_t hand; /* the next way CLOCK looks at */
};

struct curve_cache {
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint32_t mask; /* sets - 1 */
	uint32_t count;
	struct set *sets;
};

_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "SipHash-2-4 gives 64 bits");

struct curve_cache *curve_cache_new(uint32_t entries)
{
	struct curve_cache *c;

	if (entries < CURVE_CACHE_WAYS || entries > CURVE_CACHE_MAX ||
	    (entries & (entries - 1)) != 0) {
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return NULL;
	}
	c->mask = entries / CURVE_CACHE_WAYS - 1;
	c->sets = calloc((size_t)c->mask + 1, sizeof(*c->sets));
	if (c->sets == NULL) {
		free(c);
		return NULL;
	}
	/* Per cache, not per process: a hash learnt from one worker's timing tells nothing
	 * about another's. */
	randombytes_buf(c->hash_key, sizeof(c->hash_key));
	return c;
}

void curve_cache_free(struct curve_cache *c)
{
	if (c == NULL) {
		return;
	}
	sodium_memzero(c->sets, ((size_t)c->mask + 1) * sizeof(*c->sets));
	sodium_memzero(c->hash_key, sizeof(c->hash_key));
	free(c->sets);
	free(c);
}

uint64_t curve_cache_hash(const struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN])
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, client_pk, CURVE_KEY_LEN, c->hash_key); /* cannot fail */
	memcpy(&h, out, sizeof(h));
	return h;
}

static struct set *set_of(const struct curve_cache *c, const uint8_t *client_pk)
{
	return &c->sets[curve_cache_hash(c, client_pk) & c->mask];
}

static struct entry *find(struct set *s, const uint8_t *client_pk, uint8_t index)
{
	for (unsigned i = 0; i < CURVE_CACHE_WAYS; i++) {
		struct entry *e = &s->way[i];
		if (e->used && e->index == index &&
		    memcmp(e->client_pk, client_pk, CURVE_KEY_LEN) == 0) {
			return e;
		}
	}
	return NULL;
}

const uint8_t *curve_cache_get(struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN],
			       uint8_t index)
{
	struct entry *e = find(set_of(c, client_pk), client_pk, index);

	if (e == NULL) {
		return NULL;
	}
	e->ref = true;
	return e->shared;
}

/* A free way, or the first one the hand finds unreferenced since it last passed. The hand
 * clears bits as it goes, so it stops within two turns. New entries start unreferenced: a
 * flood of fresh keys then evicts itself before it evicts keys in use. */
static struct entry *victim(struct set *s)
{
	for (unsigned i = 0; i < CURVE_CACHE_WAYS; i++) {
		if (!s->way[i].used) {
			return &s->way[i];
		}
	}
	for (;;) {
		struct entry *e = &s->way[s->hand];
		s->hand = (uint8_t)((s->hand + 1) % CURVE_CACHE_WAYS);
		if (!e->ref) {
			return e;
		}
		e->ref = false;
	}
}

void curve_cache_put(struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN], uint8_t index,
		     const uint8_t shared[CURVE_KEY_LEN])
{
	struct set *s = set_of(c, client_pk);
	struct entry *e = find(s, client_pk, index);

	if (e == NULL) {
		e = victim(s);
		if (!e->used) {
			c->count++;
		}
		memcpy(e->client_pk, client_pk, CURVE_KEY_LEN);
		e->index = index;
		e->used = true;
		e->ref = false;
	}
	memcpy(e->shared, shared, CURVE_KEY_LEN);
}

uint32_t curve_cache_count(const struct curve_cache *c)
{
	return c->count;
}
