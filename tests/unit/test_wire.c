/* SPDX-License-Identifier: MIT */
/* tests/unit/test_wire.c -- question parsing, the question hash and name forms */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "wire/edns.h"
#include "wire/synth.h"
#include "wire/wire.h"
#include "wire_fixtures.h"

/* A header (QDCOUNT 1) followed by the labels given as lengths, each filled with 'x'. */
static size_t build_query(uint8_t *buf, const unsigned *labels, size_t n)
{
	static const uint8_t hdr[WIRE_HDR_LEN] = {0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	size_t pos = WIRE_HDR_LEN;

	memcpy(buf, hdr, sizeof(hdr));
	for (size_t i = 0; i < n; i++) {
		buf[pos++] = (uint8_t)labels[i];
		memset(buf + pos, 'x', labels[i]);
		pos += labels[i];
	}
	buf[pos++] = 0;
	wire_write_u16(buf + pos, WIRE_TYPE_A);
	wire_write_u16(buf + pos + 2, WIRE_CLASS_IN);
	return pos + 4;
}

/* wire_parse_question */

static void test_parse_simple(void **state)
{
	struct wire_question q;

	(void)state;
	assert_int_equal(parse_exact(q_www_a, sizeof(q_www_a), &q), DR_EOK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.qtype, WIRE_TYPE_A);
	assert_int_equal(q.qclass, WIRE_CLASS_IN);
	assert_int_equal(q.name_len, 17);
	assert_int_equal(q.labels, 3);
	assert_int_equal(q.end, sizeof(q_www_a));
	assert_memory_equal(q.name, q_www_a + WIRE_HDR_LEN, 17);
}

static void test_parse_lowercases(void **state)
{
	struct wire_question q;

	(void)state;
	assert_int_equal(parse_exact(q_mixed_edns, sizeof(q_mixed_edns), &q), DR_EOK);
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.qtype, WIRE_TYPE_TXT);
	assert_int_equal(q.name_len, 17);
	assert_memory_equal(q.name, q_www_a + WIRE_HDR_LEN, 17);
	assert_int_equal(q.end, WIRE_HDR_LEN + 17 + 4);
}

static void test_parse_binary_labels(void **state)
{
	static const uint8_t want[] = {
		0x04, 'a', '.', 'b', ' ', 0x04, 0x00, 0xff, '(',  '\\',
		0x07, 'e', 'x', 'a', 'm', 'p',  'l',  'e',  0x00,
	};
	struct wire_question q;

	(void)state;
	assert_int_equal(parse_exact(q_escaped, sizeof(q_escaped), &q), DR_EOK);
	assert_int_equal(q.labels, 3);
	assert_int_equal(q.name_len, sizeof(want));
	assert_memory_equal(q.name, want, sizeof(want));
}

static void test_parse_root(void **state)
{
	struct wire_question q;

	(void)state;
	assert_int_equal(parse_exact(q_root_ns, sizeof(q_root_ns), &q), DR_EOK);
	assert_int_equal(q.name_len, 1);
	assert_int_equal(q.labels, 0);
	assert_int_equal(q.name[0], 0);
	assert_int_equal(q.qtype, 2);
	assert_int_equal(q.end, sizeof(q_root_ns));
}

static void test_parse_response_and_query(void **state)
{
	struct wire_question q;
	uint8_t *copy = exact_copy(r_example_a, sizeof(r_example_a));

	(void)state;
	assert_int_equal(wire_parse_question(copy, sizeof(r_example_a), &q), DR_EOK);
	assert_int_equal(q.end, WIRE_HDR_LEN + 13 + 4);
	assert_int_equal(wire_parse_query(copy, sizeof(r_example_a), &q), DR_ERESPONSE);
	free(copy);

	copy = exact_copy(q_www_a, sizeof(q_www_a));
	assert_int_equal(wire_parse_query(copy, sizeof(q_www_a), &q), DR_EOK);
	assert_int_equal(wire_parse_query(copy, WIRE_HDR_LEN - 1, &q), DR_EMALF);
	assert_int_equal(wire_parse_query(copy, 0, &q), DR_EMALF);
	free(copy);
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const uint8_t *msg;
		size_t len;
	} bad[] = {
		{bad_qd0, sizeof(bad_qd0)},
		{bad_qd2, sizeof(bad_qd2)},
		{bad_pointer, sizeof(bad_pointer)},
		{bad_label_type, sizeof(bad_label_type)},
		{bad_short_class, sizeof(bad_short_class)},
		{bad_label_past_end, sizeof(bad_label_past_end)},
		{q_www_a, WIRE_HDR_LEN - 1},
		{q_www_a, WIRE_HDR_LEN},
	};
	struct wire_question q;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_exact(bad[i].msg, bad[i].len, &q);

		if (rc != DR_EMALF) {
			fail_msg("malformed case %zu: got %d", i, rc);
		}
	}
}

