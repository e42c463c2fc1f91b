/* SPDX-License-Identifier: MIT */
/* bench/curveperf/check.c -- verifying answers: frames, boxes, inner messages, latency */
#include <string.h>

#include "common/err.h"
#include "curve/base32.h"
#include "curve/format.h"
#include "curveperf.h"

static const uint8_t response_magic[CURVE_MAGIC_LEN] = {'R', '6', 'f', 'n', 'v', 'W', 'J', '8'};

/* A TXT answer: the fixed part after the echoed question (c00c, type, class, TTL, RDLENGTH). */
enum {
	TXT_ANS_NAME = 0,
	TXT_ANS_TYPE = 2,
	TXT_ANS_CLASS = 4,
	TXT_ANS_RDLEN = 10,
	TXT_ANS_FIXED = 12,
	TXT_NONCE_CHARS = 20, /* base32 characters that carry the 12-byte client nonce */
};

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static unsigned hist_index(uint64_t ns)
{
	if (ns < 1000000) {
		return (unsigned)(ns / 100);
	}
	if (ns < 10000000) {
		return 10000 + (unsigned)((ns - 1000000) / 1000);
	}
	if (ns < 100000000) {
		return 19000 + (unsigned)((ns - 10000000) / 10000);
	}
	if (ns < 10000000000ULL) {
		return 28000 + (unsigned)((ns - 100000000) / 1000000);
	}
	return HIST_N - 1;
}

static uint64_t hist_floor_ns(unsigned i)
{
	if (i < 10000) {
		return (uint64_t)i * 100;
	}
	if (i < 19000) {
		return 1000000 + (uint64_t)(i - 10000) * 1000;
	}
	if (i < 28000) {
		return 10000000 + (uint64_t)(i - 19000) * 10000;
	}
	return 100000000 + (uint64_t)(i - 28000) * 1000000;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns) {
		h->max_ns = ns;
	}
}

/* The latency below which a fraction <p> of answers came, in us (a bucket's lower end). */
double hist_pct_us(const struct hist *h, double p)
{
	uint64_t rank = (uint64_t)((double)h->n * p), seen = 0;

	if (h->n == 0) {
		return 0.0;
	}
	if (rank >= h->n) {
		rank = h->n - 1;
	}
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->count[i];
		if (seen > rank) {
			return (double)hist_floor_ns(i) / 1000.0;
		}
	}
	return (double)h->max_ns / 1000.0;
}

void slot_release(struct run *r, uint32_t si)
{
	r->slots[si].busy = false;
	r->free[r->nfree++] = si;
}

/* The slot an echoed client nonce names, or -1 (counted: late, or bad as a stray). */
static int64_t slot_of_nonce(struct run *r, const uint8_t *nonce)
{
	uint32_t si = get_u32(nonce + CN_OFF_SLOT);

	if (memcmp(nonce + CN_OFF_PREFIX, r->nonce_prefix, 4) != 0 || si >= r->nslots) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	const struct slot *s = &r->slots[si];
	if (!s->busy || memcmp(s->nonce, nonce, CURVE_HALF_NONCE) != 0) {
		r->st.late++; /* ours, but timed out or answered already */
		return -1;
	}
	return si;
}

/* The inner answer <msg> (<len> bytes) to slot <s>: its ID, QR, and the question asked. */
static enum verdict inner_check(struct run *r, const struct slot *s, const uint8_t *msg, size_t len)
{
	const uint16_t qlen = r->ql.len[s->query];

	if (len < WIRE_HDR_LEN || wire_id(msg) != s->inner_id || !wire_is_response(msg) ||
	    wire_opcode(msg) != WIRE_OPCODE_QUERY || wire_read_u16(msg + WIRE_OFF_QDCOUNT) != 1 ||
	    len - WIRE_HDR_LEN < qlen ||
	    memcmp(msg + WIRE_HDR_LEN, r->ql.pool + r->ql.off[s->query], qlen) != 0) {
		return BAD_INNER;
	}
	r->st.rcode[wire_rcode(msg)]++;
	if (msg[WIRE_OFF_FLAGS1] & WIRE_FLAG1_TC) {
		r->st.tc++;
	}
	return ANSWER_OK;
}

/* Open the box of slot <s>'s answer, record the server nonce, check the text inside. */
static enum verdict box_check(struct run *r, const struct slot *s, const uint8_t *snonce,
			      const uint8_t *box, size_t box_len)
{
	size_t len;

	if (curve_box_open(r->text, sizeof(r->text), &len, box, box_len, s->nonce, snonce,
			   r->ks.shared[s->key]) != DR_EOK) {
		return BAD_BOX;
	}
	if (r->nonces != NULL) {
		if (fwrite(snonce, CURVE_HALF_NONCE, 1, r->nonces) == 1) {
			r->st.nonces++;
		} else {
			r->st.nonce_errors++;
		}
	}
	return inner_check(r, s, r->text, len);
}

