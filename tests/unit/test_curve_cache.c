/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_cache.c -- the shared-key cache: hits, misses, eviction, keyed hash */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "curve/box.h"
#include "curve/cache.h"

static int setup(void **state)
{
	(void)state;
	return curve_box_init() == DR_EOK ? 0 : -1;
}

/* A distinct client key for each <i>, and a shared key derived from it and <index>. */
static void client_key(uint32_t i, uint8_t pk[32])
{
	memset(pk, 0, 32);
	memcpy(pk, &i, sizeof(i));
	pk[31] = 0x5a;
}

static void shared_of(uint32_t i, uint8_t index, uint8_t shared[32])
{
	memset(shared, index, 32);
	memcpy(shared, &i, sizeof(i));
}

static void test_sizes(void **state)
{
	struct curve_cache *c;

	(void)state;
	assert_null(curve_cache_new(0));
	assert_null(curve_cache_new(2));
	assert_null(curve_cache_new(100));
	assert_null(curve_cache_new(CURVE_CACHE_MAX * 2));
	c = curve_cache_new(4);
	assert_non_null(c);
	curve_cache_free(c);
	c = curve_cache_new(CURVE_CACHE_DEFAULT);
	assert_non_null(c);
	assert_int_equal(curve_cache_count(c), 0);
	curve_cache_free(c);
	curve_cache_free(NULL);
}

static void test_hit_miss(void **state)
{
	struct curve_cache *c = curve_cache_new(64);
	uint8_t pk[32], other[32], shared[32], want[32];
	const uint8_t *got;

	(void)state;
	assert_non_null(c);
	client_key(1, pk);
	client_key(2, other);
	assert_null(curve_cache_get(c, pk, 0));
	shared_of(1, 0, shared);
	curve_cache_put(c, pk, 0, shared);
	got = curve_cache_get(c, pk, 0);
	assert_non_null(got);
	assert_memory_equal(got, shared, 32);
	/* the same client with another server key, and another client: misses */
	assert_null(curve_cache_get(c, pk, 1));
	assert_null(curve_cache_get(c, other, 0));
	/* both server keys of one client at once (rotation) */
	shared_of(1, 1, want);
	curve_cache_put(c, pk, 1, want);
	assert_memory_equal(curve_cache_get(c, pk, 1), want, 32);
	assert_memory_equal(curve_cache_get(c, pk, 0), shared, 32);
	assert_int_equal(curve_cache_count(c), 2);
	/* putting the same pair again replaces, not adds */
	shared_of(9, 1, want);
	curve_cache_put(c, pk, 1, want);
	assert_memory_equal(curve_cache_get(c, pk, 1), want, 32);
	assert_int_equal(curve_cache_count(c), 2);
	curve_cache_free(c);
}

/* Ten times more keys than entries: the count stays at the size, every entry still answers
 * for its own key, and none is lost or doubled. */
static void test_pressure(void **state)
{
	const uint32_t size = 256;
	struct curve_cache *c = curve_cache_new(size);
	uint8_t pk[32], shared[32];
	uint32_t present = 0;

	(void)state;
	assert_non_null(c);
	for (uint32_t i = 0; i < 10 * size; i++) {
		client_key(i, pk);
		shared_of(i, 0, shared);
		curve_cache_put(c, pk, 0, shared);
		assert_true(curve_cache_count(c) <= size);
		assert_non_null(curve_cache_get(c, pk, 0)); /* just put: present */
	}
	assert_int_equal(curve_cache_count(c), size);
	for (uint32_t i = 0; i < 10 * size; i++) {
		client_key(i, pk);
		const uint8_t *got = curve_cache_get(c, pk, 0);
		if (got != NULL) {
			shared_of(i, 0, shared);
			assert_memory_equal(got, shared, 32);
			present++;
		}
	}
	assert_int_equal(present, size);
	curve_cache_free(c);
}

/* CLOCK: a key in use survives a flood of fresh keys through its own set. */
static void test_clock_keeps_hot(void **state)
{
	struct curve_cache *c = curve_cache_new(4); /* one set */
	uint8_t hot[32], pk[32], shared[32];

	(void)state;
	assert_non_null(c);
	client_key(1000000, hot);
	shared_of(1000000, 0, shared);
	curve_cache_put(c, hot, 0, shared);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_non_null(curve_cache_get(c, hot, 0)); /* used between every two misses */
		client_key(i, pk);
		curve_cache_put(c, pk, 0, shared);
	}
	assert_non_null(curve_cache_get(c, hot, 0));
	curve_cache_free(c);
}

/* Each cache has its own SipHash key: the same client key lands elsewhere. */
static void test_keyed_hash(void **state)
{
	struct curve_cache *a = curve_cache_new(64), *b = curve_cache_new(64);
	uint8_t pk[32];
	unsigned same = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (uint32_t i = 0; i < 64; i++) {
		client_key(i, pk);
		assert_int_equal(curve_cache_hash(a, pk), curve_cache_hash(a, pk));
		same += curve_cache_hash(a, pk) == curve_cache_hash(b, pk);
	}
	assert_int_equal(same, 0);
	curve_cache_free(a);
	curve_cache_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),      cmocka_unit_test(test_hit_miss),
		cmocka_unit_test(test_pressure),   cmocka_unit_test(test_clock_keeps_hot),
		cmocka_unit_test(test_keyed_hash),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
