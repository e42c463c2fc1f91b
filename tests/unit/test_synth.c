/* SPDX-License-Identifier: MIT */
/* tests/unit/test_synth.c -- the OPT record of a message, and the replies the router writes */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "wire/edns.h"
#include "wire/synth.h"
#include "wire/wire.h"
#include "wire_fixtures.h"

/* edns_find_opt */

static void test_edns_query(void **state)
{
	struct wire_question q;
	struct wire_opt opt;

	(void)state;
	assert_int_equal(parse_exact(q_mixed_edns, sizeof(q_mixed_edns), &q), DR_EOK);
	assert_int_equal(edns_find_opt(q_mixed_edns, sizeof(q_mixed_edns), &q, &opt), DR_EOK);
	assert_true(opt.present);
	assert_true(opt.dnssec_ok);
	assert_int_equal(opt.version, 0);
	assert_int_equal(opt.udp_size, 4096);
	assert_int_equal(opt.offset, q.end);

	assert_int_equal(parse_exact(q_id_server_ch, sizeof(q_id_server_ch), &q), DR_EOK);
	assert_int_equal(edns_find_opt(q_id_server_ch, sizeof(q_id_server_ch), &q, &opt), DR_EOK);
	assert_true(opt.present);
	assert_false(opt.dnssec_ok);
	assert_int_equal(opt.udp_size, 1232);
	assert_int_equal(opt.offset, q.end);
}

/* RFC 6891 §6.1.1: a second OPT record makes the message malformed. */
static void test_edns_two_opt(void **state)
{
	struct wire_question q;
	struct wire_opt opt;
	uint8_t msg[2 * sizeof(q_id_server_ch)];
	size_t optlen;

	(void)state;
	assert_int_equal(parse_exact(q_id_server_ch, sizeof(q_id_server_ch), &q), DR_EOK);
	optlen = sizeof(q_id_server_ch) - q.end; /* the OPT record ends the message */
	memcpy(msg, q_id_server_ch, sizeof(q_id_server_ch));
	memcpy(msg + sizeof(q_id_server_ch), q_id_server_ch + q.end, optlen);
	msg[WIRE_OFF_ARCOUNT + 1] = 2;
	assert_int_equal(edns_find_opt(msg, sizeof(q_id_server_ch) + optlen, &q, &opt), DR_EMALF);
}

static void test_edns_none(void **state)
{
	struct wire_question q;
	struct wire_opt opt;

	(void)state;
	assert_int_equal(parse_exact(q_www_a, sizeof(q_www_a), &q), DR_EOK);
	opt.present = true;
	assert_int_equal(edns_find_opt(q_www_a, sizeof(q_www_a), &q, &opt), DR_EOK);
	assert_false(opt.present);
}

static void test_edns_response(void **state)
{
	struct wire_question q;
	struct wire_opt opt;
	uint8_t msg[sizeof(r_example_a)];

	(void)state;
	assert_int_equal(parse_exact(r_example_a, sizeof(r_example_a), &q), DR_EOK);
	assert_int_equal(edns_find_opt(r_example_a, sizeof(r_example_a), &q, &opt), DR_EOK);
	assert_true(opt.present);
	assert_int_equal(opt.offset, sizeof(r_example_a) - 11);
	assert_int_equal(opt.udp_size, 1232);

	/* An OPT counted in the answer section is not the message's OPT */
	memcpy(msg, r_example_a, sizeof(msg));
	msg[WIRE_OFF_ANCOUNT + 1] = 2;
	msg[WIRE_OFF_ARCOUNT + 1] = 0;
	assert_int_equal(edns_find_opt(msg, sizeof(msg), &q, &opt), DR_EOK);
	assert_false(opt.present);

	/* One record too many: runs past the end */
	memcpy(msg, r_example_a, sizeof(msg));
	msg[WIRE_OFF_ARCOUNT + 1] = 2;
	assert_int_equal(edns_find_opt(msg, sizeof(msg), &q, &opt), DR_EMALF);

	/* RDLENGTH past the end */
	memcpy(msg, r_example_a, sizeof(msg));
	msg[sizeof(msg) - 1] = 1;
	assert_int_equal(edns_find_opt(msg, sizeof(msg), &q, &opt), DR_EMALF);
}

