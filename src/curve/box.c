/* SPDX-License-Identifier: MIT */
/* curve/box.c -- DNSCurve boxes: curve25519xsalsa20poly1305 through libsodium */
#include "curve/box.h"

#include <string.h>

#include <sodium.h>

#include "common/err.h"

/* The _easy_afternm calls lay a box out as DNSCurve does, MAC || ciphertext, so neither side
 * handles the NaCl API's 16/32 leading zero bytes. They use crypto_box's default primitive,
 * which curve_box_init() checks is the one DNSCurve names. */
_Static_assert(crypto_box_BEFORENMBYTES == CURVE_KEY_LEN, "shared key length");
_Static_assert(crypto_box_PUBLICKEYBYTES == CURVE_KEY_LEN, "public key length");
_Static_assert(crypto_box_MACBYTES == CURVE_MAC_LEN, "MAC length");
_Static_assert(crypto_box_NONCEBYTES == 2 * CURVE_HALF_NONCE, "nonce length");

int curve_box_init(void)
{
	if (sodium_init() < 0) {
		return DR_EINVAL;
	}
	return strcmp(crypto_box_primitive(), "curve25519xsalsa20poly1305") == 0 ? DR_EOK
										 : DR_EINVAL;
}

int curve_box_shared(uint8_t shared[CURVE_KEY_LEN], const uint8_t client_pk[CURVE_KEY_LEN],
		     const uint8_t server_sk[CURVE_KEY_LEN])
{
	if (crypto_box_curve25519xsalsa20poly1305_beforenm(shared, client_pk, server_sk) != 0) {
		sodium_memzero(shared, CURVE_KEY_LEN);
		return DR_EINVAL;
	}
	return DR_EOK;
}

static void nonce_join(uint8_t nonce[crypto_box_NONCEBYTES], const uint8_t *client_nonce,
		       const uint8_t *server_nonce)
{
	memcpy(nonce, client_nonce, CURVE_HALF_NONCE);
	if (server_nonce != NULL) {
		memcpy(nonce + CURVE_HALF_NONCE, server_nonce, CURVE_HALF_NONCE);
	} else {
		memset(nonce + CURVE_HALF_NONCE, 0, CURVE_HALF_NONCE);
	}
}

int curve_box_open(uint8_t *out, size_t cap, size_t *len, const uint8_t *box, size_t box_len,
		   const uint8_t client_nonce[CURVE_HALF_NONCE], const uint8_t *server_nonce,
		   const uint8_t shared[CURVE_KEY_LEN])
{
	uint8_t nonce[crypto_box_NONCEBYTES];

	if (box_len < CURVE_MAC_LEN) {
		return DR_EMALF;
	}
	if (box_len - CURVE_MAC_LEN > cap) {
		return DR_ESPACE;
	}
	nonce_join(nonce, client_nonce, server_nonce);
	if (crypto_box_open_easy_afternm(out, box, box_len, nonce, shared) != 0) {
		return DR_EMALF;
	}
	*len = box_len - CURVE_MAC_LEN;
	return DR_EOK;
}

int curve_box_seal(uint8_t *out, size_t cap, size_t *box_len, const uint8_t *msg, size_t len,
		   const uint8_t client_nonce[CURVE_HALF_NONCE], const uint8_t *server_nonce,
		   const uint8_t shared[CURVE_KEY_LEN])
{
	uint8_t nonce[crypto_box_NONCEBYTES];

	if (len > cap || cap - len < CURVE_MAC_LEN) {
		return DR_ESPACE;
	}
	nonce_join(nonce, client_nonce, server_nonce);
	if (crypto_box_easy_afternm(out, msg, len, nonce, shared) != 0) {
		return DR_ESPACE; /* only for a message longer than libsodium's limit */
	}
	*box_len = len + CURVE_MAC_LEN;
	return DR_EOK;
}
