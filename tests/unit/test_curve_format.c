/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_format.c -- detection, parsing and framing of DNSCurve; dq's padding */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "curve/format.h"
#include "curve_vectors.h"
#include "wire/wire.h"

/* The offset of the key label's length byte in a TXT query (v_txt_query: box labels of 50
 * and 42 characters, for 12 + 16 + 29 bytes, then the key label, "example", the root). */
static size_t key_label_at(const uint8_t *pkt)
{
	size_t p = WIRE_HDR_LEN;

	while (pkt[p] != CURVE_TXT_KEY_LABEL) {
		p += 1u + pkt[p];
	}
	return p;
}

static void test_detect_plain(void **state)
{
	uint8_t buf[128];

	(void)state;
	assert_int_equal(curve_detect(v_query, sizeof(v_query)), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_answer, sizeof(v_answer)), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_query, 0), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_query, 11), CURVE_FMT_PLAIN);
	/* the magic, one byte short of a MAC */
	assert_int_equal(curve_detect(v_streamlined_query, CURVE_SQ_MIN - 1), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_streamlined_query, CURVE_SQ_MIN), CURVE_FMT_STREAMLINED);
	memcpy(buf, v_streamlined_query, sizeof(buf));
	buf[6] = 'J'; /* the response's magic */
	assert_int_equal(curve_detect(buf, sizeof(buf)), CURVE_FMT_PLAIN);
}

/* Each change to v_txt_query at <off> to <val> makes it plain DNS. */
static void expect_plain(size_t off, uint8_t val)
{
	uint8_t buf[sizeof(v_txt_query)];
	struct curve_query q;

	memcpy(buf, v_txt_query, sizeof(buf));
	buf[off] = val;
	assert_int_equal(curve_detect(buf, sizeof(buf)), CURVE_FMT_PLAIN);
	assert_int_equal(curve_parse(buf, sizeof(buf), &q), DR_EINVAL);
	assert_int_equal(q.format, CURVE_FMT_PLAIN);
}

static void test_detect_txt(void **state)
{
	uint8_t buf[sizeof(v_txt_query) + 1];
	size_t key = key_label_at(v_txt_query), end = sizeof(v_txt_query);

	(void)state;
	assert_int_equal(curve_detect(v_txt_query, end), CURVE_FMT_TXT);
	/* RD is allowed, in either case of "x1a" */
	memcpy(buf, v_txt_query, end);
	buf[WIRE_OFF_FLAGS1] = WIRE_FLAG1_RD;
	buf[key + 1] = 'X';
	buf[key + 3] = 'A';
	assert_int_equal(curve_detect(buf, end), CURVE_FMT_TXT);

	expect_plain(WIRE_OFF_FLAGS1, WIRE_FLAG1_QR);
	expect_plain(WIRE_OFF_FLAGS1, 0x08); /* opcode 1 */
	expect_plain(WIRE_OFF_FLAGS2, 0x10);
	expect_plain(WIRE_OFF_QDCOUNT + 1, 2);
	expect_plain(WIRE_OFF_ANCOUNT + 1, 1);
	expect_plain(WIRE_OFF_NSCOUNT + 1, 1);
	expect_plain(WIRE_OFF_ARCOUNT + 1, 1);
	expect_plain(key + 1, 'y'); /* not x1a */
	expect_plain(key + 2, '2');
	expect_plain(end - 3, WIRE_TYPE_A);   /* not TXT */
	expect_plain(end - 1, WIRE_CLASS_CH); /* not IN */
	expect_plain(WIRE_HDR_LEN, 0xc0);     /* a pointer */
	expect_plain(key, 53);                /* no key label any more */

	/* trailing bytes, or a name cut short */
	memcpy(buf, v_txt_query, end);
	buf[end] = 0;
	assert_int_equal(curve_detect(buf, end + 1), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_txt_query, end - 1), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(v_txt_query, key + 10), CURVE_FMT_PLAIN);
}

