/* SPDX-License-Identifier: MIT */
/* wire/ecs.c -- add an EDNS Client Subnet option (RFC 7871) to a query, undo it on the answer */
#include <assert.h>
#include <string.h>

#include "common/err.h"
#include "wire/ecs.h"
#include "wire/wire.h"

enum {
	TYPE_SIG = 24,        /* in the additional section: SIG(0), RFC 2931 */
	TYPE_TSIG = 250,      /* RFC 8945 */
	RR_FIXED = 10,        /* type, class, TTL, RDLENGTH after the owner */
	RR_OFF_RDLEN = 8,     /* from the end of the owner */
	OPT_RR_FIXED = 11,    /* root owner and RR_FIXED */
	OPT_NOEDNS_UDP = 512, /* what a client without EDNS accepts (RFC 1035 §4.2.1) */
	OPTION_HDR = 4,       /* option code, option length */
	ECS_FIXED = 4,        /* family, source and scope prefix lengths */
	ECS_OFF_FAMILY = 4,   /* from the option code */
	ECS_OFF_SOURCE = 6,
	ECS_OFF_SCOPE = 7,
	ECS_OFF_ADDR = 8,
	ECS_FAMILY_IP4 = 1, /* IANA address family numbers */
	ECS_FAMILY_IP6 = 2,
};

/* Where things are in a message that walk() found well formed. Offsets 0 mean "none": the
 * header is there. */
struct ecs_view {
	size_t opt;     /* the OPT record's owner */
	size_t rdata;   /* the OPT record's RDATA */
	size_t rdlen;   /* its RDLENGTH */
	size_t ecs;     /* the ECS option's code, inside the RDATA */
	size_t ecs_len; /* the whole option, header included */
	bool is_signed; /* a TSIG or SIG(0) record in the additional section */
};

/* Find the ECS option in the OPT RDATA at <rdata> (<rdlen> bytes, within the message). The
 * options must fill it exactly (RFC 6891 §6.1.2), with one ECS option at most. */
static int find_ecs(const uint8_t *msg, size_t rdata, size_t rdlen, struct ecs_view *v)
{
	size_t pos = rdata, end = rdata + rdlen;

	while (pos < end) {
		if (end - pos < OPTION_HDR) {
			return DR_EMALF;
		}
		size_t olen = wire_read_u16(msg + pos + 2);
		if (olen > end - pos - OPTION_HDR) {
			return DR_EMALF;
		}
		if (wire_read_u16(msg + pos) == ECS_OPTION_CODE) {
			if (v->ecs != 0) {
				return DR_EMALF; /* which one would the answer echo? */
			}
			v->ecs = pos;
			v->ecs_len = OPTION_HDR + olen;
		}
		pos += OPTION_HDR + olen;
	}
	return DR_EOK;
}

/* Walk the whole message in <msg> of <len> bytes, questions and records, into <v>. Every
 * record must lie within the message and the last one must end it: bytes after it would have
 * to be moved or dropped by an edit, and no sender of ours writes them. Each turn of the loops
 * consumes at least one byte or fails, so the counts cannot make it run long. */
static int walk(const uint8_t *msg, size_t len, struct ecs_view *v)
{
	memset(v, 0, sizeof(*v));
	if (len < WIRE_HDR_LEN || len > WIRE_TCP_MSG_MAX) {
		return DR_EMALF;
	}

	unsigned qdcount = wire_read_u16(msg + WIRE_OFF_QDCOUNT);
	unsigned first_additional = (unsigned)wire_read_u16(msg + WIRE_OFF_ANCOUNT) +
				    wire_read_u16(msg + WIRE_OFF_NSCOUNT);
	unsigned records = first_additional + wire_read_u16(msg + WIRE_OFF_ARCOUNT);
	size_t pos = WIRE_HDR_LEN;

	for (unsigned i = 0; i < qdcount; i++) {
		if (wire_skip_name(msg, len, &pos) != DR_EOK || len - pos < 4) {
			return DR_EMALF;
		}
		pos += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < records; i++) {
		size_t owner = pos;
		if (wire_skip_name(msg, len, &pos) != DR_EOK || len - pos < RR_FIXED) {
			return DR_EMALF;
		}
		uint16_t type = wire_read_u16(msg + pos);
		size_t rdata = pos + RR_FIXED;
		size_t rdlen = wire_read_u16(msg + pos + RR_OFF_RDLEN);
		if (rdlen > len - rdata) {
			return DR_EMALF;
		}
		pos = rdata + rdlen;
		if (type == WIRE_TYPE_OPT) {
			/* RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root. */
			if (i < first_additional || msg[owner] != 0 || v->opt != 0) {
				return DR_EMALF;
			}
			v->opt = owner;
			v->rdata = rdata;
			v->rdlen = rdlen;
			if (find_ecs(msg, rdata, rdlen, v) != DR_EOK) {
				return DR_EMALF;
			}
		} else if (i >= first_additional && (type == TYPE_TSIG || type == TYPE_SIG)) {
			v->is_signed = true;
		}
	}
	return pos == len ? DR_EOK : DR_EMALF;
}

