/* SPDX-License-Identifier: MIT */
/* wire/ecs.c -- add an EDNS Client Subnet option (RFC 7871) to a query, undo it on the answer */
#include <assert.h>
#include <string.h>

#include "common/err.h"
#include "wire/ecs.h"
#include "wire/wire.h"

/* RFC 1035 types whose RDATA holds names that may be compressed (RFC 3597 §4: no later type
 * may be). */
enum {
	TYPE_NS = 2,
	TYPE_MD = 3,
	TYPE_MF = 4,
	TYPE_CNAME = 5,
	TYPE_SOA = 6,
	TYPE_MB = 7,
	TYPE_MG = 8,
	TYPE_MR = 9,
	TYPE_PTR = 12,
	TYPE_MINFO = 14,
	TYPE_MX = 15,
};

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
	PTR_MASK = 0x3fff, /* RFC 1035 §4.1.4: 14 bits of offset */
	NAME_LABELS_MAX = 128,
};

/* Where things are in a message that walk() found well formed. Offsets 0 mean "none": the
 * header is there. */
struct ecs_view {
	size_t opt;       /* the OPT record's owner */
	size_t rdata;     /* the OPT record's RDATA */
	size_t rdlen;     /* its RDLENGTH */
	size_t ecs;       /* the ECS option's code, inside the RDATA */
	size_t ecs_len;   /* the whole option, header included */
	bool is_signed;   /* a TSIG or SIG(0) record in the additional section */
	unsigned after;   /* records after the OPT */
	bool shift;       /* some of them point past the OPT: an edit must move their pointers */
	size_t shift_max; /* the furthest such pointer's target */
};

/* One resource record, and where its names end in a compression pointer. */
struct rr {
	uint16_t type;
	size_t owner, rdata, rdlen;
	size_t ptr[3]; /* owner, and up to two names in the RDATA */
	unsigned nptr;
};

/* Step over the name at *<pos>, which must end before <end>, and add where it ends in a
 * pointer to <rr>. RFC 1035 §4.1.4: a pointer goes to a prior occurrence of a name, so one
 * that points forward (or at itself) is refused, as Knot does: then no name points into what
 * follows it, and an edit has only the names after it to fix. */
static int rr_name(const uint8_t *msg, size_t end, size_t *pos, struct rr *rr)
{
	size_t p = *pos;

	for (unsigned n = 0; n < NAME_LABELS_MAX; n++) {
		if (p >= end) {
			return DR_EMALF;
		}
		uint8_t l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (end - p < 2 || (wire_read_u16(msg + p) & PTR_MASK) >= p) {
				return DR_EMALF;
			}
			rr->ptr[rr->nptr++] = p;
			*pos = p + 2;
			return DR_EOK;
		}
		if (l > WIRE_LABEL_MAX) {
			return DR_EMALF;
		}
		p += 1u + l;
		if (l == 0) {
			*pos = p;
			return DR_EOK;
		}
	}
	return DR_EMALF;
}

/* Read the record at *<pos> of <msg> (<len> bytes) into <rr> and step over it. The names in
 * the RDATA of the RFC 1035 types that may compress them must lie within it; the RDATA of
 * other types is not read (RFC 3597 §4 forbids compressing names there; a sender that did
 * anyway would see them go stale past an edit). */
static int rr_read(const uint8_t *msg, size_t len, size_t *pos, struct rr *rr)
{
	unsigned names = 0;
	size_t skip = 0, p;

	rr->owner = *pos;
	rr->nptr = 0;
	if (rr_name(msg, len, pos, rr) != DR_EOK || len - *pos < RR_FIXED) {
		return DR_EMALF;
	}
	rr->type = wire_read_u16(msg + *pos);
	rr->rdata = *pos + RR_FIXED;
	rr->rdlen = wire_read_u16(msg + *pos + RR_OFF_RDLEN);
	if (rr->rdlen > len - rr->rdata) {
		return DR_EMALF;
	}
	*pos = rr->rdata + rr->rdlen;
	switch (rr->type) {
	case TYPE_NS:
	case TYPE_MD:
	case TYPE_MF:
	case TYPE_CNAME:
	case TYPE_MB:
	case TYPE_MG:
	case TYPE_MR:
	case TYPE_PTR:
		names = 1;
		break;
	case TYPE_MX:
		names = 1;
		skip = 2; /* PREFERENCE */
		break;
	case TYPE_SOA:
	case TYPE_MINFO:
		names = 2;
		break;
	default:
		break;
	}
	if (skip > rr->rdlen) {
		return DR_EMALF;
	}
	p = rr->rdata + skip;
	for (unsigned i = 0; i < names; i++) {
		if (rr_name(msg, *pos, &p, rr) != DR_EOK) {
			return DR_EMALF;
		}
	}
	return DR_EOK;
}

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
		struct rr q = {.nptr = 0};
		if (rr_name(msg, len, &pos, &q) != DR_EOK || len - pos < 4) {
			return DR_EMALF;
		}
		pos += 4; /* QTYPE, QCLASS */
	}
	for (unsigned i = 0; i < records; i++) {
		struct rr rr;
		if (rr_read(msg, len, &pos, &rr) != DR_EOK) {
			return DR_EMALF;
		}
		if (v->opt != 0) {
			/* After the OPT: a name there may point at a name after it too, which
			 * an edit of the OPT moves; none can live in the OPT itself. */
			size_t opt_end = v->rdata + v->rdlen;
			for (unsigned k = 0; k < rr.nptr; k++) {
				size_t target = wire_read_u16(msg + rr.ptr[k]) & PTR_MASK;
				if (target >= v->opt && target < opt_end) {
					return DR_EMALF;
				}
				if (target >= opt_end) {
					v->shift = true;
					v->shift_max =
						target > v->shift_max ? target : v->shift_max;
				}
			}
			v->after++;
		}
		if (rr.type == WIRE_TYPE_OPT) {
			/* RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root. */
			if (i < first_additional || msg[rr.owner] != 0 || v->opt != 0) {
				return DR_EMALF;
			}
			v->opt = rr.owner;
			v->rdata = rr.rdata;
			v->rdlen = rr.rdlen;
			if (find_ecs(msg, rr.rdata, rr.rdlen, v) != DR_EOK) {
				return DR_EMALF;
			}
		} else if (i >= first_additional && (rr.type == TYPE_TSIG || rr.type == TYPE_SIG)) {
			v->is_signed = true;
		}
	}
	return pos == len ? DR_EOK : DR_EMALF;
}

