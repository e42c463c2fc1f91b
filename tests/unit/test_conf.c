/* SPDX-License-Identifier: MIT */
/* tests/unit/test_conf.c -- YAML loading with FILE:LINE errors, durations, -b entries */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/sockaddr.h"
#include "conf/conf.h"

struct fixture {
	char dir[64];
	char path[128];
	struct conf conf;
	char err[CONF_ERR_LEN];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL) {
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/dnsrouter-test-conf-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/dnsrouter.yaml", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Write <text> to the fixture's file and load it into a fresh f->conf; with <validate>, also
 * run conf_validate when loading succeeded. The caller calls conf_deinit. */
static int load(struct fixture *f, const char *text, bool validate)
{
	FILE *fp = fopen(f->path, "w");
	int rc;

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(conf_init(&f->conf), DR_EOK);
	f->err[0] = '\0';
	rc = conf_load_yaml(&f->conf, f->path, f->err, sizeof(f->err));
	if (rc == DR_EOK && validate) {
		rc = conf_validate(&f->conf, f->err, sizeof(f->err));
	}
	return rc;
}

/* Loading <text> fails with "FILE:<line>: ...<what>...". */
static void expect_error(struct fixture *f, const char *text, bool validate, int line,
			 const char *what)
{
	char prefix[192];
	int rc = load(f, text, validate);

	snprintf(prefix, sizeof(prefix), "%s:%d: ", f->path, line);
	if (rc != DR_ECONF) {
		fail_msg("rc %d, want DR_ECONF, for:\n%s", rc, text);
	}
	if (strncmp(f->err, prefix, strlen(prefix)) != 0 || strstr(f->err, what) == NULL) {
		fail_msg("error '%s', want '%s...%s...', for:\n%s", f->err, prefix, what, text);
	}
	conf_deinit(&f->conf);
}

static void expect_addr(const union sockaddr_any *sa, const char *want)
{
	char buf[SOCKADDR_STRLEN];

	assert_string_equal(sockaddr_format(sa, buf, sizeof(buf)), want);
}

static const char good_yaml[] =
	"# a complete, valid configuration\n"                                 /* 1 */
	"listen: [ \"127.0.0.1:15353\", \"[::1]:15353\" ]\n"                  /* 2 */
	"workers: 4\n"                                                        /* 3 */
	"identity: router-1\n"                                                /* 4 */
	"version: \"1.2.3\"\n"                                                /* 5 */
	"no-route: refused\n"                                                 /* 6 */
	"timeout: 500ms\n"                                                    /* 7 */
	"tcp: { max-connections: 100, idle-timeout: 20s }\n"                  /* 8 */
	"backends:\n"                                                         /* 9 */
	"  - { name: ns1, address: \"127.0.0.1:5300\", timeout: 300ms }\n"    /* 10 */
	"  - { name: ns2, address: \"[::1]:5301\" }\n"                        /* 11 */
	"  - name: ns3\n"                                                     /* 12 */
	"    address: 192.0.2.1\n"                                            /* 13 */
	"routes:\n"                                                           /* 14 */
	"  - { regex: '^[ab][^.]*\\.example\\.$', backends: [ns1] }\n"        /* 15 */
	"  - { zone: Example., backends: [ns1, ns2], policy: round-robin }\n" /* 16 */
	"  - zone: .\n"                                                       /* 17 */
	"    backends:\n"                                                     /* 18 */
	"      - ns3\n";                                                      /* 19 */

static void test_load_good(void **state)
{
	struct fixture *f = *state;
	struct conf *c = &f->conf;

	if (load(f, good_yaml, true) != DR_EOK) {
		fail_msg("%s", f->err);
	}
	assert_string_equal(c->file, f->path);
	assert_int_equal(c->nlisten, 2);
	expect_addr(&c->listen[0], "127.0.0.1:15353");
	expect_addr(&c->listen[1], "[::1]:15353");
	assert_int_equal(c->workers, 4);
	assert_string_equal(c->identity, "router-1");
	assert_string_equal(c->version, "1.2.3");
	assert_int_equal(c->no_route_rcode, WIRE_RCODE_REFUSED);
	assert_int_equal(c->timeout_ms, 500);
	assert_int_equal(c->tcp_max_conns, 100);
	assert_int_equal(c->tcp_idle_ms, 20000);

	assert_int_equal(c->nbackends, 3);
	assert_string_equal(c->backends[0].name, "ns1");
	expect_addr(&c->backends[0].addr, "127.0.0.1:5300");
	assert_int_equal(c->backends[0].timeout_ms, 300);
	assert_int_equal(c->backends[0].line, 10);
	assert_string_equal(c->backends[1].name, "ns2");
	expect_addr(&c->backends[1].addr, "[::1]:5301");
	assert_int_equal(c->backends[1].timeout_ms, 0);
	assert_int_equal(c->backends[1].line, 11);
	assert_string_equal(c->backends[2].name, "ns3");
	expect_addr(&c->backends[2].addr, "192.0.2.1:53"); /* the port defaults to 53 */
	assert_int_equal(c->backends[2].line, 12);

	assert_int_equal(c->nroutes, 3);
	assert_int_equal(c->routes[0].kind, CONF_ROUTE_REGEX);
	assert_string_equal(c->routes[0].pattern, "^[ab][^.]*\\.example\\.$");
	assert_int_equal(c->routes[0].nbackends, 1);
	assert_string_equal(c->routes[0].backends[0], "ns1");
	assert_int_equal(c->routes[0].line, 15);
	assert_int_equal(c->routes[1].kind, CONF_ROUTE_ZONE);
	assert_string_equal(c->routes[1].pattern, "Example.");
	assert_int_equal(c->routes[1].zone_len, sizeof("\7example"));
	assert_memory_equal(c->routes[1].zone, "\7example", sizeof("\7example"));
	assert_int_equal(c->routes[1].nbackends, 2);
	assert_string_equal(c->routes[1].backends[1], "ns2");
	assert_int_equal(c->routes[1].policy, CONF_POLICY_ROUND_ROBIN);
	assert_int_equal(c->routes[1].line, 16);
	assert_int_equal(c->routes[2].kind, CONF_ROUTE_ZONE);
	assert_int_equal(c->routes[2].zone_len, 1);
	assert_int_equal(c->routes[2].zone[0], 0);
	assert_string_equal(c->routes[2].backends[0], "ns3");
	assert_int_equal(c->routes[2].line, 17);
	conf_deinit(c);
}

static void test_load_defaults(void **state)
{
	struct fixture *f = *state;
	struct conf *c = &f->conf;

	/* An empty file, and one with comments only, is every default */
	assert_int_equal(load(f, "", true), DR_EOK);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->no_route_rcode, WIRE_RCODE_SERVFAIL);
	assert_int_equal(c->timeout_ms, 1000);
	assert_int_equal(c->tcp_max_conns, 1024);
	assert_int_equal(c->tcp_idle_ms, 10000);
	assert_string_equal(c->version, "");
	assert_true(strlen(c->identity) > 0);
	assert_int_equal(c->nroutes, 0);
	assert_int_equal(c->nlisten, 1); /* conf_validate adds the default */
	expect_addr(&c->listen[0], "127.0.0.1:5353");
	conf_deinit(c);

	assert_int_equal(load(f, "# nothing here\n", true), DR_EOK);
	assert_int_equal(c->nlisten, 1);
	conf_deinit(c);

	assert_int_equal(load(f, "workers: auto\nlisten: \"[::1]:53\"\nno-route: servfail\n", true),
			 DR_EOK);
	assert_int_equal(c->workers, 0);
	assert_int_equal(c->nlisten, 1);
	expect_addr(&c->listen[0], "[::1]:53");
	conf_deinit(c);

	assert_int_equal(load(f, "workers: 256\n", true), DR_EOK);
	assert_int_equal(c->workers, 256);
	conf_deinit(c);
	assert_int_equal(load(f, "workers: 1\n", true), DR_EOK);
	assert_int_equal(c->workers, 1);
	conf_deinit(c);
}

