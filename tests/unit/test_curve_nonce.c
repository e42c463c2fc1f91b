/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_nonce.c -- server nonces: layout, monotonic, unique, the restart floor */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "curve/nonce.h"

static uint64_t counter_of(const uint8_t *n)
{
	uint64_t c = 0;

	for (int i = 0; i < 8; i++) {
		c = (c << 8) | n[CURVE_NONCE_OFF_COUNTER + i];
	}
	return c;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_layout(void **state)
{
	struct curve_nonce n;
	uint8_t out[CURVE_HALF_NONCE];
	uint64_t before = now_ns();

	(void)state;
	assert_int_equal(curve_nonce_init(&n, 0x1234, 7, 0), DR_EOK);
	curve_nonce_next(&n, out);
	assert_int_equal(out[0], 0x12);
	assert_int_equal(out[1], 0x34);
	assert_int_equal(out[2], 7);
	/* the counter starts at the wall clock, in nanoseconds, big-endian */
	assert_true(counter_of(out) > before);
	assert_true(counter_of(out) <= now_ns() + 1);
	assert_int_equal(counter_of(out), curve_nonce_last(&n));
}

/* A million in a row: each counter one above the last, so no two nonces are equal (the
 * random byte plays no part in it). */
static void test_unique(void **state)
{
	struct curve_nonce n;
	uint8_t out[CURVE_HALF_NONCE];
	uint64_t prev;
	unsigned seen_random[256] = {0};

	(void)state;
	assert_int_equal(curve_nonce_init(&n, 1, 0, 0), DR_EOK);
	curve_nonce_next(&n, out);
	prev = counter_of(out);
	for (int i = 0; i < 1000000; i++) {
		curve_nonce_next(&n, out);
		assert_true(counter_of(out) == prev + 1);
		prev = counter_of(out);
		seen_random[out[CURVE_NONCE_OFF_RANDOM]]++;
	}
	/* the random byte does vary */
	unsigned used = 0;
	for (int i = 0; i < 256; i++) {
		used += seen_random[i] > 0;
	}
	assert_true(used > 200);
}

/* Two workers started in the same nanosecond still differ in byte 2. */
static void test_workers_differ(void **state)
{
	struct curve_nonce a, b;
	uint8_t na[CURVE_HALF_NONCE], nb[CURVE_HALF_NONCE];

	(void)state;
	assert_int_equal(curve_nonce_init(&a, 5, 0, 0), DR_EOK);
	assert_int_equal(curve_nonce_init(&b, 5, 1, 0), DR_EOK);
	b.counter = a.counter;
	curve_nonce_next(&a, na);
	curve_nonce_next(&b, nb);
	assert_memory_equal(na + 3, nb + 3, 8);
	assert_memory_not_equal(na, nb, 3);
}

/* A restart: the new process starts above everything the old one used, and refuses to start
 * when the clock reads at or below the saved floor. */
static void test_restart(void **state)
{
	struct curve_nonce old, fresh;
	uint8_t out[CURVE_HALF_NONCE];

	(void)state;
	assert_int_equal(curve_nonce_init(&old, 1, 0, 0), DR_EOK);
	for (int i = 0; i < 1000; i++) {
		curve_nonce_next(&old, out);
	}
	assert_int_equal(curve_nonce_init(&fresh, 1, 0, curve_nonce_last(&old)), DR_EOK);
	curve_nonce_next(&fresh, out);
	assert_true(counter_of(out) > curve_nonce_last(&old));
	assert_int_equal(curve_nonce_init(&fresh, 1, 0, now_ns() + 60000000000ull), DR_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_workers_differ),
		cmocka_unit_test(test_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
