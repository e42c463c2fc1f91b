/* SPDX-License-Identifier: MIT */
/* wire/name.c -- question parsing and the name forms routing uses */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "wire/wire.h"

static inline uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

int wire_parse_question(const uint8_t *msg, size_t len, struct wire_question *q)
{
	size_t pos = WIRE_HDR_LEN, out = 0;

	if (len < WIRE_HDR_LEN || wire_read_u16(msg + WIRE_OFF_QDCOUNT) != 1) {
		return DR_EMALF;
	}
	q->id = wire_id(msg);
	q->labels = 0;
	for (;;) {
		if (pos >= len) {
			return DR_EMALF;
		}
		uint8_t l = msg[pos];
		/* RFC 1035 §4.1.4: the top bits 11 mark a pointer, 01/10 are reserved
		 * (RFC 6891 retired the extended label types). A question is the first
		 * name in the message, so a pointer could only point backwards into the
		 * header: refuse both. */
		if (l > WIRE_LABEL_MAX) {
			return DR_EMALF;
		}
		if (out + 1u + l > WIRE_NAME_MAX || pos + 1u + l > len) {
			return DR_EMALF;
		}
		q->name[out++] = l;
		pos++;
		if (l == 0) {
			break;
		}
		for (unsigned i = 0; i < l; i++) {
			q->name[out++] = lower(msg[pos + i]);
		}
		pos += l;
		q->labels++;
	}
	if (pos + 4 > len) {
		return DR_EMALF;
	}
	q->name_len = (uint16_t)out;
	q->qtype = wire_read_u16(msg + pos);
	q->qclass = wire_read_u16(msg + pos + 2);
	q->end = (uint16_t)(pos + 4);
	return DR_EOK;
}

int wire_parse_query(const uint8_t *msg, size_t len, struct wire_question *q)
{
	if (len < WIRE_HDR_LEN) {
		return DR_EMALF;
	}
	if (wire_is_response(msg)) {
		return DR_ERESPONSE;
	}
	return wire_parse_question(msg, len, q);
}

int wire_skip_name(const uint8_t *msg, size_t len, size_t *pos)
{
	size_t p = *pos;

	for (unsigned n = 0; n < 128; n++) {
		if (p >= len) {
			return DR_EMALF;
		}
		uint8_t l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			*pos = p + 2;
			return *pos <= len ? DR_EOK : DR_EMALF;
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

uint32_t wire_question_hash(const struct wire_question *q)
{
	uint64_t seed = ((uint64_t)q->qtype << 16) | q->qclass;

	return (uint32_t)hash_bytes(q->name, q->name_len, seed);
}

/* RFC 4343 §2.1 escapes, and the characters presentation form gives meaning to. */
static int needs_backslash(uint8_t c)
{
	return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' ||
	       c == '$';
}

int wire_name_to_text(const uint8_t *name, char *buf, size_t cap)
{
	size_t out = 0, pos = 0;

	if (name[0] == 0) {
		if (cap < 2) {
			return DR_ESPACE;
		}
		buf[0] = '.';
		buf[1] = '\0';
		return 1;
	}
	while (name[pos] != 0) {
		uint8_t l = name[pos++];
		for (unsigned i = 0; i < l; i++, pos++) {
			uint8_t c = name[pos];
			if (out + 5 >= cap) {
				return DR_ESPACE;
			}
			if (c <= 0x20 || c >= 0x7f) {
				out += (size_t)snprintf(buf + out, cap - out, "\\%03u", c);
			} else {
				if (needs_backslash(c)) {
					buf[out++] = '\\';
				}
				buf[out++] = (char)c;
			}
		}
		if (out + 2 >= cap) {
			return DR_ESPACE;
		}
		buf[out++] = '.';
	}
	buf[out] = '\0';
	return (int)out;
}

static int text_byte(const char **s, uint8_t *c)
{
	const char *p = *s;

	if (*p != '\\') {
		*c = (uint8_t)*p;
		*s = p + 1;
		return DR_EOK;
	}
	p++;
	if (p[0] >= '0' && p[0] <= '9') {
		unsigned v = 0;
		for (int i = 0; i < 3; i++) {
			if (p[i] < '0' || p[i] > '9') {
				return DR_EMALF;
			}
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (v > 255) {
			return DR_EMALF;
		}
		*c = (uint8_t)v;
		*s = p + 3;
		return DR_EOK;
	}
	if (*p == '\0') {
		return DR_EMALF;
	}
	*c = (uint8_t)*p;
	*s = p + 1;
	return DR_EOK;
}

int wire_name_from_text(const char *text, uint8_t *out)
{
	size_t len = 0;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	if (*text == '\0') {
		return DR_EMALF; /* the root is written "." */
	}
	while (*text != '\0') {
		size_t lpos = len++;
		uint8_t l = 0;
		while (*text != '\0' && *text != '.') {
			uint8_t c;
			if (text_byte(&text, &c) != DR_EOK || l == WIRE_LABEL_MAX ||
			    len + 1 >= WIRE_NAME_MAX) {
				return DR_EMALF;
			}
			out[len++] = lower(c);
			l++;
		}
		if (l == 0) {
			return DR_EMALF; /* empty label: "a..b" or a leading dot */
		}
		out[lpos] = l;
		if (*text == '.') {
			text++;
		}
	}
	if (len + 1 > WIRE_NAME_MAX) {
		return DR_EMALF;
	}
	out[len++] = 0;
	return (int)len;
}

unsigned wire_name_labels(const uint8_t *name, uint8_t off[WIRE_LABELS_MAX])
{
	unsigned n = 0, pos = 0;

	while (name[pos] != 0 && n < WIRE_LABELS_MAX) {
		off[n++] = (uint8_t)pos;
		pos += 1u + name[pos];
	}
	return n;
}

int wire_name_canonical_cmp(const uint8_t *a, const uint8_t *aoff, unsigned an, const uint8_t *b,
			    const uint8_t *boff, unsigned bn)
{
	unsigned n = an < bn ? an : bn;

	/* From the root outwards: the rightmost labels decide first (RFC 4034 §6.1). */
	for (unsigned i = 1; i <= n; i++) {
		const uint8_t *la = a + aoff[an - i], *lb = b + boff[bn - i];
		unsigned m = la[0] < lb[0] ? la[0] : lb[0];
		int c = memcmp(la + 1, lb + 1, m);
		if (c != 0) {
			return c < 0 ? -1 : 1;
		}
		if (la[0] != lb[0]) {
			return la[0] < lb[0] ? -1 : 1; /* absent bytes sort first */
		}
	}
	return an == bn ? 0 : (an < bn ? -1 : 1);
}
