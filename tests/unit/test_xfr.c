/* SPDX-License-Identifier: MIT */
/* tests/unit/test_xfr.c -- where a zone transfer's answers end: AXFR, IXFR, errors, garbage */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/err.h"
#include "wire/wire.h"
#include "wire/xfr.h"

#define T_SOA 6
#define T_TXT 16

/* An answer message under construction: header, the question "example. <qtype>" when
 * <question>, then answer records added by the add_* helpers. */
struct msg {
	uint8_t b[2048];
	size_t len;
};

static const uint8_t apex[] = "\7example";

static void put16(struct msg *m, unsigned v)
{
	wire_write_u16(m->b + m->len, (uint16_t)v);
	m->len += 2;
}

static void put(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void begin(struct msg *m, uint16_t qtype, bool question, int rcode)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8400 | (unsigned)rcode);
	put16(m, question ? 1 : 0);
	put16(m, 0);
	put16(m, 0);
	put16(m, 0);
	if (question) {
		put(m, apex, sizeof(apex));
		put16(m, qtype);
		put16(m, 1);
	}
}

static void count_answer(struct msg *m)
{
	wire_write_u16(m->b + WIRE_OFF_ANCOUNT,
		       (uint16_t)(wire_read_u16(m->b + WIRE_OFF_ANCOUNT) + 1));
}

/* SOA with <serial>; <compressed> names point back at the question's name. */
static void add_soa(struct msg *m, uint32_t serial, bool compressed)
{
	static const uint8_t mname[] = "\3ns1\7example", rname[] = "\4host\7example";
	size_t rdlen_at;

	put(m, apex, sizeof(apex));
	put16(m, T_SOA);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	rdlen_at = m->len;
	put16(m, 0);
	if (compressed) {
		put16(m, 0xc000 | WIRE_HDR_LEN);
		put16(m, 0xc000 | WIRE_HDR_LEN);
	} else {
		put(m, mname, sizeof(mname));
		put(m, rname, sizeof(rname));
	}
	put16(m, serial >> 16);
	put16(m, serial & 0xffff);
	for (int i = 0; i < 4; i++) {
		put16(m, 0);
		put16(m, 300);
	}
	wire_write_u16(m->b + rdlen_at, (uint16_t)(m->len - rdlen_at - 2));
	count_answer(m);
}

static void add_txt(struct msg *m)
{
	put16(m, 0xc000 | WIRE_HDR_LEN);
	put16(m, T_TXT);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, 4);
	put(m, "\3abc", 4);
	count_answer(m);
}

static int feed(struct xfr_track *t, const struct msg *m)
{
	return xfr_track_message(t, m->b, m->len);
}

static void track_init(struct xfr_track *t, uint16_t qtype)
{
	memset(t, 0, sizeof(*t));
	t->qtype = qtype;
}

static void test_axfr_one_message(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 7, false);
	add_txt(&m);
	add_txt(&m);
	add_soa(&m, 7, true);
	assert_int_equal(feed(&t, &m), XFR_DONE);
	assert_int_equal(t.records, 4);
}

static void test_axfr_many_messages(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 7, true);
	add_txt(&m);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_AXFR, false, 0); /* later messages may leave the question out */
	add_txt(&m);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_txt(&m);
	add_soa(&m, 7, false);
	assert_int_equal(feed(&t, &m), XFR_DONE);
	assert_int_equal(t.messages, 3);
}

/* A zone with one record besides the SOA sent as SOA alone, then the rest. */
static void test_axfr_soa_alone_first(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 1, false);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_AXFR, false, 0);
	add_txt(&m);
	add_soa(&m, 1, false);
	assert_int_equal(feed(&t, &m), XFR_DONE);
}

static void test_ixfr_up_to_date(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_IXFR);
	begin(&m, WIRE_TYPE_IXFR, true, 0);
	add_soa(&m, 9, false);
	assert_int_equal(feed(&t, &m), XFR_DONE);
}

/* An IXFR query from a client at <serial>: header, question, the client's SOA as authority. */
static void ixfr_query(struct msg *m, uint32_t serial)
{
	begin(m, WIRE_TYPE_IXFR, true, 0);
	m->b[WIRE_OFF_FLAGS1] = 0; /* a query */
	add_soa(m, serial, true);
	wire_write_u16(m->b + WIRE_OFF_ANCOUNT, 0);
	wire_write_u16(m->b + WIRE_OFF_NSCOUNT, 1);
}

/* One record per message (BIND's one-answer format): the newer SOA alone in the first message
 * only opens the answer; the same SOA alone, not newer than the client's, is all of it. */
