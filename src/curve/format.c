/* SPDX-License-Identifier: MIT */
/* curve/format.c -- DNSCurve messages: detection, query parsing, response framing, padding */
#include "curve/format.h"

#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "curve/base32.h"
#include "wire/wire.h"

static const uint8_t query_magic[CURVE_MAGIC_LEN] = {'Q', '6', 'f', 'n', 'v', 'W', 'j', '8'};
static const uint8_t response_magic[CURVE_MAGIC_LEN] = {'R', '6', 'f', 'n', 'v', 'W', 'J', '8'};

#define KEY_LABEL_PREFIX "x1a"
#define KEY_LABEL_PREFIX_LEN 3

/* TXT response: the answer's fixed part after the question (c00c, type, class, TTL, RDLENGTH)
 * and the flags, QR and AA (crypto-fronts.md §1.1; dq refuses RD or RA set). */
enum {
	TXT_ANSWER_FIXED = 12,
	TXT_RESP_FLAGS1 = WIRE_FLAG1_QR | WIRE_FLAG1_AA,
	TXT_STRING_MAX = 255,
	TXT_RDATA_HEAD = CURVE_HALF_NONCE + CURVE_MAC_LEN, /* server nonce and MAC: 28 */
};

/* Where the parts of a TXT query's name are, found by txt_shape(). */
struct txt_shape {
	size_t key;       /* offset of the key label's first character ('x') */
	size_t box_end;   /* offset just past the last box label */
	size_t box_chars; /* characters in the box labels */
};

static bool txt_header_ok(const uint8_t *pkt, size_t len)
{
	return len >= WIRE_HDR_LEN && (pkt[WIRE_OFF_FLAGS1] & ~WIRE_FLAG1_RD) == 0 &&
	       pkt[WIRE_OFF_FLAGS2] == 0 && wire_read_u16(pkt + WIRE_OFF_QDCOUNT) == 1 &&
	       wire_read_u16(pkt + WIRE_OFF_ANCOUNT) == 0 &&
	       wire_read_u16(pkt + WIRE_OFF_NSCOUNT) == 0 &&
	       wire_read_u16(pkt + WIRE_OFF_ARCOUNT) == 0;
}

static bool is_key_label(const uint8_t *label, size_t l)
{
	return l == CURVE_TXT_KEY_LABEL &&
	       strncasecmp((const char *)label, KEY_LABEL_PREFIX, KEY_LABEL_PREFIX_LEN) == 0;
}

/* Walk the question of a would-be TXT query: box labels (1..50 characters, at least one),
 * the key label, any suffix, the root; then IN TXT ending the packet. */
static bool txt_shape(const uint8_t *pkt, size_t len, struct txt_shape *s)
{
	size_t p = WIRE_HDR_LEN;

	if (!txt_header_ok(pkt, len)) {
		return false;
	}
	memset(s, 0, sizeof(*s));
	for (;;) {
		if (p >= len) {
			return false;
		}
		size_t l = pkt[p];
		if (l == 0) {
			p++;
			break;
		}
		/* Also refuses compression pointers: a query's name has no earlier name. */
		if (l > WIRE_LABEL_MAX || p + 1 + l > len ||
		    p + 1 + l - WIRE_HDR_LEN >= WIRE_NAME_MAX) {
			return false;
		}
		if (s->key == 0) {
			if (s->box_chars > 0 && is_key_label(pkt + p + 1, l)) {
				s->key = p + 1;
				s->box_end = p;
			} else if (l <= CURVE_TXT_LABEL_MAX) {
				s->box_chars += l;
			} else {
				return false;
			}
		}
		p += 1 + l;
	}
	return s->key != 0 && p + 4 == len && wire_read_u16(pkt + p) == WIRE_TYPE_TXT &&
	       wire_read_u16(pkt + p + 2) == WIRE_CLASS_IN;
}

static bool streamlined_shape(const uint8_t *pkt, size_t len)
{
	return len >= CURVE_SQ_MIN && memcmp(pkt, query_magic, CURVE_MAGIC_LEN) == 0;
}

enum curve_format curve_detect(const uint8_t *pkt, size_t len)
{
	struct txt_shape s;

	if (streamlined_shape(pkt, len)) {
		return CURVE_FMT_STREAMLINED;
	}
	return txt_shape(pkt, len, &s) ? CURVE_FMT_TXT : CURVE_FMT_PLAIN;
}

static void parse_streamlined(const uint8_t *pkt, size_t len, struct curve_query *q)
{
	memcpy(q->client_pk, pkt + CURVE_SQ_OFF_PK, CURVE_KEY_LEN);
	memcpy(q->client_nonce, pkt + CURVE_SQ_OFF_NONCE, CURVE_HALF_NONCE);
	q->box = pkt + CURVE_SQ_OFF_BOX;
	q->box_len = len - CURVE_SQ_OFF_BOX;
}

