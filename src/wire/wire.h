/* SPDX-License-Identifier: MIT */
/* wire/wire.h -- DNS message header accessors and the parsed view of a question */
#ifndef DR_WIRE_WIRE_H
#define DR_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 12
#define WIRE_NAME_MAX 255 /* RFC 1035 §2.3.4, wire form with the root label */
#define WIRE_LABEL_MAX 63
#define WIRE_TCP_MSG_MAX 65535
#define WIRE_UDP_EDNS_SIZE 1232 /* what our own answers advertise (DNS flag day 2020) */

/* Header offsets (RFC 1035 §4.1.1). */
enum {
	WIRE_OFF_ID = 0,
	WIRE_OFF_FLAGS1 = 2, /* QR, OPCODE, AA, TC, RD */
	WIRE_OFF_FLAGS2 = 3, /* RA, Z, AD, CD, RCODE */
	WIRE_OFF_QDCOUNT = 4,
	WIRE_OFF_ANCOUNT = 6,
	WIRE_OFF_NSCOUNT = 8,
	WIRE_OFF_ARCOUNT = 10,
};

enum {
	WIRE_FLAG1_QR = 0x80,
	WIRE_FLAG1_AA = 0x04,
	WIRE_FLAG1_TC = 0x02,
	WIRE_FLAG1_RD = 0x01,
	WIRE_FLAG1_OPCODE_RD = 0x79, /* OPCODE bits and RD: what a reply keeps */
	WIRE_FLAG2_RA = 0x80,
	WIRE_FLAG2_AD = 0x20,
	WIRE_FLAG2_CD = 0x10,
};

enum wire_rcode {
	WIRE_RCODE_NOERROR = 0,
	WIRE_RCODE_FORMERR = 1,
	WIRE_RCODE_SERVFAIL = 2,
	WIRE_RCODE_NXDOMAIN = 3,
	WIRE_RCODE_NOTIMP = 4,
	WIRE_RCODE_REFUSED = 5,
	WIRE_RCODE_BADVERS = 16, /* extended (RFC 6891): 4 bits in the header, 8 in the OPT */
};

enum wire_type {
	WIRE_TYPE_A = 1,
	WIRE_TYPE_SOA = 6,
	WIRE_TYPE_TXT = 16,
	WIRE_TYPE_OPT = 41,
	WIRE_TYPE_NSEC3PARAM = 51,
	WIRE_TYPE_IXFR = 251,
	WIRE_TYPE_AXFR = 252,
};

enum wire_class {
	WIRE_CLASS_IN = 1,
	WIRE_CLASS_CH = 3,
};

/* RFC 8914 Extended DNS Error info-codes the router uses itself. */
enum wire_ede {
	WIRE_EDE_NONE = -1,
	WIRE_EDE_PROHIBITED = 18,
	WIRE_EDE_NOT_AUTHORITATIVE = 20,
	WIRE_EDE_NO_REACHABLE_AUTHORITY = 22,
	WIRE_EDE_NETWORK_ERROR = 23,
};

#define WIRE_EDNS_OPT_EDE 15

static inline uint16_t wire_read_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void wire_write_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t wire_id(const uint8_t *msg)
{
	return wire_read_u16(msg + WIRE_OFF_ID);
}

static inline void wire_set_id(uint8_t *msg, uint16_t id)
{
	wire_write_u16(msg + WIRE_OFF_ID, id);
}

static inline int wire_is_response(const uint8_t *msg)
{
	return (msg[WIRE_OFF_FLAGS1] & WIRE_FLAG1_QR) != 0;
}

enum wire_opcode {
	WIRE_OPCODE_QUERY = 0,
};

static inline int wire_opcode(const uint8_t *msg)
{
	return (msg[WIRE_OFF_FLAGS1] >> 3) & 0x0f;
}

static inline int wire_rcode(const uint8_t *msg)
{
	return msg[WIRE_OFF_FLAGS2] & 0x0f;
}

