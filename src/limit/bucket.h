/* SPDX-License-Identifier: MIT */
/* limit/bucket.h -- token buckets by 64-bit key in a table of fixed size, oldest evicted first */
#ifndef DR_LIMIT_BUCKET_H
#define DR_LIMIT_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"

/* A table of at most <entries> buckets, owned by one worker: no lock, no allocation after
 * bucket_table_new. When it is full, the bucket charged least recently is evicted (strict
 * LRU), so a million distinct sources neither grow it nor slow it down. Its memory is
 * reserved at creation and touched as buckets are first used. */
struct bucket_table;

/* Create a table of <entries> (1..2^28) buckets. <seed> keys the index hash, so that clients
 * cannot choose keys that collide. Returns NULL when out of memory or when <entries> is out
 * of range. */
struct bucket_table *bucket_table_new(uint32_t entries, uint64_t seed);
void bucket_table_free(struct bucket_table *t);

/* Bytes the table of <entries> buckets reserves (what README states per entry): 40 a bucket,
 * 4 to 8 for its hash slot, rounded up to a page, and the table's own header. 0 when
 * <entries> is out of range. */
size_t bucket_table_bytes(uint32_t entries);

/* Buckets in use; the admin thread may read it while the owner writes (relaxed atomic). */
uint32_t bucket_table_count(const struct bucket_table *t);

/* True when <t> holds a bucket for <key>. Neither charges it nor refreshes its age: for tests
 * and the admin view, owner thread only. */
bool bucket_table_has(const struct bucket_table *t, uint64_t key);

/* Charge one event to the bucket of <key> at <now_ms>. A bucket refills at <rate> per second
 * (pro rata, millisecond resolution) up to <burst>; a new bucket starts full. A charge that
 * finds less than one token is over the limit and still charged, down to a debt of <debt>
 * tokens at most, so that a source that keeps flooding stays limited until it has been quiet
 * for about debt/rate seconds (BIND's RRL window). With <debt> 0 an event over the limit
 * costs nothing: a plain token bucket, where a source above the rate still gets <rate> a
 * second. Returns 0 when the event is within the limit, else how many events in a row
 * (1, 2, ...) this bucket has had over it; the count restarts at the next event within the
 * limit. */
uint32_t bucket_charge(struct bucket_table *t, uint64_t key, uint64_t now_ms, uint32_t rate,
		       uint32_t burst, uint32_t debt);

/* The key of the client prefix of <sa>: the first <v4_bits> (1..32) of an IPv4 address, or
 * the first <v6_bits> (1..64) of an IPv6 one; bit counts out of range are clamped into it,
 * and any other family gives 0. IPv4 keys have bit 32 set and IPv6 keys are the prefix's
 * first 64 bits, so the two families never share a key in practice (an IPv6 prefix would
 * need to start 0000:0001::/32, which is unassigned). */
uint64_t bucket_prefix_key(const union sockaddr_any *sa, unsigned v4_bits, unsigned v6_bits);

#endif
