/* SPDX-License-Identifier: MIT */
/* tests/unit/test_route.c -- snapshots built from a configuration, and route lookup */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/err.h"
#include "conf/conf.h"
#include "pool/pool.h"
#include "route/route.h"
#include "wire/wire.h"

struct fixture {
	struct conf conf;
	struct backend_registry reg;
	struct snapshot *snap;
	struct regex_scratch *rs;
	uint64_t gen;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || conf_init(&f->conf) != DR_EOK) {
		free(f);
		return -1;
	}
	if (backend_registry_init(&f->reg, 1) != DR_EOK) {
		return -1;
	}
	f->rs = regex_scratch_new();
	if (f->rs == NULL) {
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	snapshot_free(f->snap);
	regex_scratch_free(f->rs);
	backend_registry_deinit(&f->reg);
	conf_deinit(&f->conf);
	free(f);
	return 0;
}

static void add_backend(struct fixture *f, const char *name, const char *addr)
{
	struct conf_backend *be = conf_backend_add(&f->conf);

	assert_non_null(be);
	snprintf(be->name, sizeof(be->name), "%s", name);
	assert_int_equal(sockaddr_parse(addr, strlen(addr), 0, &be->addr), DR_EOK);
}

/* A route of <kind> for <pattern> (a zone in presentation form, or a PCRE2 pattern) served by
 * backend <be>, as the YAML parser would add it. */
static struct conf_route *add_route(struct fixture *f, enum conf_route_kind kind,
				    const char *pattern, const char *be)
{
	struct conf_route *r = conf_route_add(&f->conf);

	assert_non_null(r);
	r->kind = kind;
	r->pattern = strdup(pattern);
	assert_non_null(r->pattern);
	if (kind == CONF_ROUTE_ZONE) {
		int n = wire_name_from_text(pattern, r->zone);

		assert_true(n > 0);
		r->zone_len = (unsigned)n;
	}
	assert_int_equal(conf_route_add_backend(r, be), DR_EOK);
	return r;
}

static void add_zone(struct fixture *f, const char *zone, const char *be)
{
	add_route(f, CONF_ROUTE_ZONE, zone, be);
}

static void add_regex(struct fixture *f, const char *re, const char *be)
{
	add_route(f, CONF_ROUTE_REGEX, re, be);
}

static void build(struct fixture *f)
{
	char err[CONF_ERR_LEN] = "";

	if (conf_validate(&f->conf, err, sizeof(err)) != DR_EOK) {
		fail_msg("conf_validate: %s", err);
	}
	snapshot_free(f->snap);
	f->snap = snapshot_build(&f->conf, &f->reg, NULL, ++f->gen, err, sizeof(err));
	if (f->snap == NULL) {
		fail_msg("snapshot_build: %s", err);
	}
}

/* The route for "<name> IN A", <name> in wire form of <len> octets exactly as given (no
 * lower-casing here: the parser does it). */
static const struct route *lookup_wire(struct fixture *f, const uint8_t *name, size_t len)
{
	/* id 0x1234, opcode QUERY, flags: rd; QUERY: 1; <name> IN A */
	uint8_t msg[WIRE_HDR_LEN + WIRE_NAME_MAX + 4] = {
		0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct wire_question q;

	assert_true(len <= WIRE_NAME_MAX);
	memcpy(msg + WIRE_HDR_LEN, name, len);
	wire_write_u16(msg + WIRE_HDR_LEN + len, WIRE_TYPE_A);
	wire_write_u16(msg + WIRE_HDR_LEN + len + 2, WIRE_CLASS_IN);
	assert_int_equal(wire_parse_query(msg, WIRE_HDR_LEN + len + 4, &q), DR_EOK);
	return route_lookup(f->snap, &q, f->rs);
}

/* The pattern of the route for plain name <text> (dots separate labels, no escapes, case
 * kept), or NULL when no route matches. */
static const char *route_of(struct fixture *f, const char *text)
{
	uint8_t name[WIRE_NAME_MAX];
	size_t len = 0;
	const struct route *r;

	while (*text != '\0' && strcmp(text, ".") != 0) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);

		assert_true(l > 0 && l <= WIRE_LABEL_MAX && len + 1 + l < WIRE_NAME_MAX);
		name[len++] = (uint8_t)l;
		memcpy(name + len, text, l);
		len += l;
		text += l + (dot ? 1 : 0);
	}
	name[len++] = 0;
	r = lookup_wire(f, name, len);
	return r ? r->pattern : NULL;
}

