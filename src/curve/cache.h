/* SPDX-License-Identifier: MIT */
/* curve/cache.h -- a worker's cache of shared keys, by client public key and server key */
#ifndef DR_CURVE_CACHE_H
#define DR_CURVE_CACHE_H

#include <stdint.h>

#include "curve/box.h"

#define CURVE_CACHE_DEFAULT 65536 /* entries per worker: 4.4 MB */
#define CURVE_CACHE_WAYS 4
#define CURVE_CACHE_MAX (1u << 24)

/* One per worker, never shared: no locks. Sets of CURVE_CACHE_WAYS entries, chosen by a
 * SipHash of the client key under a random key of this cache, so clients (who choose their
 * keys freely) cannot aim many keys at one set; CLOCK evicts within a set.
 *
 * An entry is (client key, server key index) -> shared key. The index is part of the entry
 * because a streamlined query does not say which server key it was made for: on a query the
 * caller looks up each configured index in turn (all of a client's entries share one set,
 * so the probes read the same few cache lines) and tries each shared key found; on a miss it
 * computes the shared keys in turn until the box opens and puts the one that did. */
struct curve_cache;

/* A cache of <entries> entries: a power of two from CURVE_CACHE_WAYS to CURVE_CACHE_MAX.
 * Returns NULL on a bad size, no memory or no random source. curve_box_init() first. */
struct curve_cache *curve_cache_new(uint32_t entries);

/* Free <c> (NULL is fine); the shared keys are wiped first. */
void curve_cache_free(struct curve_cache *c);

/* The shared key for <client_pk> and server key <index>, or NULL. Borrowed until the next
 * curve_cache_put() on <c>. A hit marks the entry recently used. */
const uint8_t *curve_cache_get(struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN],
			       uint8_t index);

/* Store <shared> for <client_pk> and <index>, replacing the same pair's entry or else a free
 * one or else the set's CLOCK victim. */
void curve_cache_put(struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN], uint8_t index,
		     const uint8_t shared[CURVE_KEY_LEN]);

/* How many entries are in use (at most the size given to curve_cache_new()). */
uint32_t curve_cache_count(const struct curve_cache *c);

/* The keyed hash of <client_pk> in <c> (the low bits pick the set); for tests. */
uint64_t curve_cache_hash(const struct curve_cache *c, const uint8_t client_pk[CURVE_KEY_LEN]);

#endif