static void test_unknown_key(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "listen: \"127.0.0.1:5353\"\ncolour: blue\n", false, 2,
		     "unknown key 'colour'");
	expect_error(f,
		     "backends:\n"
		     "  - { name: ns1, address: \"127.0.0.1:5300\" }\n"
		     "  - name: ns2\n"
		     "    addr: \"127.0.0.1:5301\"\n",
		     false, 4, "unknown key 'addr'");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: [ns1], weight: 3 }\n",
		     false, 3, "unknown key 'weight'");
	expect_error(f, "tcp:\n  max-connections: 10\n  idle: 5s\n", false, 3,
		     "unknown key 'idle'");
}

static void test_wrong_type(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "workers: 2\nlisten: {a: b}\n", false, 2, "must be a single value");
	expect_error(f, "\ntcp: [ 1, 2 ]\n", false, 2, "must be a mapping");
	expect_error(f, "backends: ns1\n", false, 1, "backends must be a list");
	expect_error(f, "routes:\n  zone: .\n", false, 2, "routes must be a list");
	expect_error(f, "identity: [ a, b ]\n", false, 1, "identity must be a single value");
	expect_error(f, "- listen\n- workers\n", false, 1, "must be a mapping");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: ns1 }\n",
		     false, 3, "must be a list of backend names");
}

static void test_bad_address(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "listen:\n  - \"127.0.0.1:5353\"\n  - \"127.0.0.1:99999\"\n", false, 3,
		     "bad listen address");
	expect_error(f, "listen: localhost:53\n", false, 1, "bad listen address");
	expect_error(f, "listen: \"127.0.0.1\"\n", false, 1, "bad listen address");
	expect_error(f,
		     "backends:\n"
		     "  - name: ns1\n"
		     "    address: \"[::1:53\"\n",
		     false, 3, "bad backend address");
	expect_error(f, "backends:\n  - { name: ns1, address: \"300.0.0.1:53\" }\n", false, 2,
		     "bad backend address");
	expect_error(f, "backends:\n  - { name: ns1 }\n", false, 2, "needs a name and an address");
}

static void test_bad_duration(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "timeout: 5 minutes\n", false, 1, "timeout must be a duration");
	expect_error(f, "workers: 2\ntimeout: 0s\n", false, 2, "timeout must be a duration");
	expect_error(f, "tcp:\n  idle-timeout: -1s\n", false, 2, "idle-timeout must be a duration");
	expect_error(f,
		     "backends:\n"
		     "  - name: ns1\n"
		     "    address: \"127.0.0.1:5300\"\n"
		     "    timeout: fast\n",
		     false, 4, "backend timeout must be a duration");
	expect_error(f, "timeout: 2h\n", false, 1, "timeout must be a duration");
	expect_error(f, "workers: 1\nbusy-poll: 50\n", false, 2, "busy-poll must be 0 or");
	expect_error(f, "busy-poll: [ 50us ]\n", false, 1, "busy-poll");
}