static void test_edns_non_root_owner(void **state)
{
	/* ;; id 0x0002, QUERY: 1, ADDITIONAL: 1
	 * a.	IN	A
	 * a.	0	CLASS512	OPT	(type OPT, but the owner is not the root) */
	static const uint8_t msg[] = {
		0x00, 0x02, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x01, 'a',  0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 'a',  0x00,
		0x00, 0x29, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct wire_question q;
	struct wire_opt opt;

	(void)state;
	assert_int_equal(parse_exact(msg, sizeof(msg), &q), DR_EOK);
	assert_int_equal(edns_find_opt(msg, sizeof(msg), &q, &opt), DR_EOK);
	assert_false(opt.present);
}

/* synth_reply and synth_formerr */

static void check_reply_header(const uint8_t *reply, const uint8_t *query, int rcode, unsigned an,
			       unsigned ar)
{
	assert_int_equal(wire_id(reply), wire_id(query));
	assert_true(wire_is_response(reply));
	/* OPCODE and RD kept, AA and TC clear */
	assert_int_equal(reply[WIRE_OFF_FLAGS1] & 0x79, query[WIRE_OFF_FLAGS1] & 0x79);
	assert_int_equal(reply[WIRE_OFF_FLAGS1] & (WIRE_FLAG1_AA | WIRE_FLAG1_TC), 0);
	assert_int_equal(reply[WIRE_OFF_FLAGS2] & WIRE_FLAG2_RA, 0);
	assert_int_equal(wire_rcode(reply), rcode);
	assert_int_equal(wire_read_u16(reply + WIRE_OFF_QDCOUNT), 1);
	assert_int_equal(wire_read_u16(reply + WIRE_OFF_ANCOUNT), an);
	assert_int_equal(wire_read_u16(reply + WIRE_OFF_NSCOUNT), 0);
	assert_int_equal(wire_read_u16(reply + WIRE_OFF_ARCOUNT), ar);
}

/* The OPT record a reply carries at <p>, with an EDE of <ede> (or none). */
static void check_reply_opt(const uint8_t *p, bool dnssec_ok, int ede)
{
	assert_int_equal(p[0], 0);
	assert_int_equal(wire_read_u16(p + 1), WIRE_TYPE_OPT);
	assert_int_equal(wire_read_u16(p + 3), WIRE_UDP_EDNS_SIZE);
	assert_int_equal(p[5], 0);
	assert_int_equal(p[6], 0);
	assert_int_equal(p[7], dnssec_ok ? 0x80 : 0);
	assert_int_equal(p[8], 0);
	if (ede == WIRE_EDE_NONE) {
		assert_int_equal(wire_read_u16(p + 9), 0);
		return;
	}
	assert_int_equal(wire_read_u16(p + 9), 6);
	assert_int_equal(wire_read_u16(p + 11), WIRE_EDNS_OPT_EDE);
	assert_int_equal(wire_read_u16(p + 13), 2);
	assert_int_equal(wire_read_u16(p + 15), ede);
}

static void test_synth_no_edns(void **state)
{
	uint8_t msg[512];
	struct wire_question q;
	int n;

	(void)state;
	memcpy(msg, q_www_a, sizeof(q_www_a));
	assert_int_equal(wire_parse_query(msg, sizeof(q_www_a), &q), DR_EOK);
	n = synth_reply(msg, sizeof(q_www_a), sizeof(msg), &q, WIRE_RCODE_SERVFAIL,
			WIRE_EDE_NETWORK_ERROR, NULL);
	assert_int_equal(n, sizeof(q_www_a));
	check_reply_header(msg, q_www_a, WIRE_RCODE_SERVFAIL, 0, 0);
	assert_int_equal(msg[WIRE_OFF_FLAGS1], WIRE_FLAG1_QR | WIRE_FLAG1_RD);
	/* question unchanged */
	assert_memory_equal(msg + WIRE_HDR_LEN, q_www_a + WIRE_HDR_LEN,
			    sizeof(q_www_a) - WIRE_HDR_LEN);
}

static void test_synth_edns_ede(void **state)
{
	uint8_t msg[512];
	struct wire_question q;
	struct wire_opt opt;
	int n;

	(void)state;
	memcpy(msg, q_mixed_edns, sizeof(q_mixed_edns));
	assert_int_equal(wire_parse_query(msg, sizeof(q_mixed_edns), &q), DR_EOK);
	n = synth_reply(msg, sizeof(q_mixed_edns), sizeof(msg), &q, WIRE_RCODE_REFUSED,
			WIRE_EDE_NOT_AUTHORITATIVE, NULL);
	assert_int_equal(n, q.end + 11 + 6);
	check_reply_header(msg, q_mixed_edns, WIRE_RCODE_REFUSED, 0, 1);
	/* CD kept, AD not: the router validated nothing */
	assert_int_equal(msg[WIRE_OFF_FLAGS2] & WIRE_FLAG2_CD, WIRE_FLAG2_CD);
	assert_int_equal(msg[WIRE_OFF_FLAGS2] & WIRE_FLAG2_AD, 0);
	assert_memory_equal(msg + WIRE_HDR_LEN, q_mixed_edns + WIRE_HDR_LEN, q.end - WIRE_HDR_LEN);
	check_reply_opt(msg + q.end, true, WIRE_EDE_NOT_AUTHORITATIVE);

	/* The reply is a message the parser takes, and its OPT is found */
	assert_int_equal(wire_parse_question(msg, (size_t)n, &q), DR_EOK);
	assert_int_equal(edns_find_opt(msg, (size_t)n, &q, &opt), DR_EOK);
	assert_true(opt.present);
	assert_int_equal(opt.udp_size, WIRE_UDP_EDNS_SIZE);
}

static void test_synth_edns_no_ede(void **state)
{
	uint8_t msg[512];
	struct wire_question q;
	int n;

	(void)state;
	memcpy(msg, q_id_server_ch, sizeof(q_id_server_ch));
	assert_int_equal(wire_parse_query(msg, sizeof(q_id_server_ch), &q), DR_EOK);
	n = synth_reply(msg, sizeof(q_id_server_ch), sizeof(msg), &q, WIRE_RCODE_NOERROR,
			WIRE_EDE_NONE, NULL);
	assert_int_equal(n, q.end + 11);
	check_reply_header(msg, q_id_server_ch, WIRE_RCODE_NOERROR, 0, 1);
	check_reply_opt(msg + q.end, false, WIRE_EDE_NONE);
}

static void test_synth_txt(void **state)
{
	/* id.server.	0	CH	TXT	"router-1" (owner: pointer to offset 12) */
	static const uint8_t answer[] = {
		0xc0, 0x0c, 0x00, 0x10, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x09, 0x08, 'r',  'o',  'u',  't',  'e',  'r',  '-',  '1',
	};
	uint8_t msg[512];
	struct wire_question q;
	struct wire_opt opt;
	int n;

	(void)state;
	memcpy(msg, q_id_server_ch, sizeof(q_id_server_ch));
	assert_int_equal(wire_parse_query(msg, sizeof(q_id_server_ch), &q), DR_EOK);
	n = synth_reply(msg, sizeof(q_id_server_ch), sizeof(msg), &q, WIRE_RCODE_NOERROR,
			WIRE_EDE_NONE, "router-1");
	assert_int_equal(n, q.end + sizeof(answer) + 11);
	check_reply_header(msg, q_id_server_ch, WIRE_RCODE_NOERROR, 1, 1);
	assert_memory_equal(msg + q.end, answer, sizeof(answer));
	check_reply_opt(msg + q.end + sizeof(answer), false, WIRE_EDE_NONE);
	assert_int_equal(wire_parse_question(msg, (size_t)n, &q), DR_EOK);
	assert_int_equal(edns_find_opt(msg, (size_t)n, &q, &opt), DR_EOK);
	assert_true(opt.present);

	/* Without EDNS in the query: the answer alone */
	memcpy(msg, q_id_server_ch, sizeof(q_id_server_ch));
	msg[WIRE_OFF_ARCOUNT + 1] = 0;
	assert_int_equal(wire_parse_query(msg, q.end, &q), DR_EOK);
	n = synth_reply(msg, q.end, sizeof(msg), &q, WIRE_RCODE_NOERROR, WIRE_EDE_NONE, "router-1");
	assert_int_equal(n, q.end + sizeof(answer));
	check_reply_header(msg, q_id_server_ch, WIRE_RCODE_NOERROR, 1, 0);
	assert_memory_equal(msg + q.end, answer, sizeof(answer));
}

static void test_synth_opcode_kept(void **state)
{
	uint8_t msg[512];
	struct wire_question q;
	int n;

	(void)state;
	memcpy(msg, q_status_edns, sizeof(q_status_edns));
	assert_int_equal(wire_parse_query(msg, sizeof(q_status_edns), &q), DR_EOK);
	n = synth_reply(msg, sizeof(q_status_edns), sizeof(msg), &q, WIRE_RCODE_NOTIMP,
			WIRE_EDE_PROHIBITED, NULL);
	assert_int_equal(n, q.end + 17);
	assert_int_equal(msg[WIRE_OFF_FLAGS1], 0x80 | 0x10 | 0x01);
	check_reply_header(msg, q_status_edns, WIRE_RCODE_NOTIMP, 0, 1);
	check_reply_opt(msg + q.end, false, WIRE_EDE_PROHIBITED);
}

static void test_synth_space(void **state)
{
	uint8_t msg[600];
	char big[300];
	struct wire_question q;

	(void)state;
	memcpy(msg, q_mixed_edns, sizeof(q_mixed_edns));
	assert_int_equal(wire_parse_query(msg, sizeof(q_mixed_edns), &q), DR_EOK);
	/* Room for the question but not the OPT */
	assert_int_equal(synth_reply(msg, sizeof(q_mixed_edns), q.end + 5, &q, WIRE_RCODE_SERVFAIL,
				     WIRE_EDE_NETWORK_ERROR, NULL),
			 DR_ESPACE);
	/* Exactly enough */
	assert_int_equal(synth_reply(msg, sizeof(q_mixed_edns), q.end + 17, &q, WIRE_RCODE_SERVFAIL,
				     WIRE_EDE_NETWORK_ERROR, NULL),
			 q.end + 17);

	/* A TXT string longer than one character-string can hold */
	memcpy(msg, q_id_server_ch, sizeof(q_id_server_ch));
	assert_int_equal(wire_parse_query(msg, sizeof(q_id_server_ch), &q), DR_EOK);
	memset(big, 'x', 256);
	big[256] = '\0';
	assert_int_equal(synth_reply(msg, sizeof(q_id_server_ch), sizeof(msg), &q,
				     WIRE_RCODE_NOERROR, WIRE_EDE_NONE, big),
			 DR_ESPACE);
	big[255] = '\0';
	assert_int_equal(synth_reply(msg, sizeof(q_id_server_ch), sizeof(msg), &q,
				     WIRE_RCODE_NOERROR, WIRE_EDE_NONE, big),
			 q.end + 13 + 255 + 11);
}

static void test_synth_formerr(void **state)
{
	uint8_t msg[sizeof(bad_pointer)];

	(void)state;
	memcpy(msg, bad_pointer, sizeof(msg));
	assert_int_equal(synth_formerr(msg, sizeof(msg)), WIRE_HDR_LEN);
	assert_int_equal(wire_id(msg), 0x0001);
	assert_true(wire_is_response(msg));
	assert_int_equal(msg[WIRE_OFF_FLAGS1], WIRE_FLAG1_QR | WIRE_FLAG1_RD);
	assert_int_equal(wire_rcode(msg), WIRE_RCODE_FORMERR);
	for (unsigned off = WIRE_OFF_QDCOUNT; off < WIRE_HDR_LEN; off += 2) {
		assert_int_equal(wire_read_u16(msg + off), 0);
	}

	/* OPCODE kept, RD clear stays clear */
	memcpy(msg, bad_pointer, sizeof(msg));
	msg[WIRE_OFF_FLAGS1] = 0x20; /* opcode 4, NOTIFY */
	assert_int_equal(synth_formerr(msg, WIRE_HDR_LEN), WIRE_HDR_LEN);
	assert_int_equal(msg[WIRE_OFF_FLAGS1], 0x80 | 0x20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edns_query),
		cmocka_unit_test(test_edns_none),
		cmocka_unit_test(test_edns_two_opt),
		cmocka_unit_test(test_edns_response),
		cmocka_unit_test(test_edns_non_root_owner),
		cmocka_unit_test(test_synth_no_edns),
		cmocka_unit_test(test_synth_edns_ede),
		cmocka_unit_test(test_synth_edns_no_ede),
		cmocka_unit_test(test_synth_txt),
		cmocka_unit_test(test_synth_opcode_kept),
		cmocka_unit_test(test_synth_space),
		cmocka_unit_test(test_synth_formerr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
