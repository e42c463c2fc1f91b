/* SPDX-License-Identifier: MIT */
/* tests/unit/test_timer.c -- the millisecond timer wheel */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "worker/timer.h"

/* A monotonic clock in milliseconds is far from zero on any machine that has been up a few
 * seconds; the tests run there, and test_near_zero covers the first seconds after boot. */
#define T0 1000000ull

struct fixture {
	struct timer_wheel tw;
	struct timer t[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		return -1;
	}
	timer_wheel_init(&f->tw, T0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Step the clock from <from> to <to> one millisecond at a time, as a busy worker does, and
 * record in <fired_at> when each of the fixture's timers comes out. */
static void run_each_ms(struct fixture *f, uint64_t from, uint64_t to, uint64_t *fired_at)
{
	for (uint64_t now = from; now <= to; now++) {
		struct timer *t;

		while ((t = timer_expire_one(&f->tw, now)) != NULL) {
			size_t i = (size_t)(t - f->t);

			assert_true(i < 64);
			assert_false(timer_armed(t));
			if (fired_at[i] != 0) {
				fail_msg("timer %zu fired twice, at %llu and %llu", i,
					 (unsigned long long)fired_at[i], (unsigned long long)now);
			}
			fired_at[i] = now;
		}
	}
}

static void test_order_of_expiry(void **state)
{
	struct fixture *f = *state;
	static const unsigned delays[] = {30, 10, 20, 10, 1, 4095, 2};
	struct timer *t;
	uint64_t last = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < 7; i++) {
		timer_arm(&f->tw, &f->t[i], T0 + delays[i]);
		assert_true(timer_armed(&f->t[i]));
	}
	assert_int_equal(f->tw.armed, 7);
	assert_null(timer_expire_one(&f->tw, T0));
	/* the clock advancing a few milliseconds between looks, as under load */
	for (uint64_t now = T0; now <= T0 + 4100; now += 3) {
		while ((t = timer_expire_one(&f->tw, now)) != NULL) {
			assert_true(t->expire_ms <= now);
			assert_true(t->expire_ms >= last);
			last = t->expire_ms;
			n++;
		}
	}
	assert_int_equal(n, 7);
	assert_int_equal(f->tw.armed, 0);
	assert_int_equal(last, T0 + 4095);
}

static void test_same_ms_fifo(void **state)
{
	struct fixture *f = *state;

	timer_arm(&f->tw, &f->t[0], T0 + 10);
	timer_arm(&f->tw, &f->t[1], T0 + 10);
	timer_arm(&f->tw, &f->t[2], T0 + 10);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 10), &f->t[0]);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 10), &f->t[1]);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 10), &f->t[2]);
	assert_null(timer_expire_one(&f->tw, T0 + 10));
}

static void test_not_before_time(void **state)
{
	struct fixture *f = *state;
	uint64_t fired[64] = {0};

	for (unsigned i = 0; i < 64; i++) {
		timer_arm(&f->tw, &f->t[i], T0 + 1 + i * 37);
	}
	run_each_ms(f, T0, T0 + 64 * 37 + 10, fired);
	for (unsigned i = 0; i < 64; i++) {
		assert_int_equal(fired[i], T0 + 1 + i * 37);
	}
	assert_int_equal(f->tw.armed, 0);
}

static void test_polled_twice_per_ms(void **state)
{
	struct fixture *f = *state;

	/* A worker looks at the wheel after every epoll_wait: many times in one millisecond */
	timer_arm(&f->tw, &f->t[0], T0 + 3);
	for (uint64_t now = T0; now < T0 + 3; now++) {
		for (unsigned k = 0; k < 5; k++) {
			assert_null(timer_expire_one(&f->tw, now));
		}
	}
	timer_arm(&f->tw, &f->t[1], T0 + 4);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 3), &f->t[0]);
	assert_null(timer_expire_one(&f->tw, T0 + 3));
	assert_null(timer_expire_one(&f->tw, T0 + 3));
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 4), &f->t[1]);
}

static void test_disarm(void **state)
{
	struct fixture *f = *state;

	timer_arm(&f->tw, &f->t[0], T0 + 5);
	timer_arm(&f->tw, &f->t[1], T0 + 5);
	timer_arm(&f->tw, &f->t[2], T0 + 6);
	timer_disarm(&f->tw, &f->t[1]);
	assert_false(timer_armed(&f->t[1]));
	assert_int_equal(f->tw.armed, 2);
	timer_disarm(&f->tw, &f->t[1]); /* harmless twice */
	timer_disarm(&f->tw, &f->t[3]); /* and on one never armed */
	assert_int_equal(f->tw.armed, 2);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 10), &f->t[0]);
	timer_disarm(&f->tw, &f->t[0]); /* already off the wheel */
	assert_int_equal(f->tw.armed, 1);
	timer_disarm(&f->tw, &f->t[2]);
	assert_null(timer_expire_one(&f->tw, T0 + 10000));
	assert_int_equal(f->tw.armed, 0);
}