/* A key label with no box label before it is not a query; a box label of 51 characters is
 * not dq's either. Built by hand: header, labels, root, TXT IN. */
static size_t make_txt(uint8_t *buf, const size_t *labels, size_t n)
{
	size_t p = WIRE_HDR_LEN;

	memcpy(buf, v_txt_query, WIRE_HDR_LEN);
	for (size_t i = 0; i < n; i++) {
		buf[p] = (uint8_t)labels[i];
		memset(buf + p + 1, '0', labels[i]);
		if (labels[i] == CURVE_TXT_KEY_LABEL) {
			memcpy(buf + p + 1, "x1a", 3);
		}
		p += 1 + labels[i];
	}
	buf[p++] = 0;
	wire_write_u16(buf + p, WIRE_TYPE_TXT);
	wire_write_u16(buf + p + 2, WIRE_CLASS_IN);
	return p + 4;
}

static void test_detect_labels(void **state)
{
	uint8_t buf[512];
	const size_t ok[] = {50, 50, 1, 54, 7};
	const size_t no_box[] = {54, 7};
	const size_t long_box[] = {51, 54};
	const size_t root_suffix[] = {45, 54};
	const size_t longest[] = {50, 50, 50, 54, 45}; /* a name of 255 bytes */
	const size_t too_long[] = {50, 50, 50, 54, 46};
	const size_t key_twice[] = {45, 54, 54};

	(void)state;
	assert_int_equal(curve_detect(buf, make_txt(buf, ok, 5)), CURVE_FMT_TXT);
	assert_int_equal(curve_detect(buf, make_txt(buf, no_box, 2)), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(buf, make_txt(buf, long_box, 2)), CURVE_FMT_PLAIN);
	assert_int_equal(curve_detect(buf, make_txt(buf, root_suffix, 2)), CURVE_FMT_TXT);
	assert_int_equal(curve_detect(buf, make_txt(buf, key_twice, 3)), CURVE_FMT_TXT);
	assert_int_equal(curve_detect(buf, make_txt(buf, longest, 5)), CURVE_FMT_TXT);
	assert_int_equal(curve_detect(buf, make_txt(buf, too_long, 5)), CURVE_FMT_PLAIN);
}

static void test_parse(void **state)
{
	struct curve_query q;

	(void)state;
	assert_int_equal(curve_parse(v_streamlined_query, sizeof(v_streamlined_query), &q), DR_EOK);
	assert_int_equal(q.format, CURVE_FMT_STREAMLINED);
	assert_memory_equal(q.client_pk, v_client_pk, 32);
	assert_memory_equal(q.client_nonce, v_client_nonce, 12);
	assert_ptr_equal(q.box, v_streamlined_query + CURVE_SQ_OFF_BOX);
	assert_int_equal(q.box_len, sizeof(v_streamlined_query) - CURVE_SQ_OFF_BOX);

	assert_int_equal(curve_parse(v_txt_query, sizeof(v_txt_query), &q), DR_EOK);
	assert_int_equal(q.format, CURVE_FMT_TXT);
	assert_memory_equal(q.client_pk, v_client_pk, 32);
	assert_memory_equal(q.client_nonce, v_client_nonce, 12);
	assert_int_equal(q.box_len, sizeof(v_query) + CURVE_MAC_LEN);
	assert_int_equal(q.id, 0x1234);
	assert_false(q.rd);
	assert_ptr_equal(q.question, v_txt_query + WIRE_HDR_LEN);
	assert_int_equal(q.question_len, sizeof(v_txt_query) - WIRE_HDR_LEN);
}

