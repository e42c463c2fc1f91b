/* SPDX-License-Identifier: MIT */
/* tests/unit/test_proxy.c -- PROXY protocol version 2 headers: addresses, LOCAL, prepending */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "wire/proxy.h"
#include "unit_addr.h"

/* Fixtures: written out by hand from the layout in HAProxy's proxy-protocol.txt §2.2 (no
 * proxy-protocol library for Python here). Cross-checked once, by hand: each header as
 * written, the mapped one and LOCAL too, in front of a query to dnsdist 1.7.3 (UDP, and TCP
 * before the length) with setProxyProtocolACL: its Lua saw the addresses and ports below, and
 * for LOCAL the real endpoints.
 * Client 192.0.2.1 port 53000 (0xcf08) to 198.51.100.53 port 53, and 2001:db8::1 port 53000
 * to 2001:db8:1::53 port 53. The signature is "\r\n\r\n\0\r\nQUIT\n". */

/* clang-format off */
static const uint8_t hdr_udp4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x21, /* version 2, command PROXY */
	0x12, /* AF_INET, DGRAM: UDP4 */
	0x00, 0x0c, /* 12 bytes follow */
	0xc0, 0x00, 0x02, 0x01, /* source address 192.0.2.1 */
	0xc6, 0x33, 0x64, 0x35, /* destination address 198.51.100.53 */
	0xcf, 0x08, /* source port 53000 */
	0x00, 0x35, /* destination port 53 */
};

static const uint8_t hdr_tcp4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x21, /* version 2, command PROXY */
	0x11, /* AF_INET, STREAM: TCP4 */
	0x00, 0x0c, /* 12 bytes follow */
	0xc0, 0x00, 0x02, 0x01, /* source address 192.0.2.1 */
	0xc6, 0x33, 0x64, 0x35, /* destination address 198.51.100.53 */
	0xcf, 0x08, /* source port 53000 */
	0x00, 0x35, /* destination port 53 */
};

static const uint8_t hdr_udp6[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x21, /* version 2, command PROXY */
	0x22, /* AF_INET6, DGRAM: UDP6 */
	0x00, 0x24, /* 36 bytes follow */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* source address 2001:db8::1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, /* destination address 2001:db8:1::53 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53,
	0xcf, 0x08, /* source port 53000 */
	0x00, 0x35, /* destination port 53 */
};

static const uint8_t hdr_tcp6[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x21, /* version 2, command PROXY */
	0x21, /* AF_INET6, STREAM: TCP6 */
	0x00, 0x24, /* 36 bytes follow */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* source address 2001:db8::1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, /* destination address 2001:db8:1::53 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53,
	0xcf, 0x08, /* source port 53000 */
	0x00, 0x35, /* destination port 53 */
};

static const uint8_t hdr_local[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x20, /* version 2, command LOCAL */
	0x00, /* AF_UNSPEC, UNSPEC */
	0x00, 0x00, /* nothing follows */
};

/* ::ffff:192.0.2.1 to 2001:db8:1::53 over UDP: a mapped address beside a native IPv6 one
 * stays IPv6 */
static const uint8_t hdr_udp6_mapped[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, /* signature */
	0x21, /* version 2, command PROXY */
	0x22, /* AF_INET6, DGRAM: UDP6 */
	0x00, 0x24, /* 36 bytes follow */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* source address ::ffff:192.0.2.1 */
	0x00, 0x00, 0xff, 0xff, 0xc0, 0x00, 0x02, 0x01,
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, /* destination address 2001:db8:1::53 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53,
	0xcf, 0x08, /* source port 53000 */
	0x00, 0x35, /* destination port 53 */
};
/* clang-format on */

/* ;; id 0x1234, opcode QUERY, flags: rd; QUERY: 1
 * example.com.	IN	A */
static const uint8_t q_plain[] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78,
	0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
};

/* <ip> with <port>, IPv4 or IPv6 (IPv4-mapped included). */
static union sockaddr_any addr(const char *ip, uint16_t port)
{
	union sockaddr_any sa = unit_addr(ip);

