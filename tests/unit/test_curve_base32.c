/* SPDX-License-Identifier: MIT */
/* tests/unit/test_curve_base32.c -- DNSCurve base32: round trips, the 51-character key, refusals */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "curve/base32.h"
#include "curve_vectors.h"

static void test_round_trip(void **state)
{
	uint8_t in[64], back[64];
	char text[CURVE_BASE32_LEN(64)];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(i * 37 + 11);
	}
	for (size_t len = 0; len <= sizeof(in); len++) {
		int n = curve_base32_encode(in, len, text, sizeof(text));
		assert_int_equal(n, CURVE_BASE32_LEN(len));
		assert_int_equal(curve_base32_decode(text, (size_t)n, CURVE_BASE32_STRICT, back,
						     sizeof(back)),
				 (int)len);
		assert_memory_equal(back, in, len);
	}
}

/* Least significant bits first: 0x01 is "1" then "0", unlike RFC 4648's "AE". */
static void test_bit_order(void **state)
{
	const uint8_t one[] = {0x01}, ff[] = {0xff, 0xff};
	char text[8];

	(void)state;
	assert_int_equal(curve_base32_encode(one, 1, text, sizeof(text)), 2);
	assert_memory_equal(text, "10", 2);
	assert_int_equal(curve_base32_encode(ff, 2, text, sizeof(text)), 4);
	assert_memory_equal(text, "zzz1", 4);
}

/* The server key of the vectors, and one curvedns-keygen made: 51 characters carry 32 bytes,
 * the last one the key's top 7 bits. */
static void test_key(void **state)
{
	uint8_t pk[32];
	char text[52];

	(void)state;
	assert_int_equal(curve_base32_decode_key(v_server_dns + 3, pk), DR_EOK);
	assert_memory_equal(pk, v_server_pk, 32);
	assert_int_equal(curve_base32_encode(v_server_pk, 32, text, sizeof(text)), 52);
	assert_memory_equal(text, v_server_dns + 3, 51);
	assert_int_equal(text[51], '0');

	uint8_t want[32];
	for (int i = 0; i < 32; i++) {
		unsigned b;
		assert_int_equal(sscanf(cap_keygen_pk_hex + 2 * i, "%2x", &b), 1);
		want[i] = (uint8_t)b;
	}
	assert_int_equal(curve_base32_decode_key(cap_keygen_dns + 3, pk), DR_EOK);
	assert_memory_equal(pk, want, 32);
	/* Dropping the final partial byte, the classic bug, would lose pk[31]. */
	assert_int_not_equal(want[31], 0);
	assert_int_equal(curve_base32_decode(cap_keygen_dns + 3, 51, CURVE_BASE32_STRICT, pk, 32),
			 DR_EMALF);
}

static void test_upper_case(void **state)
{
	char upper[52];
	uint8_t pk[32];

	(void)state;
	for (int i = 0; i < 51; i++) {
		char c = v_server_dns[3 + i];
		upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	assert_int_equal(curve_base32_decode_key(upper, pk), DR_EOK);
	assert_memory_equal(pk, v_server_pk, 32);
}

static void test_refused(void **state)
{
	uint8_t out[8];

	(void)state;
	/* a, e, i, o are not in the alphabet; neither are '-' and '=' */
	assert_int_equal(curve_base32_decode("1a", 2, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("e0", 2, CURVE_BASE32_KEEP, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("10-", 3, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("10=", 3, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	/* strict: set leftover bits ("1z" is 0xe1 and 2 bits 11), or a whole character left
	 * over: a second spelling of the same bytes */
	assert_int_equal(curve_base32_decode("1z", 2, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("100", 3, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("1", 1, CURVE_BASE32_STRICT, out, 8), DR_EMALF);
	assert_int_equal(curve_base32_decode("10", 2, CURVE_BASE32_STRICT, out, 8), 1);
	/* keep: the leftover is a byte of its own */
	assert_int_equal(curve_base32_decode("1", 1, CURVE_BASE32_KEEP, out, 8), 1);
	assert_int_equal(out[0], 1);
	/* a key label with a bad character */
	char bad[52];
	uint8_t pk[32];
	memcpy(bad, v_server_dns + 3, 51);
	bad[20] = 'o';
	assert_int_equal(curve_base32_decode_key(bad, pk), DR_EMALF);
}

static void test_space(void **state)
{
	uint8_t in[5] = {1, 2, 3, 4, 5}, out[4];
	char text[8];

	(void)state;
	assert_int_equal(curve_base32_encode(in, 5, text, 7), DR_ESPACE);
	assert_int_equal(curve_base32_encode(in, 5, text, 8), 8);
	assert_int_equal(curve_base32_decode(text, 8, CURVE_BASE32_STRICT, out, 4), DR_ESPACE);
	assert_int_equal(curve_base32_decode(text, 0, CURVE_BASE32_STRICT, out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_bit_order),
		cmocka_unit_test(test_key),        cmocka_unit_test(test_upper_case),
		cmocka_unit_test(test_refused),    cmocka_unit_test(test_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
