/* SPDX-License-Identifier: MIT */
/* tests/unit/test_base64.c -- base64 as etcd's gateway carries keys and values: round trips,
 * and input that is not base64 told apart from a lack of memory */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/err.h"

static void test_round_trip(void **state)
{
	static const char *plain[] = {
		"",     "f",     "fo",     "foo",
		"foob", "fooba", "foobar", "127.0.0.1:5300,^www\\.example\\.$"};

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *enc = base64_encode(plain[i], strlen(plain[i]));
		char *dec = NULL;
		size_t len = 0;

		assert_non_null(enc);
		assert_int_equal(base64_decode(enc, &dec, &len), DR_EOK);
		assert_int_equal(len, strlen(plain[i]));
		assert_string_equal(dec, plain[i]);
		free(enc);
		free(dec);
	}
}

static void test_rfc4648_vectors(void **state)
{
	char *dec = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(base64_decode("Zm9vYmFy", &dec, &len), DR_EOK);
	assert_string_equal(dec, "foobar");
	free(dec);
	assert_int_equal(base64_decode("Zm9vYg==", &dec, &len), DR_EOK);
	assert_int_equal(len, 4);
	assert_string_equal(dec, "foob");
	free(dec);
}

/* Not base64 is DR_EINVAL, never mistaken for DR_ENOMEM, and *out is left alone. */
static void test_not_base64(void **state)
{
	static const char *bad[] = {"!!!notbase64", "Zm9",  "Zm9v!",  "Zg=a",
				    "Zg==Zm9v",     "Z===", "Zm9v\n", " Zm9v"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *dec = (char *)&dec; /* any value; must not change */
		size_t len = 7;

		if (base64_decode(bad[i], &dec, &len) != DR_EINVAL) {
			fail_msg("'%s' decoded as base64", bad[i]);
		}
		assert_ptr_equal(dec, (char *)&dec);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_not_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
