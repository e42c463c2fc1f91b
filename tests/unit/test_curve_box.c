/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_box.c -- boxes against PyNaCl's, and the real dq's queries opened */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "curve/box.h"
#include "curve/format.h"
#include "curve/key.h"
#include "curve_vectors.h"
#include "wire/wire.h"

static int setup(void **state)
{
	(void)state;
	return curve_box_init() == DR_EOK ? 0 : -1;
}

static void test_shared(void **state)
{
	uint8_t k[32], k2[32];

	(void)state;
	assert_int_equal(curve_box_shared(k, v_client_pk, v_server_sk), DR_EOK);
	assert_memory_equal(k, v_shared, 32);
	assert_int_equal(curve_box_shared(k2, v_server_pk, v_client_sk), DR_EOK);
	assert_memory_equal(k2, v_shared, 32);
	/* a small-order client key (here 0) gives no shared key */
	memset(k2, 0, sizeof(k2));
	assert_int_equal(curve_box_shared(k, k2, v_server_sk), DR_EINVAL);
}

/* Sealing what PyNaCl sealed gives its bytes; opening gives the text back. */
static void test_seal_open(void **state)
{
	uint8_t box[512], text[512];
	size_t n, m;

	(void)state;
	assert_int_equal(curve_box_seal(box, sizeof(box), &n, v_answer, sizeof(v_answer),
					v_client_nonce, v_server_nonce, v_shared),
			 DR_EOK);
	assert_int_equal(n, sizeof(v_answer) + CURVE_MAC_LEN);
	assert_memory_equal(box, v_streamlined_response + CURVE_SR_OFF_BOX, n);
	assert_int_equal(curve_box_open(text, sizeof(text), &m, box, n, v_client_nonce,
					v_server_nonce, v_shared),
			 DR_EOK);
	assert_int_equal(m, sizeof(v_answer));
	assert_memory_equal(text, v_answer, m);

	/* in place, both ways */
	memcpy(text, v_answer, sizeof(v_answer));
	assert_int_equal(curve_box_seal(text, sizeof(text), &n, text, sizeof(v_answer),
					v_client_nonce, v_server_nonce, v_shared),
			 DR_EOK);
	assert_memory_equal(text, box, n);
	assert_int_equal(curve_box_open(text, sizeof(text), &m, text, n, v_client_nonce,
					v_server_nonce, v_shared),
			 DR_EOK);
	assert_memory_equal(text, v_answer, m);
}

static void test_refused(void **state)
{
	uint8_t box[128], text[128];
	size_t n, m;

	(void)state;
	assert_int_equal(curve_box_seal(box, sizeof(box), &n, v_query, sizeof(v_query),
					v_client_nonce, NULL, v_shared),
			 DR_EOK);
	/* every bit of the box matters: MAC and ciphertext */
	for (size_t i = 0; i < n; i += 7) {
		box[i] ^= 0x10;
		assert_int_equal(curve_box_open(text, sizeof(text), &m, box, n, v_client_nonce,
						NULL, v_shared),
				 DR_EMALF);
		box[i] ^= 0x10;
	}
	/* the query nonce is client || 0: with any server half it does not open */
	assert_int_equal(curve_box_open(text, sizeof(text), &m, box, n, v_client_nonce,
					v_server_nonce, v_shared),
			 DR_EMALF);
	assert_int_equal(
		curve_box_open(text, sizeof(text), &m, box, n - 1, v_client_nonce, NULL, v_shared),
		DR_EMALF);
	assert_int_equal(
		curve_box_open(text, sizeof(text), &m, box, 15, v_client_nonce, NULL, v_shared),
		DR_EMALF);
	assert_int_equal(curve_box_open(text, n - 17, &m, box, n, v_client_nonce, NULL, v_shared),
			 DR_ESPACE);
	assert_int_equal(curve_box_open(text, n - 16, &m, box, n, v_client_nonce, NULL, v_shared),
			 DR_EOK);
	assert_int_equal(curve_box_seal(box, sizeof(v_query) + 15, &n, v_query, sizeof(v_query),
					v_client_nonce, NULL, v_shared),
			 DR_ESPACE);
}

/* What a server does with a query: parse, shared key, open, strip the padding. */
static void open_query(const uint8_t *pkt, size_t len, const uint8_t *server_sk,
		       enum curve_format format, uint8_t *msg, size_t *msg_len, enum curve_pad *pad)
{
	struct curve_query q;
	uint8_t k[32];
	size_t n;

	assert_int_equal(curve_detect(pkt, len), format);
	assert_int_equal(curve_parse(pkt, len, &q), DR_EOK);
	assert_int_equal(q.format, format);
	assert_int_equal(curve_box_shared(k, q.client_pk, server_sk), DR_EOK);
	assert_int_equal(curve_box_open(msg, 512, &n, q.box, q.box_len, q.client_nonce, NULL, k),
			 DR_EOK);
	assert_int_equal(curve_inner_len(msg, n, msg_len, pad), DR_EOK);
}

