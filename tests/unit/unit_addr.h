/* SPDX-License-Identifier: MIT */
/* tests/unit/unit_addr.h -- a socket address from text, for the unit tests (cmocka first) */
#ifndef DR_TESTS_UNIT_ADDR_H
#define DR_TESTS_UNIT_ADDR_H

#include <arpa/inet.h>
#include <string.h>

#include "common/sockaddr.h"

/* "192.0.2.1" or "2001:db8::1" as a socket address (port 5353 for IPv4, 0 for IPv6: the
 * code under test ignores it); a text that is neither fails the test. */
static inline union sockaddr_any unit_addr(const char *ip)
{
	union sockaddr_any sa;

	memset(&sa, 0, sizeof(sa));
	if (inet_pton(AF_INET, ip, &sa.sin.sin_addr) == 1) {
		sa.sin.sin_family = AF_INET;
		sa.sin.sin_port = htons(5353);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6.sin6_addr), 1);
		sa.sin6.sin6_family = AF_INET6;
	}
	return sa;
}

#endif