static void test_ixfr_one_record_per_message(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_IXFR);
	ixfr_query(&m, 9);
	xfr_track_query(&t, m.b, m.len);
	assert_true(t.client_serial_known);
	assert_int_equal(t.client_serial, 9);
	begin(&m, WIRE_TYPE_IXFR, true, 0);
	add_soa(&m, 10, false);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_IXFR, false, 0);
	add_soa(&m, 9, false);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	assert_true(t.incremental);
	for (int i = 0; i < 2; i++) {
		begin(&m, WIRE_TYPE_IXFR, false, 0);
		add_txt(&m);
		assert_int_equal(feed(&t, &m), XFR_MORE);
		begin(&m, WIRE_TYPE_IXFR, false, 0);
		add_soa(&m, 10, false);
		assert_int_equal(feed(&t, &m), i == 0 ? XFR_MORE : XFR_DONE);
	}
	/* The client at 10 or 11: the lone SOA 10 is the whole answer. The client at 0xfffffffe:
	 * 10 is newer across the wrap (RFC 1982), so more comes. */
	const uint32_t up_to_date[] = {10, 11, 0xfffffffe};
	for (size_t i = 0; i < sizeof(up_to_date) / sizeof(up_to_date[0]); i++) {
		track_init(&t, WIRE_TYPE_IXFR);
		ixfr_query(&m, up_to_date[i]);
		xfr_track_query(&t, m.b, m.len);
		begin(&m, WIRE_TYPE_IXFR, true, 0);
		add_soa(&m, 10, false);
		assert_int_equal(feed(&t, &m), up_to_date[i] == 0xfffffffe ? XFR_MORE : XFR_DONE);
	}
}

/* SOA 3, then 1 -> 2 and 2 -> 3, then SOA 3: the 3rd SOA 3 closes it, the 2nd does not. */
static void test_ixfr_incremental(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_IXFR);
	begin(&m, WIRE_TYPE_IXFR, true, 0);
	add_soa(&m, 3, false);
	add_soa(&m, 1, false);
	add_txt(&m);
	add_soa(&m, 2, false);
	add_txt(&m);
	add_soa(&m, 2, true);
	add_txt(&m);
	add_soa(&m, 3, false);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	assert_true(t.incremental);
	begin(&m, WIRE_TYPE_IXFR, false, 0);
	add_txt(&m);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_IXFR, false, 0);
	add_soa(&m, 3, false);
	assert_int_equal(feed(&t, &m), XFR_DONE);
}

/* An IXFR answered with the whole zone ends like an AXFR, at the second SOA. */
static void test_ixfr_whole_zone(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_IXFR);
	begin(&m, WIRE_TYPE_IXFR, true, 0);
	add_soa(&m, 5, false);
	add_txt(&m);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	assert_false(t.incremental);
	begin(&m, WIRE_TYPE_IXFR, true, 0);
	add_soa(&m, 5, false);
	assert_int_equal(feed(&t, &m), XFR_DONE);
}

/* The backend's whole answer when it has no transfer to give. */
static void test_errors_end_it(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, WIRE_RCODE_REFUSED);
	assert_int_equal(feed(&t, &m), XFR_ERROR);
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0); /* NOERROR with no records */
	assert_int_equal(feed(&t, &m), XFR_DONE);
	/* An error in the middle ends it too. */
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 1, false);
	add_txt(&m);
	assert_int_equal(feed(&t, &m), XFR_MORE);
	begin(&m, WIRE_TYPE_AXFR, false, WIRE_RCODE_SERVFAIL);
	assert_int_equal(feed(&t, &m), XFR_ERROR);
}

static void test_garbage(void **state)
{
	struct xfr_track t;
	struct msg m;

	(void)state;
	/* The first record must be the SOA. */
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_txt(&m);
	assert_int_equal(feed(&t, &m), DR_EMALF);
	/* Every cut of a good message is refused: a record or the question runs past it. */
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 1, false);
	add_txt(&m);
	for (size_t cut = WIRE_HDR_LEN; cut < m.len; cut++) {
		track_init(&t, WIRE_TYPE_AXFR);
		if (xfr_track_message(&t, m.b, cut) != DR_EMALF) {
			fail_msg("a message cut at %zu of %zu bytes was taken", cut, m.len);
		}
	}
	/* An SOA whose RDATA is too short for the serial and timers. */
	track_init(&t, WIRE_TYPE_AXFR);
	begin(&m, WIRE_TYPE_AXFR, true, 0);
	add_soa(&m, 1, true);
	m.len -= 4;
	wire_write_u16(m.b + m.len - 16 - 2 - 4, 16); /* RDLENGTH: names + 12 of the 20 bytes */
	assert_int_equal(feed(&t, &m), DR_EMALF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_axfr_one_message),
		cmocka_unit_test(test_axfr_many_messages),
		cmocka_unit_test(test_axfr_soa_alone_first),
		cmocka_unit_test(test_ixfr_up_to_date),
		cmocka_unit_test(test_ixfr_incremental),
		cmocka_unit_test(test_ixfr_one_record_per_message),
		cmocka_unit_test(test_ixfr_whole_zone),
		cmocka_unit_test(test_errors_end_it),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