/* A streamlined answer: magic, client nonce, server nonce, box. */
static int64_t check_streamlined(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	if (len < CURVE_SR_OVERHEAD || memcmp(pkt, response_magic, CURVE_MAGIC_LEN) != 0) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	int64_t si = slot_of_nonce(r, pkt + CURVE_SR_OFF_CNONCE);
	if (si >= 0) {
		*v = box_check(r, &r->slots[si], pkt + CURVE_SR_OFF_SNONCE, pkt + CURVE_SR_OFF_BOX,
			       len - CURVE_SR_OFF_BOX);
	}
	return si;
}

/* The header and answer record of a TXT answer to <s>: ID, flags 0x84 0x00 (QR, AA: dq takes
 * nothing else), counts 1 1 0 0, the question echoed, then c00c TXT IN whose RDATA ends the
 * packet. */
static bool txt_frame_ok(const struct slot *s, const uint8_t *pkt, size_t len)
{
	const size_t qlen = s->len - WIRE_HDR_LEN, p = s->len;

	return len >= p + TXT_ANS_FIXED && wire_id(pkt) == s->id &&
	       pkt[WIRE_OFF_FLAGS1] == (WIRE_FLAG1_QR | WIRE_FLAG1_AA) &&
	       pkt[WIRE_OFF_FLAGS2] == 0 && wire_read_u16(pkt + WIRE_OFF_QDCOUNT) == 1 &&
	       wire_read_u16(pkt + WIRE_OFF_ANCOUNT) == 1 &&
	       wire_read_u16(pkt + WIRE_OFF_NSCOUNT) == 0 &&
	       wire_read_u16(pkt + WIRE_OFF_ARCOUNT) == 0 &&
	       memcmp(pkt + WIRE_HDR_LEN, s->pkt + WIRE_HDR_LEN, qlen) == 0 &&
	       wire_read_u16(pkt + p + TXT_ANS_NAME) == (0xc000 | WIRE_HDR_LEN) &&
	       wire_read_u16(pkt + p + TXT_ANS_TYPE) == WIRE_TYPE_TXT &&
	       wire_read_u16(pkt + p + TXT_ANS_CLASS) == WIRE_CLASS_IN &&
	       len - p - TXT_ANS_FIXED == wire_read_u16(pkt + p + TXT_ANS_RDLEN);
}

/* A TXT answer: the frame, then the RDATA's character-strings joined, server nonce || box. */
static int64_t check_txt(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	uint8_t nonce[CURVE_HALF_NONCE + 1];
	size_t n = 0;

	/* The client nonce opens the echoed name: its first label has 50 characters. */
	if (len < WIRE_HDR_LEN + 1 + TXT_NONCE_CHARS || pkt[WIRE_HDR_LEN] < TXT_NONCE_CHARS ||
	    curve_base32_decode((const char *)pkt + WIRE_HDR_LEN + 1, TXT_NONCE_CHARS,
				CURVE_BASE32_KEEP, nonce, sizeof(nonce)) != CURVE_HALF_NONCE + 1) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	int64_t si = slot_of_nonce(r, nonce);
	if (si < 0) {
		return -1;
	}
	const struct slot *s = &r->slots[si];
	if (!txt_frame_ok(s, pkt, len)) {
		return si; /* *v stays BAD_FRAME */
	}
	for (size_t p = s->len + TXT_ANS_FIXED; p < len;) {
		size_t l = pkt[p++];
		if (l > len - p || l > sizeof(r->payload) - n) {
			return si;
		}
		memcpy(r->payload + n, pkt + p, l);
		n += l;
		p += l;
	}
	if (n >= CURVE_HALF_NONCE + CURVE_MAC_LEN) {
		*v = box_check(r, s, r->payload, r->payload + CURVE_HALF_NONCE,
			       n - CURVE_HALF_NONCE);
	}
	return si;
}

/* A plain answer: the ID is the slot. */
static int64_t check_plain(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	if (len < WIRE_HDR_LEN || wire_id(pkt) >= r->nslots) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	uint32_t si = wire_id(pkt);
	if (!r->slots[si].busy) {
		r->st.late++;
		return -1;
	}
	*v = inner_check(r, &r->slots[si], pkt, len);
	return si;
}

/* Check the datagram <pkt> and end the query it answers. <pkt> is untrusted: every byte read
 * is inside <len>. A datagram longer than the buffer (<truncated>) is checked as far as it
 * goes, so it still ends its query, as bad. */
void answer_handle(struct run *r, const uint8_t *pkt, size_t len, bool truncated, uint64_t now)
{
	enum verdict v = BAD_FRAME;
	int64_t si;

	switch (r->o.fmt) {
	case FMT_TXT:
		si = check_txt(r, pkt, len, &v);
		break;
	case FMT_STREAMLINED:
		si = check_streamlined(r, pkt, len, &v);
		break;
	default:
		si = check_plain(r, pkt, len, &v);
		break;
	}
	if (si < 0) {
		return;
	}
	if (truncated) {
		v = BAD_FRAME;
	}
	/* A matched answer ends its query, good or bad: the server has spoken. */
	r->st.answered++;
	if (v == ANSWER_OK) {
		r->st.ok++;
		hist_add(r->h, now - r->slots[si].sent_ns);
		r->t_last_answer = now;
	} else {
		r->st.bad_why[v]++;
	}
	slot_release(r, (uint32_t)si);
}
