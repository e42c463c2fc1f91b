/* SPDX-License-Identifier: MIT */
/* tap/encode.c -- one dnstap message (dnstap.proto, protobuf wire format)
 *
 * The schema is small and fixed, so the message is written by hand: a field is its key
 * (number << 3 | wire type: 0 varint, 2 bytes, 5 fixed32) and its value; the nested Message
 * is a bytes field whose length comes first, so it is written after a reserved length. */
#include <string.h>

#include "tap/encode.h"

enum { WT_VARINT = 0, WT_BYTES = 2, WT_FIXED32 = 5 };

/* Fields of Dnstap and of Message, by number. */
enum {
	F_IDENTITY = 1,
	F_VERSION = 2,
	F_EXTRA = 3,
	F_MESSAGE = 14,
	F_DNSTAP_TYPE = 15,
	M_TYPE = 1,
	M_FAMILY = 2,
	M_PROTOCOL = 3,
	M_QUERY_ADDRESS = 4,
	M_RESPONSE_ADDRESS = 5,
	M_QUERY_PORT = 6,
	M_RESPONSE_PORT = 7,
	M_QUERY_TIME_SEC = 8,
	M_QUERY_TIME_NSEC = 9,
	M_QUERY_MESSAGE = 10,
	M_RESPONSE_TIME_SEC = 12,
	M_RESPONSE_TIME_NSEC = 13,
	M_RESPONSE_MESSAGE = 14,
};

enum { FAMILY_INET = 1, FAMILY_INET6 = 2, PROTOCOL_UDP = 1, PROTOCOL_TCP = 2 };

static size_t varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t key(uint8_t *p, unsigned field, unsigned type)
{
	return varint(p, (uint64_t)field << 3 | type);
}

static size_t uint_field(uint8_t *p, unsigned field, uint64_t v)
{
	size_t n = key(p, field, WT_VARINT);
	return n + varint(p + n, v);
}

static size_t bytes_field(uint8_t *p, unsigned field, const void *b, size_t len)
{
	size_t n = key(p, field, WT_BYTES);
	n += varint(p + n, len);
	memcpy(p + n, b, len);
	return n + len;
}

static size_t fixed32_field(uint8_t *p, unsigned field, uint32_t v)
{
	size_t n = key(p, field, WT_FIXED32);
	for (int i = 0; i < 4; i++) {
		p[n++] = (uint8_t)(v >> (8 * i)); /* little-endian */
	}
	return n;
}

/* An address (its raw bytes) and port, as fields <afield> and <pfield>. */
static size_t addr_fields(uint8_t *p, const union sockaddr_any *a, unsigned afield, unsigned pfield)
{
	if (a == NULL || (a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6)) {
		return 0; /* not known */
	}
	if (a->sa.sa_family == AF_INET) {
		size_t n = bytes_field(p, afield, &a->sin.sin_addr, 4);
		return n + uint_field(p + n, pfield, ntohs(a->sin.sin_port));
	}
	size_t n = bytes_field(p, afield, &a->sin6.sin6_addr, 16);
	return n + uint_field(p + n, pfield, ntohs(a->sin6.sin6_port));
}

/* The DNS message, its ID replaced by <id> when that is not -1. */
static size_t dns_field(uint8_t *p, unsigned field, const uint8_t *msg, size_t len, int32_t id)
{
	size_t n = bytes_field(p, field, msg, len);

	if (id >= 0 && len >= 2) {
		p[n - len] = (uint8_t)(id >> 8);
		p[n - len + 1] = (uint8_t)id;
	}
	return n;
}

static bool is_query(enum tap_type t)
{
	return t == TAP_CLIENT_QUERY || t == TAP_FORWARDER_QUERY;
}

static size_t message(const struct tap_event *e, uint8_t *p)
{
	const union sockaddr_any *fam = e->query_addr ? e->query_addr : e->response_addr;
	size_t n = uint_field(p, M_TYPE, e->type);

	if (fam != NULL) {
		n += uint_field(p + n, M_FAMILY,
				fam->sa.sa_family == AF_INET6 ? FAMILY_INET6 : FAMILY_INET);
	}
	n += uint_field(p + n, M_PROTOCOL, e->tcp ? PROTOCOL_TCP : PROTOCOL_UDP);
	n += addr_fields(p + n, e->query_addr, M_QUERY_ADDRESS, M_QUERY_PORT);
	n += addr_fields(p + n, e->response_addr, M_RESPONSE_ADDRESS, M_RESPONSE_PORT);
	if (is_query(e->type)) {
		n += uint_field(p + n, M_QUERY_TIME_SEC, e->sec);
		n += fixed32_field(p + n, M_QUERY_TIME_NSEC, e->nsec);
		n += dns_field(p + n, M_QUERY_MESSAGE, e->msg, e->len, e->id);
	} else {
		n += uint_field(p + n, M_RESPONSE_TIME_SEC, e->sec);
		n += fixed32_field(p + n, M_RESPONSE_TIME_NSEC, e->nsec);
		n += dns_field(p + n, M_RESPONSE_MESSAGE, e->msg, e->len, e->id);
	}
	return n;
}

size_t tap_encode_max(const struct tap_event *e)
{
	/* Keys and varints of at most 10 bytes each; two addresses of 16; the strings. */
	return 160 + e->len + (e->identity ? strlen(e->identity) : 0) +
	       (e->version ? strlen(e->version) : 0) + (e->extra ? strlen(e->extra) : 0);
}

size_t tap_encode(const struct tap_event *e, uint8_t *out)
{
	uint8_t len_buf[10];
	size_t n = 0, head;

	if (e->identity != NULL) {
		n += bytes_field(out + n, F_IDENTITY, e->identity, strlen(e->identity));
	}
	if (e->version != NULL) {
		n += bytes_field(out + n, F_VERSION, e->version, strlen(e->version));
	}
	if (e->extra != NULL) {
		n += bytes_field(out + n, F_EXTRA, e->extra, strlen(e->extra));
	}
	/* The Message: written in place after its key and a length of the right size. */
	n += key(out + n, F_MESSAGE, WT_BYTES);
	{
		size_t body = message(e, out + n + 10); /* scratch position: past any length */
		head = varint(len_buf, body);
		memmove(out + n + head, out + n + 10, body);
		memcpy(out + n, len_buf, head);
		n += head + body;
	}
	n += uint_field(out + n, F_DNSTAP_TYPE, 1); /* MESSAGE */
	return n;
}