/* The box labels' characters are one base32 string cut into labels: join, then decode. */
static int parse_txt(const uint8_t *pkt, size_t len, const struct txt_shape *s,
		     struct curve_query *q)
{
	char chars[WIRE_NAME_MAX];
	size_t n = 0;
	int got;

	for (size_t p = WIRE_HDR_LEN; p < s->box_end; p += 1u + pkt[p]) {
		memcpy(chars + n, pkt + p + 1, pkt[p]);
		n += pkt[p];
	}
	got = curve_base32_decode(chars, n, CURVE_BASE32_STRICT, q->txt_decoded,
				  sizeof(q->txt_decoded));
	if (got < CURVE_HALF_NONCE + CURVE_MAC_LEN ||
	    curve_base32_decode_key((const char *)pkt + s->key + KEY_LABEL_PREFIX_LEN,
				    q->client_pk) != DR_EOK) {
		return DR_EMALF;
	}
	memcpy(q->client_nonce, q->txt_decoded, CURVE_HALF_NONCE);
	q->box = q->txt_decoded + CURVE_HALF_NONCE;
	q->box_len = (size_t)got - CURVE_HALF_NONCE;
	q->id = wire_id(pkt);
	q->rd = (pkt[WIRE_OFF_FLAGS1] & WIRE_FLAG1_RD) != 0;
	q->question = pkt + WIRE_HDR_LEN;
	q->question_len = (uint16_t)(len - WIRE_HDR_LEN);
	return DR_EOK;
}

int curve_parse(const uint8_t *pkt, size_t len, struct curve_query *q)
{
	struct txt_shape s;

	memset(q, 0, offsetof(struct curve_query, txt_decoded));
	if (streamlined_shape(pkt, len)) {
		q->format = CURVE_FMT_STREAMLINED;
		parse_streamlined(pkt, len, q);
		return DR_EOK;
	}
	if (txt_shape(pkt, len, &s)) {
		q->format = CURVE_FMT_TXT;
		return parse_txt(pkt, len, &s, q);
	}
	q->format = CURVE_FMT_PLAIN;
	return DR_EINVAL;
}

static int build_streamlined(uint8_t *out, size_t cap, const struct curve_query *q,
			     const uint8_t *server_nonce, const uint8_t *box, size_t box_len)
{
	if (box_len > WIRE_TCP_MSG_MAX - CURVE_SR_OFF_BOX || CURVE_SR_OFF_BOX + box_len > cap) {
		return DR_ESPACE;
	}
	/* The box first: it may have been sealed in place, or overlap the header's room. */
	if (box != out + CURVE_SR_OFF_BOX) {
		memmove(out + CURVE_SR_OFF_BOX, box, box_len);
	}
	memcpy(out + CURVE_SR_OFF_MAGIC, response_magic, CURVE_MAGIC_LEN);
	memcpy(out + CURVE_SR_OFF_CNONCE, q->client_nonce, CURVE_HALF_NONCE);
	memcpy(out + CURVE_SR_OFF_SNONCE, server_nonce, CURVE_HALF_NONCE);
	return (int)(CURVE_SR_OFF_BOX + box_len);
}

/* Copy <n> bytes from offset <at> of server_nonce || box to <dst>. */
static void copy_span(uint8_t *dst, size_t at, size_t n, const uint8_t *server_nonce,
		      const uint8_t *box)
{
	if (at < CURVE_HALF_NONCE) {
		size_t k = CURVE_HALF_NONCE - at < n ? CURVE_HALF_NONCE - at : n;
		memcpy(dst, server_nonce + at, k);
		dst += k;
		at += k;
		n -= k;
	}
	memcpy(dst, box + (at - CURVE_HALF_NONCE), n);
}

static int build_txt(uint8_t *out, size_t cap, const struct curve_query *q,
		     const uint8_t *server_nonce, const uint8_t *box, size_t box_len)
{
	size_t payload, rdlen, total, o, done;

	if (box_len > WIRE_TCP_MSG_MAX) {
		return DR_ESPACE;
	}
	payload = CURVE_HALF_NONCE + box_len;
	rdlen = payload + (payload + TXT_STRING_MAX - 1) / TXT_STRING_MAX;
	total = WIRE_HDR_LEN + q->question_len + TXT_ANSWER_FIXED + rdlen;
	if (total > WIRE_TCP_MSG_MAX || total > cap) {
		return DR_ESPACE;
	}
	wire_set_id(out, q->id);
	out[WIRE_OFF_FLAGS1] = TXT_RESP_FLAGS1;
	out[WIRE_OFF_FLAGS2] = 0;
	wire_write_u16(out + WIRE_OFF_QDCOUNT, 1);
	wire_write_u16(out + WIRE_OFF_ANCOUNT, 1);
	wire_write_u16(out + WIRE_OFF_NSCOUNT, 0);
	wire_write_u16(out + WIRE_OFF_ARCOUNT, 0);
	memcpy(out + WIRE_HDR_LEN, q->question, q->question_len);
	o = WIRE_HDR_LEN + q->question_len;
	wire_write_u16(out + o, 0xc000 | WIRE_HDR_LEN); /* the owner is the question's name */
	wire_write_u16(out + o + 2, WIRE_TYPE_TXT);
	wire_write_u16(out + o + 4, WIRE_CLASS_IN);
	memset(out + o + 6, 0, 4); /* TTL 0: a box is for one query */
	wire_write_u16(out + o + 10, (uint16_t)rdlen);
	o += TXT_ANSWER_FIXED;
	for (done = 0; done < payload;) {
		size_t n = payload - done < TXT_STRING_MAX ? payload - done : TXT_STRING_MAX;
		out[o++] = (uint8_t)n;
		copy_span(out + o, done, n, server_nonce, box);
		o += n;
		done += n;
	}
	return (int)o;
}

