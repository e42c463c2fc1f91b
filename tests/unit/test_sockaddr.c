/* SPDX-License-Identifier: MIT */
/* tests/unit/test_sockaddr.c -- parse, print and compare IPv4/IPv6 socket addresses */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/sockaddr.h"

/* Parse <s> (a C string) with <default_port>. */
static int parse(const char *s, unsigned default_port, union sockaddr_any *out)
{
	size_t len = strlen(s);
	char *copy = malloc(len ? len : 1); /* no NUL: the parser must stop at <len> */
	int rc;

	assert_non_null(copy);
	memcpy(copy, s, len);
	rc = sockaddr_parse(copy, len, default_port, out);
	free(copy);
	return rc;
}

static void test_parse_v4(void **state)
{
	union sockaddr_any sa;

	(void)state;
	assert_int_equal(parse("192.0.2.1:53", 0, &sa), DR_EOK);
	assert_int_equal(sa.sa.sa_family, AF_INET);
	assert_int_equal(ntohs(sa.sin.sin_port), 53);
	assert_int_equal(ntohl(sa.sin.sin_addr.s_addr), 0xc0000201);
	assert_int_equal(sockaddr_len(&sa), sizeof(struct sockaddr_in));

	assert_int_equal(parse("0.0.0.0:65535", 0, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin.sin_port), 65535);
	assert_int_equal(parse("127.0.0.1:00053", 0, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin.sin_port), 53);

	/* the default port applies only when there is none */
	assert_int_equal(parse("10.0.0.1", 53, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin.sin_port), 53);
	assert_int_equal(parse("10.0.0.1:5300", 53, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin.sin_port), 5300);
}

static void test_parse_v6(void **state)
{
	union sockaddr_any sa;
	struct in6_addr want;

	(void)state;
	assert_int_equal(parse("[2001:db8::1]:5353", 0, &sa), DR_EOK);
	assert_int_equal(sa.sa.sa_family, AF_INET6);
	assert_int_equal(ntohs(sa.sin6.sin6_port), 5353);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &want), 1);
	assert_memory_equal(&sa.sin6.sin6_addr, &want, sizeof(want));
	assert_int_equal(sockaddr_len(&sa), sizeof(struct sockaddr_in6));

	assert_int_equal(parse("[::]:1", 0, &sa), DR_EOK);
	assert_int_equal(parse("[::ffff:192.0.2.1]:53", 0, &sa), DR_EOK);
	assert_int_equal(sa.sa.sa_family, AF_INET6);
	assert_int_equal(parse("[::1]", 53, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin6.sin6_port), 53);
}

static void test_parse_bad(void **state)
{
	static const char *bad[] = {
		"",
		":",
		":53",
		"192.0.2.1",
		"192.0.2.1:",
		"192.0.2.1:0",
		"192.0.2.1:65536",
		"192.0.2.1:123456",
		"192.0.2.1:-1",
		"192.0.2.1:+53",
		"192.0.2.1:5a",
		"192.0.2.1: 53",
		"192.0.2:53",
		"256.0.0.1:53",
		"192.0.2.1.5:53",
		" 192.0.2.1:53",
		"localhost:53",
		"[::1]",
		"[::1]:",
		"[::1]53",
		"[::1",
		"::1:53",
		"[]:53",
		"[192.0.2.1]:53",
		"[::1]:0",
		"[::g]:53",
		"[2001:db8::1%eth0]:53",
		"[::1]:53x",
		"[[::1]]:53",
		"1111111111111111111111111111111111111111111111111111:53",
		"[1111:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111]:53",
	};
	union sockaddr_any sa;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], 0, &sa);

		if (rc != DR_EINVAL) {
			fail_msg("sockaddr_parse(\"%s\") = %d, want DR_EINVAL", bad[i], rc);
		}
	}
	/* a default port does not rescue a bad port */
	assert_int_equal(parse("192.0.2.1:", 53, &sa), DR_EINVAL);
	assert_int_equal(parse("[::1]:", 53, &sa), DR_EINVAL);
}

