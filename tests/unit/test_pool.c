/* SPDX-License-Identifier: MIT */
/* tests/unit/test_pool.c -- load-balancing policies: spread, health, drain, retry exclusion */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/err.h"
#include "pool/pool.h"
#include "wire/wire.h"

#define NB 4
#define NAMES 10000

struct fixture {
	struct backend be[NB];
	struct backend *list[NB];
	struct pool pool;
	uint32_t cursor;
	uint32_t pending[NB];
	struct pool_ctx pc;
};

static uint32_t pending_of(void *arg, const struct backend *be)
{
	struct fixture *f = arg;

	return f->pending[be - f->be];
}

/* A pool of <n> up backends at 10.0.0.<i+1>:53 with <weights> (NULL: all 1). */
static void make_pool(struct fixture *f, enum conf_policy policy, unsigned n,
		      const uint32_t *weights)
{
	char addr[32];

	pool_deinit(&f->pool);
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%u:53", i + 1);
		assert_int_equal(sockaddr_parse(addr, strlen(addr), 0, &f->be[i].addr), DR_EOK);
		f->be[i].weight = weights ? weights[i] : 1;
		atomic_store(&f->be[i].state, BE_UP | BE_CHECKED);
		f->list[i] = &f->be[i];
	}
	f->pool.backends = calloc(n, sizeof(*f->pool.backends));
	assert_non_null(f->pool.backends);
	memcpy(f->pool.backends, f->list, n * sizeof(*f->list));
	f->pool.n = n;
	f->pool.policy = policy;
	assert_int_equal(pool_build(&f->pool), DR_EOK);
	f->pc = (struct pool_ctx){.cursor = &f->cursor, .pending = pending_of, .arg = f};
}

static void question(struct wire_question *q, unsigned i)
{
	char text[64];

	snprintf(text, sizeof(text), "name%u.example.", i);
	memset(q, 0, sizeof(*q));
	q->name_len = (uint16_t)wire_name_from_text(text, q->name);
	q->qtype = WIRE_TYPE_A;
	q->qclass = WIRE_CLASS_IN;
}

/* Pick for NAMES distinct names; count per backend; remember each name's backend. */
static void spread(struct fixture *f, unsigned counts[NB], int *owner)
{
	struct wire_question q;

	memset(counts, 0, NB * sizeof(counts[0]));
	for (unsigned i = 0; i < NAMES; i++) {
		struct backend *be;
		question(&q, i);
		be = pool_pick(&f->pool, &q, &f->pc, NULL);
		assert_non_null(be);
		counts[be - f->be]++;
		if (owner != NULL) {
			owner[i] = (int)(be - f->be);
		}
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	*state = f;
	return f ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pool_deinit(&f->pool);
	free(f);
	return 0;
}

static void assert_share(unsigned count, double want)
{
	double share = (double)count / NAMES;

	if (share < want - 0.05 || share > want + 0.05) {
		fail_msg("share %.3f, want %.3f +- 0.05", share, want);
	}
}

static void test_round_robin_even(void **state)
{
	struct fixture *f = *state;
	unsigned counts[NB];

	make_pool(f, CONF_POLICY_ROUND_ROBIN, 3, NULL);
	spread(f, counts, NULL);
	for (unsigned i = 0; i < 3; i++) {
		assert_share(counts[i], 1.0 / 3);
	}
}

static void test_round_robin_skips_down_and_drained(void **state)
{
	struct fixture *f = *state;
	unsigned counts[NB];

	make_pool(f, CONF_POLICY_ROUND_ROBIN, 3, NULL);
	atomic_store(&f->be[0].state, BE_CHECKED);                      /* down */
	atomic_store(&f->be[1].state, BE_UP | BE_CHECKED | BE_DRAINED); /* drained */
	spread(f, counts, NULL);
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 0);
	assert_int_equal(counts[2], NAMES);
}

static void test_all_down_servfail_or_fallback(void **state)
{
	struct fixture *f = *state;
	struct wire_question q;

	make_pool(f, CONF_POLICY_ROUND_ROBIN, 2, NULL);
	question(&q, 1);
	atomic_store(&f->be[0].state, BE_CHECKED);
	atomic_store(&f->be[1].state, BE_CHECKED);
	assert_null(pool_pick(&f->pool, &q, &f->pc, NULL));
	f->pool.fallback = CONF_FALLBACK_ALL;
	assert_non_null(pool_pick(&f->pool, &q, &f->pc, NULL));
	/* drained stays out even then */
	atomic_store(&f->be[0].state, BE_CHECKED | BE_DRAINED);
	atomic_store(&f->be[1].state, BE_CHECKED | BE_DRAINED);
	assert_null(pool_pick(&f->pool, &q, &f->pc, NULL));
}

static void test_weighted_shares(void **state)
{
	struct fixture *f = *state;
	const uint32_t weights[] = {1, 3, 6};
	unsigned counts[NB];

	make_pool(f, CONF_POLICY_WEIGHTED, 3, weights);
	spread(f, counts, NULL);
	assert_share(counts[0], 0.1);
	assert_share(counts[1], 0.3);
	assert_share(counts[2], 0.6);
	/* smooth: the heaviest never takes more than its weight in a row */
	for (uint32_t k = 0; k + 6 < f->pool.nwrr; k++) {
		unsigned run = 0;
		while (run < 7 && f->pool.wrr[k + run] == 2) {
			run++;
		}
		assert_true(run <= 6);
	}
}

