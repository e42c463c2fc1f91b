/* SPDX-License-Identifier: MIT */
/* tests/unit/test_inflight.c -- backend-side IDs and the ring of kept queries */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/rand.h"
#include "worker/inflight.h"

struct fixture {
	struct inflight_table t;
	struct rand_state rnd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || inflight_init(&f->t) != DR_EOK || rand_seed(&f->rnd) != DR_EOK) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	inflight_deinit(&f->t);
	free(f);
	return 0;
}

/* The key of <s>'s backend-side ID: its ID space and the 16-bit ID. */
static uint32_t id_key(const struct inflight *s)
{
	return (uint32_t)s->group * INFLIGHT_IDS + s->id;
}

static void test_all_ids_distinct(void **state)
{
	struct fixture *f = *state;
	uint8_t *seen = calloc(INFLIGHT_MAX, 1);
	struct inflight *s;

	assert_non_null(seen);
	assert_int_equal(inflight_count(&f->t), 0);
	/* The first 65536 share the first ID space and never repeat an ID */
	for (uint32_t i = 0; i < INFLIGHT_IDS; i++) {
		s = inflight_take(&f->t, &f->rnd);
		assert_non_null(s);
		assert_true(s->in_use);
		assert_int_equal(s->group, 0);
		if (seen[id_key(s)]) {
			fail_msg("ID %u handed out twice (take %u)", s->id, i);
		}
		seen[id_key(s)] = 1;
		assert_ptr_equal(inflight_get(&f->t, s->group, s->id), s);
	}
	assert_int_equal(inflight_count(&f->t), INFLIGHT_IDS);
	assert_int_equal(f->t.ngroups, 1);
	/* Only the 65537th opens a second ID space */
	s = inflight_take(&f->t, &f->rnd);
	assert_non_null(s);
	assert_int_equal(s->group, 1);
	seen[id_key(s)] = 1;
	/* Every ID of every space, then nothing */
	for (uint32_t i = INFLIGHT_IDS + 1; i < INFLIGHT_MAX; i++) {
		s = inflight_take(&f->t, &f->rnd);
		assert_non_null(s);
		if (s->group >= INFLIGHT_GROUPS || seen[id_key(s)]) {
			fail_msg("ID %u/%u handed out twice (take %u)", s->group, s->id, i);
		}
		seen[id_key(s)] = 1;
	}
	assert_int_equal(inflight_count(&f->t), INFLIGHT_MAX);
	assert_null(inflight_take(&f->t, &f->rnd));
	assert_null(inflight_take(&f->t, &f->rnd));
	assert_int_equal(inflight_count(&f->t), INFLIGHT_MAX);
	free(seen);
}

static void test_reuse_after_put(void **state)
{
	struct fixture *f = *state;
	struct inflight *s, *again;
	uint16_t id = 0;

	for (uint32_t i = 0; i < INFLIGHT_IDS; i++) {
		s = inflight_take(&f->t, &f->rnd);
		assert_non_null(s);
		if (i == 4242) {
			id = s->id;
		}
	}
	s = inflight_get(&f->t, 0, id);
	assert_non_null(s);
	s->client_id = 7;
	s->tries = 2;
	s->qlen = 100;
	inflight_put(&f->t, s);
	assert_null(inflight_get(&f->t, 0, id));
	assert_int_equal(inflight_count(&f->t), INFLIGHT_IDS - 1);
	/* The only free ID of the first space comes back before a second space opens, in the
	 * slot freed last, zeroed */
	again = inflight_take(&f->t, &f->rnd);
	assert_non_null(again);
	assert_int_equal(again->group, 0);
	assert_int_equal(again->id, id);
	assert_ptr_equal(again, s);
	assert_true(again->in_use);
	assert_int_equal(again->client_id, 0);
	assert_int_equal(again->tries, 0);
	assert_int_equal(again->qlen, 0);
	assert_ptr_equal(inflight_get(&f->t, 0, id), again);
	assert_int_equal(f->t.ngroups, 1);
	assert_null(inflight_get(&f->t, 1, id)); /* an ID space not opened yet */
	/* now the first space is full again */
	s = inflight_take(&f->t, &f->rnd);
	assert_non_null(s);
	assert_int_equal(s->group, 1);
}