static void expect_route(struct fixture *f, const char *name, const char *want)
{
	const char *got = route_of(f, name);

	if (want == NULL && got == NULL) {
		return;
	}
	if (want == NULL || got == NULL || strcmp(want, got) != 0) {
		fail_msg("%s: route '%s', want '%s'", name, got ? got : "(none)",
			 want ? want : "(none)");
	}
}

static void test_longest_zone(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_zone(f, "example.", "ns1");
	add_zone(f, "deep.sub.example.", "ns1");
	add_zone(f, "sub.example.", "ns1");
	add_zone(f, "com.", "ns1");
	build(f);
	expect_route(f, "example.", "example.");
	expect_route(f, "www.example.", "example.");
	expect_route(f, "sub.example.", "sub.example.");
	expect_route(f, "a.b.sub.example.", "sub.example.");
	expect_route(f, "deep.sub.example.", "deep.sub.example.");
	expect_route(f, "x.y.deep.sub.example.", "deep.sub.example.");
	expect_route(f, "deepsub.example.", "example.");
	expect_route(f, "sub.example.com.", "com.");
	/* a label that ends like a zone is not in it */
	expect_route(f, "xexample.", NULL);
	expect_route(f, "example.org.", NULL);
	expect_route(f, ".", NULL);
	assert_int_equal(f->snap->nroutes, 4);
	assert_int_equal(f->snap->nregex, 0);
}

static void test_default_zone(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_zone(f, ".", "ns2");
	add_zone(f, "example.", "ns1");
	build(f);
	expect_route(f, "www.example.", "example.");
	expect_route(f, "example.org.", ".");
	expect_route(f, "org.", ".");
	expect_route(f, ".", ".");
	assert_string_equal(lookup_wire(f, (const uint8_t *)"\3org", 5)->pool.backends[0]->name,
			    "ns2");
}

static void test_no_match(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_zone(f, "example.com.", "ns1");
	add_regex(f, "^www\\.example\\.net\\.$", "ns1");
	build(f);
	expect_route(f, "example.net.", NULL);
	expect_route(f, "com.", NULL);
	expect_route(f, "www.example.org.", NULL);
	expect_route(f, "wwwxexample.net.", NULL);
	expect_route(f, ".", NULL);
	expect_route(f, "www.example.net.", "^www\\.example\\.net\\.$");
	expect_route(f, "a.example.com.", "example.com.");
}

static void test_regex_first_in_order(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	/* a zone configured first, and longer than any suffix a regex checks: regexes still win */
	add_zone(f, "www.example.", "ns1");
	add_regex(f, "^www\\.", "ns1");
	add_regex(f, "\\.example\\.$", "ns1");
	add_regex(f, "^www\\.example\\.$", "ns1"); /* shadowed by the first */
	add_zone(f, ".", "ns1");
	build(f);
	assert_int_equal(f->snap->nregex, 3);
	expect_route(f, "www.example.", "^www\\.");
	expect_route(f, "www.other.", "^www\\.");
	expect_route(f, "mail.example.", "\\.example\\.$");
	expect_route(f, "a.www.example.", "\\.example\\.$");
	expect_route(f, "a.www.other.", ".");
	expect_route(f, "example.", ".");
}

static void test_regex_sees_trailing_dot(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_regex(f, "^example\\.com$", "ns1"); /* never matches: names end in a dot */
	add_regex(f, "^[^.]+\\.example\\.com\\.$", "ns1");
	add_regex(f, "^\\.$", "ns1");
	build(f);
	expect_route(f, "example.com.", NULL);
	expect_route(f, "a.example.com.", "^[^.]+\\.example\\.com\\.$");
	expect_route(f, "a.b.example.com.", NULL);
	expect_route(f, ".", "^\\.$");
}