static void test_least_outstanding(void **state)
{
	struct fixture *f = *state;
	struct wire_question q;

	make_pool(f, CONF_POLICY_LEAST_OUTSTANDING, 3, NULL);
	question(&q, 1);
	f->pending[0] = 5;
	f->pending[1] = 1;
	f->pending[2] = 9;
	for (int i = 0; i < 10; i++) {
		assert_ptr_equal(pool_pick(&f->pool, &q, &f->pc, NULL), &f->be[1]);
	}
	/* ties share the load */
	f->pending[0] = f->pending[1] = f->pending[2] = 0;
	unsigned counts[NB];
	spread(f, counts, NULL);
	for (unsigned i = 0; i < 3; i++) {
		assert_share(counts[i], 1.0 / 3);
	}
	/* with one down, the other two share the ties evenly (not its neighbour taking its
	 * turns as well) */
	atomic_store(&f->be[0].state, BE_CHECKED);
	spread(f, counts, NULL);
	assert_int_equal(counts[0], 0);
	assert_share(counts[1], 0.5);
	assert_share(counts[2], 0.5);
}

static void test_first_available(void **state)
{
	struct fixture *f = *state;
	unsigned counts[NB];

	make_pool(f, CONF_POLICY_FIRST_AVAILABLE, 3, NULL);
	spread(f, counts, NULL);
	assert_int_equal(counts[0], NAMES);
	atomic_store(&f->be[0].state, BE_CHECKED);
	spread(f, counts, NULL);
	assert_int_equal(counts[1], NAMES);
}

static void test_hash_stable_and_minimal_moves(void **state)
{
	struct fixture *f = *state;
	static int before[NAMES], again[NAMES], after[NAMES];
	unsigned counts[NB];
	unsigned moved = 0;

	make_pool(f, CONF_POLICY_HASH, 3, NULL);
	spread(f, counts, before);
	for (unsigned i = 0; i < 3; i++) {
		assert_share(counts[i], 1.0 / 3); /* virtual nodes spread the names */
	}
	/* the same pool built again (a reload, another run) maps every name the same way */
	make_pool(f, CONF_POLICY_HASH, 3, NULL);
	spread(f, counts, again);
	assert_memory_equal(before, again, sizeof(before));
	/* one backend leaves: only its names move */
	atomic_store(&f->be[1].state, BE_CHECKED);
	spread(f, counts, after);
	for (unsigned i = 0; i < NAMES; i++) {
		if (after[i] != before[i]) {
			assert_int_equal(before[i], 1);
			moved++;
		}
	}
	assert_true((double)moved / NAMES < 1.0 / 3 + 0.05);
	assert_int_equal(counts[1], 0);
}

/* A pool heavy enough to get fewer points per weight: a backend that leaves the pool (a reload
 * without it, so the ring is rebuilt) still moves only its own names. */
static void test_hash_heavy_pool_minimal_moves(void **state)
{
	struct fixture *f = *state;
	static int before[NAMES], after[NAMES];
	const uint32_t heavy[] = {100, 100, 100};
	unsigned counts[NB];

	make_pool(f, CONF_POLICY_HASH, 3, heavy);
	spread(f, counts, before);
	for (unsigned i = 0; i < 3; i++) {
		assert_share(counts[i], 1.0 / 3);
	}
	make_pool(f, CONF_POLICY_HASH, 2, heavy); /* the third left */
	spread(f, counts, after);
	for (unsigned i = 0; i < NAMES; i++) {
		if (before[i] != 2 && after[i] != before[i]) {
			fail_msg("name %u moved from backend %d to %d, and %d did not leave", i,
				 before[i], after[i], before[i]);
		}
	}
}

/* Every backend of a heavy ring down (or the only live one excluded): no pick, and an
 * answer found without walking the ring's 100,000 points for every query. */
static void test_hash_all_down(void **state)
{
	struct fixture *f = *state;
	const uint32_t heavy[] = {100, 100, 100};
	struct wire_question q;

	question(&q, 3);
	make_pool(f, CONF_POLICY_HASH, 3, heavy);
	for (unsigned i = 0; i < 3; i++) {
		atomic_store(&f->be[i].state, BE_CHECKED);
	}
	assert_null(pool_pick(&f->pool, &q, &f->pc, NULL));
	atomic_store(&f->be[2].state, BE_UP | BE_CHECKED);
	assert_ptr_equal(pool_pick(&f->pool, &q, &f->pc, NULL), &f->be[2]);
	assert_null(pool_pick(&f->pool, &q, &f->pc, &f->be[2]));
}

static void test_retry_excludes_failed(void **state)
{
	struct fixture *f = *state;
	struct wire_question q;
	const enum conf_policy policies[] = {
		CONF_POLICY_ROUND_ROBIN, CONF_POLICY_WEIGHTED,        CONF_POLICY_LEAST_OUTSTANDING,
		CONF_POLICY_HASH,        CONF_POLICY_FIRST_AVAILABLE,
	};

	question(&q, 7);
	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		make_pool(f, policies[p], 2, NULL);
		for (int i = 0; i < 20; i++) {
			assert_ptr_equal(pool_pick(&f->pool, &q, &f->pc, &f->be[0]), &f->be[1]);
		}
		make_pool(f, policies[p], 1, NULL);
		assert_null(pool_pick(&f->pool, &q, &f->pc, &f->be[0]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_robin_even, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin_skips_down_and_drained, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_all_down_servfail_or_fallback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_weighted_shares, setup, teardown),
		cmocka_unit_test_setup_teardown(test_least_outstanding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_available, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_heavy_pool_minimal_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hash_all_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_stable_and_minimal_moves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retry_excludes_failed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
