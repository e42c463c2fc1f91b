/* SPDX-License-Identifier: MIT */
/* bench/curveperf/query.c -- building queries: plain, streamlined, TXT */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "curve/base32.h"
#include "curve/format.h"
#include "curveperf.h"

#define TXT_KEY_PREFIX "x1a"

static const uint8_t query_magic[CURVE_MAGIC_LEN] = {'Q', '6', 'f', 'n', 'v', 'W', 'j', '8'};

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The inner message: a header with <id> and no flags (an authoritative query), one question. */
static size_t inner_build(const struct run *r, uint32_t query, uint16_t id, uint8_t *out)
{
	const uint16_t qlen = r->ql.len[query];

	memset(out, 0, WIRE_HDR_LEN);
	wire_set_id(out, id);
	wire_write_u16(out + WIRE_OFF_QDCOUNT, 1);
	memcpy(out + WIRE_HDR_LEN, r->ql.pool + r->ql.off[query], qlen);
	return WIRE_HDR_LEN + qlen;
}

/* A failure that the checks before the timed phase rule out: a bug, so stop. */
static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "curveperf: internal error: %s\n", what);
		exit(1);
	}
}

/* "x1a" and the key, then the zone, then IN TXT, from <p> on; returns the end. */
static size_t txt_tail(const struct run *r, const uint8_t *pk, uint8_t *pkt, size_t p)
{
	/* 52 characters by the length, the last one for the key's top bit, always 0: dropped. */
	char key[CURVE_BASE32_LEN(CURVE_KEY_LEN)];

	must(curve_base32_encode(pk, CURVE_KEY_LEN, key, sizeof(key)) == (int)sizeof(key) &&
		     key[CURVE_BASE32_KEY_LEN] == '0',
	     "key encoding");
	pkt[p++] = CURVE_TXT_KEY_LABEL;
	memcpy(pkt + p, TXT_KEY_PREFIX, 3);
	memcpy(pkt + p + 3, key, CURVE_BASE32_KEY_LEN);
	p += CURVE_TXT_KEY_LABEL;
	memcpy(pkt + p, r->o.zone, r->o.zone_len);
	p += r->o.zone_len;
	wire_write_u16(pkt + p, WIRE_TYPE_TXT);
	wire_write_u16(pkt + p + 2, WIRE_CLASS_IN);
	return p + 4;
}

/* Write slot <si>'s next query into its packet. Sizes were checked by qlist_fits(). */
void query_build(struct run *r, uint32_t si)
{
	struct slot *s = &r->slots[si];
	uint8_t inner[PKT_MAX], boxed[PKT_MAX];
	char chars[2 * PKT_MAX];
	size_t ilen, blen = 0;

	s->gen++;
	s->key = (uint32_t)(r->next_key++ % r->ks.n);
	s->query = (uint32_t)(r->next_query++ % r->ql.n);
	s->inner_id = (uint16_t)rand_next(&r->rnd);
	s->id = (uint16_t)rand_next(&r->rnd);
	memcpy(s->nonce + CN_OFF_PREFIX, r->nonce_prefix, 4);
	put_u32(s->nonce + CN_OFF_SLOT, si);
	put_u32(s->nonce + CN_OFF_GEN, s->gen);
	if (r->o.fmt == FMT_PLAIN) {
		/* No nonce to find the slot by: the ID is the slot. */
		s->inner_id = s->id = (uint16_t)si;
		s->len = (uint16_t)inner_build(r, s->query, s->id, s->pkt);
		return;
	}
	ilen = inner_build(r, s->query, s->inner_id, inner);
	const uint8_t *shared = r->ks.shared[s->key];
	if (r->o.fmt == FMT_STREAMLINED) {
		memcpy(s->pkt + CURVE_SQ_OFF_MAGIC, query_magic, CURVE_MAGIC_LEN);
		memcpy(s->pkt + CURVE_SQ_OFF_PK, r->ks.pk[s->key], CURVE_KEY_LEN);
		memcpy(s->pkt + CURVE_SQ_OFF_NONCE, s->nonce, CURVE_HALF_NONCE);
		must(curve_box_seal(s->pkt + CURVE_SQ_OFF_BOX, PKT_MAX - CURVE_SQ_OFF_BOX, &blen,
				    inner, ilen, s->nonce, NULL, shared) == DR_EOK,
		     "seal");
		s->len = (uint16_t)(CURVE_SQ_OFF_BOX + blen);
		return;
	}
	/* TXT: base32(client nonce || box) in labels of 50, the key label, the zone. */
	memcpy(boxed, s->nonce, CURVE_HALF_NONCE);
	must(curve_box_seal(boxed + CURVE_HALF_NONCE, PKT_MAX - CURVE_HALF_NONCE, &blen, inner,
			    ilen, s->nonce, NULL, shared) == DR_EOK,
	     "seal");
	int nchars = curve_base32_encode(boxed, CURVE_HALF_NONCE + blen, chars, sizeof(chars));
	must(nchars > 0, "box encoding");
	memset(s->pkt, 0, WIRE_HDR_LEN);
	wire_set_id(s->pkt, s->id);
	wire_write_u16(s->pkt + WIRE_OFF_QDCOUNT, 1);
	size_t p = WIRE_HDR_LEN;
	for (int done = 0; done < nchars;) {
		int l = nchars - done < CURVE_TXT_LABEL_MAX ? nchars - done : CURVE_TXT_LABEL_MAX;
		s->pkt[p++] = (uint8_t)l;
		memcpy(s->pkt + p, chars + done, (size_t)l);
		p += (size_t)l;
		done += l;
	}
	s->len = (uint16_t)txt_tail(r, r->ks.pk[s->key], s->pkt, p);
}
