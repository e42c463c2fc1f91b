/* SPDX-License-Identifier: MIT */
/* tests/unit/test_qlimit.c -- the query limit: rate and burst per client prefix */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "limit/qlimit.h"

#include "unit_addr.h"

/* Queries allowed of <n> from <ip>, one every <step_ms> from <*now>. */
static unsigned allowed(struct qlimit *l, const struct conf_qlimit *c, const char *ip, unsigned n,
			uint64_t step_ms, uint64_t *now)
{
	union sockaddr_any sa = unit_addr(ip);
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++, *now += step_ms) {
		ok += qlimit_allow(l, c, 24, 56, &sa, *now);
	}
	return ok;
}

static void test_rate_and_burst(void **state)
{
	struct qlimit *l = qlimit_new(128, 5);
	struct conf_qlimit c = {.per_second = 50, .burst = 200, .action = CONF_ACL_DROP};
	uint64_t now = 0;

	(void)state;
	assert_non_null(l);
	/* The burst at once, then nothing until a token comes. */
	assert_int_equal(allowed(l, &c, "192.0.2.1", 300, 0, &now), 200);
	/* The same /24, its bucket empty: ten seconds at twice the rate get exactly the rate
	 * through (refused queries cost nothing, so half a token is never lost). */
	assert_int_equal(allowed(l, &c, "192.0.2.77", 1000, 10, &now), 499);
	/* Right after, no debt: a quiet 100 ms is five queries' worth, and the half token the
	 * last refused query found makes six. */
	now += 100;
	assert_int_equal(allowed(l, &c, "192.0.2.1", 10, 0, &now), 6);
	/* Another prefix has its own bucket; IPv6 goes by /56. */
	assert_int_equal(allowed(l, &c, "192.0.3.1", 300, 0, &now), 200);
	assert_int_equal(allowed(l, &c, "2001:db8:0:100::1", 150, 0, &now), 150);
	assert_int_equal(allowed(l, &c, "2001:db8:0:1ff::2", 150, 0, &now), 50);
	assert_int_equal(qlimit_count(l), 3);
	qlimit_free(l);
	qlimit_free(NULL);
}

static void test_defaults(void **state)
{
	struct qlimit *l = qlimit_new(16, 5);
	struct conf_qlimit c = {.per_second = 20, .burst = 0, .action = CONF_ACL_REFUSE};
	uint64_t now = 0;

	(void)state;
	assert_non_null(l);
	/* burst 0: a burst of per_second. */
	assert_int_equal(allowed(l, &c, "198.51.100.1", 100, 0, &now), 20);
	/* per_second 0: off, and no bucket is taken. */
	c.per_second = 0;
	assert_int_equal(allowed(l, &c, "198.51.100.2", 1000, 0, &now), 1000);
	assert_int_equal(qlimit_count(l), 1);
	qlimit_free(l);
	assert_null(qlimit_new(0, 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_and_burst),
		cmocka_unit_test(test_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
