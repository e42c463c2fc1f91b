/* SPDX-License-Identifier: MIT */
/* tests/unit/test_shard.c -- SHA-1, NSEC3 hashes, canonical name order, the shard of a name */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha1.h"
#include "route/shard.h"
#include "wire/wire.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		sprintf(out + 2 * i, "%02x", b[i]);
	}
}

static void sha1_of(const char *text, size_t repeat, char out[41])
{
	struct sha1 s;
	uint8_t h[SHA1_LEN];

	sha1_init(&s);
	for (size_t i = 0; i < repeat; i++) {
		sha1_update(&s, (const uint8_t *)text, strlen(text));
	}
	sha1_final(&s, h);
	hex(h, sizeof(h), out);
}

/* FIPS 180-4 examples and the classic long one. */
static void test_sha1(void **state)
{
	char out[41];

	(void)state;
	sha1_of("", 1, out);
	assert_string_equal(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	sha1_of("abc", 1, out);
	assert_string_equal(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
	sha1_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, out);
	assert_string_equal(out, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	sha1_of("a", 1000000, out);
	assert_string_equal(out, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static unsigned wire(const char *text, uint8_t *out)
{
	int n = wire_name_from_text(text, out);

	assert_true(n > 0);
	return (unsigned)n;
}

/* RFC 5155 Appendix A: salt aabbccdd, 12 iterations. */
static void test_nsec3_hash(void **state)
{
	static const struct {
		const char *name, *hash;
	} v[] = {
		{"example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
		{"a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
		{"ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
		{"w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"},
		{"*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
	};
	struct conf_nsec3 p = {.iterations = 12, .salt_len = 4, .salt = {0xaa, 0xbb, 0xcc, 0xdd}};
	uint8_t name[WIRE_NAME_MAX];
	char out[SHARD_HASH_TEXT + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned n = wire(v[i].name, name);
		shard_nsec3_text(&p, name, n, out);
		assert_string_equal(out, v[i].hash);
	}
}

/* RFC 4034 §6.1's example, in order (lower-cased, as routing sees names). */
static void test_canonical_order(void **state)
{
	static const char *const order[] = {
		"example.",         "a.example.",      "yljkjljk.a.example.",
		"z.a.example.",     "zabc.a.example.", "z.example.",
		"\\001.z.example.", "*.z.example.",    "\\200.z.example.",
	};
	size_t n = sizeof(order) / sizeof(order[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			uint8_t a[WIRE_NAME_MAX], b[WIRE_NAME_MAX], ao[WIRE_LABELS_MAX],
				bo[WIRE_LABELS_MAX];
			unsigned an, bn;
			int want = i < j ? -1 : (i > j ? 1 : 0);
			wire(order[i], a);
			wire(order[j], b);
			an = wire_name_labels(a, ao);
			bn = wire_name_labels(b, bo);
			if (wire_name_canonical_cmp(a, ao, an, b, bo, bn) != want) {
				fail_msg("%s vs %s: want %d", order[i], order[j], want);
			}
		}
	}
}

static void question(const char *text, struct wire_question *q)
{
	memset(q, 0, sizeof(*q));
	q->name_len = (uint16_t)wire(text, q->name);
}

static void test_canonical_shards(void **state)
{
	/* In canonical order: "child22" < "ent" < "host43" below example. */
	static const char *const starts[] = {"example.", "child22.example.", "m.ent.example.",
					     "host43.example."};
	static const struct {
		const char *name;
		uint32_t shard;
	} v[] = {
		{"example.", 0},         {"a.example.", 0},
		{"child21.example.", 0}, {"zz.child21.example.", 0},
		{"child22.example.", 1}, {"www.child22.example.", 1},
		{"ent.example.", 1}, /* an ancestor sorts before its descendants */
		{"a.ent.example.", 1},   {"m.ent.example.", 2},
		{"zzz.ent.example.", 2}, {"host42.example.", 2},
		{"host43.example.", 3},  {"host430.example.", 3},
		{"zzzz.example.", 3},
	};
	struct shard_start st[4];
	struct shard_map m = {.n = 4, .start = st};

	(void)state;
	memset(st, 0, sizeof(st));
	for (int i = 0; i < 4; i++) {
		wire(starts[i], st[i].name);
		st[i].nlabels = (uint8_t)wire_name_labels(st[i].name, st[i].off);
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct wire_question q;
		question(v[i].name, &q);
		if (shard_index(&m, &q) != v[i].shard) {
			fail_msg("%s: shard %u, want %u", v[i].name, shard_index(&m, &q),
				 v[i].shard);
		}
	}
}

static void test_nsec3_shards(void **state)
{
	struct shard_start st[4];
	struct shard_map m = {.nsec3 = true, .n = 4, .start = st, .zone_labels = 1};
	const char *const prefixes[] = {"4", "8", "g", "o"};
	struct wire_question q;

	(void)state;
	memset(st, 0, sizeof(st));
	m.params.iterations = 12;
	m.params.salt_len = 4;
	memcpy(m.params.salt, "\xaa\xbb\xcc\xdd", 4);
	for (int i = 0; i < 4; i++) {
		strcpy(st[i].prefix, prefixes[i]);
	}
	question("example.", &q);
	assert_int_equal(shard_index(&m, &q), 0); /* the apex: the first shard */
	question("a.example.", &q);               /* 35mt...: before "4", wraps to the last */
	assert_int_equal(shard_index(&m, &q), 3);
	question("x.y.a.example.", &q); /* routed by a.example. too */
	assert_int_equal(shard_index(&m, &q), 3);
	question("w.example.", &q); /* k8ud...: from "g" */
	assert_int_equal(shard_index(&m, &q), 2);
	question("*.w.example.", &q); /* by w.example. */
	assert_int_equal(shard_index(&m, &q), 2);
	strcpy(st[0].prefix, "0");
	question("ns1.example.", &q); /* 2t7b...: from "0" */
	assert_int_equal(shard_index(&m, &q), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha1),
		cmocka_unit_test(test_nsec3_hash),
		cmocka_unit_test(test_canonical_order),
		cmocka_unit_test(test_canonical_shards),
		cmocka_unit_test(test_nsec3_shards),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