static void test_case_insensitive(void **state)
{
	struct fixture *f = *state;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_regex(f, "^mail\\.example\\.com\\.$", "ns1");
	add_zone(f, "Example.COM.", "ns1"); /* wire_name_from_text lower-cases it */
	build(f);
	expect_route(f, "www.example.com.", "Example.COM.");
	expect_route(f, "WWW.EXAMPLE.COM.", "Example.COM.");
	expect_route(f, "eXaMpLe.CoM.", "Example.COM.");
	expect_route(f, "MAIL.Example.Com.", "^mail\\.example\\.com\\.$");
	expect_route(f, "mail.example.com.", "^mail\\.example\\.com\\.$");
}

static void test_escaped_dot_label(void **state)
{
	struct fixture *f = *state;
	/* a\.b.example.: the first label is the three octets "a.b" */
	static const uint8_t a_dot_b[] = {
		0x03, 'a', '.', 'b', 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x00,
	};
	/* A\.B.EXAMPLE.: the same in upper case */
	static const uint8_t a_dot_b_upper[] = {
		0x03, 'A', '.', 'B', 0x07, 'E', 'X', 'A', 'M', 'P', 'L', 'E', 0x00,
	};
	const struct route *r;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_zone(f, "b.example.", "ns1");
	add_zone(f, "example.", "ns1");
	build(f);
	/* "a.b" as one label is not a name below b.example. */
	r = lookup_wire(f, a_dot_b, sizeof(a_dot_b));
	assert_non_null(r);
	assert_string_equal(r->pattern, "example.");
	expect_route(f, "a.b.example.", "b.example.");

	/* The regex sees a\.b.example. and only a pattern for that matches */
	conf_deinit(&f->conf);
	assert_int_equal(conf_init(&f->conf), DR_EOK);
	add_backend(f, "ns1", "127.0.0.1:5301");
	add_regex(f, "^a\\.b\\.example\\.$", "ns1");     /* a.b.example. */
	add_regex(f, "^a\\\\\\.b\\.example\\.$", "ns1"); /* a\.b.example. */
	build(f);
	r = lookup_wire(f, a_dot_b, sizeof(a_dot_b));
	assert_non_null(r);
	assert_string_equal(r->pattern, "^a\\\\\\.b\\.example\\.$");
	r = lookup_wire(f, a_dot_b_upper, sizeof(a_dot_b_upper));
	assert_non_null(r);
	assert_string_equal(r->pattern, "^a\\\\\\.b\\.example\\.$");
	expect_route(f, "a.b.example.", "^a\\.b\\.example\\.$");
}

static void test_escaped_zone(void **state)
{
	struct fixture *f = *state;
	/* www.a\.b.example. */
	static const uint8_t www_a_dot_b[] = {
		0x03, 'w', 'w', 'w', 0x03, 'a', '.', 'b',  0x07,
		'e',  'x', 'a', 'm', 'p',  'l', 'e', 0x00,
	};
	/* x.\000\255.example. */
	static const uint8_t x_binary[] = {
		0x01, 'x', 0x02, 0x00, 0xff, 0x07, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x00,
	};
	/* \000\255.example. as a regex sees it, then x.\000\255.example. */
	static const uint8_t binary_regex_name[] = {
		0x02, 0x00, 0xff, 0x03, 'n', 'e', 't', 0x00,
	};
	const struct route *r;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_regex(f, "^\\\\000\\\\255\\.net\\.$", "ns1");
	add_zone(f, "a\\.b.example.", "ns1");
	add_zone(f, "\\000\\255.example.", "ns1");
	add_zone(f, "b.example.", "ns1");
	build(f);
	r = lookup_wire(f, www_a_dot_b, sizeof(www_a_dot_b));
	assert_non_null(r);
	assert_string_equal(r->pattern, "a\\.b.example.");
	expect_route(f, "www.a.b.example.", "b.example.");
	expect_route(f, "a.example.", NULL);
	r = lookup_wire(f, x_binary, sizeof(x_binary));
	assert_non_null(r);
	assert_string_equal(r->pattern, "\\000\\255.example.");
	r = lookup_wire(f, binary_regex_name, sizeof(binary_regex_name));
	assert_non_null(r);
	assert_string_equal(r->pattern, "^\\\\000\\\\255\\.net\\.$");
}

