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
	uint16_t qtype;           /* WIRE_TYPE_AXFR or WIRE_TYPE_IXFR */
	bool incremental;         /* IXFR answered with differences: the second record is an SOA */
	uint32_t serial;          /* the first SOA's: the version being transferred */
	uint32_t soa_seen;        /* SOA records with <serial>, the first one included */
	uint64_t records;         /* answer records so far */
	uint64_t messages;        /* messages so far */
	bool client_serial_known; /* IXFR: the query's authority section had the client's SOA */
	uint32_t client_serial;
};

/* IXFR: note the client's serial from the SOA in the authority section of query <q> (<len>
 * bytes), which tells a lone SOA that means "up to date" from the first of many. */
void xfr_track_query(struct xfr_track *t, const uint8_t *q, size_t len);

enum xfr_verdict {
	XFR_MORE = 0,  /* the transfer goes on */
	XFR_DONE = 1,  /* that message was the last */
	XFR_ERROR = 2, /* that message was the last, an error answer: no transfer took place */
};

/* Account for the answer message <msg> of <len> bytes (a response, at least a header).
 * Returns XFR_MORE, XFR_DONE, XFR_ERROR, or DR_EMALF when the message is not a transfer's:
 * records that run past it, or a first record that is not an SOA. A message with an error
 * rcode ends the transfer (XFR_ERROR), and so does a first message with no answer records:
 * it is the backend's whole answer. An AXFR ends at its second SOA (RFC 5936 §2.2); an IXFR
 * at a first message holding only an SOA no newer than the client's (already up to date;
 * with more records to come a server may still send one record per message), at the second
 * SOA of the newest version when sent whole, and at its third when sent as differences,
 * whose last one opens with that SOA too (RFC 1995 §4). */
int xfr_track_message(struct xfr_track *t, const uint8_t *msg, size_t len);

#endif