static void test_bad_regex(void **state)
{
	struct fixture *f = *state;

	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: [ns1] }\n"
		     "  - regex: '^(www\\.'\n"
		     "    backends: [ ns1 ]\n",
		     true, 4, "bad regex '^(www\\.'");
}

static void test_unknown_backend(void **state)
{
	struct fixture *f = *state;

	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: example., backends: [ns1] }\n"
		     "  - { zone: ., backends: [ns1, ns9] }\n",
		     true, 4, "unknown backend 'ns9'");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: [] }\n",
		     true, 3, "has no backends");
	expect_error(f,
		     "backends:\n"
		     "  - { name: ns1, address: \"127.0.0.1:5300\" }\n"
		     "  - { name: ns1, address: \"127.0.0.1:5301\" }\n",
		     true, 3, "duplicate backend name 'ns1'");
	expect_error(f,
		     "backends:\n"
		     "  - { name: ns1, address: \"127.0.0.1:5300\" }\n"
		     "  - { name: ns2, address: \"127.0.0.1:5301\" }\n"
		     "  - { name: ns3, address: \"127.0.0.1:5300\" }\n",
		     true, 4, "backend 'ns3' has the address of backend 'ns1'");
}

/* An entry (-b or etcd) at the address of a configured backend routes to that backend, with
 * its name and settings, instead of adding a second backend at the same address. */
static void test_entry_joins_configured_backend(void **state)
{
	struct fixture *f = *state;
	char err[CONF_ERR_LEN];

	assert_int_equal(load(f,
			      "backends:\n"
			      "  - { name: ns1, address: \"127.0.0.1:5300\", weight: 5 }\n"
			      "routes: [ { zone: ., backends: [ns1] } ]\n",
			      false),
			 DR_EOK);
	assert_int_equal(conf_add_entry(&f->conf, "127.0.0.1:5300,^www\\.", err, sizeof(err)),
			 DR_EOK);
	assert_int_equal(conf_add_entry(&f->conf, "127.0.0.1:5301,^www\\.", err, sizeof(err)),
			 DR_EOK);
	assert_int_equal(f->conf.nbackends, 2);
	assert_string_equal(f->conf.backends[0].name, "ns1");
	assert_int_equal(f->conf.backends[0].weight, 5);
	assert_string_equal(f->conf.backends[1].name, "127.0.0.1:5301");
	assert_int_equal(f->conf.nroutes, 2);
	assert_int_equal(f->conf.routes[1].nbackends, 2);
	assert_string_equal(f->conf.routes[1].backends[0], "ns1");
	assert_string_equal(f->conf.routes[1].backends[1], "127.0.0.1:5301");
	assert_int_equal(conf_validate(&f->conf, err, sizeof(err)), DR_EOK);
	conf_deinit(&f->conf);
}

static void test_duplicate_key(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "timeout: 1s\nworkers: 2\ntimeout: 2s\n", false, 3,
		     "duplicate key 'timeout'");
	expect_error(f,
		     "backends:\n"
		     "  - name: ns1\n"
		     "    address: \"127.0.0.1:5300\"\n"
		     "    name: ns2\n",
		     false, 4, "duplicate key 'name'");
}

static void test_bad_values(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "no-route: nxdomain\n", false, 1, "no-route must be");
	expect_error(f, "\n\nno-route: REFUSED\n", false, 3, "no-route must be");
	expect_error(f, "workers: 0\n", false, 1, "workers");
	expect_error(f, "workers: 257\n", false, 1, "workers");
	expect_error(f, "workers: -1\n", false, 1, "workers");
	expect_error(f, "workers: 2x\n", false, 1, "workers");
	expect_error(f, "workers: 99999999999999999999999\n", false, 1, "workers");
	expect_error(f, "tcp: { max-connections: 0 }\n", false, 1, "max-connections");
	expect_error(f, "identity: \"\"\n", false, 1, "identity must be 1 to 255");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: a..b., backends: [ns1] }\n",
		     false, 3, "bad zone name");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., regex: x, backends: [ns1] }\n",
		     false, 3, "not both");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - backends: [ns1]\n",
		     false, 3, "needs a zone or a regex");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: [ns1], policy: random }\n",
		     false, 3, "unknown policy 'random'");
}

static void test_long_identity(void **state)
{
	struct fixture *f = *state;
	char text[400];

	memcpy(text, "identity: ", 10);
	memset(text + 10, 'x', 255);
	strcpy(text + 265, "\n");
	assert_int_equal(load(f, text, true), DR_EOK);
	assert_int_equal(strlen(f->conf.identity), 255);
	conf_deinit(&f->conf);
	strcpy(text + 265, "x\n");
	expect_error(f, text, false, 1, "identity must be 1 to 255");
}

static void test_not_yaml(void **state)
{
	struct fixture *f = *state;
	char prefix[192];

	assert_int_equal(load(f, "listen: [ \"127.0.0.1:5353\"\nworkers: 2\n", false), DR_ECONF);
	snprintf(prefix, sizeof(prefix), "%s:", f->path);
	assert_true(strncmp(f->err, prefix, strlen(prefix)) == 0);
	conf_deinit(&f->conf);

	expect_error(f, "workers: 2\ntimeout: 1s\n  bad: indent\n", false, 3, "");

	/* A file that is not there */
	assert_int_equal(conf_init(&f->conf), DR_EOK);
	assert_int_equal(
		conf_load_yaml(&f->conf, "/nonexistent/dnsrouter.yaml", f->err, sizeof(f->err)),
		DR_ECONF);
	assert_true(strncmp(f->err, "/nonexistent/dnsrouter.yaml:", 28) == 0);
	conf_deinit(&f->conf);
}

