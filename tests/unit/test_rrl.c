/* SPDX-License-Identifier: MIT */
/* tests/unit/test_rrl.c -- response rate limiting: rates, slip, errors, exemption, window */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/prefix.h"
#include "limit/rrl.h"
#include "wire/wire.h"

#define V4_BITS 24
#define V6_BITS 56

#include "unit_addr.h"

static struct wire_question question(const char *name, uint16_t qtype)
{
	struct wire_question q;
	int len = wire_name_from_text(name, q.name);

	assert_true(len > 0);
	q.name_len = (uint16_t)len;
	q.qtype = qtype;
	q.qclass = WIRE_CLASS_IN;
	return q;
}

static struct conf_rrl conf(uint32_t responses_ps, uint32_t slip, uint32_t window_ms)
{
	struct conf_rrl c;

	memset(&c, 0, sizeof(c));
	c.responses_ps = responses_ps;
	c.slip = slip;
	c.window_ms = window_ms;
	return c;
}

struct tally {
	unsigned pass, slip, drop, would;
};

/* Send <n> answers with <rcode> to <q> from <ip>, one every <step_ms> from <*now>. */
static struct tally flood(struct rrl *r, const struct conf_rrl *c, const char *ip,
			  const struct wire_question *q, int rcode, unsigned n, uint64_t step_ms,
			  uint64_t *now)
{
	union sockaddr_any sa = unit_addr(ip);
	struct tally t = {0, 0, 0, 0};

	for (unsigned i = 0; i < n; i++, *now += step_ms) {
		bool would;
		enum rrl_verdict v = rrl_check(r, c, V4_BITS, V6_BITS, &sa, q, rcode, *now, &would);
		t.pass += v == RRL_PASS;
		t.slip += v == RRL_SLIP;
		t.drop += v == RRL_DROP;
		t.would += would;
		if (!c->log_only) {
			assert_int_equal(would, v != RRL_PASS);
		}
	}
	return t;
}

/* One source asking one question at ten times the rate for ten simulated seconds: it gets the
 * burst (one second's worth) and then nothing, since each refused answer is charged down to
 * the window's debt; half of the refused ones slip with slip 2. */
static void test_flood(void **state)
{
	struct rrl *r = rrl_new(1024, 7);
	struct conf_rrl c = conf(10, 2, 5000);
	struct wire_question q = question("www.example.com", WIRE_TYPE_A);
	uint64_t now = 1000000;

	(void)state;
	assert_non_null(r);
	struct tally t = flood(r, &c, "192.0.2.1", &q, WIRE_RCODE_NOERROR, 1000, 10, &now);
	/* 10 in the bucket, and the 100 ms of refill the first ten answers take. */
	assert_in_range(t.pass, 10, 12);
	assert_int_equal(t.slip, (1000 - t.pass) / 2);
	assert_int_equal(t.drop, 1000 - t.pass - t.slip);
	assert_int_equal(t.would, 1000 - t.pass);
	/* The same prefix is the same client; another prefix, or another question, is not. */
	t = flood(r, &c, "192.0.2.200", &q, WIRE_RCODE_NOERROR, 1, 10, &now);
	assert_int_equal(t.pass, 0);
	t = flood(r, &c, "192.0.3.1", &q, WIRE_RCODE_NOERROR, 1, 10, &now);
	assert_int_equal(t.pass, 1);
	struct wire_question aaaa = question("www.example.com", 28);
	t = flood(r, &c, "192.0.2.1", &aaaa, WIRE_RCODE_NOERROR, 1, 10, &now);
	assert_int_equal(t.pass, 1);
	assert_int_equal(rrl_count(r), 3);

	/* A source at its rate, evenly spaced, is never limited. */
	t = flood(r, &c, "2001:db8::1", &q, WIRE_RCODE_NOERROR, 1000, 100, &now);
	assert_int_equal(t.pass, 1000);
	rrl_free(r);
}