static void test_parse_name_limits(void **state)
{
	uint8_t buf[600];
	struct wire_question q;
	/* 63+63+63+61 octets in four labels: 255 octets with the root, the most allowed */
	static const unsigned max_name[] = {63, 63, 63, 61};
	static const unsigned long_name[] = {63, 63, 63, 62};
	static const unsigned long_label[] = {64};
	static const unsigned label63[] = {63};
	unsigned many[127];
	size_t len;

	(void)state;
	len = build_query(buf, max_name, 4);
	assert_int_equal(parse_exact(buf, len, &q), DR_EOK);
	assert_int_equal(q.name_len, WIRE_NAME_MAX);
	assert_int_equal(q.labels, 4);

	len = build_query(buf, long_name, 4);
	assert_int_equal(parse_exact(buf, len, &q), DR_EMALF);

	len = build_query(buf, long_label, 1);
	assert_int_equal(parse_exact(buf, len, &q), DR_EMALF);

	len = build_query(buf, label63, 1);
	assert_int_equal(parse_exact(buf, len, &q), DR_EOK);

	/* 127 one-octet labels: 254 octets and the root, the most labels a name can have */
	for (size_t i = 0; i < 127; i++) {
		many[i] = 1;
	}
	len = build_query(buf, many, 127);
	assert_int_equal(parse_exact(buf, len, &q), DR_EOK);
	assert_int_equal(q.labels, 127);
	assert_int_equal(q.name_len, WIRE_NAME_MAX);
}

/* wire_question_hash */

static void test_question_hash(void **state)
{
	struct wire_question a, b, c;
	uint8_t msg[sizeof(q_www_a)];

	(void)state;
	assert_int_equal(parse_exact(q_www_a, sizeof(q_www_a), &a), DR_EOK);
	assert_int_equal(parse_exact(q_mixed_edns, sizeof(q_mixed_edns), &b), DR_EOK);
	/* Same name in other case, other type: differs by type only */
	b.qtype = WIRE_TYPE_A;
	assert_int_equal(wire_question_hash(&a), wire_question_hash(&b));

	memcpy(msg, q_www_a, sizeof(msg));
	msg[sizeof(msg) - 3] = WIRE_TYPE_TXT;
	assert_int_equal(parse_exact(msg, sizeof(msg), &c), DR_EOK);
	assert_int_not_equal(wire_question_hash(&a), wire_question_hash(&c));

	memcpy(msg, q_www_a, sizeof(msg));
	msg[sizeof(msg) - 1] = WIRE_CLASS_CH;
	assert_int_equal(parse_exact(msg, sizeof(msg), &c), DR_EOK);
	assert_int_not_equal(wire_question_hash(&a), wire_question_hash(&c));

	memcpy(msg, q_www_a, sizeof(msg));
	msg[WIRE_HDR_LEN + 1] = 'x'; /* xww.example.com. */
	assert_int_equal(parse_exact(msg, sizeof(msg), &c), DR_EOK);
	assert_int_not_equal(wire_question_hash(&a), wire_question_hash(&c));

	/* The ID is not part of the question */
	memcpy(msg, q_www_a, sizeof(msg));
	wire_set_id(msg, 0x9999);
	assert_int_equal(parse_exact(msg, sizeof(msg), &c), DR_EOK);
	assert_int_equal(wire_question_hash(&a), wire_question_hash(&c));
}

/* wire_name_to_text and wire_name_from_text */