static void test_never_reused_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { LIVE_MAX = 4096 };
	struct inflight **live = malloc(LIVE_MAX * sizeof(*live));
	uint8_t *in_use = calloc(INFLIGHT_MAX, 1);
	uint32_t nlive = 0, x = 12345;

	assert_non_null(live);
	assert_non_null(in_use);
	/* Random churn around a few thousand queries in flight */
	for (unsigned op = 0; op < 200000; op++) {
		x = x * 1103515245u + 12345u;
		if (nlive < LIVE_MAX && (nlive == 0 || (x >> 16) % 3 != 0)) {
			struct inflight *s = inflight_take(&f->t, &f->rnd);

			assert_non_null(s);
			if (in_use[id_key(s)]) {
				fail_msg("ID %u/%u handed out while in flight (op %u)", s->group,
					 s->id, op);
			}
			for (uint32_t i = 0; i < nlive && (op & 1023) == 0; i++) {
				assert_true(live[i] != s);
			}
			in_use[id_key(s)] = 1;
			live[nlive++] = s;
		} else {
			uint32_t k = (x >> 8) % nlive;
			struct inflight *s = live[k];

			assert_ptr_equal(inflight_get(&f->t, s->group, s->id), s);
			in_use[id_key(s)] = 0;
			inflight_put(&f->t, s);
			live[k] = live[--nlive];
		}
		assert_int_equal(inflight_count(&f->t), nlive);
	}
	/* a few thousand in flight fit one ID space */
	assert_int_equal(f->t.ngroups, 1);
	free(live);
	free(in_use);
}

static void test_ids_random(void **state)
{
	struct fixture *f = *state;
	struct inflight_table other;
	struct rand_state rnd2;
	uint16_t a[16], b[16];
	unsigned same = 0, sequential = 0;

	assert_int_equal(inflight_init(&other), DR_EOK);
	assert_int_equal(rand_seed(&rnd2), DR_EOK);
	for (unsigned i = 0; i < 16; i++) {
		a[i] = inflight_take(&f->t, &f->rnd)->id;
		b[i] = inflight_take(&other, &rnd2)->id;
		same += a[i] == b[i];
		if (i > 0) {
			sequential += a[i] == (uint16_t)(a[i - 1] + 1);
		}
	}
	/* Two tables seeded apart do not hand out the same IDs (1 in 65536 per draw) */
	assert_true(same < 4);
	assert_true(a[0] != b[0] || a[1] != b[1] || a[2] != b[2]);
	/* and no table hands them out in order */
	assert_true(sequential < 4);
	inflight_deinit(&other);
}

/* A query of <len> bytes whose content depends on <tag>. */
static void fill_query(uint8_t *buf, size_t len, uint32_t tag)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(tag * 31u + i * 7u + (tag >> 8));
	}
}

static void test_ring_round_trip(void **state)
{
	struct fixture *f = *state;
	struct inflight *s = inflight_take(&f->t, &f->rnd);
	struct inflight *u = inflight_take(&f->t, &f->rnd);
	uint8_t q1[100], q2[512];
	const uint8_t *got;

	/* nothing kept yet */
	assert_null(inflight_query(&f->t, s));
	fill_query(q1, sizeof(q1), 1);
	fill_query(q2, sizeof(q2), 2);
	inflight_keep_query(&f->t, s, q1, sizeof(q1));
	inflight_keep_query(&f->t, u, q2, sizeof(q2));
	assert_int_equal(s->qlen, sizeof(q1));
	assert_int_equal(u->qlen, sizeof(q2));
	got = inflight_query(&f->t, s);
	assert_non_null(got);
	assert_memory_equal(got, q1, sizeof(q1));
	got = inflight_query(&f->t, u);
	assert_non_null(got);
	assert_memory_equal(got, q2, sizeof(q2));
	/* the copy is the table's: the caller may reuse its buffer */
	memset(q1, 0, sizeof(q1));
	got = inflight_query(&f->t, s);
	fill_query(q1, sizeof(q1), 1);
	assert_memory_equal(got, q1, sizeof(q1));
	/* a slot taken again has no query until one is kept */
	inflight_put(&f->t, s);
	s = inflight_take(&f->t, &f->rnd);
	assert_null(inflight_query(&f->t, s));
}

static void test_ring_invalidated_after_wrap(void **state)
{
	struct fixture *f = *state;
	struct inflight *s = inflight_take(&f->t, &f->rnd);
	struct inflight *other = inflight_take(&f->t, &f->rnd);
	static uint8_t chunk[4096];
	uint8_t q[200]; /* over INFLIGHT_INLINE: kept in the ring */
	const uint8_t *got;
	uint32_t written = sizeof(q);

	fill_query(q, sizeof(q), 77);
	memset(chunk, 0xee, sizeof(chunk));
	inflight_keep_query(&f->t, s, q, sizeof(q));
	/* Fill the rest of the ring exactly, without a skip at its end */
	while (written + sizeof(chunk) <= INFLIGHT_RING_SIZE) {
		inflight_keep_query(&f->t, other, chunk, sizeof(chunk));
		written += sizeof(chunk);
	}
	if (written < INFLIGHT_RING_SIZE) {
		inflight_keep_query(&f->t, other, chunk, INFLIGHT_RING_SIZE - written);
	}
	/* One whole turn after it: still there, untouched */
	got = inflight_query(&f->t, s);
	assert_non_null(got);
	assert_memory_equal(got, q, sizeof(q));
	/* One more copy lands on its first bytes: gone */
	inflight_keep_query(&f->t, other, chunk, INFLIGHT_INLINE + 1);
	assert_null(inflight_query(&f->t, s));
	/* the newest copy is fine */
	got = inflight_query(&f->t, other);
	assert_non_null(got);
	assert_int_equal(got[0], 0xee);
}