static void test_slip_pattern(void **state)
{
	struct rrl *r = rrl_new(64, 7);
	struct wire_question q = question("example.com", WIRE_TYPE_A);
	union sockaddr_any sa = unit_addr("198.51.100.9");
	uint64_t now = 0;

	(void)state;
	assert_non_null(r);
	for (uint32_t slip = 0; slip <= 3; slip++) {
		struct conf_rrl c = conf(2, slip, 1000);
		/* A new question per slip value, so each starts with a full bucket. */
		q.qtype = (uint16_t)(100 + slip);
		assert_int_equal(rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &q, 0, now, NULL),
				 RRL_PASS);
		assert_int_equal(rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &q, 0, now, NULL),
				 RRL_PASS);
		for (uint32_t n = 1; n <= 12; n++) {
			enum rrl_verdict v =
				rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &q, 0, now, NULL);
			enum rrl_verdict want = slip != 0 && n % slip == 0 ? RRL_SLIP : RRL_DROP;
			if (v != want) {
				fail_msg("slip %u, limited answer %u: %d, want %d", slip, n, v,
					 want);
			}
		}
	}
	rrl_free(r);
}

/* Random names answered NXDOMAIN share one bucket per prefix; answered NOERROR, each has its
 * own. A reply without a question counts as an error. */
static void test_errors(void **state)
{
	struct rrl *r = rrl_new(4096, 9);
	struct conf_rrl c = conf(100, 0, 1000);
	union sockaddr_any sa = unit_addr("2001:db8:0:aa00::1"),
			   same = unit_addr("2001:db8:0:aaff::2");
	unsigned pass = 0, pass_noerror = 0;
	char name[64];

	(void)state;
	assert_non_null(r);
	c.errors_ps = 5;
	for (unsigned i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "r%u.example.com", i);
		struct wire_question q = question(name, WIRE_TYPE_A);
		int rcode = i % 2 ? WIRE_RCODE_NXDOMAIN : WIRE_RCODE_SERVFAIL;
		pass += rrl_check(r, &c, V4_BITS, V6_BITS, i % 3 ? &sa : &same, &q, rcode, i,
				  NULL) == RRL_PASS;
		pass_noerror += rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &q, WIRE_RCODE_NOERROR, i,
					  NULL) == RRL_PASS;
	}
	assert_int_equal(pass, 5);
	assert_int_equal(pass_noerror, 200);
	assert_int_equal(rrl_count(r), 201);
	/* The error bucket is the one a reply with no question goes to. */
	assert_int_equal(
		rrl_check(r, &c, V4_BITS, V6_BITS, &sa, NULL, WIRE_RCODE_FORMERR, 200, NULL),
		RRL_DROP);
	assert_int_equal(rrl_count(r), 201);

	/* With errors_ps 0 errors are held at responses_ps. */
	struct rrl *r2 = rrl_new(16, 9);
	struct conf_rrl c2 = conf(3, 0, 1000);
	struct wire_question q = question("x.example", WIRE_TYPE_A);
	uint64_t now = 0;
	assert_non_null(r2);
	struct tally t = flood(r2, &c2, "192.0.2.1", &q, WIRE_RCODE_REFUSED, 10, 0, &now);
	assert_int_equal(t.pass, 3);
	/* YXDOMAIN..NOTZONE are answers, keyed by question: a new bucket. */
	t = flood(r2, &c2, "192.0.2.1", &q, 8, 1, 0, &now);
	assert_int_equal(t.pass, 1);
	/* Any other rcode, extended ones included, is an error. */
	t = flood(r2, &c2, "192.0.2.1", &q, WIRE_RCODE_BADVERS, 1, 0, &now);
	assert_int_equal(t.pass, 0);
	rrl_free(r2);
	rrl_free(r);
}