static void test_rearm_moves(void **state)
{
	struct fixture *f = *state;

	timer_arm(&f->tw, &f->t[0], T0 + 10);
	timer_arm(&f->tw, &f->t[0], T0 + 50); /* later */
	assert_int_equal(f->tw.armed, 1);
	assert_null(timer_expire_one(&f->tw, T0 + 10));
	assert_null(timer_expire_one(&f->tw, T0 + 49));
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 50), &f->t[0]);
	assert_null(timer_expire_one(&f->tw, T0 + 50));

	timer_arm(&f->tw, &f->t[1], T0 + 200);
	timer_arm(&f->tw, &f->t[1], T0 + 60); /* earlier */
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 60), &f->t[1]);
	assert_null(timer_expire_one(&f->tw, T0 + 300));
	assert_int_equal(f->tw.armed, 0);

	/* re-armed after it fired: fires again */
	timer_arm(&f->tw, &f->t[1], T0 + 400);
	assert_ptr_equal(timer_expire_one(&f->tw, T0 + 400), &f->t[1]);
}

static void test_beyond_one_turn(void **state)
{
	struct fixture *f = *state;
	uint64_t fired[64] = {0};
	static const uint64_t when[] = {
		TIMER_WHEEL_SLOTS - 1,
		TIMER_WHEEL_SLOTS,
		TIMER_WHEEL_SLOTS + 1,
		5000,
		2 * TIMER_WHEEL_SLOTS + 7,
		3 * TIMER_WHEEL_SLOTS + 7,
		7,
	};

	for (unsigned i = 0; i < 7; i++) {
		timer_arm(&f->tw, &f->t[i], T0 + when[i]);
	}
	/* T0 + 7 and T0 + 2 turns + 7 share a slot: only the first is due then */
	run_each_ms(f, T0 + 1, T0 + 4 * TIMER_WHEEL_SLOTS, fired);
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(fired[i], T0 + when[i]);
	}
}

static void test_long_jump(void **state)
{
	struct fixture *f = *state;
	struct timer *t;
	unsigned n = 0;
	uint64_t now = T0 + 20000;

	for (unsigned i = 0; i < 40; i++) {
		timer_arm(&f->tw, &f->t[i], T0 + 1 + i * 499); /* up to T0 + 19462 */
	}
	timer_arm(&f->tw, &f->t[40], now + 1);
	timer_arm(&f->tw, &f->t[41], now + TIMER_WHEEL_SLOTS);
	/* a worker that slept 20 s: everything due comes out, each once */
	while ((t = timer_expire_one(&f->tw, now)) != NULL) {
		assert_true(t - f->t < 40);
		assert_true(t->expire_ms <= now);
		n++;
	}
	assert_int_equal(n, 40);
	assert_int_equal(f->tw.armed, 2);
	assert_null(timer_expire_one(&f->tw, now));
	assert_ptr_equal(timer_expire_one(&f->tw, now + 1), &f->t[40]);
	assert_null(timer_expire_one(&f->tw, now + TIMER_WHEEL_SLOTS - 1));
	assert_ptr_equal(timer_expire_one(&f->tw, now + TIMER_WHEEL_SLOTS), &f->t[41]);
}

static void test_long_jump_in_order(void **state)
{
	struct fixture *f = *state;
	struct timer *t;
	uint64_t last = 0;

	/* timer.h: "Timers come out slot by slot, so in order of expiry to the millisecond." */
	timer_arm(&f->tw, &f->t[0], T0 + 10);
	timer_arm(&f->tw, &f->t[1], T0 + 3000);
	timer_arm(&f->tw, &f->t[2], T0 + 10000);
	while ((t = timer_expire_one(&f->tw, T0 + 20000)) != NULL) {
		if (t->expire_ms < last) {
			fail_msg("timer due at +%llu came out after one due at +%llu",
				 (unsigned long long)(t->expire_ms - T0),
				 (unsigned long long)(last - T0));
		}
		last = t->expire_ms;
	}
}

static void test_past_time_fires(void **state)
{
	struct fixture *f = *state;
	struct timer *t;

	assert_null(timer_expire_one(&f->tw, T0 + 100));
	/* armed for a time already run: it still fires, at the next look */
	timer_arm(&f->tw, &f->t[0], T0 + 50);
	t = timer_expire_one(&f->tw, T0 + 101);
	assert_ptr_equal(t, &f->t[0]);
}

static void test_near_zero(void **state)
{
	struct fixture *f = *state;
	struct timer_wheel *tw = &f->tw;

	/* A monotonic clock a second after boot; the wheel polled twice in one millisecond */
	timer_wheel_init(tw, 1000);
	timer_arm(tw, &f->t[0], 1100);
	assert_null(timer_expire_one(tw, 1050));
	assert_null(timer_expire_one(tw, 1050));
	timer_arm(tw, &f->t[1], 1200);
	assert_ptr_equal(timer_expire_one(tw, 1100), &f->t[0]);
	assert_ptr_equal(timer_expire_one(tw, 1200), &f->t[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_of_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_ms_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_before_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_polled_twice_per_ms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rearm_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_beyond_one_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_jump_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_past_time_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_near_zero, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
