/* SPDX-License-Identifier: MIT */
/* tests/unit/test_peercount.c -- connections per client address */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "common/err.h"
#include "front/peercount.h"

static union sockaddr_any v4(uint32_t host, uint16_t port)
{
	union sockaddr_any a;

	memset(&a, 0, sizeof(a));
	a.sin.sin_family = AF_INET;
	a.sin.sin_addr.s_addr = htonl(0x0a000000u + host);
	a.sin.sin_port = htons(port);
	return a;
}

static union sockaddr_any v6(const char *text)
{
	union sockaddr_any a;

	memset(&a, 0, sizeof(a));
	a.sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &a.sin6.sin6_addr), 1);
	return a;
}

/* The port is not part of the key, and IPv4 is its mapped IPv6 form. */
static void test_key(void **state)
{
	struct peercount pc;
	union sockaddr_any a = v4(1, 1000), b = v4(1, 2000), c = v6("::ffff:10.0.0.1");

	(void)state;
	assert_int_equal(peercount_init(&pc, 4, 42), DR_EOK);
	peercount_add(&pc, &a);
	peercount_add(&pc, &b);
	assert_int_equal(peercount_get(&pc, &a), 2);
	assert_int_equal(peercount_get(&pc, &c), 2);
	assert_int_equal(peercount_get(&pc, &(union sockaddr_any){.sin = {.sin_family = AF_INET}}),
			 0);
	peercount_del(&pc, &c);
	peercount_del(&pc, &a);
	assert_int_equal(peercount_get(&pc, &b), 0);
	peercount_deinit(&pc);
}

/* A full table, emptied in another order, many times: every count stays exact, so deleting
 * never loses an entry further along a probe run. */
static void test_churn(void **state)
{
	enum { N = 500 };
	struct peercount pc;
	uint32_t want[N + 2] = {0}; /* N, N + 1: the two IPv6 addresses */
	uint32_t rnd = 1;

	(void)state;
	assert_int_equal(peercount_init(&pc, N, 7), DR_EOK);
	for (int round = 0; round < 200000; round++) {
		uint32_t i;
		union sockaddr_any a;
		rnd = rnd * 1103515245u + 12345u;
		i = (rnd >> 8) % N;
		a = i % 3 ? v4(i, 53) : v6(i % 2 ? "2001:db8::1" : "2001:db8::2");
		if (i % 3 == 0) {
			i = N + i % 2;
		}
		if ((rnd >> 4) & 1 && want[i] > 0) {
			peercount_del(&pc, &a);
			want[i]--;
		} else {
			peercount_add(&pc, &a);
			want[i]++;
		}
		if (round % 1000 == 0) {
			for (uint32_t k = 1; k < N; k++) {
				union sockaddr_any b = v4(k, 0);
				if (k % 3 != 0) {
					assert_int_equal(peercount_get(&pc, &b), want[k]);
				}
			}
		}
	}
	peercount_deinit(&pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