/* The shape of a TXT query whose contents do not decode: dropped (DR_EMALF), not plain. */
static void test_parse_malformed(void **state)
{
	uint8_t buf[512];
	struct curve_query q;
	size_t key = key_label_at(v_txt_query), len;
	const size_t short_box[] = {44, 54};

	(void)state;
	memcpy(buf, v_txt_query, sizeof(v_txt_query));
	buf[WIRE_HDR_LEN + 5] = 'a'; /* not base32 */
	assert_int_equal(curve_detect(buf, sizeof(v_txt_query)), CURVE_FMT_TXT);
	assert_int_equal(curve_parse(buf, sizeof(v_txt_query), &q), DR_EMALF);
	memcpy(buf, v_txt_query, sizeof(v_txt_query));
	buf[key + 30] = 'e';
	assert_int_equal(curve_parse(buf, sizeof(v_txt_query), &q), DR_EMALF);
	memcpy(buf, v_txt_query, sizeof(v_txt_query));
	buf[key - 1] = 'z'; /* the last box character: its pad bits set */
	assert_int_equal(curve_parse(buf, sizeof(v_txt_query), &q), DR_EMALF);
	/* 44 characters are 27 bytes: one short of nonce and MAC */
	len = make_txt(buf, short_box, 2);
	assert_int_equal(curve_parse(buf, len, &q), DR_EMALF);
}

static void test_build_space(void **state)
{
	struct curve_query q;
	uint8_t out[2048], box[700];

	(void)state;
	memset(box, 0x5a, sizeof(box));
	assert_int_equal(curve_parse(v_streamlined_query, sizeof(v_streamlined_query), &q), DR_EOK);
	assert_int_equal(curve_build_response(out, 32 + 100, &q, v_server_nonce, box, 100), 132);
	assert_int_equal(curve_build_response(out, 32 + 99, &q, v_server_nonce, box, 100),
			 DR_ESPACE);
	assert_int_equal(
		curve_build_response(out, SIZE_MAX, &q, v_server_nonce, box, WIRE_TCP_MSG_MAX),
		DR_ESPACE);

	assert_int_equal(curve_parse(v_txt_query, sizeof(v_txt_query), &q), DR_EOK);
	int n = curve_build_response(out, sizeof(out), &q, v_server_nonce, box, sizeof(box));
	assert_true(n > 0);
	assert_int_equal(
		curve_build_response(out, (size_t)n - 1, &q, v_server_nonce, box, sizeof(box)),
		DR_ESPACE);
	/* TXT framing: 712 bytes of payload are strings of 255, 255, 202 */
	size_t o = WIRE_HDR_LEN + q.question_len;
	assert_int_equal(wire_read_u16(out + o), 0xc00c);
	assert_int_equal(wire_read_u16(out + o + 10), 712 + 3);
	assert_int_equal(out[o + 12], 255);
	assert_int_equal(out[o + 12 + 256], 255);
	assert_int_equal(out[o + 12 + 512], 202);
	assert_int_equal(out[WIRE_OFF_FLAGS1], 0x84);
	assert_int_equal(out[WIRE_OFF_FLAGS2], 0x00);

	q.format = CURVE_FMT_PLAIN;
	assert_int_equal(curve_build_response(out, sizeof(out), &q, v_server_nonce, box, 10),
			 DR_EINVAL);
	assert_int_equal(curve_inner_max(&q, 512), 0);
}

/* curve_inner_max is exact: the largest inner message that fits, for every limit. */
static void test_inner_max(void **state)
{
	static uint8_t out[WIRE_TCP_MSG_MAX + 1], box[WIRE_TCP_MSG_MAX];
	struct curve_query qs, qt;

	(void)state;
	assert_int_equal(curve_parse(v_streamlined_query, sizeof(v_streamlined_query), &qs),
			 DR_EOK);
	assert_int_equal(curve_parse(v_txt_query, sizeof(v_txt_query), &qt), DR_EOK);
	assert_int_equal(curve_inner_max(&qs, 512), 512 - 48);
	assert_int_equal(curve_inner_max(&qs, 48), 0);
	assert_int_equal(curve_inner_max(&qs, 100000), WIRE_TCP_MSG_MAX - 48);
	assert_int_equal(curve_inner_max(&qt, 0), 0);
	for (size_t limit = 0; limit <= 2000; limit++) {
		size_t m = curve_inner_max(&qt, limit);
		if (m > 0) {
			int n = curve_build_response(out, limit, &qt, v_server_nonce, box,
						     m + CURVE_MAC_LEN);
			assert_true(n > 0 && (size_t)n <= limit);
		}
		assert_int_equal(curve_build_response(out, limit, &qt, v_server_nonce, box,
						      m + 1 + CURVE_MAC_LEN),
				 DR_ESPACE);
	}
	size_t m = curve_inner_max(&qt, WIRE_TCP_MSG_MAX);
	assert_true(curve_build_response(out, sizeof(out), &qt, v_server_nonce, box,
					 m + CURVE_MAC_LEN) > 0);
	assert_int_equal(curve_build_response(out, sizeof(out), &qt, v_server_nonce, box,
					      m + 1 + CURVE_MAC_LEN),
			 DR_ESPACE);
}