/* Replace the <old_len> bytes at <at> of the message (<*len> bytes) by <new_len> bytes of
 * <src> (NULL: remove), moving the rest. Nothing changes when the result would not fit <cap>
 * or a message's 65535 bytes. */
static int splice(uint8_t *msg, size_t *len, size_t cap, size_t at, size_t old_len,
		  const uint8_t *src, size_t new_len)
{
	assert(at + old_len <= *len);
	size_t out = *len - old_len + new_len;

	if (out > cap || out > WIRE_TCP_MSG_MAX) {
		return DR_ESPACE;
	}
	memmove(msg + at + new_len, msg + at + old_len, *len - at - old_len);
	if (new_len != 0) {
		memcpy(msg + at, src, new_len);
	}
	*len = out;
	return DR_EOK;
}

/* Set the OPT record's RDLENGTH to its old value plus <grow> (negative: minus), after an edit
 * in its RDATA. The message stays within 65535 bytes, so RDLENGTH does too. */
static void opt_set_rdlen(uint8_t *msg, const struct ecs_view *v, long grow)
{
	size_t at = v->opt + 1 + RR_OFF_RDLEN;
	long rdlen = (long)v->rdlen + grow;

	assert(rdlen >= 0 && rdlen <= UINT16_MAX);
	wire_write_u16(msg + at, (uint16_t)rdlen);
}

static void add_arcount(uint8_t *msg, int n)
{
	wire_write_u16(msg + WIRE_OFF_ARCOUNT,
		       (uint16_t)(wire_read_u16(msg + WIRE_OFF_ARCOUNT) + n));
}

/* Write into <opt> the ECS option for <client>; returns its length, or DR_EINVAL. */
static int make_option(uint8_t *opt, const union sockaddr_any *client, unsigned v4_bits,
		       unsigned v6_bits)
{
	const uint8_t *addr;
	unsigned family, bits;

	if (v4_bits > 32 || v6_bits > 128) {
		return DR_EINVAL;
	}
	if (client->sa.sa_family == AF_INET) {
		addr = (const uint8_t *)&client->sin.sin_addr;
		family = ECS_FAMILY_IP4;
		bits = v4_bits;
	} else if (client->sa.sa_family == AF_INET6 &&
		   IN6_IS_ADDR_V4MAPPED(&client->sin6.sin6_addr)) {
		addr = client->sin6.sin6_addr.s6_addr + 12;
		family = ECS_FAMILY_IP4;
		bits = v4_bits;
	} else if (client->sa.sa_family == AF_INET6) {
		addr = client->sin6.sin6_addr.s6_addr;
		family = ECS_FAMILY_IP6;
		bits = v6_bits;
	} else {
		return DR_EINVAL;
	}

	/* RFC 7871 §6: ADDRESS holds ceil(SOURCE / 8) bytes, and the bits past SOURCE are 0. */
	unsigned n = (bits + 7) / 8;
	wire_write_u16(opt, ECS_OPTION_CODE);
	wire_write_u16(opt + 2, (uint16_t)(ECS_FIXED + n));
	wire_write_u16(opt + ECS_OFF_FAMILY, (uint16_t)family);
	opt[ECS_OFF_SOURCE] = (uint8_t)bits;
	opt[ECS_OFF_SCOPE] = 0; /* §6: 0 in queries */
	memcpy(opt + ECS_OFF_ADDR, addr, n);
	if (bits % 8 != 0) {
		opt[ECS_OFF_ADDR + n - 1] &= (uint8_t)(0xff << (8 - bits % 8));
	}
	return (int)(ECS_OFF_ADDR + n);
}