static void expect_text(const uint8_t *name, const char *want)
{
	char buf[WIRE_NAME_TEXT_MAX];
	int n = wire_name_to_text(name, buf, sizeof(buf));

	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_name_to_text(void **state)
{
	struct wire_question q;

	(void)state;
	expect_text((const uint8_t *)"", ".");
	expect_text((const uint8_t *)"\3www\7example\3com", "www.example.com.");
	expect_text((const uint8_t *)"\3a.b\7example", "a\\.b.example.");
	/* RFC 4343 §2.1: \DDD below and at space, at DEL and above */
	expect_text((const uint8_t *)"\4\x00\x20\x7f\xff", "\\000\\032\\127\\255.");
	expect_text((const uint8_t *)"\x08.\\\"();@$", "\\.\\\\\\\"\\(\\)\\;\\@\\$.");
	/* Printable ASCII around the edges stays as it is */
	expect_text((const uint8_t *)"\4!~-_", "!~-_.");
	expect_text((const uint8_t *)"\1*\3foo", "*.foo.");

	assert_int_equal(parse_exact(q_escaped, sizeof(q_escaped), &q), DR_EOK);
	expect_text(q.name, "a\\.b\\032.\\000\\255\\(\\\\.example.");
}

static void test_name_to_text_space(void **state)
{
	static const uint8_t *names[] = {
		(const uint8_t *)"",
		(const uint8_t *)"\1a",
		(const uint8_t *)"\3www\7example\3com",
		(const uint8_t *)"\4\x00\x20\x7f\xff",
		(const uint8_t *)"\3a.b\2\\\\",
	};
	char full[WIRE_NAME_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int want = wire_name_to_text(names[i], full, sizeof(full));

		assert_true(want > 0);
		/* Every capacity: never a byte past it, and either the whole name or DR_ESPACE */
		for (size_t cap = 0; cap <= (size_t)want + 8; cap++) {
			char *buf = malloc(cap ? cap : 1);
			int n;

			assert_non_null(buf);
			n = wire_name_to_text(names[i], buf, cap);
			if (n == DR_ESPACE) {
				assert_true(cap < (size_t)want + 8);
			} else {
				assert_int_equal(n, want);
				assert_string_equal(buf, full);
			}
			free(buf);
		}
	}
}

static void test_name_to_text_worst_case(void **state)
{
	uint8_t name[WIRE_NAME_MAX];
	char buf[4 * WIRE_NAME_MAX + 1];
	size_t pos = 0;
	static const unsigned labels[] = {63, 63, 63, 61};

	(void)state;
	/* 255 octets, every one of them written as \DDD: the header's "4 * 255 + 1 always fits" */
	for (size_t i = 0; i < 4; i++) {
		name[pos++] = (uint8_t)labels[i];
		memset(name + pos, 0xff, labels[i]);
		pos += labels[i];
	}
	name[pos++] = 0;
	assert_int_equal(pos, WIRE_NAME_MAX);
	assert_int_equal(wire_name_to_text(name, buf, sizeof(buf)), 250 * 4 + 4);
	assert_int_equal(strlen(buf), 250 * 4 + 4);
}

static void expect_wire(const char *text, const uint8_t *want, size_t want_len)
{
	uint8_t out[WIRE_NAME_MAX];
	int n = wire_name_from_text(text, out);

	if (n != (int)want_len) {
		fail_msg("'%s': got %d, want %zu", text, n, want_len);
	}
	assert_memory_equal(out, want, want_len);
}

static void test_name_from_text(void **state)
{
	(void)state;
	/* sizeof counts the literal's NUL, which stands for the root label */
	expect_wire(".", (const uint8_t *)"", 1);
	expect_wire("www.Example.COM.", (const uint8_t *)"\3www\7example\3com",
		    sizeof("\3www\7example\3com"));
	expect_wire("www.example.com", (const uint8_t *)"\3www\7example\3com",
		    sizeof("\3www\7example\3com"));
	expect_wire("a\\.b.example.", (const uint8_t *)"\3a.b\7example", sizeof("\3a.b\7example"));
	expect_wire("\\065bc.", (const uint8_t *)"\3abc", sizeof("\3abc"));
	expect_wire("\\000\\255\\\\.", (const uint8_t *)"\3\x00\xff\\", sizeof("\3\x00\xff\\"));
	expect_wire("\\(x\\)", (const uint8_t *)"\3(x)", sizeof("\3(x)"));
}

static void test_name_from_text_bad(void **state)
{
	static const char *bad[] = {
		"a..b.",
		".a.",
		"..",
		"a\\",
		"\\12",
		"\\1a2",
		"\\256.",
		"a.\\",
		/* 64-octet label */
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.",
	};
	uint8_t out[WIRE_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = wire_name_from_text(bad[i], out);

		if (rc != DR_EMALF) {
			fail_msg("'%s': got %d, want DR_EMALF", bad[i], rc);
		}
	}
}

static void test_name_from_text_limits(void **state)
{
	char text[400];
	uint8_t out[WIRE_NAME_MAX];
	size_t pos = 0;
	static const unsigned labels[] = {63, 63, 63, 61};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		memset(text + pos, 'a', labels[i]);
		pos += labels[i];
		text[pos++] = '.';
	}
	text[pos] = '\0';
	assert_int_equal(wire_name_from_text(text, out), WIRE_NAME_MAX);
	/* one more octet in the last label: 256 */
	memmove(text + pos - 1, "a.", 3);
	assert_int_equal(wire_name_from_text(text, out), DR_EMALF);
	/* 63-octet label alone */
	memset(text, 'b', 63);
	strcpy(text + 63, ".");
	assert_int_equal(wire_name_from_text(text, out), 65);
	/* \DDD counts as one octet of the label */
	pos = 0;
	for (size_t i = 0; i < 63; i++) {
		memcpy(text + pos, "\\046", 4); /* '.' */
		pos += 4;
	}
	strcpy(text + pos, ".");
	assert_int_equal(wire_name_from_text(text, out), 65);
	assert_int_equal(out[0], 63);
	assert_int_equal(out[1], '.');
}