static void test_parse_prefix(void **state)
{
	union sockaddr_any sa;
	static const char entry[] = "192.0.2.1:53,^www\\.";

	(void)state;
	/* only <len> bytes count: the -b entry parser hands over the part before the comma */
	assert_int_equal(sockaddr_parse(entry, 12, 0, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin.sin_port), 53);
	assert_int_equal(sockaddr_parse("[::1]:53,x", 8, 0, &sa), DR_EOK);
	assert_int_equal(ntohs(sa.sin6.sin6_port), 53);
	assert_int_equal(sockaddr_parse("[::1]:53", 5, 0, &sa), DR_EINVAL);
}

static void test_format_round_trip(void **state)
{
	static const char *addrs[] = {
		"192.0.2.1:53",
		"0.0.0.0:1",
		"255.255.255.255:65535",
		"[2001:db8::1]:5353",
		"[::]:53",
		"[::1]:1",
		"[fe80::1:2:3:4]:853",
		"[2001:db8:1234:5678:9abc:def0:1234:5678]:65535",
		"[::ffff:192.0.2.1]:53",
	};
	char buf[SOCKADDR_STRLEN];
	union sockaddr_any a, b;

	(void)state;
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		assert_int_equal(parse(addrs[i], 0, &a), DR_EOK);
		assert_ptr_equal(sockaddr_format(&a, buf, sizeof(buf)), buf);
		assert_string_equal(buf, addrs[i]);
		assert_int_equal(parse(buf, 0, &b), DR_EOK);
		assert_true(sockaddr_equal(&a, &b));
	}
	/* written in full, not just canonical */
	assert_int_equal(parse("[2001:DB8:0:0:0:0:0:1]:53", 0, &a), DR_EOK);
	assert_string_equal(sockaddr_format(&a, buf, sizeof(buf)), "[2001:db8::1]:53");

	/* a short buffer is cut, never overrun */
	assert_int_equal(parse("[2001:db8::1]:5353", 0, &a), DR_EOK);
	memset(buf, 'z', sizeof(buf));
	sockaddr_format(&a, buf, 8);
	assert_int_equal(strlen(buf), 7);
	assert_int_equal(buf[8], 'z');

	/* neither family */
	memset(&a, 0, sizeof(a));
	assert_string_equal(sockaddr_format(&a, buf, sizeof(buf)), "?");
}

static void test_equal(void **state)
{
	union sockaddr_any a, b;

	(void)state;
	assert_int_equal(parse("192.0.2.1:53", 0, &a), DR_EOK);
	assert_int_equal(parse("192.0.2.1:53", 0, &b), DR_EOK);
	assert_true(sockaddr_equal(&a, &b));
	assert_int_equal(parse("192.0.2.1:54", 0, &b), DR_EOK);
	assert_false(sockaddr_equal(&a, &b));
	assert_int_equal(parse("192.0.2.2:53", 0, &b), DR_EOK);
	assert_false(sockaddr_equal(&a, &b));
	assert_int_equal(parse("[::ffff:192.0.2.1]:53", 0, &b), DR_EOK);
	assert_false(sockaddr_equal(&a, &b)); /* other family */
	assert_false(sockaddr_equal(&b, &a));

	assert_int_equal(parse("[2001:db8::1]:53", 0, &a), DR_EOK);
	assert_int_equal(parse("[2001:db8:0::1]:53", 0, &b), DR_EOK);
	assert_true(sockaddr_equal(&a, &b));
	assert_int_equal(parse("[2001:db8::2]:53", 0, &b), DR_EOK);
	assert_false(sockaddr_equal(&a, &b));
	assert_int_equal(parse("[2001:db8::1]:5353", 0, &b), DR_EOK);
	assert_false(sockaddr_equal(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_v4),          cmocka_unit_test(test_parse_v6),
		cmocka_unit_test(test_parse_bad),         cmocka_unit_test(test_parse_prefix),
		cmocka_unit_test(test_format_round_trip), cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