/* Add <delta> to the compression pointers of the records after the OPT of <v> that point past
 * it, in place: their targets move with the edit. */
static void shift_pointers(uint8_t *msg, size_t len, const struct ecs_view *v, long delta)
{
	size_t opt_end = v->rdata + v->rdlen, pos = opt_end;

	for (unsigned i = 0; i < v->after; i++) {
		struct rr rr;
		int rc = rr_read(msg, len, &pos, &rr);
		assert(rc == DR_EOK);
		(void)rc;
		for (unsigned k = 0; k < rr.nptr; k++) {
			size_t target = wire_read_u16(msg + rr.ptr[k]) & PTR_MASK;
			if (target >= opt_end) {
				wire_write_u16(msg + rr.ptr[k],
					       (uint16_t)(0xc000 | (size_t)((long)target + delta)));
			}
		}
	}
}

/* Replace the <old_len> bytes at <at>, within the OPT record of <v> or at the end of the
 * message, by <new_len> bytes of <src> (NULL: remove), moving the rest and the pointers to
 * it. Nothing changes when the result would not fit <cap> or a message's 65535 bytes, or a
 * moved pointer would point beyond 16383. */
static int edit(uint8_t *msg, size_t *len, size_t cap, const struct ecs_view *v, size_t at,
		size_t old_len, const uint8_t *src, size_t new_len)
{
	assert(at + old_len <= *len);
	size_t out = *len - old_len + new_len;
	long delta = (long)new_len - (long)old_len;

	if (out > cap || out > WIRE_TCP_MSG_MAX) {
		return DR_ESPACE;
	}
	if (v->shift) {
		if ((long)v->shift_max + delta > PTR_MASK) {
			return DR_ESPACE;
		}
		/* before the move: rr_read must see the records where they are */
		shift_pointers(msg, *len, v, delta);
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
		rc = edit(msg, len, cap, &v, *len, 0, opt, OPT_RR_FIXED + (size_t)n);
		if (rc == DR_EOK) {
			add_arcount(msg, 1);
			undo->edit = ECS_ADDED_OPT;
		}
		return rc;
	}
	if (v.ecs == 0) {
		rc = edit(msg, len, cap, &v, v.rdata + v.rdlen, 0, ecs, (size_t)n);
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
	memcpy(undo->client_opt, msg + v.ecs, v.ecs_len); /* before the edit overwrites it */
	rc = edit(msg, len, cap, &v, v.ecs, v.ecs_len, ecs, (size_t)n);
	if (rc == DR_EOK) {
		opt_set_rdlen(msg, &v, (long)n - (long)v.ecs_len);
		undo->edit = ECS_REPLACED;
		undo->client_len = (uint8_t)v.ecs_len;
	}
	return rc;
}

/* The scope to give back in the client's own option <client>, from the answer's option
 * <ours>: the backend's scope, when both are of one family (at most that family's bits);
 * for an answer made for the other family, the client's source prefix (the answer is good
 * for just the network it asked about, as far as it can tell). */
static uint8_t give_back_scope(const uint8_t *client, const uint8_t *ours)
{
	uint16_t family = wire_read_u16(client + ECS_OFF_FAMILY);
	unsigned max = family == 1 ? 32 : 128;

	if (family != wire_read_u16(ours + ECS_OFF_FAMILY)) {
		return client[ECS_OFF_SOURCE];
	}
	return ours[ECS_OFF_SCOPE] > max ? (uint8_t)max : ours[ECS_OFF_SCOPE];
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
		rc = edit(msg, len, cap, &v, v.opt, v.rdata + v.rdlen - v.opt, NULL, 0);
		if (rc == DR_EOK) {
			add_arcount(msg, -1);
		}
		return rc;
	case ECS_ADDED_OPTION:
		if (v.ecs == 0) {
			return DR_EOK;
		}
		rc = edit(msg, len, cap, &v, v.ecs, v.ecs_len, NULL, 0);
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
		if (undo->client_len >= ECS_OFF_ADDR && v.ecs_len >= ECS_OFF_ADDR) {
			client[ECS_OFF_SCOPE] = give_back_scope(client, msg + v.ecs);
		}
		rc = edit(msg, len, cap, &v, v.ecs, v.ecs_len, client, undo->client_len);
		if (rc == DR_EOK) {
			opt_set_rdlen(msg, &v, (long)undo->client_len - (long)v.ecs_len);
		}
		return rc;
	default:
		return DR_EINVAL;
	}
}