static void test_name_round_trip(void **state)
{
	static const uint8_t *names[] = {
		(const uint8_t *)"",
		(const uint8_t *)"\3www\7example\3com",
		(const uint8_t *)"\3a.b\7example",
		(const uint8_t *)"\4\x00\x20\x7f\xff",
		(const uint8_t *)"\x08.\\\"();@$\1*",
		(const uint8_t *)"\4a.b \4\x00\xff(\\\7example",
	};
	char text[WIRE_NAME_TEXT_MAX];
	uint8_t back[WIRE_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len = 0;

		while (names[i][len] != 0) {
			len += 1u + names[i][len];
		}
		len++;
		assert_true(wire_name_to_text(names[i], text, sizeof(text)) > 0);
		if (wire_name_from_text(text, back) != (int)len) {
			fail_msg("'%s' does not read back as %zu octets", text, len);
		}
		assert_memory_equal(back, names[i], len);
	}
}

/* Every truncation and many random byte flips of valid messages: the parser never reads past
 * <len> (ASan watches in the SAN build) and says DR_EOK exactly when the question fits, as an
 * independent reading of RFC 1035 §4.1.2 decides. */

struct ref {
	int rc;
	size_t name_len;
	size_t end;
	unsigned labels;
};

static struct ref ref_parse(const uint8_t *m, size_t len, bool query)
{
	struct ref r = {DR_EMALF, 0, 0, 0};
	size_t pos = WIRE_HDR_LEN;

	if (len < WIRE_HDR_LEN) {
		return r;
	}
	if (query && (m[WIRE_OFF_FLAGS1] & 0x80)) {
		r.rc = DR_ERESPONSE;
		return r;
	}
	if (m[WIRE_OFF_QDCOUNT] != 0 || m[WIRE_OFF_QDCOUNT + 1] != 1) {
		return r;
	}
	for (;;) {
		unsigned l;

		if (pos >= len) {
			return r;
		}
		l = m[pos];
		if (l > 63 || pos + 1 + l > len) {
			return r;
		}
		pos += 1 + l;
		if (pos - WIRE_HDR_LEN > WIRE_NAME_MAX) {
			return r;
		}
		if (l == 0) {
			break;
		}
		r.labels++;
	}
	if (pos + 4 > len) {
		return r;
	}
	r.rc = DR_EOK;
	r.name_len = pos - WIRE_HDR_LEN;
	r.end = pos + 4;
	return r;
}

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* Reply to the parsed query <q> in a copy of <msg> with headroom, and read the reply back. */
static void check_reply(const uint8_t *msg, size_t len, const struct wire_question *q, bool edns)
{
	size_t cap = len + 64;
	uint8_t *out = malloc(cap);
	struct wire_question rq;
	struct wire_opt ropt;
	int n;

	assert_non_null(out);
	memcpy(out, msg, len);
	n = synth_reply(out, len, cap, q, WIRE_RCODE_SERVFAIL, WIRE_EDE_NETWORK_ERROR, "x");
	assert_true(n >= (int)q->end && (size_t)n <= cap);
	assert_int_equal(wire_parse_question(out, (size_t)n, &rq), DR_EOK);
	assert_int_equal(rq.name_len, q->name_len);
	assert_memory_equal(rq.name, q->name, q->name_len);
	assert_int_equal(edns_find_opt(out, (size_t)n, &rq, &ropt), DR_EOK);
	assert_int_equal(ropt.present, edns);
	free(out);
}