static void test_vector_queries(void **state)
{
	uint8_t msg[512];
	size_t len;
	enum curve_pad pad;

	(void)state;
	open_query(v_streamlined_query, sizeof(v_streamlined_query), v_server_sk,
		   CURVE_FMT_STREAMLINED, msg, &len, &pad);
	assert_int_equal(pad, CURVE_PAD_DQ);
	assert_int_equal(len, sizeof(v_query));
	assert_memory_equal(msg, v_query, len);
	open_query(v_txt_query, sizeof(v_txt_query), v_server_sk, CURVE_FMT_TXT, msg, &len, &pad);
	assert_int_equal(pad, CURVE_PAD_NONE);
	assert_int_equal(len, sizeof(v_query));
	assert_memory_equal(msg, v_query, len);
}

/* The real client: dq 20230101 sent these to a server holding v_server_sk. Inside, a query for
 * www.example. IN TXT, padded to 192 bytes when streamlined. */
static void test_dq_queries(void **state)
{
	static const uint8_t name[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
	uint8_t msg[512];
	size_t len;
	enum curve_pad pad;
	struct wire_question q;

	(void)state;
	open_query(cap_dq_streamlined, sizeof(cap_dq_streamlined), v_server_sk,
		   CURVE_FMT_STREAMLINED, msg, &len, &pad);
	assert_int_equal(pad, CURVE_PAD_DQ);
	assert_int_equal(sizeof(cap_dq_streamlined), CURVE_SQ_OFF_BOX + CURVE_MAC_LEN + 192);
	assert_int_equal(wire_parse_query(msg, len, &q), DR_EOK);
	assert_int_equal(q.end, len);
	assert_memory_equal(q.name, name, sizeof(name));
	assert_int_equal(q.qtype, WIRE_TYPE_TXT);

	open_query(cap_dq_txt, sizeof(cap_dq_txt), v_server_sk, CURVE_FMT_TXT, msg, &len, &pad);
	assert_int_equal(pad, CURVE_PAD_NONE);
	assert_int_equal(wire_parse_query(msg, len, &q), DR_EOK);
	assert_memory_equal(q.name, name, sizeof(name));
}

/* The whole server side for the vectors: open, answer, seal under the fixed server nonce,
 * frame; the bytes are PyNaCl's, which dq accepted in the capture run. */
static void respond(const uint8_t *query, size_t qlen, const uint8_t *answer, size_t alen,
		    const uint8_t *want, size_t want_len)
{
	struct curve_query q;
	uint8_t out[2048], box[1024];
	size_t n;

	assert_int_equal(curve_parse(query, qlen, &q), DR_EOK);
	assert_memory_equal(q.client_pk, v_client_pk, 32);
	assert_memory_equal(q.client_nonce, v_client_nonce, 12);
	assert_int_equal(curve_box_seal(box, sizeof(box), &n, answer, alen, q.client_nonce,
					v_server_nonce, v_shared),
			 DR_EOK);
	assert_int_equal(curve_build_response(out, sizeof(out), &q, v_server_nonce, box, n),
			 (int)want_len);
	assert_memory_equal(out, want, want_len);
	assert_true(alen <= curve_inner_max(&q, want_len));
	assert_true(alen + 1 > curve_inner_max(&q, want_len));
}

static void test_vector_responses(void **state)
{
	(void)state;
	respond(v_streamlined_query, sizeof(v_streamlined_query), v_answer, sizeof(v_answer),
		v_streamlined_response, sizeof(v_streamlined_response));
	respond(v_txt_query, sizeof(v_txt_query), v_answer, sizeof(v_answer), v_txt_response,
		sizeof(v_txt_response));
	respond(v_txt_query, sizeof(v_txt_query), v_big_answer, sizeof(v_big_answer),
		v_txt_big_response, sizeof(v_txt_big_response));
}

/* Sealing straight into the response buffer, as a worker would: nothing is copied. */
static void test_seal_in_place(void **state)
{
	struct curve_query q;
	uint8_t out[512];
	size_t n;

	(void)state;
	assert_int_equal(curve_parse(v_streamlined_query, sizeof(v_streamlined_query), &q), DR_EOK);
	assert_int_equal(curve_box_seal(out + CURVE_SR_OFF_BOX, sizeof(out) - CURVE_SR_OFF_BOX, &n,
					v_answer, sizeof(v_answer), q.client_nonce, v_server_nonce,
					v_shared),
			 DR_EOK);
	assert_int_equal(curve_build_response(out, sizeof(out), &q, v_server_nonce,
					      out + CURVE_SR_OFF_BOX, n),
			 (int)sizeof(v_streamlined_response));
	assert_memory_equal(out, v_streamlined_response, sizeof(v_streamlined_response));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared),        cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_refused),       cmocka_unit_test(test_vector_queries),
		cmocka_unit_test(test_dq_queries),    cmocka_unit_test(test_vector_responses),
		cmocka_unit_test(test_seal_in_place),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