	if (sa.sa.sa_family == AF_INET) {
		sa.sin.sin_port = htons(port);
	} else {
		sa.sin6.sin6_port = htons(port);
	}
	return sa;
}

/* Write the header for <src> and <dst> into a buffer of <cap> bytes filled with 0xaa, and
 * check it against <want> of <want_len> bytes (0: nothing written, the buffer untouched). */
static void check_header(const char *src, const char *dst, bool tcp, size_t cap,
			 const uint8_t *want, size_t want_len)
{
	union sockaddr_any s = addr(src, 53000), d = addr(dst, 53);
	uint8_t out[PROXY_V2_MAX + 8], fill[sizeof(out)];

	assert_true(cap <= sizeof(out));
	memset(out, 0xaa, sizeof(out));
	memset(fill, 0xaa, sizeof(fill));
	assert_int_equal(proxy_v2_header(out, cap, &s, &d, tcp), want_len);
	if (want_len != 0) {
		assert_memory_equal(out, want, want_len);
	}
	assert_memory_equal(out + want_len, fill, sizeof(out) - want_len);
}

static void test_udp4(void **state)
{
	(void)state;
	assert_int_equal(sizeof(hdr_udp4), 28);
	check_header("192.0.2.1", "198.51.100.53", false, PROXY_V2_MAX, hdr_udp4, 28);
}

static void test_tcp4(void **state)
{
	(void)state;
	check_header("192.0.2.1", "198.51.100.53", true, PROXY_V2_MAX, hdr_tcp4, 28);
}

static void test_udp6(void **state)
{
	(void)state;
	assert_int_equal(sizeof(hdr_udp6), 52);
	check_header("2001:db8::1", "2001:db8:1::53", false, PROXY_V2_MAX, hdr_udp6, 52);
}

static void test_tcp6(void **state)
{
	(void)state;
	check_header("2001:db8::1", "2001:db8:1::53", true, PROXY_V2_MAX, hdr_tcp6, 52);
}

static void test_local(void **state)
{
	uint8_t out[PROXY_V2_LOCAL_LEN + 1];

	(void)state;
	assert_int_equal(sizeof(hdr_local), PROXY_V2_LOCAL_LEN);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(proxy_v2_local(out, sizeof(out)), PROXY_V2_LOCAL_LEN);
	assert_memory_equal(out, hdr_local, sizeof(hdr_local));
	assert_int_equal(out[PROXY_V2_LOCAL_LEN], 0xaa);

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(proxy_v2_local(out, PROXY_V2_LOCAL_LEN - 1), 0);
	for (size_t i = 0; i < sizeof(out); i++) {
		assert_int_equal(out[i], 0xaa);
	}
}

/* A dual-stack socket gives IPv4 clients as ::ffff:a.b.c.d: with an IPv4 (or mapped) address
 * on the other side, both are written as IPv4. */
static void test_mapped(void **state)
{
	(void)state;
	check_header("::ffff:192.0.2.1", "198.51.100.53", false, PROXY_V2_MAX, hdr_udp4, 28);
	check_header("192.0.2.1", "::ffff:198.51.100.53", false, PROXY_V2_MAX, hdr_udp4, 28);
	check_header("::ffff:192.0.2.1", "::ffff:198.51.100.53", true, PROXY_V2_MAX, hdr_tcp4, 28);
	/* beside a native IPv6 address it stays what it is */
	check_header("::ffff:192.0.2.1", "2001:db8:1::53", false, PROXY_V2_MAX, hdr_udp6_mapped,
		     52);
}

static void test_mixed_refused(void **state)
{
	union sockaddr_any un;
	union sockaddr_any v4 = addr("192.0.2.1", 53000);
	uint8_t out[PROXY_V2_MAX];

	(void)state;
	check_header("192.0.2.1", "2001:db8:1::53", false, PROXY_V2_MAX, NULL, 0);
	check_header("2001:db8::1", "198.51.100.53", true, PROXY_V2_MAX, NULL, 0);
	/* neither IPv4 nor IPv6 */
	memset(&un, 0, sizeof(un));
	un.sa.sa_family = AF_UNIX;
	assert_int_equal(proxy_v2_header(out, sizeof(out), &un, &v4, false), 0);
	assert_int_equal(proxy_v2_header(out, sizeof(out), &v4, &un, false), 0);
	assert_int_equal(proxy_v2_header(out, sizeof(out), &un, &un, true), 0);
}

