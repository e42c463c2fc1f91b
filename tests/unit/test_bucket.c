/* SPDX-License-Identifier: MIT */
/* tests/unit/test_bucket.c -- token buckets: refill, burst, debt, strict LRU, fixed memory */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "limit/bucket.h"

#include "unit_addr.h"

/* Events of <key> at <now_ms> allowed out of <n> at (rate 10, burst 5, debt 0). */
static unsigned allowed(struct bucket_table *t, uint64_t key, uint64_t now_ms, unsigned n)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		ok += bucket_charge(t, key, now_ms, 10, 5, 0) == 0;
	}
	return ok;
}

static void test_new_limits(void **state)
{
	(void)state;
	assert_null(bucket_table_new(0, 1));
	assert_null(bucket_table_new((1u << 28) + 1, 1));
	assert_int_equal(bucket_table_bytes(0), 0);
	/* The largest table only reserves address space. */
	struct bucket_table *t = bucket_table_new(1u << 28, 1);
	assert_non_null(t);
	assert_int_equal(bucket_table_count(t), 0);
	bucket_table_free(t);
	bucket_table_free(NULL);
}

static void test_burst_and_refill(void **state)
{
	struct bucket_table *t = bucket_table_new(16, 42);

	(void)state;
	assert_non_null(t);
	/* A new bucket starts full: a burst of 5, then nothing in the same millisecond. */
	assert_int_equal(allowed(t, 7, 1000, 8), 5);
	/* 10/s: one token every 100 ms, none after 99 ms. */
	assert_int_equal(allowed(t, 7, 1099, 1), 0);
	assert_int_equal(allowed(t, 7, 1100, 1), 1);
	assert_int_equal(allowed(t, 7, 1100, 1), 0);
	/* Partial refills add up exactly (milli-token resolution, nothing lost): 4 x 25 ms. */
	assert_int_equal(allowed(t, 7, 1125, 1), 0);
	assert_int_equal(allowed(t, 7, 1150, 1), 0);
	assert_int_equal(allowed(t, 7, 1175, 1), 0);
	assert_int_equal(allowed(t, 7, 1200, 1), 1);
	/* A long idle refills to the burst and no further, even after years. */
	assert_int_equal(allowed(t, 7, 1200 + 10000, 10), 5);
	assert_int_equal(allowed(t, 7, UINT64_MAX / 2, 10), 5);
	/* A clock that steps back refills nothing. */
	assert_int_equal(allowed(t, 7, 500, 1), 0);
	/* Other keys are untouched. */
	assert_int_equal(allowed(t, 8, 1000, 8), 5);
	assert_int_equal(bucket_table_count(t), 2);
	bucket_table_free(t);
}

static void test_over_count(void **state)
{
	struct bucket_table *t = bucket_table_new(4, 1);

	(void)state;
	assert_non_null(t);
	assert_int_equal(bucket_charge(t, 1, 0, 1, 2, 0), 0);
	assert_int_equal(bucket_charge(t, 1, 0, 1, 2, 0), 0);
	assert_int_equal(bucket_charge(t, 1, 0, 1, 2, 0), 1);
	assert_int_equal(bucket_charge(t, 1, 0, 1, 2, 0), 2);
	assert_int_equal(bucket_charge(t, 1, 0, 1, 2, 0), 3);
	/* Within the limit again: the count restarts. */
	assert_int_equal(bucket_charge(t, 1, 1000, 1, 2, 0), 0);
	assert_int_equal(bucket_charge(t, 1, 1000, 1, 2, 0), 1);
	bucket_table_free(t);
}