/* conf_parse_duration */

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t ms;
	} cases[] = {
		{"250ms", DR_EOK, 250},
		{"2s", DR_EOK, 2000},
		{"1500", DR_EOK, 1500},
		{"1", DR_EOK, 1},
		{"1ms", DR_EOK, 1},
		{"007s", DR_EOK, 7000},
		{"3600s", DR_EOK, 3600000},
		{"3600000ms", DR_EOK, 3600000},
		{"3600000", DR_EOK, 3600000},
		{"3600001", DR_EINVAL, 0},
		{"3601s", DR_EINVAL, 0},
		{"0", DR_EINVAL, 0},
		{"0ms", DR_EINVAL, 0},
		{"0s", DR_EINVAL, 0},
		{"", DR_EINVAL, 0},
		{"ms", DR_EINVAL, 0},
		{"s", DR_EINVAL, 0},
		{"-1", DR_EINVAL, 0},
		{"+1s", DR_EINVAL, 0},
		{" 1s", DR_EINVAL, 0},
		{"1 s", DR_EINVAL, 0},
		{"1s ", DR_EINVAL, 0},
		{"1.5s", DR_EINVAL, 0},
		{"1S", DR_EINVAL, 0},
		{"1sx", DR_EINVAL, 0},
		{"1mss", DR_EINVAL, 0},
		{"2h", DR_EINVAL, 0},
		{"4294967296", DR_EINVAL, 0},
		{"4294967296000ms", DR_EINVAL, 0},
		{"18446744073709551616", DR_EINVAL, 0},
		{"99999999999999999999999s", DR_EINVAL, 0},
		{"18446744073709551s", DR_EINVAL, 0}, /* just below 2^64 ms */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t ms = 0xdeadbeef;
		int rc = conf_parse_duration(cases[i].s, &ms);

		if (rc != cases[i].rc) {
			fail_msg("conf_parse_duration(\"%s\") = %d (%u ms), want %d", cases[i].s,
				 rc, ms, cases[i].rc);
		}
		if (rc == DR_EOK && ms != cases[i].ms) {
			fail_msg("conf_parse_duration(\"%s\"): %u ms, want %u", cases[i].s, ms,
				 cases[i].ms);
		}
	}
}

/* conf_parse_busy_poll: microseconds, 0 turns it off, a bare number other than 0 is
 * ambiguous, and more than 100 ms is refused. */
static void test_parse_busy_poll(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t us;
	} cases[] = {
		{"0", DR_EOK, 0},
		{"0us", DR_EOK, 0},
		{"0ms", DR_EOK, 0},
		{"50us", DR_EOK, 50},
		{"1ms", DR_EOK, 1000},
		{"100ms", DR_EOK, 100000},
		{"100000us", DR_EOK, 100000},
		{"100001us", DR_EINVAL, 0},
		{"101ms", DR_EINVAL, 0},
		{"1s", DR_EINVAL, 0},
		{"50", DR_EINVAL, 0},
		{"", DR_EINVAL, 0},
		{"us", DR_EINVAL, 0},
		{"-5us", DR_EINVAL, 0},
		{"5 us", DR_EINVAL, 0},
		{"5µs", DR_EINVAL, 0},
		{"18446744073709551616us", DR_EINVAL, 0},
		{"4294967296ms", DR_EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t us = 0xdeadbeef;
		int rc = conf_parse_busy_poll(cases[i].s, &us);

		if (rc != cases[i].rc || (rc == DR_EOK && us != cases[i].us)) {
			fail_msg("conf_parse_busy_poll(\"%s\") = %d (%u us), want %d (%u us)",
				 cases[i].s, rc, us, cases[i].rc, cases[i].us);
		}
	}
}

/* Seconds that overflow 64 bits once turned into milliseconds are out of range, not whatever
 * the product wraps to: 18446744073709552 s is 2^64 + 384 ms. */
static void test_parse_duration_overflow(void **state)
{
	static const char *huge[] = {
		"18446744073709552s", /* wraps to 384 ms */
		"18446744073709553s", /* wraps to 1384 ms */
		"36893488147419104s", /* wraps to 768 ms */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		uint32_t ms = 0;
		int rc = conf_parse_duration(huge[i], &ms);

		if (rc != DR_EINVAL) {
			fail_msg("conf_parse_duration(\"%s\") = %d (%u ms), want DR_EINVAL",
				 huge[i], rc, ms);
		}
	}
}

/* conf_add_entry and conf_add_listen */

