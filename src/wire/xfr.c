/* SPDX-License-Identifier: MIT */
/* wire/xfr.c -- where a zone transfer's stream of answers ends (RFC 5936, RFC 1995) */
#include "common/err.h"
#include "wire/wire.h"
#include "wire/xfr.h"

#define RR_FIXED 10 /* type, class, TTL, RDLENGTH */

/* One answer record of <type>, RDATA at <rdata>: update <t>. */
static int track_record(struct xfr_track *t, const uint8_t *msg, size_t len, uint16_t type,
			size_t rdata, size_t rdlen)
{
	uint32_t serial;

	if (type != WIRE_TYPE_SOA) {
		return t->records++ == 0 ? DR_EMALF : XFR_MORE;
	}
	if (wire_soa_serial(msg, len, rdata, rdlen, &serial) != DR_EOK) {
		return DR_EMALF;
	}
	if (t->records == 0) {
		t->serial = serial;
	} else if (t->records == 1 && t->qtype == WIRE_TYPE_IXFR) {
		t->incremental = true;
	}
	t->records++;
	if (serial == t->serial) {
		t->soa_seen++;
	}
	return t->soa_seen >= (t->incremental ? 3u : 2u) ? XFR_DONE : XFR_MORE;
}

static int skip_questions(const uint8_t *msg, size_t len, size_t *pos)
{
	for (unsigned n = wire_read_u16(msg + WIRE_OFF_QDCOUNT); n > 0; n--) {
		if (wire_skip_name(msg, len, pos) != DR_EOK || *pos + 4 > len) {
			return DR_EMALF;
		}
		*pos += 4;
	}
	return DR_EOK;
}

/* A resource record: its type and RDATA. */
struct rr {
	uint16_t type;
	size_t rdata, rdlen;
};

/* Step over the record at *<pos> into <rr>. DR_EOK, or DR_EMALF when it runs past <len>. */
static int next_record(const uint8_t *msg, size_t len, size_t *pos, struct rr *rr)
{
	if (wire_skip_name(msg, len, pos) != DR_EOK || *pos + RR_FIXED > len) {
		return DR_EMALF;
	}
	rr->type = wire_read_u16(msg + *pos);
	rr->rdlen = wire_read_u16(msg + *pos + 8);
	rr->rdata = *pos + RR_FIXED;
	if (rr->rdata + rr->rdlen > len) {
		return DR_EMALF;
	}
	*pos = rr->rdata + rr->rdlen;
	return DR_EOK;
}

int xfr_track_message(struct xfr_track *t, const uint8_t *msg, size_t len)
{
	unsigned answers = wire_read_u16(msg + WIRE_OFF_ANCOUNT);
	size_t pos = WIRE_HDR_LEN;
	int verdict = XFR_MORE;

	t->messages++;
	if (wire_rcode(msg) != WIRE_RCODE_NOERROR) {
		return XFR_ERROR;
	}
	if (t->messages == 1 && answers == 0) {
		return XFR_DONE;
	}
	if (skip_questions(msg, len, &pos) != DR_EOK) {
		return DR_EMALF;
	}
	for (unsigned i = 0; i < answers && verdict == XFR_MORE; i++) {
		struct rr rr;
		if (next_record(msg, len, &pos, &rr) != DR_EOK) {
			return DR_EMALF;
		}
		verdict = track_record(t, msg, len, rr.type, rr.rdata, rr.rdlen);
		if (verdict < 0) {
			return verdict;
		}
	}
	/* An IXFR client already up to date gets the SOA alone (RFC 1995 §2): one not newer
	 * than its own (RFC 1982 serial arithmetic). */
	if (t->qtype == WIRE_TYPE_IXFR && t->messages == 1 && answers == 1 && t->records == 1 &&
	    (!t->client_serial_known || (int32_t)(t->serial - t->client_serial) <= 0)) {
		return XFR_DONE;
	}
	return verdict;
}

void xfr_track_query(struct xfr_track *t, const uint8_t *q, size_t len)
{
	size_t pos = WIRE_HDR_LEN;

	if (len < WIRE_HDR_LEN || wire_read_u16(q + WIRE_OFF_ANCOUNT) != 0 ||
	    skip_questions(q, len, &pos) != DR_EOK) {
		return;
	}
	for (unsigned n = wire_read_u16(q + WIRE_OFF_NSCOUNT); n > 0; n--) {
		struct rr rr;
		if (next_record(q, len, &pos, &rr) != DR_EOK) {
			return;
		}
		if (rr.type == WIRE_TYPE_SOA &&
		    wire_soa_serial(q, len, rr.rdata, rr.rdlen, &t->client_serial) == DR_EOK) {
			t->client_serial_known = true;
			return;
		}
	}
}