static void test_padding(void **state)
{
	uint8_t buf[1024];
	size_t len;
	enum curve_pad pad;

	(void)state;
	assert_int_equal(curve_inner_len(v_query, sizeof(v_query), &len, &pad), DR_EOK);
	assert_int_equal(len, sizeof(v_query));
	assert_int_equal(pad, CURVE_PAD_NONE);
	assert_int_equal(curve_inner_len(v_query_padded, sizeof(v_query_padded), &len, &pad),
			 DR_EOK);
	assert_int_equal(len, sizeof(v_query));
	assert_int_equal(pad, CURVE_PAD_DQ);
	/* records after the question, with compressed owners: v_answer, then padded */
	memcpy(buf, v_big_answer, sizeof(v_big_answer));
	assert_int_equal(curve_inner_len(buf, sizeof(v_big_answer), &len, &pad), DR_EOK);
	assert_int_equal(len, sizeof(v_big_answer));
	memcpy(buf, v_answer, sizeof(v_answer));
	buf[sizeof(v_answer)] = 0x80; /* 0x80 alone is padding too */
	assert_int_equal(curve_inner_len(buf, sizeof(v_answer) + 1, &len, &pad), DR_EOK);
	assert_int_equal(len, sizeof(v_answer));
	assert_int_equal(pad, CURVE_PAD_DQ);

	/* garbage: a set byte in the zeros, no final 0x80, 0x80 then zeros (ISO order) */
	memcpy(buf, v_query_padded, sizeof(v_query_padded));
	buf[40] = 1;
	assert_int_equal(curve_inner_len(buf, sizeof(v_query_padded), &len, &pad), DR_EMALF);
	assert_int_equal(pad, CURVE_PAD_GARBAGE);
	assert_int_equal(len, sizeof(v_query));
	memcpy(buf, v_query, sizeof(v_query));
	memset(buf + sizeof(v_query), 0, 10);
	assert_int_equal(curve_inner_len(buf, sizeof(v_query) + 10, &len, &pad), DR_EMALF);
	buf[sizeof(v_query)] = 0x80;
	assert_int_equal(curve_inner_len(buf, sizeof(v_query) + 10, &len, &pad), DR_EMALF);
	assert_int_equal(pad, CURVE_PAD_GARBAGE);

	/* a message that runs past what was decrypted, or claims records it lacks */
	assert_int_equal(curve_inner_len(v_query, sizeof(v_query) - 1, &len, &pad), DR_EMALF);
	assert_int_equal(curve_inner_len(v_query, 11, &len, &pad), DR_EMALF);
	memcpy(buf, v_query, sizeof(v_query));
	buf[WIRE_OFF_ARCOUNT + 1] = 1;
	assert_int_equal(curve_inner_len(buf, sizeof(v_query), &len, &pad), DR_EMALF);
	memcpy(buf, v_answer, sizeof(v_answer));
	assert_int_equal(curve_inner_len(buf, sizeof(v_answer) - 1, &len, &pad), DR_EMALF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect_plain),    cmocka_unit_test(test_detect_txt),
		cmocka_unit_test(test_detect_labels),   cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_build_space),
		cmocka_unit_test(test_inner_max),       cmocka_unit_test(test_padding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