static void test_debt(void **state)
{
	struct bucket_table *t = bucket_table_new(4, 1);
	uint64_t now = 0;

	(void)state;
	assert_non_null(t);
	/* rate 10, burst 10, debt 50 (a 5 s window): flood for 10 s at 100/s. */
	for (; now < 10000; now += 10) {
		bucket_charge(t, 9, now, 10, 10, 50);
	}
	/* The balance sits at -50: the next token is 5.1 s away however long the flood was. */
	assert_int_not_equal(bucket_charge(t, 9, now + 5000, 10, 10, 50), 0);
	/* Refused charges still cost a token: at -1 after each, the next one needs 200 ms. */
	assert_int_not_equal(bucket_charge(t, 9, now + 5100, 10, 10, 50), 0);
	assert_int_equal(bucket_charge(t, 9, now + 5300, 10, 10, 50), 0);

	/* With debt a refused event is charged: 0.9 token becomes -0.1, and the next token is
	 * 110 ms away, not 10 (test_burst_and_refill: without debt, 10). */
	assert_int_equal(bucket_charge(t, 11, 0, 10, 1, 5), 0);
	assert_int_not_equal(bucket_charge(t, 11, 90, 10, 1, 5), 0);
	assert_int_equal(bucket_charge(t, 11, 200, 10, 1, 5), 0);

	/* Without debt a refused event costs nothing: at 1.5 times the rate, evenly spaced, a
	 * source gets exactly the rate (after its burst). */
	unsigned ok = 0;
	for (now = 0; now < 10000; now += 200) {
		ok += bucket_charge(t, 12, now, 5, 1, 0) == 0;
		ok += bucket_charge(t, 12, now + 133, 5, 1, 0) == 0;
		ok += bucket_charge(t, 12, now + 166, 5, 1, 0) == 0;
	}
	assert_in_range(ok, 50, 51);

	/* Without debt a flooding source gets its rate back at once. */
	for (now = 0; now < 10000; now += 10) {
		bucket_charge(t, 10, now, 10, 10, 0);
	}
	assert_int_equal(bucket_charge(t, 10, now + 100, 10, 10, 0), 0);
	bucket_table_free(t);
}

static void test_lru(void **state)
{
	struct bucket_table *t = bucket_table_new(8, 3);

	(void)state;
	assert_non_null(t);
	for (uint64_t k = 0; k < 8; k++) {
		bucket_charge(t, k, k, 1, 1, 0);
	}
	assert_int_equal(bucket_table_count(t), 8);
	/* Touch 0, 2 and 4: the order, oldest first, is now 1 3 5 6 7 0 2 4. */
	bucket_charge(t, 0, 10, 1, 1, 0);
	bucket_charge(t, 2, 11, 1, 1, 0);
	bucket_charge(t, 4, 12, 1, 1, 0);
	bucket_charge(t, 100, 13, 1, 1, 0);
	assert_false(bucket_table_has(t, 1));
	assert_true(bucket_table_has(t, 3));
	bucket_charge(t, 101, 14, 1, 1, 0);
	bucket_charge(t, 102, 15, 1, 1, 0);
	assert_false(bucket_table_has(t, 3));
	assert_false(bucket_table_has(t, 5));
	assert_true(bucket_table_has(t, 6));
	/* bucket_table_has does not refresh: 6 goes next, then 7, 0, 2, 4, 100. */
	bucket_charge(t, 103, 16, 1, 1, 0);
	assert_false(bucket_table_has(t, 6));
	for (uint64_t k = 104; k < 108; k++) {
		bucket_charge(t, k, k, 1, 1, 0);
	}
	assert_false(bucket_table_has(t, 7));
	assert_false(bucket_table_has(t, 0));
	assert_false(bucket_table_has(t, 2));
	assert_false(bucket_table_has(t, 4));
	assert_true(bucket_table_has(t, 100));
	assert_int_equal(bucket_table_count(t), 8);
	/* An evicted key comes back as a new, full bucket. */
	assert_int_equal(bucket_charge(t, 0, 20, 1, 1, 0), 0);
	assert_false(bucket_table_has(t, 100));
	bucket_table_free(t);
}