/* Regex routes against a plain loop over every regexp in order: the first that matches must
 * win, whatever shortcut route_lookup takes. The patterns include ones a literal-suffix index
 * could get wrong: alternation, inline options, classes, quantifiers, escapes. */
static const char *const diff_patterns[] = {
	"^[ab][^.]*\\.example\\.$",
	"\\.example\\.$",
	"^www\\.example\\.com\\.$",
	"^a|b\\.example\\.$",
	"(?i)\\.EXAMPLE\\.ORG\\.$",
	"\\.exampl[e]\\.net\\.$",
	"\\.example\\.?$",
	"mple\\.com\\.$",
	"^\\.$",
	"^a\\\\\\.b\\.test\\.$",
	"\\\\\\.b\\.test\\.$",
	"\\.c{2}\\.test\\.$",
	"\\.cc?\\.test\\.$",
	"^x+\\.test\\.$",
	"\\.(foo|bar)\\.test\\.$",
	"\\Q.test.\\E$",
	"\\x2etest\\.$",
	"[.]test\\.$",
	"\\btest\\.$",
	"^(?:www\\.)?shop\\.test\\.$",
	"\\.te\\*st\\.$",
	"\\.x-y_z\\.test\\.$",
	"^\\d+\\.in-addr\\.arpa\\.$",
	"\\.in-addr\\.arpa\\.$",
	"\\\\032\\.space\\.$",
	"^[^.]*\\.[^.]*\\.$",
	"\\.a\\.b\\.c\\.d\\.$",
	"com\\.$",
	"^com\\.$",
	"^www\\.example\\.$",
	"example\\.$",
	"\\.example\\.com\\.$",
	"\\.$",
	"(*ACCEPT)\\.fake\\.example\\.$", /* a verb that ends the match at once */
	"^www(*COMMIT)\\.example\\.$",
};

static const char *const diff_names[] = {
	"www.example.",
	"a.example.",
	"b.example.",
	"abc.example.",
	"xyz.example.",
	"www.example.com.",
	"example.com.",
	"ample.com.",
	"x.example.org.",
	"X.EXAMPLE.ORG.",
	"x.example.net.",
	"example.",
	"a.",
	"apple.org.",
	"zb.example.",
	".",
	"a\\.b.test.",
	"x.a\\.b.test.",
	"b.test.",
	"x.cc.test.",
	"x.c.test.",
	"xxx.test.",
	"foo.test.",
	"bar.test.",
	"baz.test.",
	"test.",
	"x.test.",
	"www.shop.test.",
	"shop.test.",
	"te*st.",
	"x.te*st.",
	"1.2.in-addr.arpa.",
	"12.in-addr.arpa.",
	"x\\032.space.",
	"x.a.b.c.d.",
	"a.b.c.d.",
	"x-y_z.test.",
	"q.x-y_z.test.",
	"com.",
	"foo.com.",
	"www.example.com.x.",
	"\\..example.",
	"a\\.example.",
	"example\\.com.",
	"\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\."
	"\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\.\\."
	"\\.\\.\\.\\.\\.\\.\\..a.b.c.d.",
};

/* The pattern the first of <n> patterns in <order> to match <name> has, or NULL. */
static const char *diff_expect(struct regex **res, const unsigned *order, size_t n,
			       const uint8_t *name, struct regex_scratch *rs)
{
	char text[WIRE_NAME_TEXT_MAX];
	int len = wire_name_to_text(name, text, sizeof(text));

	assert_true(len > 0);
	for (size_t i = 0; i < n; i++) {
		if (regex_match(res[order[i]], text, (size_t)len, rs)) {
			return diff_patterns[order[i]];
		}
	}
	return NULL;
}

static void diff_run(struct fixture *f, struct regex **res, const unsigned *order, size_t n)
{
	conf_deinit(&f->conf);
	assert_int_equal(conf_init(&f->conf), DR_EOK);
	add_backend(f, "ns1", "127.0.0.1:5301");
	for (size_t i = 0; i < n; i++) {
		add_regex(f, diff_patterns[order[i]], "ns1");
	}
	build(f);
	for (size_t i = 0; i < sizeof(diff_names) / sizeof(diff_names[0]); i++) {
		uint8_t name[WIRE_NAME_MAX];
		int len = wire_name_from_text(diff_names[i], name);
		const struct route *r;
		const char *want;

		assert_true(len > 0);
		want = diff_expect(res, order, n, name, f->rs);
		r = lookup_wire(f, name, (size_t)len);
		if ((r == NULL) != (want == NULL) || (r != NULL && strcmp(r->pattern, want) != 0)) {
			fail_msg(
				"%s: route '%s', but the first regexp to match is '%s' (%zu routes)",
				diff_names[i], r ? r->pattern : "(none)", want ? want : "(none)",
				n);
		}
	}
}