static void test_add_entry(void **state)
{
	struct conf c;
	char err[CONF_ERR_LEN];

	(void)state;
	assert_int_equal(conf_init(&c), DR_EOK);
	assert_int_equal(conf_add_entry(&c, "127.0.0.1:5300,^www\\.example\\.$", err, sizeof(err)),
			 DR_EOK);
	assert_int_equal(conf_add_entry(&c, "[2001:db8::1]:5301,^mail\\.", err, sizeof(err)),
			 DR_EOK);
	/* the same regexp again: one route with two backends */
	assert_int_equal(conf_add_entry(&c, "127.0.0.2:5302,^www\\.example\\.$", err, sizeof(err)),
			 DR_EOK);
	/* the same entry again adds nothing */
	assert_int_equal(conf_add_entry(&c, "127.0.0.1:5300,^www\\.example\\.$", err, sizeof(err)),
			 DR_EOK);
	/* a backend shared by two regexps is one backend; a comma may be in the regexp */
	assert_int_equal(conf_add_entry(&c, "127.0.0.1:5300,^a{1,3}\\.$", err, sizeof(err)),
			 DR_EOK);

	assert_int_equal(c.nbackends, 3);
	assert_string_equal(c.backends[0].name, "127.0.0.1:5300");
	expect_addr(&c.backends[0].addr, "127.0.0.1:5300");
	assert_string_equal(c.backends[1].name, "[2001:db8::1]:5301");
	assert_int_equal(c.backends[1].addr.sa.sa_family, AF_INET6);
	assert_string_equal(c.backends[2].name, "127.0.0.2:5302");

	assert_int_equal(c.nroutes, 3);
	assert_int_equal(c.routes[0].kind, CONF_ROUTE_REGEX);
	assert_string_equal(c.routes[0].pattern, "^www\\.example\\.$");
	assert_int_equal(c.routes[0].nbackends, 2);
	assert_string_equal(c.routes[0].backends[0], "127.0.0.1:5300");
	assert_string_equal(c.routes[0].backends[1], "127.0.0.2:5302");
	assert_string_equal(c.routes[1].pattern, "^mail\\.");
	assert_int_equal(c.routes[1].nbackends, 1);
	assert_string_equal(c.routes[2].pattern, "^a{1,3}\\.$");
	assert_string_equal(c.routes[2].backends[0], "127.0.0.1:5300");

	assert_int_equal(conf_validate(&c, err, sizeof(err)), DR_EOK);
	conf_deinit(&c);
}

static void test_add_entry_bad(void **state)
{
	static const char *bad[] = {
		"",
		"no-comma",
		"127.0.0.1:5300",
		"127.0.0.1:5300,",
		",^a$",
		"127.0.0.1,^a$",
		"127.0.0.1:0,^a$",
		"127.0.0.1:65536,^a$",
		"localhost:53,^a$",
		"[::1,^a$",
		"::1:53,^a$",
		"[::1]53,^a$",
		"1.2.3:53,^a$",
		" 127.0.0.1:53,^a$",
	};
	struct conf c;
	char err[CONF_ERR_LEN];

	(void)state;
	assert_int_equal(conf_init(&c), DR_EOK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		err[0] = '\0';
		rc = conf_add_entry(&c, bad[i], err, sizeof(err));
		if (rc != DR_ECONF || strstr(err, "bad") == NULL) {
			fail_msg("entry '%s': rc %d, error '%s'", bad[i], rc, err);
		}
	}
	assert_int_equal(c.nbackends, 0);
	assert_int_equal(c.nroutes, 0);

	/* The regexp is checked by conf_validate, which names the option for the command line */
	assert_int_equal(conf_add_entry(&c, "127.0.0.1:5300,^(a", err, sizeof(err)), DR_EOK);
	assert_int_equal(conf_validate(&c, err, sizeof(err)), DR_ECONF);
	assert_true(strncmp(err, "-b: bad regex '^(a'", 19) == 0);
	conf_deinit(&c);
}

static void test_add_listen(void **state)
{
	struct conf c;
	char err[CONF_ERR_LEN];

	(void)state;
	assert_int_equal(conf_init(&c), DR_EOK);
	assert_int_equal(conf_add_listen(&c, "127.0.0.1:53", err, sizeof(err)), DR_EOK);
	assert_int_equal(conf_add_listen(&c, "[::]:5353", err, sizeof(err)), DR_EOK);
	assert_int_equal(conf_add_listen(&c, "127.0.0.1", err, sizeof(err)), DR_ECONF);
	assert_non_null(strstr(err, "bad listen address '127.0.0.1'"));
	assert_int_equal(c.nlisten, 2);
	expect_addr(&c.listen[1], "[::]:5353");
	/* conf_validate keeps what was given */
	assert_int_equal(conf_validate(&c, err, sizeof(err)), DR_EOK);
	assert_int_equal(c.nlisten, 2);
	conf_deinit(&c);
}

/* A second route for a zone (in any case) or a regexp never gets a query: an error, naming
 * both lines. Another route for a parent or child zone is fine. */
static void test_duplicate_routes(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "backends:\n"
				   "  - { name: a, address: \"127.0.0.1:5300\" }\n"
				   "routes:\n"
				   "  - { zone: example., backends: [a] }\n"
				   "  - { regex: '^x\\.', backends: [a] }\n"
				   "  - { zone: sub.example., backends: [a] }\n";
	char text[512];

	snprintf(text, sizeof(text), "%s  - { zone: EXAMPLE, backends: [a] }\n", head);
	expect_error(f, text, true, 7, "zone 'EXAMPLE' is already routed at line 4");
	snprintf(text, sizeof(text), "%s  - { regex: '^x\\.', backends: [a] }\n", head);
	expect_error(f, text, true, 7, "regex '^x\\.' is already routed at line 5");
	snprintf(text, sizeof(text), "%s  - { regex: '^X\\.', backends: [a] }\n", head);
	assert_int_equal(load(f, text, true), DR_EOK);
	conf_deinit(&f->conf);
}