/* A response with no question and an rcode that says the server could not take the query
 * (FORMERR, NOTIMP, REFUSED): some servers answer so when they could not make sense of a
 * query. Only those: an answer that says something about the name (NOERROR, NXDOMAIN) must
 * repeat the question, or a forger who guessed the ID alone could answer for the backend.
 * <len> is at least a header. */
static inline bool wire_is_bare_error(const uint8_t *msg, size_t len)
{
	int rcode;

	if (len < WIRE_HDR_LEN || !wire_is_response(msg) ||
	    wire_read_u16(msg + WIRE_OFF_QDCOUNT) != 0) {
		return false;
	}
	rcode = wire_rcode(msg);
	return rcode == WIRE_RCODE_FORMERR || rcode == WIRE_RCODE_NOTIMP ||
	       rcode == WIRE_RCODE_REFUSED;
}

/* The parsed view of a message's header and single question. Borrowed packet bytes are not
 * referenced: the name is copied in lower case (the form every lookup uses). */
struct wire_question {
	uint16_t id;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t name_len;           /* wire length of name, root label included */
	uint16_t end;                /* offset just past QCLASS */
	uint8_t labels;              /* label count, root excluded */
	uint8_t name[WIRE_NAME_MAX]; /* lower-cased wire form */
};

/* Parse the header and the one question of the message in <msg> of <len> bytes (query or
 * response) into <q>. Returns DR_EOK; DR_EMALF when the header is short, QDCOUNT is not 1,
 * the name runs past the message, uses a compression pointer (RFC 1035 §4.1.2 allows none in
 * a question of ours to match), or a label or the name is too long. */
int wire_parse_question(const uint8_t *msg, size_t len, struct wire_question *q);

/* As wire_parse_question, for a message arriving at a listener: DR_ERESPONSE when QR is set
 * (never answered, so two routers cannot loop), DR_EMALF as above. */
int wire_parse_query(const uint8_t *msg, size_t len, struct wire_question *q);

/* Step over the name at *<pos> of <msg> (<len> bytes), which may end in a compression pointer
 * (not followed). Returns DR_EOK with *<pos> just past it, or DR_EMALF. */
int wire_skip_name(const uint8_t *msg, size_t len, size_t *pos);

/* The serial of the SOA whose RDATA is <rdlen> bytes at <rdata> in <msg> (<len> bytes; its
 * names may be compressed). DR_EMALF when the RDATA is not an SOA's. */
int wire_soa_serial(const uint8_t *msg, size_t len, size_t rdata, size_t rdlen, uint32_t *serial);

/* A hash of the lower-cased name, type and class: responses must repeat the question. */
uint32_t wire_question_hash(const struct wire_question *q);

/* Write the name of <q> in presentation form with a trailing dot and RFC 4343 escapes
 * (\. inside a label, \DDD for bytes outside printable ASCII) into <buf> of <cap> bytes.
 * Returns the length written without the NUL, or DR_ESPACE. 4 * 255 + 1 always fits. */
int wire_name_to_text(const uint8_t *name, char *buf, size_t cap);

/* Convert presentation form <text> (absolute or not; "." is the root) to lower-cased wire
 * form in <out> (WIRE_NAME_MAX bytes). Returns the wire length or DR_EMALF. */
int wire_name_from_text(const char *text, uint8_t *out);

#define WIRE_NAME_TEXT_MAX (4 * WIRE_NAME_MAX + 2)
#define WIRE_LABELS_MAX 127 /* labels of a name, the root not counted */

/* Where each label of the wire name <name> starts, left to right, into <off>. Returns the
 * number of labels, the root not counted. */
unsigned wire_name_labels(const uint8_t *name, uint8_t off[WIRE_LABELS_MAX]);

/* Compare the lower-cased wire names <a> and <b> (labels at <aoff>, <an> of them, from
 * wire_name_labels) in DNSSEC's canonical order (RFC 4034 §6.1): label by label from the
 * root, each as a byte string, a name before its descendants. Returns -1, 0 or 1. */
int wire_name_canonical_cmp(const uint8_t *a, const uint8_t *aoff, unsigned an, const uint8_t *b,
			    const uint8_t *boff, unsigned bn);

#endif