static void test_regex_differential(void **state)
{
	struct fixture *f = *state;
	enum { NPAT = sizeof(diff_patterns) / sizeof(diff_patterns[0]) };
	struct regex *res[NPAT];
	unsigned order[NPAT];
	char err[256];

	for (unsigned i = 0; i < NPAT; i++) {
		res[i] = regex_new(diff_patterns[i], err, sizeof(err));
		if (res[i] == NULL) {
			fail_msg("%s: %s", diff_patterns[i], err);
		}
	}
	/* each pattern alone */
	for (unsigned i = 0; i < NPAT; i++) {
		order[0] = i;
		diff_run(f, res, order, 1);
	}
	/* all of them, in order and reversed */
	for (unsigned i = 0; i < NPAT; i++) {
		order[i] = i;
	}
	diff_run(f, res, order, NPAT);
	for (unsigned i = 0; i < NPAT; i++) {
		order[i] = NPAT - 1 - i;
	}
	diff_run(f, res, order, NPAT);
	for (unsigned i = 0; i < NPAT; i++) {
		regex_free(res[i]);
	}
}

/* Two routes for one zone: the second would never be used, so the configuration is refused
 * (test_conf.c checks the message with its line). */
static void test_duplicate_zone_refused(void **state)
{
	struct fixture *f = *state;
	char err[CONF_ERR_LEN];

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_zone(f, "example.", "ns1");
	add_zone(f, "EXAMPLE.", "ns2");
	assert_int_equal(conf_validate(&f->conf, err, sizeof(err)), DR_ECONF);
	assert_non_null(strstr(err, "zone 'EXAMPLE.' is already routed"));
}

static void test_many_zones(void **state)
{
	struct fixture *f = *state;
	char name[128], want[128];

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_backend(f, "ns3", "[::1]:5303");
	/* 9000 zones z<i>.example., then 1000 below some of them: 10,000 routes */
	for (unsigned i = 0; i < 9000; i++) {
		snprintf(name, sizeof(name), "z%u.example.", i);
		add_zone(f, name, i % 3 == 0 ? "ns1" : i % 3 == 1 ? "ns2" : "ns3");
	}
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "deep.z%u.example.", i * 7);
		add_zone(f, name, "ns1");
	}
	assert_int_equal(f->conf.nroutes, 10000);
	build(f);
	assert_int_equal(f->snap->nroutes, 10000);
	assert_int_equal(f->snap->nbackends, 3);
	for (unsigned i = 0; i < 9000; i++) {
		const struct route *r;

		snprintf(name, sizeof(name), "www.z%u.example.", i);
		snprintf(want, sizeof(want), "z%u.example.", i);
		expect_route(f, name, want);
		snprintf(name, sizeof(name), "Z%u.EXAMPLE.", i);
		expect_route(f, name, want);
		snprintf(name, sizeof(name), "a.b.deep.z%u.example.", i);
		if (i % 7 == 0 && i / 7 < 1000) {
			snprintf(want, sizeof(want), "deep.z%u.example.", i);
		}
		expect_route(f, name, want);
		r = lookup_wire(f, f->snap->routes[i].zone, f->snap->routes[i].zone_len);
		assert_ptr_equal(r, &f->snap->routes[i]);
		assert_int_equal(r->pool.n, 1);
		assert_string_equal(r->pool.backends[0]->name, i % 3 == 0   ? "ns1"
							       : i % 3 == 1 ? "ns2"
									    : "ns3");
	}
	expect_route(f, "z9000.example.", NULL);
	expect_route(f, "example.", NULL);
	expect_route(f, "z1.example.org.", NULL);
}

