/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_curve.c -- DNSCurve detection, both query parsers, response framing, padding */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "curve/base32.h"
#include "curve/format.h"
#include "wire/wire.h"
#include "fuzz.h"

/* A parsed query gets a response of a box length taken from its own bytes, into a buffer of
 * exactly what curve_inner_max() promises fits, and one byte less. */
static void check_response(const struct curve_query *q, const uint8_t *data, size_t size)
{
	static uint8_t out[WIRE_TCP_MSG_MAX + 1], box[WIRE_TCP_MSG_MAX];
	const uint8_t nonce[CURVE_HALF_NONCE] = {0};
	size_t limit = size < 2 ? 512 : 1 + (wire_read_u16(data) % WIRE_TCP_MSG_MAX);
	size_t m = curve_inner_max(q, limit);
	int n;

	if (m > 0) {
		n = curve_build_response(out, limit, q, nonce, box, m + CURVE_MAC_LEN);
		CHECK(n > 0 && (size_t)n <= limit);
	}
	n = curve_build_response(out, limit, q, nonce, box, m + 1 + CURVE_MAC_LEN);
	CHECK(n == DR_ESPACE);
	n = curve_build_response(out, sizeof(out), q, nonce, q->box, q->box_len);
	CHECK(n == DR_ESPACE || (n > 0 && n <= WIRE_TCP_MSG_MAX));
	if (n > 0 && q->format == CURVE_FMT_STREAMLINED) {
		CHECK(memcmp(out + CURVE_SR_OFF_BOX, q->box, q->box_len) == 0);
	}
}

/* The input as base32 text: a strict decoding, encoded again, spells the same (lower case). */
static void check_base32(const uint8_t *data, size_t size)
{
	uint8_t bin[256];
	char text[CURVE_BASE32_LEN(sizeof(bin))];
	int n, m;

	n = curve_base32_decode((const char *)data, size, CURVE_BASE32_STRICT, bin, sizeof(bin));
	CHECK(n == DR_EMALF || n == DR_ESPACE || (n >= 0 && (size_t)n <= sizeof(bin)));
	if (n < 0) {
		return;
	}
	m = curve_base32_encode(bin, (size_t)n, text, sizeof(text));
	CHECK(m >= 0 && (size_t)m == size);
	for (size_t i = 0; i < size; i++) {
		char c = (char)data[i];
		CHECK(text[i] == (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct curve_query q;
	enum curve_format f = curve_detect(data, size);
	int rc = curve_parse(data, size, &q);
	size_t len;
	enum curve_pad pad;

	CHECK(q.format == f);
	CHECK(rc == DR_EOK || rc == DR_EMALF || rc == DR_EINVAL);
	CHECK((rc == DR_EINVAL) == (f == CURVE_FMT_PLAIN));
	if (rc == DR_EOK) {
		CHECK(q.box_len >= CURVE_MAC_LEN);
		CHECK(f != CURVE_FMT_STREAMLINED || q.box + q.box_len == data + size);
		CHECK(f != CURVE_FMT_TXT || q.question + q.question_len == data + size);
		check_response(&q, data, size);
	}

	rc = curve_inner_len(data, size, &len, &pad);
	CHECK(rc == DR_EOK || rc == DR_EMALF);
	CHECK(len <= size);
	if (rc == DR_EOK) {
		CHECK(len >= WIRE_HDR_LEN);
		CHECK((pad == CURVE_PAD_NONE) == (len == size));
		CHECK(pad != CURVE_PAD_DQ || data[size - 1] == 0x80);
	} else {
		CHECK(pad == CURVE_PAD_GARBAGE);
	}
	check_base32(data, size);
	return 0;
}