/* transfers: a list of prefixes (or one), kept in order; bad ones named with their line. */
static void test_transfers(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
		load(f, "transfers: [ 192.0.2.0/24, \"2001:db8::/32\", 127.0.0.1 ]\n", false),
		DR_EOK);
	assert_int_equal(f->conf.ntransfers, 3);
	assert_int_equal(f->conf.transfers[0].family, AF_INET);
	assert_int_equal(f->conf.transfers[0].bits, 24);
	assert_int_equal(f->conf.transfers[1].family, AF_INET6);
	assert_int_equal(f->conf.transfers[1].bits, 32);
	assert_int_equal(f->conf.transfers[2].bits, 32);
	conf_deinit(&f->conf);
	assert_int_equal(load(f, "transfers: ::1\n", false), DR_EOK);
	assert_int_equal(f->conf.ntransfers, 1);
	assert_int_equal(f->conf.transfers[0].bits, 128);
	conf_deinit(&f->conf);
	assert_int_equal(load(f, "transfers: []\n", false), DR_EOK);
	assert_int_equal(f->conf.ntransfers, 0);
	conf_deinit(&f->conf);
	expect_error(f, "workers: 1\ntransfers:\n  - 10.0.0.0/8\n  - 10.0.0.0/33\n", false, 4,
		     "bad client prefix '10.0.0.0/33' in transfers");
	expect_error(f, "transfers: [ 10.1.2.3/8 ]\n", false, 1, "no bits set past the length");
	expect_error(f, "transfers: [ foo ]\n", false, 1, "bad client prefix 'foo'");
	expect_error(f, "transfers: { a: 1 }\n", false, 1, "transfers prefix must be a single");
}

static void test_transfers_too_many(void **state)
{
	struct fixture *f = *state;
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "transfers:\n");

	for (int i = 0; i <= CONF_TRANSFERS_MAX; i++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  - 10.0.%d.0/24\n", i);
	}
	expect_error(f, text, false, CONF_TRANSFERS_MAX + 2, "at most 64 prefixes");
}

static const char limits_yaml[] =
	"rate-limit:\n"                                                    /* 1 */
	"  responses-per-second: 100\n"                                    /* 2 */
	"  errors-per-second: 20\n"                                        /* 3 */
	"  slip: 3\n"                                                      /* 4 */
	"  window: 5s\n"                                                   /* 5 */
	"  ipv4-prefix: 28\n"                                              /* 6 */
	"  ipv6-prefix: 48\n"                                              /* 7 */
	"  table-size: 5000\n"                                             /* 8 */
	"  exempt: [ \"192.0.2.0/24\", \"2001:db8::/32\" ]\n"              /* 9 */
	"  log-only: true\n"                                               /* 10 */
	"acl:\n"                                                           /* 11 */
	"  - { from: \"198.51.100.0/24\", action: drop }\n"                /* 12 */
	"  - { from: [ \"10.0.0.0/8\", \"::1\" ], action: refuse }\n"      /* 13 */
	"  - { from: \"0.0.0.0/0\", action: allow }\n"                     /* 14 */
	"query-limit: { per-second: 1000, burst: 2000, action: refuse }\n" /* 15 */
	"tcp: { max-connections-per-client: 8, query-timeout: 3s,\n"       /* 16 */
	"       max-queries-per-connection: 100 }\n"                       /* 17 */
	"user: nobody\n"                                                   /* 18 */
	"group: nogroup\n"                                                 /* 19 */
	"chroot: /var/empty\n"                                             /* 20 */
	"admin-key: s3cret\n"                                              /* 21 */
	"health: { hold-down: 1s, hold-down-max: 30s }\n"                  /* 22 */
	"backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"       /* 23 */
	"routes:\n"                                                        /* 24 */
	"  - { zone: ., backends: [ns1],\n"                                /* 25 */
	"      acl: [ { from: \"::/0\", action: refuse } ] }\n";           /* 26 */

static void test_limits(void **state)
{
	struct fixture *f = *state;
	struct conf *c = &f->conf;
	struct conf copy;

	assert_int_equal(load(f, limits_yaml, true), DR_EOK);
	assert_int_equal(c->rrl.responses_ps, 100);
	assert_int_equal(c->rrl.errors_ps, 20);
	assert_int_equal(c->rrl.slip, 3);
	assert_int_equal(c->rrl.window_ms, 5000);
	assert_int_equal(c->limit_v4_bits, 28);
	assert_int_equal(c->limit_v6_bits, 48);
	assert_int_equal(c->rrl.table_size, 5000);
	assert_int_equal(c->rrl.nexempt, 2);
	assert_true(c->rrl.log_only);
	assert_int_equal(c->acl.n, 4);
	assert_int_equal(c->acl.rules[0].action, CONF_ACL_DROP);
	assert_int_equal(c->acl.rules[1].action, CONF_ACL_REFUSE);
	assert_int_equal(c->acl.rules[2].from.family, AF_INET6);
	assert_int_equal(c->acl.rules[2].action, CONF_ACL_REFUSE);
	assert_int_equal(c->acl.rules[3].action, CONF_ACL_ALLOW);
	assert_int_equal(c->acl.rules[3].from.bits, 0);
	assert_int_equal(c->qlimit.per_second, 1000);
	assert_int_equal(c->qlimit.burst, 2000);
	assert_int_equal(c->qlimit.action, CONF_ACL_REFUSE);
	assert_int_equal(c->tcp_per_client, 8);
	assert_int_equal(c->tcp_query_ms, 3000);
	assert_int_equal(c->tcp_max_queries, 100);
	assert_string_equal(c->user, "nobody");
	assert_string_equal(c->group, "nogroup");
	assert_string_equal(c->chroot, "/var/empty");
	assert_string_equal(c->admin_key, "s3cret");
	assert_int_equal(c->backends[0].health.hold_down_ms, 1000);
	assert_int_equal(c->backends[0].health.hold_down_max_ms, 30000);
	assert_int_equal(c->routes[0].acl.n, 1);
	/* A clone owns its own rule lists. */
	assert_int_equal(conf_clone(&copy, c), DR_EOK);
	assert_ptr_not_equal(copy.acl.rules, c->acl.rules);
	assert_ptr_not_equal(copy.routes[0].acl.rules, c->routes[0].acl.rules);
	assert_memory_equal(copy.acl.rules, c->acl.rules, 4 * sizeof(*c->acl.rules));
	conf_deinit(&copy);
	conf_deinit(c);
}