static void test_backends_shared(void **state)
{
	struct fixture *f = *state;
	struct snapshot *first;
	const struct route *a, *b;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "[::1]:5302");
	add_zone(f, "a.", "ns1");
	add_zone(f, "b.", "ns1");
	assert_int_equal(conf_route_add_backend(&f->conf.routes[1], "ns2"), DR_EOK);
	f->conf.backends[1].timeout_ms = 250;
	build(f);
	assert_int_equal(f->snap->nbackends, 2);
	a = lookup_wire(f, (const uint8_t *)"\1a", 3);
	b = lookup_wire(f, (const uint8_t *)"\1b", 3);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->pool.n, 1);
	assert_int_equal(b->pool.n, 2);
	assert_ptr_equal(a->pool.backends[0], b->pool.backends[0]);
	assert_int_equal(atomic_load(&b->pool.backends[0]->timeout_ms), f->conf.timeout_ms);
	assert_int_equal(atomic_load(&b->pool.backends[1]->timeout_ms), 250);
	assert_int_equal(b->pool.backends[1]->addr.sa.sa_family, AF_INET6);

	/* A second snapshot from the same registry names the same backend objects */
	first = f->snap;
	f->snap = NULL;
	build(f);
	assert_ptr_equal(lookup_wire(f, (const uint8_t *)"\1b", 3)->pool.backends[1],
			 b->pool.backends[1]);
	snapshot_free(first);
}

