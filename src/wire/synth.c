/* SPDX-License-Identifier: MIT */
/* wire/synth.c -- answers the router writes itself */
#include <string.h>

#include "common/err.h"
#include "wire/edns.h"
#include "wire/synth.h"

enum {
	OPT_RR_FIXED = 11,       /* root name, type, class, ttl, rdlen */
	EDE_OPTION_LEN = 6,      /* option code, length, info-code */
	NAME_PTR_QNAME = 0xc00c, /* the question's name sits at offset 12 */
};

static void set_reply_header(uint8_t *msg, int rcode, uint16_t ancount, uint16_t arcount)
{
	/* Keep OPCODE and RD, set QR; clear AA/TC. RA stays 0: we do not recurse. Keep CD. */
	msg[WIRE_OFF_FLAGS1] =
		(uint8_t)((msg[WIRE_OFF_FLAGS1] & WIRE_FLAG1_OPCODE_RD) | WIRE_FLAG1_QR);
	msg[WIRE_OFF_FLAGS2] = (uint8_t)((msg[WIRE_OFF_FLAGS2] & WIRE_FLAG2_CD) | (rcode & 0x0f));
	wire_write_u16(msg + WIRE_OFF_ANCOUNT, ancount);
	wire_write_u16(msg + WIRE_OFF_NSCOUNT, 0);
	wire_write_u16(msg + WIRE_OFF_ARCOUNT, arcount);
}

static size_t put_txt_answer(uint8_t *p, uint16_t qclass, const char *txt, size_t txt_len)
{
	wire_write_u16(p, NAME_PTR_QNAME);
	wire_write_u16(p + 2, WIRE_TYPE_TXT);
	wire_write_u16(p + 4, qclass);
	memset(p + 6, 0, 4); /* TTL 0: identity must never be cached apart from its router */
	wire_write_u16(p + 10, (uint16_t)(txt_len + 1));
	p[12] = (uint8_t)txt_len;
	memcpy(p + 13, txt, txt_len);
	return 13 + txt_len;
}

static size_t put_opt(uint8_t *p, const struct wire_opt *qopt, int rcode, int ede)
{
	uint16_t rdlen = ede != WIRE_EDE_NONE ? EDE_OPTION_LEN : 0;

	p[0] = 0;
	wire_write_u16(p + 1, WIRE_TYPE_OPT);
	wire_write_u16(p + 3, WIRE_UDP_EDNS_SIZE);
	p[5] = (uint8_t)(rcode >> 4);      /* extended rcode: the bits above the header's 4 */
	p[6] = 0;                          /* version: 0 is the one we speak */
	p[7] = qopt->dnssec_ok ? 0x80 : 0; /* RFC 3225 §3: DO is copied */
	p[8] = 0;
	wire_write_u16(p + 9, rdlen);
	if (rdlen != 0) {
		wire_write_u16(p + 11, WIRE_EDNS_OPT_EDE);
		wire_write_u16(p + 13, 2);
		wire_write_u16(p + 15, (uint16_t)ede);
	}
	return OPT_RR_FIXED + rdlen;
}

int synth_reply_txts(uint8_t *msg, size_t len, size_t cap, const struct wire_question *q, int rcode,
		     int ede, const char *const *txts, size_t n)
{
	struct wire_opt qopt;
	size_t need = q->end;
	size_t pos = q->end;

	/* A malformed section after the question only costs the reply its EDNS. */
	if (edns_find_opt(msg, len, q, &qopt) != DR_EOK) {
		qopt.present = false;
	}
	if (n > UINT16_MAX) {
		return DR_ESPACE;
	}
	for (size_t i = 0; i < n; i++) {
		size_t txt_len = strlen(txts[i]);
		if (txt_len > 255) {
			return DR_ESPACE;
		}
		need += 13 + txt_len;
	}
	need += qopt.present ? OPT_RR_FIXED + EDE_OPTION_LEN : 0;
	if (need > cap) {
		return DR_ESPACE;
	}
	set_reply_header(msg, rcode, (uint16_t)n, qopt.present ? 1 : 0);
	for (size_t i = 0; i < n; i++) {
		pos += put_txt_answer(msg + pos, q->qclass, txts[i], strlen(txts[i]));
	}
	if (qopt.present) {
		pos += put_opt(msg + pos, &qopt, rcode, ede);
	}
	return (int)pos;
}

int synth_reply(uint8_t *msg, size_t len, size_t cap, const struct wire_question *q, int rcode,
		int ede, const char *txt)
{
	return synth_reply_txts(msg, len, cap, q, rcode, ede, &txt, txt != NULL ? 1 : 0);
}

int synth_formerr(uint8_t *msg, size_t len)
{
	(void)len;
	set_reply_header(msg, WIRE_RCODE_FORMERR, 0, 0);
	wire_write_u16(msg + WIRE_OFF_QDCOUNT, 0);
	return WIRE_HDR_LEN;
}