/* Parse <msg> of <len> bytes every way the router does, and compare with ref_parse. */
static void check_one(const uint8_t *msg, size_t len)
{
	uint8_t *copy = exact_copy(msg, len);
	struct ref want_q = ref_parse(msg, len, false);
	struct ref want_query = ref_parse(msg, len, true);
	struct wire_question q;
	struct wire_opt opt;
	char text[WIRE_NAME_TEXT_MAX];
	uint8_t back[WIRE_NAME_MAX];
	int rc;

	assert_int_equal(wire_parse_query(copy, len, &q), want_query.rc);
	assert_int_equal(wire_parse_question(copy, len, &q), want_q.rc);
	if (want_q.rc != DR_EOK) {
		free(copy);
		return;
	}
	assert_true(q.end <= len);
	assert_int_equal(q.end, want_q.end);
	assert_int_equal(q.name_len, want_q.name_len);
	assert_int_equal(q.labels, want_q.labels);
	assert_int_equal(q.qtype, wire_read_u16(msg + q.end - 4));
	assert_int_equal(q.qclass, wire_read_u16(msg + q.end - 2));
	for (size_t i = 0; i < q.name_len; i++) {
		uint8_t c = msg[WIRE_HDR_LEN + i];

		if (c >= 'A' && c <= 'Z') {
			c = (uint8_t)(c - 'A' + 'a');
		}
		assert_int_equal(q.name[i], c);
	}
	(void)wire_question_hash(&q);
	assert_true(wire_name_to_text(q.name, text, sizeof(text)) > 0);
	assert_int_equal(wire_name_from_text(text, back), q.name_len);
	assert_memory_equal(back, q.name, q.name_len);

	rc = edns_find_opt(copy, len, &q, &opt);
	assert_true(rc == DR_EOK || rc == DR_EMALF);
	if (want_query.rc == DR_EOK) {
		check_reply(msg, len, &q, rc == DR_EOK && opt.present);
	}
	free(copy);
}

static void test_fuzz_table(void **state)
{
	static const struct {
		const uint8_t *msg;
		size_t len;
	} seeds[] = {
		{q_www_a, sizeof(q_www_a)},
		{q_mixed_edns, sizeof(q_mixed_edns)},
		{q_id_server_ch, sizeof(q_id_server_ch)},
		{r_example_a, sizeof(r_example_a)},
		{q_escaped, sizeof(q_escaped)},
		{q_root_ns, sizeof(q_root_ns)},
		{q_status_edns, sizeof(q_status_edns)},
		{bad_pointer, sizeof(bad_pointer)},
	};
	uint32_t rnd = 0x2545f491;
	uint8_t buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		size_t len = seeds[i].len;

		assert_true(len <= sizeof(buf));
		/* every prefix, the empty one and the whole message included */
		for (size_t n = 0; n <= len; n++) {
			check_one(seeds[i].msg, n);
		}
		/* 3000 mutants: 1 to 4 bytes flipped, a quarter of them also cut short */
		for (unsigned k = 0; k < 3000; k++) {
			size_t n = len;
			unsigned flips = 1 + xorshift(&rnd) % 4;

			memcpy(buf, seeds[i].msg, len);
			for (unsigned f = 0; f < flips; f++) {
				buf[xorshift(&rnd) % len] ^= (uint8_t)(1 + xorshift(&rnd) % 255);
			}
			if (xorshift(&rnd) % 4 == 0) {
				n = xorshift(&rnd) % (len + 1);
			}
			check_one(buf, n);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_simple),
		cmocka_unit_test(test_parse_lowercases),
		cmocka_unit_test(test_parse_binary_labels),
		cmocka_unit_test(test_parse_root),
		cmocka_unit_test(test_parse_response_and_query),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_name_limits),
		cmocka_unit_test(test_question_hash),
		cmocka_unit_test(test_name_to_text),
		cmocka_unit_test(test_name_to_text_space),
		cmocka_unit_test(test_name_to_text_worst_case),
		cmocka_unit_test(test_name_from_text),
		cmocka_unit_test(test_name_from_text_bad),
		cmocka_unit_test(test_name_from_text_limits),
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_fuzz_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
