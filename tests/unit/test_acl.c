/* SPDX-License-Identifier: MIT */
/* tests/unit/test_acl.c -- compiled access rules answer exactly as a first-match scan */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/prefix.h"
#include "limit/acl.h"

#include "unit_addr.h"

static struct conf_acl_rule rule(const char *prefix, enum conf_acl_action action)
{
	struct conf_acl_rule r;

	assert_int_equal(prefix_parse(prefix, &r.from), DR_EOK);
	r.action = action;
	return r;
}

/* The index of the rule that decides for <sa>, read the slow way; <n> when none does. */
static size_t linear(const struct conf_acl_rule *rules, size_t n, const union sockaddr_any *sa)
{
	for (size_t i = 0; i < n; i++) {
		if (prefix_contains(&rules[i].from, sa)) {
			return i;
		}
	}
	return n;
}

static enum conf_acl_action check(const struct acl *a, const char *ip)
{
	union sockaddr_any sa = unit_addr(ip);

	return acl_check(a, &sa);
}

static void test_first_match(void **state)
{
	struct conf_acl_rule rules[] = {
		rule("192.0.2.1", CONF_ACL_ALLOW),     rule("192.0.2.0/24", CONF_ACL_DROP),
		rule("192.0.0.0/16", CONF_ACL_REFUSE), rule("192.0.2.0/24", CONF_ACL_ALLOW),
		rule("2001:db8::/32", CONF_ACL_DROP),  rule("2001:db8::1", CONF_ACL_ALLOW),
	};
	struct acl *a = acl_new(rules, sizeof(rules) / sizeof(rules[0]));

	(void)state;
	assert_non_null(a);
	assert_int_equal(check(a, "192.0.2.1"), CONF_ACL_ALLOW);
	assert_int_equal(check(a, "192.0.2.2"), CONF_ACL_DROP); /* not the later ALLOW */
	assert_int_equal(check(a, "192.0.3.2"), CONF_ACL_REFUSE);
	assert_int_equal(check(a, "192.1.0.0"), CONF_ACL_ALLOW);
	assert_int_equal(check(a, "2001:db8::1"), CONF_ACL_DROP); /* the /128 comes later */
	assert_int_equal(check(a, "2001:db9::1"), CONF_ACL_ALLOW);
	/* Families never mix. */
	assert_int_equal(check(a, "::ffff:192.0.2.2"), CONF_ACL_ALLOW);
	acl_free(a);
}

