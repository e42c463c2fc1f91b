/* SPDX-License-Identifier: MIT */
/* common/sha1.c -- SHA-1 (FIPS 180-4 §6.1) */
#include "common/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void compress(uint32_t h[5], const uint8_t block[64])
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int t = 0; t < 16; t++) {
		w[t] = be32(block + 4 * t);
	}
	for (int t = 16; t < 80; t++) {
		w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	}
	for (int t = 0; t < 80; t++) {
		uint32_t f, k, tmp;
		if (t < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999u;
		} else if (t < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1u;
		} else if (t < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdcu;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6u;
		}
		tmp = rol(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u,
				       0xc3d2e1f0u};

	memcpy(s->h, iv, sizeof(iv));
	s->bytes = 0;
	s->used = 0;
}

void sha1_update(struct sha1 *s, const uint8_t *data, size_t len)
{
	s->bytes += len;
	while (len > 0) {
		size_t n = sizeof(s->block) - s->used;
		if (n > len) {
			n = len;
		}
		memcpy(s->block + s->used, data, n);
		s->used += n;
		data += n;
		len -= n;
		if (s->used == sizeof(s->block)) {
			compress(s->h, s->block);
			s->used = 0;
		}
	}
}

void sha1_final(struct sha1 *s, uint8_t out[SHA1_LEN])
{
	uint64_t bits = s->bytes * 8;
	uint8_t pad = 0x80;

	sha1_update(s, &pad, 1);
	pad = 0;
	while (s->used != 56) {
		sha1_update(s, &pad, 1);
	}
	for (int i = 7; i >= 0; i--) {
		uint8_t b = (uint8_t)(bits >> (8 * i));
		sha1_update(s, &b, 1);
	}
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}
