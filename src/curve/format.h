/* SPDX-License-Identifier: MIT */
/* curve/format.h -- DNSCurve messages: detection, query parsing, response framing, padding */
#ifndef DR_CURVE_FORMAT_H
#define DR_CURVE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "curve/box.h"

/* The two formats (crypto-fronts.md §1.1), over UDP or as a TCP message after its length. */
enum curve_format {
	CURVE_FMT_PLAIN = 0, /* not DNSCurve: plain DNS */
	CURVE_FMT_STREAMLINED = 1,
	CURVE_FMT_TXT = 2,
};

/* Streamlined query: magic, client key, client nonce, box (MAC || ciphertext). */
enum {
	CURVE_SQ_OFF_MAGIC = 0,
	CURVE_SQ_OFF_PK = 8,
	CURVE_SQ_OFF_NONCE = 40,
	CURVE_SQ_OFF_BOX = 52,
	CURVE_SQ_MIN = CURVE_SQ_OFF_BOX + CURVE_MAC_LEN, /* 68 */
};

/* Streamlined response: magic, client nonce echoed, server nonce, box. */
enum {
	CURVE_SR_OFF_MAGIC = 0,
	CURVE_SR_OFF_CNONCE = 8,
	CURVE_SR_OFF_SNONCE = 20,
	CURVE_SR_OFF_BOX = 32,
	CURVE_SR_OVERHEAD = CURVE_SR_OFF_BOX + CURVE_MAC_LEN, /* 48 */
};

#define CURVE_MAGIC_LEN 8
#define CURVE_TXT_LABEL_MAX 50 /* box characters per label in a TXT query's name */
#define CURVE_TXT_KEY_LABEL 54 /* "x1a" and the 51 characters of the client key */
/* The box of a TXT query fits its name (255 bytes): 5 bits a character, decoded here. */
#define CURVE_TXT_DECODED_MAX 160

/* A DNSCurve query taken apart. <box> points into the packet (streamlined) or into
 * <txt_decoded> (TXT), so a copy of the struct must not outlive or be moved away from it
 * without updating <box>. */
struct curve_query {
	enum curve_format format;
	uint8_t client_pk[CURVE_KEY_LEN];
	uint8_t client_nonce[CURVE_HALF_NONCE];
	const uint8_t *box; /* MAC || ciphertext */
	size_t box_len;
	/* TXT only: what the response repeats. <question> borrows the packet. */
	uint16_t id;
	bool rd;
	const uint8_t *question; /* QNAME QTYPE QCLASS as the client sent them */
	uint16_t question_len;
	uint8_t txt_decoded[CURVE_TXT_DECODED_MAX]; /* client nonce || box */
};

/* Which format the <len> bytes at <pkt> are in, by their shape alone (no decoding, no
 * crypto), as CurveDNS tells them apart on one port:
 * - streamlined: at least 68 bytes beginning with "Q6fnvWj8" (bytes 2-3 would be opcode 12
 *   in a DNS header, which no query uses);
 * - TXT: a header with flags 0x00 or 0x01 (RD) then 0x00, QDCOUNT 1, the other counts 0, one
 *   IN TXT question ending the packet, whose name is box labels of at most 50 characters, a
 *   54-character label "x1a<key>", then any suffix, without compression;
 * - anything else: plain DNS. */
enum curve_format curve_detect(const uint8_t *pkt, size_t len);

/* Take apart the query at <pkt> (<len> bytes) into <q>, whatever its format. Returns DR_EOK;
 * DR_EINVAL when it is plain DNS (q->format says so); DR_EMALF when it has a DNSCurve shape but
 * its base32 or key do not decode or its box is shorter than a MAC: drop it. */
int curve_parse(const uint8_t *pkt, size_t len, struct curve_query *q);

/* Write the response to <q> carrying the server nonce <server_nonce> and the <box_len>-byte
 * box at <box> (MAC || ciphertext, sealed under client nonce || server nonce) into <out> of
 * <cap> bytes, in the query's format:
 * - streamlined: "R6fnvWJ8", client nonce, server nonce, box. <box> may be at
 *   out + CURVE_SR_OFF_BOX already (seal in place; nothing is copied then);
 * - TXT: ID, flags 0x84 0x00 (dq takes nothing else), counts 1 1 0 0, the question as asked,
 *   one answer c00c TXT IN TTL 0 whose character-strings (255 bytes each, the last shorter)
 *   carry server nonce || box. <box> must not overlap <out>.
 * No allocation. Returns the length, or DR_ESPACE when it exceeds <cap> or 65535 bytes, or
 * DR_EINVAL when <q> is not a DNSCurve query. */
int curve_build_response(uint8_t *out, size_t cap, const struct curve_query *q,
			 const uint8_t server_nonce[CURVE_HALF_NONCE], const uint8_t *box,
			 size_t box_len);

/* The largest inner response whose wrapped form for <q> fits <outer_max> bytes (the client's
 * UDP limit, or 65535 over TCP), 0 when none does. The wrapping overhead is outer_max minus
 * this: 48 bytes streamlined; for TXT the header, the echoed question, the answer's 12 fixed
 * bytes, nonce and MAC (28) and one length byte per 255 bytes of the strings. */
size_t curve_inner_max(const struct curve_query *q, size_t outer_max);

/* What follows the DNS message in a decrypted query. */
enum curve_pad {
	CURVE_PAD_NONE = 0,    /* nothing */
	CURVE_PAD_DQ = 1,      /* 0x00... 0x80, as dq pads streamlined queries */
	CURVE_PAD_GARBAGE = 2, /* anything else */
};

/* Find the end of the DNS message at the start of the decrypted <msg> (<len> bytes): the
 * header, QDCOUNT questions and the ANCOUNT + NSCOUNT + ARCOUNT records (names may end in
 * compression pointers, not followed). Returns DR_EOK with its length in *<msg_len> and what
 * follows in *<pad> (NONE or DQ): forward only the first *<msg_len> bytes (Knot answers
 * FORMERR to the padding). Returns DR_EMALF when the message runs past <len>, or when what
 * follows is *<pad> = CURVE_PAD_GARBAGE. */
int curve_inner_len(const uint8_t *msg, size_t len, size_t *msg_len, enum curve_pad *pad);

#endif