static void test_limits_defaults(void **state)
{
	struct fixture *f = *state;
	struct conf *c = &f->conf;

	assert_int_equal(load(f, "", true), DR_EOK);
	assert_int_equal(c->rrl.responses_ps, 0);
	assert_int_equal(c->rrl.slip, 2);
	assert_int_equal(c->rrl.window_ms, 15000);
	assert_int_equal(c->rrl.table_size, 1000000);
	assert_int_equal(c->limit_v4_bits, 24);
	assert_int_equal(c->limit_v6_bits, 56);
	assert_int_equal(c->qlimit.per_second, 0);
	assert_int_equal(c->qlimit.action, CONF_ACL_DROP);
	assert_int_equal(c->acl.n, 0);
	assert_int_equal(c->tcp_per_client, 64);
	assert_int_equal(c->tcp_query_ms, 2000);
	assert_int_equal(c->tcp_max_queries, 0);
	assert_int_equal(c->health.hold_down_ms, 2000);
	assert_int_equal(c->health.hold_down_max_ms, 60000);
	assert_string_equal(c->user, "");
	conf_deinit(c);
}

static void test_limits_bad(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "rate-limit: { slip: 11 }\n", false, 1, "slip");
	expect_error(f, "rate-limit:\n  window: 500ms\n", false, 2, "at least 1s");
	expect_error(f, "rate-limit: { ipv4-prefix: 33 }\n", false, 1, "ipv4-prefix");
	expect_error(f, "rate-limit: { ipv6-prefix: 65 }\n", false, 1, "ipv6-prefix");
	expect_error(f, "rate-limit: { table-size: 10 }\n", false, 1, "table-size");
	expect_error(f, "rate-limit: { exempt: [ \"10.0.0.1/8\" ] }\n", false, 1,
		     "bad client prefix '10.0.0.1/8'");
	expect_error(f, "rate-limit: { log-only: yes }\n", false, 1, "true or false");
	expect_error(f, "rate-limit: { burst: 3 }\n", false, 1, "unknown key 'burst'");
	expect_error(f, "acl: { from: 10.0.0.0/8 }\n", false, 1, "must be a list");
	expect_error(f, "acl:\n  - { from: 10.0.0.0/8 }\n", false, 2, "needs from and action");
	expect_error(f, "acl:\n  - { from: 10.0.0.0/8, action: reject }\n", false, 2,
		     "allow, refuse or drop");
	expect_error(f, "acl:\n  - { from: 10.0.0.0/33, action: drop }\n", false, 2,
		     "bad client prefix");
	expect_error(f, "query-limit: { per-second: 10, action: allow }\n", false, 1,
		     "refuse or drop");
	expect_error(f, "tcp: { query-timeout: 0 }\n", false, 1, "query-timeout");
	expect_error(f, "chroot: var/empty\n", false, 1, "absolute path");
	expect_error(f,
		     "health: { hold-down: 5s, hold-down-max: 1s }\n"
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n",
		     true, 2, "below its hold-down");
	expect_error(f,
		     "backends: [ { name: ns1, address: \"127.0.0.1:5300\" } ]\n"
		     "routes:\n"
		     "  - { zone: ., backends: [ns1], acl: [ { from: x, action: drop } ] }\n",
		     false, 3, "bad client prefix 'x'");
}

static void test_client_address(void **state)
{
	struct fixture *f = *state;
	struct conf *c = &f->conf;

	assert_int_equal(
		load(f,
		     "client-address: ecs\n"
		     "ecs: { ipv4-prefix: 20, ipv6-prefix: 48, override: true }\n"
		     "backends:\n"
		     "  - { name: a, address: \"127.0.0.1:5300\" }\n"
		     "  - { name: b, address: \"127.0.0.1:5301\", client-address: none }\n",
		     true),
		DR_EOK);
	assert_int_equal(c->client_address, CONF_CA_ECS);
	assert_int_equal(c->ecs.v4_bits, 20);
	assert_int_equal(c->ecs.v6_bits, 48);
	assert_true(c->ecs.override);
	assert_int_equal(c->backends[0].client_address, CONF_CA_DEFAULT);
	assert_int_equal(c->backends[1].client_address, CONF_CA_NONE);
	conf_deinit(c);
	assert_int_equal(load(f, "", true), DR_EOK);
	assert_int_equal(c->client_address, CONF_CA_NONE);
	assert_int_equal(c->ecs.v4_bits, 24);
	assert_int_equal(c->ecs.v6_bits, 56);
	assert_false(c->ecs.override);
	conf_deinit(c);
	assert_int_equal(
		load(f,
		     "backends:\n"
		     "  - { name: a, address: \"127.0.0.1:5300\" }\n"
		     "  - { name: t, address: \"127.0.0.1:5301\", client-address: transparent }\n",
		     true),
		DR_EOK);
	assert_int_equal(c->backends[1].client_address, CONF_CA_TRANSPARENT);
	assert_true(conf_has_transparent(c));
	conf_deinit(c);
	assert_int_equal(load(f, "client-address: transparent\n", true), DR_EOK);
	assert_int_equal(c->client_address, CONF_CA_TRANSPARENT);
	assert_true(conf_has_transparent(c));
	conf_deinit(c);
	assert_int_equal(load(f, "client-address: proxy-v2\n", true), DR_EOK);
	assert_false(conf_has_transparent(c));
	conf_deinit(c);
	expect_error(f, "client-address: proxy\n", false, 1, "none, ecs, proxy-v2 or transparent");
	expect_error(f, "ecs: { ipv4-prefix: 33 }\n", false, 1, "ipv4-prefix");
	expect_error(f, "ecs: { ipv6-prefix: 129 }\n", false, 1, "ipv6-prefix");
	expect_error(f,
		     "backends:\n"
		     "  - { name: a, address: \"127.0.0.1:5300\", client-address: all }\n",
		     false, 2, "none, ecs, proxy-v2 or transparent");
}