/* A million distinct sources through 10,000 buckets: memory and count stay put, and exactly
 * the last 10,000 remain. */
static void test_million(void **state)
{
	const uint32_t entries = 10000, n = 1000000;
	struct bucket_table *t = bucket_table_new(entries, 0x1234567890abcdefull);
	size_t bytes = bucket_table_bytes(entries);
	struct timespec t0, t1;

	(void)state;
	assert_non_null(t);
	assert_true(bytes >= entries * 40u && bytes <= entries * 48u + 8192);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t k = 0; k < n; k++) {
		/* Keys as a flood would have them: IPv6 /56 prefixes, one after the other. */
		uint64_t key = 0x20010db800000000ull + ((uint64_t)k << 8);
		assert_int_equal(bucket_charge(t, key, k / 1000, 1, 1, 0), 0);
		if (bucket_table_count(t) > entries) {
			fail_msg("count %u past %u", bucket_table_count(t), entries);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(bucket_table_count(t), entries);
	assert_int_equal(bucket_table_bytes(entries), bytes);
	for (uint32_t k = 0; k < n; k++) {
		uint64_t key = 0x20010db800000000ull + ((uint64_t)k << 8);
		if (bucket_table_has(t, key) != (k >= n - entries)) {
			fail_msg("key %u present %d", k, bucket_table_has(t, key));
		}
	}
	/* Reported, not asserted: a loaded machine must not fail the build. */
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# %u charges in %.3f s\n", n, s);
	bucket_table_free(t);
}

static void test_prefix_key(void **state)
{
	union sockaddr_any a = unit_addr("192.0.2.77"), b = unit_addr("192.0.2.200"),
			   c = unit_addr("192.0.3.1");
	union sockaddr_any d = unit_addr("2001:db8:0:1234:5::1"),
			   e = unit_addr("2001:db8:0:12ff::2");
	union sockaddr_any f = unit_addr("2001:db8:0:1300::");
	union sockaddr_any none;

	(void)state;
	assert_int_equal(bucket_prefix_key(&a, 24, 56), 0x1c0000200ull);
	assert_int_equal(bucket_prefix_key(&a, 24, 56), bucket_prefix_key(&b, 24, 56));
	assert_int_not_equal(bucket_prefix_key(&a, 24, 56), bucket_prefix_key(&c, 24, 56));
	assert_int_equal(bucket_prefix_key(&a, 32, 56), 0x1c000024dull);
	assert_int_equal(bucket_prefix_key(&a, 1, 56), 0x180000000ull);
	assert_int_equal(bucket_prefix_key(&a, 0, 56), 0x180000000ull);  /* clamped to 1 */
	assert_int_equal(bucket_prefix_key(&a, 99, 56), 0x1c000024dull); /* clamped to 32 */
	assert_int_equal(bucket_prefix_key(&d, 24, 56), 0x20010db800001200ull);
	assert_int_equal(bucket_prefix_key(&d, 24, 56), bucket_prefix_key(&e, 24, 56));
	assert_int_not_equal(bucket_prefix_key(&d, 24, 56), bucket_prefix_key(&f, 24, 56));
	assert_int_equal(bucket_prefix_key(&d, 24, 64), 0x20010db800001234ull);
	assert_int_equal(bucket_prefix_key(&d, 24, 128), 0x20010db800001234ull);
	assert_int_equal(bucket_prefix_key(&d, 24, 1), 0ull);
	assert_int_equal(bucket_prefix_key(&d, 24, 3), 0x2000000000000000ull);
	memset(&none, 0, sizeof(none));
	assert_int_equal(bucket_prefix_key(&none, 24, 56), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_limits), cmocka_unit_test(test_burst_and_refill),
		cmocka_unit_test(test_over_count), cmocka_unit_test(test_debt),
		cmocka_unit_test(test_lru),        cmocka_unit_test(test_million),
		cmocka_unit_test(test_prefix_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