int curve_build_response(uint8_t *out, size_t cap, const struct curve_query *q,
			 const uint8_t server_nonce[CURVE_HALF_NONCE], const uint8_t *box,
			 size_t box_len)
{
	switch (q->format) {
	case CURVE_FMT_STREAMLINED:
		return build_streamlined(out, cap, q, server_nonce, box, box_len);
	case CURVE_FMT_TXT:
		return build_txt(out, cap, q, server_nonce, box, box_len);
	case CURVE_FMT_PLAIN:
		break;
	}
	return DR_EINVAL;
}

size_t curve_inner_max(const struct curve_query *q, size_t outer_max)
{
	size_t fixed, room, payload;

	if (outer_max > WIRE_TCP_MSG_MAX) {
		outer_max = WIRE_TCP_MSG_MAX;
	}
	if (q->format == CURVE_FMT_STREAMLINED) {
		return outer_max > CURVE_SR_OVERHEAD ? outer_max - CURVE_SR_OVERHEAD : 0;
	}
	if (q->format != CURVE_FMT_TXT) {
		return 0;
	}
	fixed = WIRE_HDR_LEN + q->question_len + TXT_ANSWER_FIXED;
	if (outer_max <= fixed) {
		return 0;
	}
	/* The largest payload P with P + ceil(P / 255) <= room. */
	room = outer_max - fixed;
	payload = room - (room + TXT_STRING_MAX) / (TXT_STRING_MAX + 1);
	return payload > TXT_RDATA_HEAD ? payload - TXT_RDATA_HEAD : 0;
}

/* Step over <count> records (or questions, <question> true) from *<pos>. */
static int skip_records(const uint8_t *msg, size_t len, size_t *pos, unsigned count, bool question)
{
	for (unsigned i = 0; i < count; i++) {
		if (wire_skip_name(msg, len, pos) != DR_EOK) {
			return DR_EMALF;
		}
		size_t fixed = question ? 4 : 10; /* type, class (, TTL, RDLENGTH) */
		if (len - *pos < fixed) {
			return DR_EMALF;
		}
		size_t rdlen = question ? 0 : wire_read_u16(msg + *pos + 8);
		if (len - *pos - fixed < rdlen) {
			return DR_EMALF;
		}
		*pos += fixed + rdlen;
	}
	return DR_EOK;
}

int curve_inner_len(const uint8_t *msg, size_t len, size_t *msg_len, enum curve_pad *pad)
{
	size_t pos = WIRE_HDR_LEN;
	unsigned rrs;

	*pad = CURVE_PAD_GARBAGE;
	*msg_len = 0;
	if (len < WIRE_HDR_LEN) {
		return DR_EMALF;
	}
	rrs = (unsigned)wire_read_u16(msg + WIRE_OFF_ANCOUNT) +
	      wire_read_u16(msg + WIRE_OFF_NSCOUNT) + wire_read_u16(msg + WIRE_OFF_ARCOUNT);
	if (skip_records(msg, len, &pos, wire_read_u16(msg + WIRE_OFF_QDCOUNT), true) != DR_EOK ||
	    skip_records(msg, len, &pos, rrs, false) != DR_EOK) {
		return DR_EMALF;
	}
	*msg_len = pos;
	if (pos == len) {
		*pad = CURVE_PAD_NONE;
		return DR_EOK;
	}
	/* dq pads streamlined queries with zeros and a final 0x80 (to 128 or 192 bytes in all;
	 * seen on dq 20230101). Anything else after the message is not ours to forward. */
	if (msg[len - 1] != 0x80) {
		return DR_EMALF;
	}
	for (size_t i = pos; i < len - 1; i++) {
		if (msg[i] != 0) {
			return DR_EMALF;
		}
	}
	*pad = CURVE_PAD_DQ;
	return DR_EOK;
}
