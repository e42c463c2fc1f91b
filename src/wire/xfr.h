/* SPDX-License-Identifier: MIT */
/* wire/xfr.h -- where a zone transfer's stream of answers ends (RFC 5936, RFC 1995) */
#ifndef DR_WIRE_XFR_H
#define DR_WIRE_XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the answers of one AXFR or IXFR showed so far. Zero it, set <qtype>, and feed it every
 * answer message in order. */
struct xfr_track {
	uint16_t qtype;    /* WIRE_TYPE_AXFR or WIRE_TYPE_IXFR */
	bool incremental;  /* IXFR answered with differences: the second record is an SOA */
	uint32_t serial;   /* the first SOA's: the version being transferred */
	uint32_t soa_seen; /* SOA records with <serial>, the first one included */
	uint64_t records;  /* answer records so far */
	uint64_t messages; /* messages so far */
};

enum xfr_verdict {
	XFR_MORE = 0, /* the transfer goes on */
	XFR_DONE = 1, /* that message was the last */
};

/* Account for the answer message <msg> of <len> bytes (a response, at least a header).
 * Returns XFR_MORE, XFR_DONE, or DR_EMALF when the message is not a transfer's: records
 * that run past it, or a first record that is not an SOA. A message with an error rcode,
 * and a first message with no answer records, end the transfer: it is the backend's whole
 * answer. An AXFR ends at its second SOA (RFC 5936 §2.2); an IXFR at a lone SOA (already up
 * to date), at the second SOA of the newest version when sent whole, and at its third when
 * sent as differences, whose last one opens with that SOA too (RFC 1995 §4). */
int xfr_track_message(struct xfr_track *t, const uint8_t *msg, size_t len);

#endif