int ecs_add(uint8_t *msg, size_t *len, size_t cap, const union sockaddr_any *client,
	    unsigned v4_bits, unsigned v6_bits, bool override, struct ecs_undo *undo)
{
	uint8_t opt[OPT_RR_FIXED + ECS_OPTION_MAX];
	uint8_t *ecs = opt + OPT_RR_FIXED; /* the option, after a room for an OPT header */
	struct ecs_view v;
	int rc, n;

	undo->edit = ECS_NONE;
	undo->client_len = 0;
	n = make_option(ecs, client, v4_bits, v6_bits);
	if (n < 0) {
		return n;
	}
	rc = walk(msg, *len, &v);
	if (rc != DR_EOK || v.is_signed) {
		return rc;
	}

	if (v.opt == 0) {
		opt[0] = 0; /* root */
		wire_write_u16(opt + 1, WIRE_TYPE_OPT);
		wire_write_u16(opt + 3, OPT_NOEDNS_UDP);
		memset(opt + 5, 0, 4); /* extended RCODE, version, DO and Z */
		wire_write_u16(opt + 9, (uint16_t)n);
		rc = splice(msg, len, cap, *len, 0, opt, OPT_RR_FIXED + (size_t)n);
		if (rc == DR_EOK) {
			add_arcount(msg, 1);
			undo->edit = ECS_ADDED_OPT;
		}
		return rc;
	}
	if (v.ecs == 0) {
		rc = splice(msg, len, cap, v.rdata + v.rdlen, 0, ecs, (size_t)n);
		if (rc == DR_EOK) {
			opt_set_rdlen(msg, &v, n);
			undo->edit = ECS_ADDED_OPTION;
		}
		return rc;
	}
	if (!override) {
		undo->edit = ECS_KEPT;
		return DR_EOK;
	}
	if (v.ecs_len > ECS_OPTION_MAX) {
		return DR_EMALF; /* §6: at most 16 address bytes; and we could not give it back */
	}
	memcpy(undo->client_opt, msg + v.ecs, v.ecs_len); /* before the splice overwrites it */
	rc = splice(msg, len, cap, v.ecs, v.ecs_len, ecs, (size_t)n);
	if (rc == DR_EOK) {
		opt_set_rdlen(msg, &v, (long)n - (long)v.ecs_len);
		undo->edit = ECS_REPLACED;
		undo->client_len = (uint8_t)v.ecs_len;
	}
	return rc;
}

int ecs_undo(uint8_t *msg, size_t *len, size_t cap, const struct ecs_undo *undo)
{
	uint8_t client[ECS_OPTION_MAX];
	struct ecs_view v;
	int rc;

	if (undo->edit == ECS_NONE || undo->edit == ECS_KEPT) {
		return DR_EOK;
	}
	rc = walk(msg, *len, &v);
	if (rc != DR_EOK || v.opt == 0) {
		return rc;
	}

	switch (undo->edit) {
	case ECS_ADDED_OPT:
		rc = splice(msg, len, cap, v.opt, v.rdata + v.rdlen - v.opt, NULL, 0);
		if (rc == DR_EOK) {
			add_arcount(msg, -1);
		}
		return rc;
	case ECS_ADDED_OPTION:
		if (v.ecs == 0) {
			return DR_EOK;
		}
		rc = splice(msg, len, cap, v.ecs, v.ecs_len, NULL, 0);
		if (rc == DR_EOK) {
			opt_set_rdlen(msg, &v, -(long)v.ecs_len);
		}
		return rc;
	case ECS_REPLACED:
		if (v.ecs == 0) {
			return DR_EOK;
		}
		assert(undo->client_len >= OPTION_HDR && undo->client_len <= ECS_OPTION_MAX);
		memcpy(client, undo->client_opt, undo->client_len);
		if (undo->client_len > ECS_OFF_SCOPE && v.ecs_len > ECS_OFF_SCOPE) {
			client[ECS_OFF_SCOPE] = msg[v.ecs + ECS_OFF_SCOPE];
		}
		rc = splice(msg, len, cap, v.ecs, v.ecs_len, client, undo->client_len);
		if (rc == DR_EOK) {
			opt_set_rdlen(msg, &v, (long)undo->client_len - (long)v.ecs_len);
		}
		return rc;
	default:
		return DR_EINVAL;
	}
}
