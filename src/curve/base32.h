/* SPDX-License-Identifier: MIT */
/* curve/base32.h -- DNSCurve base32, as djb's dnscurve and dq write it */
#ifndef DR_CURVE_BASE32_H
#define DR_CURVE_BASE32_H

#include <stddef.h>
#include <stdint.h>

/* Characters for <n> bytes: 5 bits each, the last one partial. */
#define CURVE_BASE32_LEN(n) (((n)*8 + 4) / 5)

/* A Curve25519 public key takes 51 characters, not 52: its top bit is always 0, so the last
 * character carries the key's final 7 bits (a byte-only decoder drops them). */
#define CURVE_BASE32_KEY_LEN 51

/* How the decoder treats the bits left over after the last whole byte. */
enum curve_base32_mode {
	/* As in a TXT query's name: fewer than 5 bits left, all zero (dnscurve's mode 0), so
	 * every byte string has exactly one spelling. */
	CURVE_BASE32_STRICT = 0,
	/* As in a key: the leftover bits are a final byte of their own (dnscurve's mode 1). */
	CURVE_BASE32_KEEP = 1,
};

/* Encode <len> bytes of <in> into <out> of <cap> characters: 5-bit groups taken least
 * significant bits first, alphabet 0123456789bcdfghjklmnpqrstuvwxyz. No NUL is written.
 * Returns the number of characters (CURVE_BASE32_LEN(len)) or DR_ESPACE. */
int curve_base32_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* Decode <len> characters of <in> (either case: resolvers may randomize the case of names)
 * into <out> of <cap> bytes, the leftover bits as <mode> says. Returns the number of bytes,
 * DR_EMALF for a character outside the alphabet or leftover bits <mode> refuses, or
 * DR_ESPACE. */
int curve_base32_decode(const char *in, size_t len, enum curve_base32_mode mode, uint8_t *out,
			size_t cap);

/* Decode the 51 characters of a public key at <in> into <pk> (32 bytes). Returns DR_EOK or
 * DR_EMALF. */
int curve_base32_decode_key(const char *in, uint8_t pk[32]);

#endif
