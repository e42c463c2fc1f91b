/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_wire.c -- question parsing, OPT lookup, synthesized and slipped replies, names */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "limit/rrl.h"
#include "wire/edns.h"
#include "wire/synth.h"
#include "wire/wire.h"
#include "fuzz.h"

/* Reply to the query the way the router does, into a copy with room to grow, and read the
 * reply back: same question, EDNS exactly when the query had it. */
static void reply(const uint8_t *data, size_t size, const struct wire_question *q, bool edns)
{
	size_t cap = size + 512;
	uint8_t *buf = malloc(cap);
	const char *txt = (data[WIRE_OFF_ID] & 1) ? "router-1" : NULL;
	struct wire_question rq;
	struct wire_opt ropt;
	int n;

	if (buf == NULL) {
		return;
	}
	memcpy(buf, data, size);
	n = synth_reply(buf, size, cap, q, data[WIRE_OFF_ID + 1] & 0x0f, WIRE_EDE_NETWORK_ERROR,
			txt);
	CHECK(n >= (int)q->end && (size_t)n <= cap);
	CHECK(wire_parse_question(buf, (size_t)n, &rq) == DR_EOK);
	CHECK(wire_is_response(buf) && wire_id(buf) == q->id);
	CHECK(rq.name_len == q->name_len && memcmp(rq.name, q->name, q->name_len) == 0);
	CHECK(rq.qtype == q->qtype && rq.qclass == q->qclass);
	CHECK(edns_find_opt(buf, (size_t)n, &rq, &ropt) == DR_EOK && ropt.present == edns);
	free(buf);
}

/* What RRL sends instead of a limited answer: header with TC=1 and the same question. */
static void slip(const uint8_t *data, size_t size, const struct wire_question *q)
{
	uint8_t *buf = malloc(size);
	struct wire_question sq;
	size_t n;

	if (buf == NULL) {
		return;
	}
	memcpy(buf, data, size);
	n = rrl_slip_reply(buf, size);
	CHECK(n == q->end);
	CHECK(wire_parse_question(buf, n, &sq) == DR_EOK && sq.end == n);
	CHECK(sq.id == q->id && sq.name_len == q->name_len &&
	      memcmp(sq.name, q->name, q->name_len) == 0);
	CHECK((buf[WIRE_OFF_FLAGS1] & WIRE_FLAG1_TC) &&
	      wire_read_u16(buf + WIRE_OFF_ANCOUNT) == 0 &&
	      wire_read_u16(buf + WIRE_OFF_NSCOUNT) == 0 &&
	      wire_read_u16(buf + WIRE_OFF_ARCOUNT) == 0);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_question q;
	struct wire_opt opt;
	char text[WIRE_NAME_TEXT_MAX];
	uint8_t back[WIRE_NAME_MAX];
	int rc, qrc;

	rc = wire_parse_question(data, size, &q);
	qrc = wire_parse_query(data, size, &q);
	if (rc != DR_EOK) {
		CHECK(qrc != DR_EOK);
		if (size >= WIRE_HDR_LEN && qrc == DR_EMALF) {
			uint8_t hdr[WIRE_HDR_LEN];

			memcpy(hdr, data, sizeof(hdr));
			CHECK(synth_formerr(hdr, sizeof(hdr)) == WIRE_HDR_LEN);
		}
		return 0;
	}
	CHECK(q.end <= size && q.name_len <= WIRE_NAME_MAX);
	slip(data, size, &q);
	(void)wire_question_hash(&q);
	rc = wire_name_to_text(q.name, text, sizeof(text));
	CHECK(rc > 0 && (size_t)rc == strlen(text));
	CHECK(wire_name_from_text(text, back) == q.name_len);
	CHECK(memcmp(back, q.name, q.name_len) == 0);
	rc = edns_find_opt(data, size, &q, &opt);
	CHECK(rc == DR_EOK || rc == DR_EMALF);
	CHECK(!opt.present || opt.offset >= q.end);
	if (qrc == DR_EOK) {
		reply(data, size, &q, rc == DR_EOK && opt.present);
	}
	return 0;
}