static void test_pool_round_robin(void **state)
{
	struct fixture *f = *state;
	const struct route *r;
	struct backend *seen[6];
	uint32_t cursor = 0;
	struct pool_ctx pc = {.cursor = &cursor};

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_backend(f, "ns3", "127.0.0.1:5303");
	add_zone(f, ".", "ns1");
	assert_int_equal(conf_route_add_backend(&f->conf.routes[0], "ns2"), DR_EOK);
	assert_int_equal(conf_route_add_backend(&f->conf.routes[0], "ns3"), DR_EOK);
	build(f);
	r = lookup_wire(f, (const uint8_t *)"", 1);
	assert_non_null(r);
	for (unsigned i = 0; i < r->pool.n; i++) {
		atomic_store(&r->pool.backends[i]->state, BE_UP | BE_CHECKED);
	}
	for (unsigned i = 0; i < 6; i++) {
		seen[i] = pool_pick(&r->pool, NULL, &pc, NULL);
		assert_non_null(seen[i]);
	}
	assert_true(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
	assert_ptr_equal(seen[0], seen[3]);
	assert_ptr_equal(seen[1], seen[4]);
	/* a retry never goes back to the backend that failed */
	for (unsigned i = 0; i < 6; i++) {
		assert_true(pool_pick(&r->pool, NULL, &pc, seen[0]) != seen[0]);
	}
}

/* What a worker holds across a reload: routing state built for one snapshot must never answer
 * for the next. A rebuild reuses the previous snapshot's compiled regexps where the pattern is
 * the same; every lookup on the new snapshot must follow the new configuration (changed pool,
 * changed pattern, new route in front, zone removed), the old snapshot must keep answering as
 * before until it is freed, and freeing it must leave the shared regexps to the new one (a
 * use-after-free here shows under ASan). */
static void test_rebuild_from_previous(void **state)
{
	struct fixture *f = *state;
	char err[CONF_ERR_LEN] = "";
	static const uint8_t www[] = "\3www\7example"; /* with its root label, the NUL */
	struct snapshot *old;
	const struct route *r;

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_regex(f, "^www\\.", "ns1");
	add_regex(f, "\\.x\\.$", "ns1");
	add_zone(f, "z.", "ns1");
	add_zone(f, ".", "ns1");
	build(f);
	old = f->snap;
	f->snap = NULL;

	/* The next configuration, built against the old snapshot as a reload does. */
	conf_deinit(&f->conf);
	assert_int_equal(conf_init(&f->conf), DR_EOK);
	add_backend(f, "ns1", "127.0.0.1:5301");
	add_backend(f, "ns2", "127.0.0.1:5302");
	add_regex(f, "^mail\\.", "ns2"); /* new, in front */
	add_regex(f, "^www\\.", "ns2");  /* same pattern, other pool */
	add_regex(f, "\\.y\\.$", "ns1"); /* pattern changed */
	add_zone(f, ".", "ns1");         /* zone z. removed */
	assert_int_equal(conf_validate(&f->conf, err, sizeof(err)), DR_EOK);
	f->snap = snapshot_build(&f->conf, &f->reg, old, ++f->gen, err, sizeof(err));
	assert_non_null(f->snap);
	assert_true(f->snap->gen > old->gen);

	expect_route(f, "mail.www.example.", "^mail\\.");
	expect_route(f, "www.example.", "^www\\.");
	r = lookup_wire(f, www, sizeof(www));
	assert_non_null(r);
	assert_int_equal(r->pool.n, 1);
	assert_memory_equal(&r->pool.backends[0]->addr, &f->conf.backends[1].addr,
			    sizeof(f->conf.backends[1].addr));
	expect_route(f, "a.x.", ".");
	expect_route(f, "a.y.", "\\.y\\.$");
	expect_route(f, "a.z.", ".");

	/* The old snapshot, still in a worker's hands until its quiescent point, is unchanged. */
	{
		struct snapshot *cur = f->snap;

		f->snap = old;
		expect_route(f, "mail.example.", ".");
		expect_route(f, "www.example.", "^www\\.");
		r = lookup_wire(f, www, sizeof(www));
		assert_memory_equal(&r->pool.backends[0]->addr, &f->conf.backends[0].addr,
				    sizeof(f->conf.backends[0].addr)); /* ns1, as before */
		expect_route(f, "a.x.", "\\.x\\.$");
		expect_route(f, "a.y.", ".");
		expect_route(f, "a.z.", "z.");
		f->snap = cur;
	}

	/* Freed: what the new snapshot shares with it lives on. */
	snapshot_free(old);
	expect_route(f, "www.example.", "^www\\.");
	expect_route(f, "b.y.", "\\.y\\.$");
	expect_route(f, "mail.example.", "^mail\\.");
}

/* A pattern that backtracks without end on a name a client chose stops at the step limit
 * (no match, counted); a plain pattern still matches the longest names. */
static void test_regex_step_limit(void **state)
{
	char err[256], name[1100];
	struct regex_scratch *rs = regex_scratch_new();
	struct regex *evil = regex_new("^([a-z0-9]+-?)*[a-z0-9]\\.example\\.$", err, sizeof(err));
	struct regex *plain = regex_new("^([a-z0-9-]+\\.)*example\\.$", err, sizeof(err));
	size_t n = 0;

	(void)state;
	assert_non_null(rs);
	assert_non_null(evil);
	assert_non_null(plain);
	/* 18 letters: past our limit, within PCRE2's default one (10 million steps) */
	memset(name, 'a', 18);
	snprintf(name + 18, sizeof(name) - 18, "_.example.");
	assert_false(regex_match(evil, name, strlen(name), rs));
	assert_int_equal(regex_scratch_limit_hits(rs), 1);
	assert_true(regex_match(evil, "ab-cd.example.", 14, rs));
	/* 250 labels: the longest name a query can carry, matched within the limit */
	for (int i = 0; i < 250; i++) {
		n += (size_t)snprintf(name + n, sizeof(name) - n, "a%d.", i % 10);
	}
	n += (size_t)snprintf(name + n, sizeof(name) - n, "example.");
	assert_true(regex_match(plain, name, n, rs));
	assert_int_equal(regex_scratch_limit_hits(rs), 1);
	regex_free(evil);
	regex_free(plain);
	regex_scratch_free(rs);
}

static void test_build_bad_regex(void **state)
{
	struct fixture *f = *state;
	char err[CONF_ERR_LEN] = "";

	add_backend(f, "ns1", "127.0.0.1:5301");
	add_regex(f, "(unclosed", "ns1");
	f->snap = snapshot_build(&f->conf, &f->reg, NULL, ++f->gen, err, sizeof(err));
	assert_null(f->snap);
	assert_true(strlen(err) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_longest_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regex_first_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regex_sees_trailing_dot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case_insensitive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_dot_label, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_regex_differential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_zone_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_zones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backends_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_round_robin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_from_previous, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_bad_regex, setup, teardown),
		cmocka_unit_test(test_regex_step_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