static void test_edges(void **state)
{
	struct conf_acl_rule all4[] = {rule("0.0.0.0/0", CONF_ACL_DROP)};
	struct conf_acl_rule all6[] = {rule("::/0", CONF_ACL_REFUSE)};
	struct conf_acl_rule hosts[] = {
		rule("203.0.113.255/32", CONF_ACL_DROP),
		rule("2001:db8::ffff/128", CONF_ACL_REFUSE),
		rule("0.0.0.0/0", CONF_ACL_REFUSE),
	};
	struct acl *a;
	union sockaddr_any unspec;

	(void)state;
	a = acl_new(all4, 1);
	assert_non_null(a);
	assert_int_equal(check(a, "0.0.0.0"), CONF_ACL_DROP);
	assert_int_equal(check(a, "255.255.255.255"), CONF_ACL_DROP);
	assert_int_equal(check(a, "::"), CONF_ACL_ALLOW);
	acl_free(a);

	a = acl_new(all6, 1);
	assert_non_null(a);
	assert_int_equal(check(a, "ffff::1"), CONF_ACL_REFUSE);
	assert_int_equal(check(a, "10.0.0.1"), CONF_ACL_ALLOW);
	acl_free(a);

	a = acl_new(hosts, 3);
	assert_non_null(a);
	assert_int_equal(check(a, "203.0.113.255"), CONF_ACL_DROP);
	assert_int_equal(check(a, "203.0.113.254"), CONF_ACL_REFUSE);
	assert_int_equal(check(a, "2001:db8::ffff"), CONF_ACL_REFUSE);
	assert_int_equal(check(a, "2001:db8::fffe"), CONF_ACL_ALLOW);
	assert_int_equal(check(a, "2001:db8::1:ffff"), CONF_ACL_ALLOW);
	/* An address of no known family is allowed, as no rule can hold it. */
	memset(&unspec, 0, sizeof(unspec));
	assert_int_equal(acl_check(a, &unspec), CONF_ACL_ALLOW);
	acl_free(a);

	/* No list, or an empty one, allows everything. */
	assert_int_equal(check(NULL, "192.0.2.1"), CONF_ACL_ALLOW);
	a = acl_new(NULL, 0);
	assert_non_null(a);
	assert_int_equal(check(a, "192.0.2.1"), CONF_ACL_ALLOW);
	assert_int_equal(check(a, "2001:db8::1"), CONF_ACL_ALLOW);
	acl_free(a);
	acl_free(NULL);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Zero the bits of <a> (<size> bytes) past the first <bits>. */
static void clear_host(uint8_t *a, unsigned size, unsigned bits)
{
	for (unsigned i = 0; i < size; i++) {
		if (i * 8 >= bits) {
			a[i] = 0;
		} else if (i * 8 + 8 > bits) {
			a[i] &= (uint8_t)(0xff00u >> (bits - i * 8));
		}
	}
}

/* Addresses are drawn from a few small pools so that rules nest, repeat and overlap. */
static void random_addr(int v6, uint8_t *a)
{
	static const uint8_t base4[3][4] = {{10, 0, 0, 0}, {192, 0, 2, 0}, {0, 0, 0, 0}};
	static const uint8_t base6[2][16] = {{0x20, 0x01, 0x0d, 0xb8}, {0xfe, 0x80}};
	unsigned size = v6 ? 16 : 4;

	memcpy(a, v6 ? base6[rnd() % 2] : base4[rnd() % 3], size);
	/* Vary a random few bytes, mostly in the tail. */
	for (unsigned k = rnd() % 4; k > 0; k--) {
		unsigned i = (unsigned)(rnd() % size);
		a[rnd() % 2 ? size - 1 - i % 3 : i] = (uint8_t)rnd();
	}
}

static void test_differential(void **state)
{
	static const unsigned lens4[] = {0, 8, 12, 16, 23, 24, 25, 31, 32};
	static const unsigned lens6[] = {0, 16, 32, 48, 56, 63, 64, 65, 96, 120, 127, 128};
	enum { NRULES = 2000, ROUNDS = 20, LOOKUPS = 20000 };
	struct conf_acl_rule *rules = calloc(NRULES, sizeof(*rules));
	unsigned deep = 0;

	(void)state;
	assert_non_null(rules);
	for (unsigned round = 0; round < ROUNDS; round++) {
		/* Lists of 1 to NRULES rules, with /0 rules rare so that they do not decide all. */
		size_t n = 1 + rnd() % (round < ROUNDS / 2 ? 50 : NRULES);
		for (size_t i = 0; i < n; i++) {
			struct prefix *p = &rules[i].from;
			int v6 = (int)(rnd() % 2);
			memset(p, 0, sizeof(*p));
			p->family = v6 ? AF_INET6 : AF_INET;
			p->bits = (uint8_t)(v6 ? lens6[rnd() % 12] : lens4[rnd() % 9]);
			if (p->bits == 0 && rnd() % 8 != 0) {
				p->bits = v6 ? 128 : 32;
			}
			random_addr(v6, p->addr);
			clear_host(p->addr, v6 ? 16 : 4, p->bits);
			rules[i].action = (enum conf_acl_action)(rnd() % 3);
		}
		struct acl *a = acl_new(rules, n);
		assert_non_null(a);
		for (unsigned k = 0; k < LOOKUPS; k++) {
			union sockaddr_any sa;
			int v6 = (int)(rnd() % 2);
			memset(&sa, 0, sizeof(sa));
			if (v6) {
				sa.sin6.sin6_family = AF_INET6;
				random_addr(1, sa.sin6.sin6_addr.s6_addr);
			} else {
				sa.sin.sin_family = AF_INET;
				random_addr(0, (uint8_t *)&sa.sin.sin_addr);
			}
			size_t i = linear(rules, n, &sa);
			enum conf_acl_action want = i < n ? rules[i].action : CONF_ACL_ALLOW;
			enum conf_acl_action got = acl_check(a, &sa);
			/* Count lookups decided past the first rules, by a non-default: the
			 * case a per-length table could get wrong. */
			deep += i > 3 && i < n && want != CONF_ACL_ALLOW;
			if (got != want) {
				char buf[SOCKADDR_STRLEN];
				fail_msg("round %u, %s: acl_check %d, first match %d", round,
					 sockaddr_format(&sa, buf, sizeof(buf)), got, want);
			}
		}
		acl_free(a);
	}
	print_message("# %u of %u lookups decided past the fourth rule\n", deep, ROUNDS * LOOKUPS);
	/* The generator must exercise the interesting case, not just misses. */
	assert_true(deep > ROUNDS * LOOKUPS / 20);
	free(rules);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_match),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