static void test_exempt_and_off(void **state)
{
	struct rrl *r = rrl_new(64, 1);
	struct conf_rrl c = conf(5, 1, 1000);
	struct wire_question q = question("www.example.com", WIRE_TYPE_A);
	uint64_t now = 0;
	bool would = true;

	(void)state;
	assert_non_null(r);
	assert_int_equal(prefix_parse("192.0.2.0/25", &c.exempt[0]), DR_EOK);
	assert_int_equal(prefix_parse("2001:db8::/32", &c.exempt[1]), DR_EOK);
	c.nexempt = 2;
	struct tally t = flood(r, &c, "192.0.2.1", &q, 0, 100, 1, &now);
	assert_int_equal(t.pass, 100);
	t = flood(r, &c, "2001:db8:1::1", &q, 0, 100, 1, &now);
	assert_int_equal(t.pass, 100);
	assert_int_equal(rrl_count(r), 0); /* exempt clients cost no bucket */
	t = flood(r, &c, "192.0.2.129", &q, 0, 100, 1, &now);
	assert_int_equal(t.pass, 5);
	assert_int_equal(t.slip, 95);

	/* responses_ps 0: off, whatever else is set. */
	c = conf(0, 1, 1000);
	union sockaddr_any sa = unit_addr("203.0.113.1");
	for (unsigned i = 0; i < 100; i++) {
		assert_int_equal(rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &q, 0, now, &would),
				 RRL_PASS);
		assert_false(would);
	}
	rrl_free(r);
}

/* log_only limits nothing but says what it would do, charging the buckets the same. */
static void test_log_only(void **state)
{
	struct rrl *r = rrl_new(64, 1), *r2 = rrl_new(64, 1);
	struct conf_rrl c = conf(10, 2, 2000);
	struct wire_question q = question("www.example.com", WIRE_TYPE_A);
	uint64_t now = 0, now2 = 0;

	(void)state;
	assert_non_null(r);
	assert_non_null(r2);
	struct tally enforced = flood(r2, &c, "192.0.2.1", &q, 0, 500, 7, &now2);
	c.log_only = true;
	struct tally logged = flood(r, &c, "192.0.2.1", &q, 0, 500, 7, &now);
	assert_int_equal(logged.pass, 500);
	assert_int_equal(logged.would, enforced.slip + enforced.drop);
	assert_true(logged.would > 400);
	rrl_free(r);
	rrl_free(r2);
}

/* After a flood stops the prefix stays limited for about the window, then is answered. */
static void test_window(void **state)
{
	struct wire_question q = question("www.example.com", WIRE_TYPE_A);
	static const uint32_t windows[] = {1000, 5000, 15000};

	(void)state;
	for (unsigned w = 0; w < 3; w++) {
		struct rrl *r = rrl_new(64, 1);
		struct conf_rrl c = conf(20, 0, windows[w]);
		uint64_t now = 0, last, probe;
		assert_non_null(r);
		flood(r, &c, "192.0.2.1", &q, 0, 5000, 2, &now);
		last = now - 2;
		/* A probe just before the window ends is still refused (and charged). */
		probe = last + windows[w] - 100;
		struct tally t = flood(r, &c, "192.0.2.1", &q, 0, 1, 0, &probe);
		assert_int_equal(t.pass, 0);
		/* Debt repaid and one token more: window + 50 ms for the probe + 50 for a token. */
		probe = last + windows[w] + 100;
		t = flood(r, &c, "192.0.2.1", &q, 0, 1, 0, &probe);
		assert_int_equal(t.pass, 1);
		rrl_free(r);
	}
	/* A window under a second counts as one. */
	struct rrl *r = rrl_new(64, 1);
	struct conf_rrl c = conf(20, 0, 300);
	uint64_t now = 0;
	assert_non_null(r);
	flood(r, &c, "192.0.2.1", &q, 0, 5000, 2, &now);
	uint64_t probe = now - 2 + 900;
	assert_int_equal(flood(r, &c, "192.0.2.1", &q, 0, 1, 0, &probe).pass, 0);
	rrl_free(r);
}