/* A key file of <hex> in the fixture's directory with <mode>; its path goes to <path>. */
static void write_key(struct fixture *f, const char *name, const char *hex, mode_t mode, char *path,
		      size_t cap)
{
	FILE *fp;

	snprintf(path, cap, "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(hex, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_dnscurve(void **state)
{
	static const char hex1[] =
		"ae67cc17197f17f46c9c4b36d1da8994a8a28ca9d2fe5cc4b3b73fa6857a65cd\n";
	static const char hex2[] =
		"0000000000000000000000000000000000000000000000000000000000000001\n";
	struct fixture *f = *state;
	struct conf *c = &f->conf;
	char k1[192], k2[192], open_key[192], text[1024];

	write_key(f, "k1", hex1, 0600, k1, sizeof(k1));
	write_key(f, "k2", hex2, 0400, k2, sizeof(k2));
	write_key(f, "open", hex1, 0644, open_key, sizeof(open_key));

	assert_int_equal(load(f, "", true), DR_EOK);
	assert_int_equal(c->curve.nkeys, 0);
	assert_true(c->curve.all_listeners);
	assert_int_equal(c->curve.key_cache, 65536);
	assert_int_equal(c->curve.new_keys_ps, 100);
	conf_deinit(c);

	snprintf(text, sizeof(text),
		 "listen: [ \"127.0.0.1:5353\", \"127.0.0.1:5354\" ]\n"
		 "dnscurve:\n"
		 "  keys: [ %s, %s ]\n"
		 "  listen: [ \"127.0.0.1:5354\" ]\n"
		 "  nonce-instance: 65535\n"
		 "  key-cache: 1024\n"
		 "  new-keys-per-second: 0\n"
		 "  nonce-file: /var/lib/x\n",
		 k1, k2);
	assert_int_equal(load(f, text, true), DR_EOK);
	assert_int_equal(c->curve.nkeys, 2);
	assert_int_equal(c->curve.keys[0][0], 0xae);
	assert_int_equal(c->curve.keys[1][31], 0x01);
	assert_false(c->curve.all_listeners);
	assert_int_equal(c->curve.nlisten, 1);
	expect_addr(&c->curve.listen[0], "127.0.0.1:5354");
	assert_int_equal(c->curve.nonce_instance, 65535);
	assert_int_equal(c->curve.key_cache, 1024);
	assert_int_equal(c->curve.new_keys_ps, 0);
	assert_string_equal(c->curve.nonce_file, "/var/lib/x");
	conf_deinit(c);

	snprintf(text, sizeof(text), "dnscurve:\n  keys: [ %s ]\n", open_key);
	expect_error(f, text, false, 2, "group or others");
	snprintf(text, sizeof(text), "dnscurve:\n  keys: [ %s, %s ]\n", k1, k1);
	expect_error(f, text, false, 2, "the same key");
	snprintf(text, sizeof(text), "dnscurve:\n  keys: [ %s/none ]\n", f->dir);
	expect_error(f, text, false, 2, "none");
	expect_error(f, "dnscurve: { nonce-instance: 1 }\n", false, 1, "needs keys");
	snprintf(text, sizeof(text), "dnscurve: { keys: [ %s ], key-cache: 1000 }\n", k1);
	expect_error(f, text, false, 1, "power of two");
	snprintf(text, sizeof(text), "dnscurve: { keys: [ %s ], nonce-instance: 65536 }\n", k1);
	expect_error(f, text, false, 1, "nonce-instance");
	snprintf(text, sizeof(text),
		 "listen: \"127.0.0.1:5353\"\n"
		 "dnscurve:\n  keys: [ %s ]\n  listen: [ \"127.0.0.1:5399\" ]\n",
		 k1);
	expect_error(f, text, true, 4, "127.0.0.1:5399 is not one of the listen addresses");
	unlink(k1);
	unlink(k2);
	unlink(open_key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_dnscurve),
		cmocka_unit_test(test_load_defaults),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_bad_duration),
		cmocka_unit_test(test_bad_regex),
		cmocka_unit_test(test_unknown_backend),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_long_identity),
		cmocka_unit_test(test_not_yaml),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_duration_overflow),
		cmocka_unit_test(test_parse_busy_poll),
		cmocka_unit_test(test_entry_joins_configured_backend),
		cmocka_unit_test(test_add_entry),
		cmocka_unit_test(test_add_entry_bad),
		cmocka_unit_test(test_add_listen),
		cmocka_unit_test(test_duplicate_routes),
		cmocka_unit_test(test_transfers),
		cmocka_unit_test(test_transfers_too_many),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_limits_defaults),
		cmocka_unit_test(test_limits_bad),
		cmocka_unit_test(test_client_address),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