static void test_cap(void **state)
{
	(void)state;
	check_header("192.0.2.1", "198.51.100.53", false, 28, hdr_udp4, 28);
	check_header("192.0.2.1", "198.51.100.53", false, 27, NULL, 0);
	check_header("192.0.2.1", "198.51.100.53", false, 0, NULL, 0);
	check_header("2001:db8::1", "2001:db8:1::53", false, 52, hdr_udp6, 52);
	check_header("2001:db8::1", "2001:db8:1::53", false, 51, NULL, 0);
	check_header("2001:db8::1", "2001:db8:1::53", false, 28, NULL, 0);
}

static void test_prepend_udp4(void **state)
{
	union sockaddr_any s = addr("192.0.2.1", 53000), d = addr("198.51.100.53", 53);
	uint8_t buf[512];
	size_t len = sizeof(q_plain);

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	memcpy(buf, q_plain, sizeof(q_plain));
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf), &s, &d, false), DR_EOK);
	assert_int_equal(len, 28 + sizeof(q_plain));
	assert_memory_equal(buf, hdr_udp4, 28);
	assert_memory_equal(buf + 28, q_plain, sizeof(q_plain));
	assert_int_equal(buf[len], 0xaa);
}

/* Over TCP the header goes before the first message's 2-byte length. */
static void test_prepend_tcp6(void **state)
{
	union sockaddr_any s = addr("2001:db8::1", 53000), d = addr("2001:db8:1::53", 53);
	uint8_t msg[2 + sizeof(q_plain)] = {0x00, sizeof(q_plain)};
	uint8_t buf[52 + sizeof(msg)];
	size_t len = sizeof(msg);

	(void)state;
	memcpy(msg + 2, q_plain, sizeof(q_plain));
	memcpy(buf, msg, sizeof(msg));
	/* exactly enough room */
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf), &s, &d, true), DR_EOK);
	assert_int_equal(len, sizeof(buf));
	assert_memory_equal(buf, hdr_tcp6, 52);
	assert_memory_equal(buf + 52, msg, sizeof(msg));
}

static void test_prepend_refused(void **state)
{
	union sockaddr_any s = addr("192.0.2.1", 53000), d = addr("198.51.100.53", 53);
	union sockaddr_any d6 = addr("2001:db8:1::53", 53);
	uint8_t buf[28 + sizeof(q_plain)];
	size_t len = sizeof(q_plain);

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	memcpy(buf, q_plain, sizeof(q_plain));
	/* one byte short */
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf) - 1, &s, &d, false), DR_ESPACE);
	assert_int_equal(len, sizeof(q_plain));
	assert_memory_equal(buf, q_plain, sizeof(q_plain));
	/* a length already past the buffer */
	len = sizeof(buf) + 1;
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf), &s, &d, false), DR_ESPACE);
	assert_int_equal(len, sizeof(buf) + 1);
	/* families that do not go together */
	len = sizeof(q_plain);
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf), &s, &d6, false), DR_EINVAL);
	assert_int_equal(len, sizeof(q_plain));
	assert_memory_equal(buf, q_plain, sizeof(q_plain));
	/* and an empty message */
	len = 0;
	assert_int_equal(proxy_v2_prepend(buf, &len, sizeof(buf), &s, &d, false), DR_EOK);
	assert_int_equal(len, 28);
	assert_memory_equal(buf, hdr_udp4, 28);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp4),
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_udp6),
		cmocka_unit_test(test_tcp6),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_mapped),
		cmocka_unit_test(test_mixed_refused),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_prepend_udp4),
		cmocka_unit_test(test_prepend_tcp6),
		cmocka_unit_test(test_prepend_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
