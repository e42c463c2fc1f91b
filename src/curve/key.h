/* SPDX-License-Identifier: MIT */
/* curve/key.h -- DNSCurve server key files and the lines curvedns-keygen prints */
#ifndef DR_CURVE_KEY_H
#define DR_CURVE_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "curve/box.h"

/* "uz5" and the 51 base32 characters of the public key: the first label of the server's NS
 * name, which DNSCurve resolvers read the key from. */
#define CURVE_KEY_DNS_LEN 54

/* Load the secret key in the file <path>: 64 hex digits, white space around them allowed.
 * The file must be a regular file that neither group nor others may access (a secret that
 * others can read is no longer secret; one they can write is no longer ours). Returns DR_EOK
 * with the key in <sk>, or DR_ECONF with a one-line "<path>: problem" in <err> of <len>
 * bytes (then <sk> is zeroed). */
int curve_key_load(const char *path, uint8_t sk[CURVE_KEY_LEN], char *err, size_t len);

/* Write a new random secret key (libsodium's randombytes: curve_box_init() first) to <path>,
 * which must not exist yet (O_EXCL: a key is never overwritten), mode 0600 whatever the
 * umask, and return it in <sk>. Returns DR_EOK or
 * DR_ECONF with "<path>: problem" in <err>; a partly written file is removed. */
int curve_key_generate(const char *path, uint8_t sk[CURVE_KEY_LEN], char *err, size_t len);

/* Derive the public key <pk> of <sk> (X25519 with the base point). Returns DR_EOK or
 * DR_EINVAL. */
int curve_key_public(const uint8_t sk[CURVE_KEY_LEN], uint8_t pk[CURVE_KEY_LEN]);

/* Write "uz5" and the base32 of <pk> into <out> of <cap> bytes with a NUL. Returns
 * CURVE_KEY_DNS_LEN or DR_ESPACE. */
int curve_key_dns_name(const uint8_t pk[CURVE_KEY_LEN], char *out, size_t cap);

/* Read the public key from the 54 characters "uz5..." at <in> into <pk>. Returns DR_EOK or
 * DR_EMALF. */
int curve_key_from_dns_name(const char *in, uint8_t pk[CURVE_KEY_LEN]);

/* Write the three lines curvedns-keygen prints for <sk> into <out> of <cap> bytes, with a
 * NUL: "DNS public key:\tuz5...\nHex public key:\t<64 hex>\nHex secret key:\t<64 hex>\n".
 * Returns the length without the NUL, DR_ESPACE or DR_EINVAL. */
int curve_key_format(const uint8_t sk[CURVE_KEY_LEN], char *out, size_t cap);

#endif