/* ;; id 0xabcd, opcode QUERY, rcode NXDOMAIN, flags: qr aa rd; QUERY: 1, ANSWER: 1,
 * ;; AUTHORITY: 1, ADDITIONAL: 1
 * Www.Example.com.	IN	A
 * www.example.com.	300	IN	CNAME	example.com.	(owner: pointer to 12)
 * example.com.	300	IN	SOA	(truncated here to its owner, type and class: never read)
 * ;; OPT: udp 1232 */
static const uint8_t r_nx[] = {
	0xab, 0xcd, 0x85, 0x03, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, /* header */
	0x03, 'W',  'w',  'w',  0x07, 'E',  'x',  'a',  'm',  'p',  'l',  'e',
	0x03, 'c',  'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01, /* question, ends at 33 */
	0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x02,
	0xc0, 0x10, 0xc0, 0x10, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04,
	0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_slip_reply(void **state)
{
	uint8_t msg[sizeof(r_nx)];
	static const uint8_t want_hdr[] = {0xab, 0xcd, 0x87, 0x03, 0x00, 0x01,
					   0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

	(void)state;
	memcpy(msg, r_nx, sizeof(msg));
	assert_int_equal(rrl_slip_reply(msg, sizeof(msg)), 33);
	assert_memory_equal(msg, want_hdr, sizeof(want_hdr));
	/* The question stays as sent, case included. */
	assert_memory_equal(msg + 12, r_nx + 12, 33 - 12);
	/* Idempotent. */
	assert_int_equal(rrl_slip_reply(msg, 33), 33);
	assert_memory_equal(msg, want_hdr, sizeof(want_hdr));

	/* No question to keep: nothing is sent. */
	memcpy(msg, r_nx, sizeof(msg));
	msg[WIRE_OFF_QDCOUNT + 1] = 0;
	assert_int_equal(rrl_slip_reply(msg, sizeof(msg)), 0);
	memcpy(msg, r_nx, sizeof(msg));
	assert_int_equal(rrl_slip_reply(msg, 32), 0); /* QCLASS cut short */
	assert_int_equal(rrl_slip_reply(msg, 11), 0); /* not even a header */
	assert_memory_equal(msg, r_nx, sizeof(msg));  /* and untouched */
}

/* Case variants of one name are one question. */
static void test_case(void **state)
{
	static const uint8_t q_upper[] = {
		0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x03, 'W',  'W',  'W',  0x02, 'E',  'X',  0x00, 0x00, 0x01, 0x00, 0x01,
	};
	static const uint8_t q_lower[] = {
		0x00, 0x02, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x03, 'w',  'w',  'w',  0x02, 'e',  'x',  0x00, 0x00, 0x01, 0x00, 0x01,
	};
	struct wire_question a, b;
	struct rrl *r = rrl_new(64, 1);
	struct conf_rrl c = conf(1, 0, 1000);
	union sockaddr_any sa = unit_addr("192.0.2.1");

	(void)state;
	assert_non_null(r);
	assert_int_equal(wire_parse_question(q_upper, sizeof(q_upper), &a), DR_EOK);
	assert_int_equal(wire_parse_question(q_lower, sizeof(q_lower), &b), DR_EOK);
	assert_int_equal(rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &a, 0, 0, NULL), RRL_PASS);
	assert_int_equal(rrl_check(r, &c, V4_BITS, V6_BITS, &sa, &b, 0, 0, NULL), RRL_DROP);
	assert_int_equal(rrl_count(r), 1);
	rrl_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood),      cmocka_unit_test(test_slip_pattern),
		cmocka_unit_test(test_errors),     cmocka_unit_test(test_exempt_and_off),
		cmocka_unit_test(test_log_only),   cmocka_unit_test(test_window),
		cmocka_unit_test(test_slip_reply), cmocka_unit_test(test_case),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
