/* SPDX-License-Identifier: MIT */
/* curve/box.h -- DNSCurve boxes: curve25519xsalsa20poly1305 through libsodium */
#ifndef DR_CURVE_BOX_H
#define DR_CURVE_BOX_H

#include <stddef.h>
#include <stdint.h>

#define CURVE_KEY_LEN 32    /* public, secret and shared keys alike */
#define CURVE_HALF_NONCE 12 /* the client's half of the 24-byte nonce, and the server's */
#define CURVE_MAC_LEN 16    /* a box is MAC || ciphertext, the ciphertext as long as the text */

/* Initialize libsodium once per process, before any other curve_ function and before the
 * workers start (sodium_init() is thread-safe, but its first call is slow). Returns DR_EOK or
 * DR_EINVAL when libsodium cannot find a random source or its crypto_box is not
 * curve25519xsalsa20poly1305. */
int curve_box_init(void);

/* Compute into <shared> the key that the client <client_pk> and the server <server_sk> share
 * (crypto_box_beforenm: X25519, then HSalsa20). About 39 us: callers cache it. Returns DR_EOK,
 * or DR_EINVAL for a client key of small order (libsodium refuses the all-zero result). */
int curve_box_shared(uint8_t shared[CURVE_KEY_LEN], const uint8_t client_pk[CURVE_KEY_LEN],
		     const uint8_t server_sk[CURVE_KEY_LEN]);

/* Open the <box_len>-byte box at <box> (MAC || ciphertext) with <shared> and the nonce
 * <client_nonce> || <server_nonce>, or <client_nonce> || 0^12 when <server_nonce> is NULL (a
 * query). The text goes to <out> of <cap> bytes (may be <box> itself: libsodium allows the
 * overlap), its length to *<len>. Returns DR_EOK, DR_EMALF when the box is shorter than a MAC
 * or does not open, or DR_ESPACE. */
int curve_box_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *box, size_t box_len,
		   const uint8_t client_nonce[CURVE_HALF_NONCE], const uint8_t *server_nonce,
		   const uint8_t shared[CURVE_KEY_LEN]);

/* Seal the <len> bytes of <msg> with <shared> and the nonce <client_nonce> || <server_nonce>
 * (|| 0^12 when <server_nonce> is NULL) into <out> of <cap> bytes, MAC first: len + 16 bytes,
 * stored in *<box_len>. <out> may be <msg> itself. Returns DR_EOK or DR_ESPACE. */
int curve_box_seal(uint8_t *out, size_t cap, size_t *box_len, const uint8_t *msg, size_t len,
		   const uint8_t client_nonce[CURVE_HALF_NONCE], const uint8_t *server_nonce,
		   const uint8_t shared[CURVE_KEY_LEN]);

#endif
