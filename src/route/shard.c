/* SPDX-License-Identifier: MIT */
/* route/shard.c -- a zone cut into shards: which shard holds a name */
#include "route/shard.h"

#include <string.h>

void shard_nsec3_text(const struct conf_nsec3 *p, const uint8_t *name, unsigned len,
		      char out[SHARD_HASH_TEXT + 1])
{
	static const char b32hex[] = "0123456789abcdefghijklmnopqrstuv";
	uint8_t h[SHA1_LEN];
	struct sha1 s;
	unsigned bits = 0, acc = 0, o = 0;

	/* IH(salt, x, 0) = H(x || salt); IH(salt, x, k) = H(IH(salt, x, k - 1) || salt). */
	sha1_init(&s);
	sha1_update(&s, name, len);
	sha1_update(&s, p->salt, p->salt_len);
	sha1_final(&s, h);
	for (unsigned k = 0; k < p->iterations; k++) {
		sha1_init(&s);
		sha1_update(&s, h, sizeof(h));
		sha1_update(&s, p->salt, p->salt_len);
		sha1_final(&s, h);
	}
	/* 160 bits, 5 at a time from the most significant: exactly 32 characters. */
	for (unsigned i = 0; i < sizeof(h); i++) {
		acc = (acc << 8) | h[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32hex[(acc >> bits) & 31];
		}
	}
	out[o] = '\0';
}

/* The last shard whose start is at or before the name (the first shard starts at the zone,
 * which is at or before every name routed here). */
static uint32_t canonical_index(const struct shard_map *m, const struct wire_question *q)
{
	uint8_t off[WIRE_LABELS_MAX];
	unsigned n = wire_name_labels(q->name, off);
	uint32_t lo = 0, hi = m->n; /* start[lo] <= name < start[hi] */

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct shard_start *s = &m->start[mid];
		if (wire_name_canonical_cmp(s->name, s->off, s->nlabels, q->name, off, n) <= 0) {
			lo = mid;
		} else {
			hi = mid;
		}
	}
	return lo;
}

static uint32_t nsec3_index(const struct shard_map *m, const struct wire_question *q)
{
	uint8_t off[WIRE_LABELS_MAX];
	unsigned n = wire_name_labels(q->name, off);
	char hash[SHARD_HASH_TEXT + 1];
	unsigned f;
	uint32_t lo = 0, hi = m->n;

	if (n <= m->zone_labels) {
		return 0; /* the apex */
	}
	/* The name one label below the zone: a delegation, or what the rest of the name is
	 * below. */
	f = off[n - m->zone_labels - 1];
	shard_nsec3_text(&m->params, q->name + f, q->name_len - f, hash);
	if (strcmp(m->start[0].prefix, hash) > 0) {
		return m->n - 1; /* before the first prefix: the chain wraps */
	}
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (strcmp(m->start[mid].prefix, hash) <= 0) {
			lo = mid;
		} else {
			hi = mid;
		}
	}
	return lo;
}

uint32_t shard_index(const struct shard_map *m, const struct wire_question *q)
{
	return m->nsec3 ? nsec3_index(m, q) : canonical_index(m, q);
}
