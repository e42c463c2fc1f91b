/* SPDX-License-Identifier: MIT */
/* tests/unit/test_prefix.c -- client prefixes for access rules: parse and match */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "common/err.h"
#include "common/prefix.h"

#include "unit_addr.h"

static bool contains(const char *prefix, const char *ip)
{
	struct prefix p;
	union sockaddr_any sa = unit_addr(ip);

	assert_int_equal(prefix_parse(prefix, &p), DR_EOK);
	return prefix_contains(&p, &sa);
}

static void test_parse(void **state)
{
	static const struct {
		const char *text;
		int rc;
		int family;
		unsigned bits;
	} cases[] = {
		{"192.0.2.0/24", DR_EOK, AF_INET, 24},
		{"192.0.2.1", DR_EOK, AF_INET, 32},
		{"0.0.0.0/0", DR_EOK, AF_INET, 0},
		{"2001:db8::/32", DR_EOK, AF_INET6, 32},
		{"::1", DR_EOK, AF_INET6, 128},
		{"::/0", DR_EOK, AF_INET6, 0},
		{"2001:db8:0:1::/63", DR_EINVAL, 0, 0}, /* bit 64 set past /63 */
		{"192.0.2.1/24", DR_EINVAL, 0, 0},      /* host bits: a typo more often than not */
		{"192.0.2.0/33", DR_EINVAL, 0, 0},
		{"::1/129", DR_EINVAL, 0, 0},
		{"192.0.2.0/", DR_EINVAL, 0, 0},
		{"192.0.2.0/-1", DR_EINVAL, 0, 0},
		{"192.0.2.0/024", DR_EOK, AF_INET, 24},
		{"192.0.2.0/0024", DR_EINVAL, 0, 0},
		{"192.0.2.0/24x", DR_EINVAL, 0, 0},
		{"/24", DR_EINVAL, 0, 0},
		{"", DR_EINVAL, 0, 0},
		{"example.com", DR_EINVAL, 0, 0},
		{"192.0.2.0:53", DR_EINVAL, 0, 0},
		{"[::1]", DR_EINVAL, 0, 0},
		{"1111:2222:3333:4444:5555:6666:7777:8888:9999/128", DR_EINVAL, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prefix p;
		int rc = prefix_parse(cases[i].text, &p);
		if (rc != cases[i].rc) {
			fail_msg("prefix_parse(\"%s\") = %d, want %d", cases[i].text, rc,
				 cases[i].rc);
		}
		if (rc == DR_EOK) {
			assert_int_equal(p.family, cases[i].family);
			assert_int_equal(p.bits, cases[i].bits);
		}
	}
}

static void test_contains(void **state)
{
	(void)state;
	assert_true(contains("192.0.2.0/24", "192.0.2.0"));
	assert_true(contains("192.0.2.0/24", "192.0.2.255"));
	assert_false(contains("192.0.2.0/24", "192.0.3.0"));
	assert_true(contains("10.0.0.0/9", "10.127.255.255"));
	assert_false(contains("10.0.0.0/9", "10.128.0.0"));
	assert_true(contains("127.0.0.2", "127.0.0.2"));
	assert_false(contains("127.0.0.2", "127.0.0.1"));
	assert_true(contains("0.0.0.0/0", "203.0.113.7"));
	/* Families never mix, not even the IPv4-mapped form. */
	assert_false(contains("0.0.0.0/0", "::ffff:192.0.2.1"));
	assert_false(contains("::/0", "192.0.2.1"));
	assert_true(contains("::/0", "::1"));
	assert_true(contains("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(contains("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(contains("::1", "::1"));
	assert_false(contains("::1", "::2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_contains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