static void test_ring_copy_never_straddles(void **state)
{
	struct fixture *f = *state;
	struct inflight *s = inflight_take(&f->t, &f->rnd);
	struct inflight *filler = inflight_take(&f->t, &f->rnd);
	static uint8_t chunk[65535];
	uint8_t q[300];
	const uint8_t *got;
	uint64_t written = 0;

	memset(chunk, 0x11, sizeof(chunk));
	/* leave 100 bytes at the end of the ring */
	while (written + sizeof(chunk) <= INFLIGHT_RING_SIZE - 100) {
		inflight_keep_query(&f->t, filler, chunk, sizeof(chunk));
		written += sizeof(chunk);
	}
	inflight_keep_query(&f->t, filler, chunk, INFLIGHT_RING_SIZE - 100 - written);
	fill_query(q, sizeof(q), 5);
	inflight_keep_query(&f->t, s, q, sizeof(q));
	got = inflight_query(&f->t, s);
	assert_non_null(got);
	assert_memory_equal(got, q, sizeof(q));
	assert_true(got + sizeof(q) <= f->t.ring + INFLIGHT_RING_SIZE);
	/* The skipped tail counts as written: the filler's last copy is intact or gone, never
	 * half overwritten */
	got = inflight_query(&f->t, filler);
	if (got != NULL) {
		assert_int_equal(got[0], 0x11);
	}
}

/* A query that fits its slot keeps its copy whatever else goes through the ring: a client
 * flooding large queries cannot take the retries of everyone else's away. */
static void test_small_query_survives_any_ring_traffic(void **state)
{
	struct fixture *f = *state;
	struct inflight *s = inflight_take(&f->t, &f->rnd);
	struct inflight *flood = inflight_take(&f->t, &f->rnd);
	static uint8_t big[4000];
	uint8_t q[INFLIGHT_INLINE];
	const uint8_t *got;

	fill_query(q, sizeof(q), 9);
	inflight_keep_query(&f->t, s, q, sizeof(q));
	memset(big, 0x5a, sizeof(big));
	for (uint64_t written = 0; written < 3ull * INFLIGHT_RING_SIZE; written += sizeof(big)) {
		inflight_keep_query(&f->t, flood, big, sizeof(big));
	}
	got = inflight_query(&f->t, s);
	assert_non_null(got);
	assert_memory_equal(got, q, sizeof(q));
	/* taken again, the slot has no query until one is kept, though its bytes stay */
	inflight_put(&f->t, s);
	s = inflight_take(&f->t, &f->rnd);
	assert_null(inflight_query(&f->t, s));
}

static void test_ring_random(void **state)
{
	struct fixture *f = *state;
	enum { NSLOTS = 64 };
	struct inflight *slots[NSLOTS];
	uint32_t tags[NSLOTS] = {0};
	uint64_t kept_at[NSLOTS] = {0};
	static uint8_t buf[1500], want[1500];
	uint64_t head = 0;
	uint32_t x = 99;

	for (unsigned i = 0; i < NSLOTS; i++) {
		slots[i] = inflight_take(&f->t, &f->rnd);
		assert_non_null(slots[i]);
	}
	/* About three turns of the ring in queries of 12 to 1500 bytes. Whatever inflight_query
	 * returns is the query that was kept, and a query kept less than a turn ago minus the
	 * largest query is always still there. */
	for (uint32_t n = 1; head < 3ull * INFLIGHT_RING_SIZE; n++) {
		unsigned k;
		size_t len;

		x = x * 1664525u + 1013904223u;
		k = (x >> 10) % NSLOTS;
		len = 12 + (x >> 16) % (sizeof(buf) - 11);
		fill_query(buf, len, n);
		inflight_keep_query(&f->t, slots[k], buf, len);
		tags[k] = n;
		head += len;
		kept_at[k] = head;
		for (unsigned c = 0; c < 4; c++) {
			unsigned j = (k + c * 17) % NSLOTS;
			const uint8_t *got;

			if (tags[j] == 0) {
				continue;
			}
			got = inflight_query(&f->t, slots[j]);
			if (got != NULL) {
				fill_query(want, slots[j]->qlen, tags[j]);
				if (memcmp(got, want, slots[j]->qlen) != 0) {
					fail_msg("slot %u: kept query %u overwritten but returned",
						 j, tags[j]);
				}
			} else if (head - kept_at[j] < INFLIGHT_RING_SIZE - 2 * sizeof(buf)) {
				fail_msg("slot %u: query %u lost %llu bytes after", j, tags[j],
					 (unsigned long long)(head - kept_at[j]));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_ids_distinct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_after_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_reused_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_invalidated_after_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_copy_never_straddles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_query_survives_any_ring_traffic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring_random, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
