/* SPDX-License-Identifier: MIT */
/* tests/unit/test_log.c -- rate-limited log lines: one a second per call site, with the count of
 * those held back, on an injected clock; safe when several threads share one limit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static void test_first_passes_then_one_per_second(void **state)
{
	struct log_limit l = {0};
	uint64_t n = 99;

	(void)state;
	assert_true(log_limit_pass(&l, 5000, &n));
	assert_int_equal(n, 0);
	/* 16 a second, as when descriptors run out: all held back until the second is over */
	for (uint64_t t = 5000 + 62; t < 5000 + LOG_LIMIT_MS; t += 62) {
		assert_false(log_limit_pass(&l, t, &n));
	}
	assert_true(log_limit_pass(&l, 5000 + LOG_LIMIT_MS, &n));
	assert_int_equal(n, 16);
	/* a quiet spell: the next line passes at once, with nothing to report */
	assert_true(log_limit_pass(&l, 60000, &n));
	assert_int_equal(n, 0);
	assert_false(log_limit_pass(&l, 60999, &n));
	assert_true(log_limit_pass(&l, 61000, &n));
	assert_int_equal(n, 1);
}

/* A clock that starts at 0 (a test's, or a fresh boot's) still lets the first line through. */
static void test_clock_at_zero(void **state)
{
	struct log_limit l = {0};
	uint64_t n;

	(void)state;
	assert_true(log_limit_pass(&l, 0, &n));
	assert_false(log_limit_pass(&l, 0, &n));
	assert_true(log_limit_pass(&l, LOG_LIMIT_MS, &n));
	assert_int_equal(n, 1);
}

/* Run <fn> with stderr going to a file; return what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *text = calloc(1, 8192);

	assert_non_null(tmp);
	assert_true(saved != -1);
	assert_non_null(text);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) != -1);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) != -1);
	close(saved);
	rewind(tmp);
	assert_true(fread(text, 1, 8191, tmp) > 0);
	fclose(tmp);
	return text;
}

static void write_lines(void)
{
	struct log_limit l = {0};

	for (uint64_t t = 1000; t < 3000; t += 100) { /* 20 tries over two seconds */
		log_limit_write(&l, t, LOG_LVL_WARN, "worker", "out of descriptors (%s)", "EMFILE");
	}
}

static void test_write_appends_the_count(void **state)
{
	char *text = capture_stderr(write_lines);
	char *second;

	(void)state;
	second = strchr(text, '\n');
	assert_non_null(second);
	second++;
	/* two lines: at 1000 and at 2000; the second says the 9 in between were held back */
	assert_non_null(strstr(text, "warning: [worker] out of descriptors (EMFILE)\n"));
	assert_non_null(strstr(
		second, "[worker] out of descriptors (EMFILE) (9 more like this suppressed)\n"));
	assert_null(strchr(strchr(second, '\n') + 1, '\n'));
	free(text);
}

#define THREADS 4
#define TRIES 10000

struct race {
	struct log_limit *l;
	pthread_barrier_t *start;
	unsigned passed;
	uint64_t reported;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->start);
	for (unsigned i = 0; i < TRIES; i++) {
		uint64_t n;
		/* the clock moves one window every 1000 tries */
		if (log_limit_pass(r->l, (uint64_t)(i / 1000) * LOG_LIMIT_MS, &n)) {
			r->passed++;
			r->reported += n;
		}
	}
	return NULL;
}

/* Shared by several threads: one line per window, and every try is either a line or counted
 * once as held back. */
static void test_threads_share_one_limit(void **state)
{
	struct log_limit l = {0};
	pthread_barrier_t start;
	pthread_t t[THREADS];
	struct race r[THREADS];
	unsigned passed = 0;
	uint64_t reported = 0, n = 0;

	(void)state;
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		r[i] = (struct race){.l = &l, .start = &start};
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		passed += r[i].passed;
		reported += r[i].reported;
	}
	pthread_barrier_destroy(&start);
	/* the threads do not move in step, so one may still be in a window the others left:
	 * at least one line per window, at most one per window per thread */
	assert_true(passed >= TRIES / 1000 && passed <= THREADS * TRIES / 1000);
	assert_true(log_limit_pass(&l, 100 * LOG_LIMIT_MS, &n));
	assert_int_equal(passed + reported + n, THREADS * TRIES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_passes_then_one_per_second),
		cmocka_unit_test(test_clock_at_zero),
		cmocka_unit_test(test_write_appends_the_count),
		cmocka_unit_test(test_threads_share_one_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
