/* SPDX-License-Identifier: MIT */
/* tests/unit/test_guard.c -- who may ask the admin endpoint: Host, Origin, the admin key */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "admin/guard.h"
#include "common/err.h"

static union sockaddr_any listen_on(const char *text)
{
	union sockaddr_any sa;

	assert_int_equal(sockaddr_parse(text, strlen(text), 0, &sa), DR_EOK);
	return sa;
}

static void test_host_loopback(void **state)
{
	union sockaddr_any v4 = listen_on("127.0.0.1:8053");
	union sockaddr_any v6 = listen_on("[::1]:8053");

	(void)state;
	assert_true(guard_host_ok(NULL, &v4)); /* HTTP/1.0: no Host */
	assert_true(guard_host_ok("127.0.0.1:8053", &v4));
	assert_true(guard_host_ok("127.0.0.1", &v4));
	assert_true(guard_host_ok("localhost:9000", &v4)); /* a forwarded port */
	assert_true(guard_host_ok("LOCALHOST", &v4));
	assert_true(guard_host_ok("[::1]:8053", &v4));
	assert_true(guard_host_ok("127.0.0.1:8053", &v6));
	assert_true(guard_host_ok("[::1]", &v6));
	assert_false(guard_host_ok("evil.example", &v4));
	assert_false(guard_host_ok("evil.example:8053", &v4));
	assert_false(guard_host_ok("localhost.evil.example", &v4));
	assert_false(guard_host_ok("127.0.0.1.nip.io", &v4));
	assert_false(guard_host_ok("127.0.0.2", &v4));
	assert_false(guard_host_ok("10.0.0.1:8053", &v4));
	assert_false(guard_host_ok("", &v4));
	assert_false(guard_host_ok("::1", &v4));              /* v6 without brackets */
	assert_false(guard_host_ok("127.0.0.1:", &v4));       /* empty port */
	assert_false(guard_host_ok("127.0.0.1:123456", &v4)); /* port too long */
	assert_false(guard_host_ok("127.0.0.1:80x", &v4));
	assert_false(guard_host_ok("[::1]x", &v6));
	assert_false(guard_host_ok("[::1", &v6));
	assert_false(guard_host_ok("[localhost]", &v6));
	assert_false(guard_host_ok("0x7f.1", &v4));
}

static void test_host_other_listen(void **state)
{
	union sockaddr_any lan = listen_on("192.0.2.10:8053");
	union sockaddr_any any = listen_on("0.0.0.0:8053");

	(void)state;
	assert_true(guard_host_ok("192.0.2.10:8053", &lan));
	assert_true(guard_host_ok("localhost", &lan));
	assert_false(guard_host_ok("127.0.0.1", &lan)); /* not where it listens */
	assert_false(guard_host_ok("192.0.2.11", &lan));
	assert_true(guard_host_ok("198.51.100.7:8053", &any)); /* any literal: not rebindable */
	assert_true(guard_host_ok("[2001:db8::1]:8053", &any));
	assert_false(guard_host_ok("router.example:8053", &any));
}

static void test_origin(void **state)
{
	union sockaddr_any v4 = listen_on("127.0.0.1:8053");

	(void)state;
	assert_true(guard_origin_ok(NULL, "127.0.0.1:8053", &v4));
	assert_true(guard_origin_ok("http://127.0.0.1:8053", "127.0.0.1:8053", &v4));
	assert_true(guard_origin_ok("HTTP://LOCALHOST:8053", "localhost:8053", &v4));
	assert_true(guard_origin_ok("https://localhost:9000", "localhost:9000", &v4));
	assert_true(guard_origin_ok("http://localhost:8053", NULL, &v4));
	assert_false(guard_origin_ok("http://evil.example", "127.0.0.1:8053", &v4));
	assert_false(guard_origin_ok("http://localhost:3000", "localhost:8053", &v4));
	assert_false(guard_origin_ok("http://127.0.0.1:8053", "localhost:8053", &v4));
	assert_false(guard_origin_ok("null", "127.0.0.1:8053", &v4));
	assert_false(guard_origin_ok("file://", "127.0.0.1:8053", &v4));
	assert_false(guard_origin_ok("http://evil.example", "evil.example", &v4));
	assert_false(guard_origin_ok("http://evil.example", NULL, &v4));
}

static void test_key(void **state)
{
	const char *key = "s3cret";

	(void)state;
	assert_true(guard_key_ok("Bearer s3cret", NULL, key));
	assert_true(guard_key_ok("bearer   s3cret", NULL, key));
	assert_true(guard_key_ok(NULL, "s3cret", key));
	assert_true(guard_key_ok("Bearer wrong", "s3cret", key));
	assert_false(guard_key_ok(NULL, NULL, key));
	assert_false(guard_key_ok("s3cret", NULL, key));
	assert_false(guard_key_ok("Basic s3cret", NULL, key));
	assert_false(guard_key_ok("Bearers3cret", NULL, key));
	assert_false(guard_key_ok("Bearer s3cre", NULL, key));
	assert_false(guard_key_ok("Bearer s3crett", NULL, key));
	assert_false(guard_key_ok(NULL, "", key));
	assert_false(guard_key_ok(NULL, "S3CRET", key));
	assert_false(guard_key_ok(NULL, "s3cre\0t", key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_loopback),
		cmocka_unit_test(test_host_other_listen),
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
