/* SPDX-License-Identifier: MIT */
/* curve/base32.c -- DNSCurve base32: least significant bits first, unlike RFC 4648 */
#include "curve/base32.h"

#include "common/err.h"

static const char digits[32] = "0123456789bcdfghjklmnpqrstuvwxyz";

/* The value of character <c>, or -1. Upper case is accepted because DNS names compare
 * without case (RFC 4343) and some resolvers randomize it (draft-vixie-dnsext-dns0x20). */
static int digit_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		c = (char)(c - 'A' + 'a');
	}
	for (int i = 0; i < 32; i++) {
		if (digits[i] == c) {
			return i;
		}
	}
	return -1;
}

int curve_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	unsigned x = 0, bits = 0;

	if (len > (SIZE_MAX - 4) / 8 || CURVE_BASE32_LEN(len) > cap) {
		return DR_ESPACE;
	}
	for (size_t i = 0; i < len; i++) {
		x |= (unsigned)in[i] << bits;
		bits += 8;
		while (bits >= 5) {
			out[n++] = digits[x & 31];
			x >>= 5;
			bits -= 5;
		}
	}
	if (bits > 0) {
		out[n++] = digits[x];
	}
	return (int)n;
}

int curve_base32_decode(const char *in, size_t len, enum curve_base32_mode mode, uint8_t *out,
			size_t cap)
{
	size_t n = 0;
	unsigned x = 0, bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v = digit_value(in[i]);
		if (v < 0) {
			return DR_EMALF;
		}
		x |= (unsigned)v << bits;
		bits += 5;
		if (bits >= 8) {
			if (n >= cap) {
				return DR_ESPACE;
			}
			out[n++] = (uint8_t)x;
			x >>= 8;
			bits -= 8;
		}
	}
	if (mode == CURVE_BASE32_STRICT) {
		/* A whole character of padding, or set pad bits, would give a second spelling. */
		if (bits >= 5 || x != 0) {
			return DR_EMALF;
		}
	} else if (bits > 0) {
		if (n >= cap) {
			return DR_ESPACE;
		}
		out[n++] = (uint8_t)x;
	}
	return n > (size_t)INT32_MAX ? DR_ESPACE : (int)n;
}

int curve_base32_decode_key(const char *in, uint8_t pk[32])
{
	/* 51 characters are 255 bits: 31 bytes and the 7 low bits of the last one. */
	int n = curve_base32_decode(in, CURVE_BASE32_KEY_LEN, CURVE_BASE32_KEEP, pk, 32);

	return n == 32 ? DR_EOK : DR_EMALF;
}
