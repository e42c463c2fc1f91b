/* SPDX-License-Identifier: MIT */
/* common/sha1.h -- SHA-1 (FIPS 180-4), for NSEC3 owner hashes (RFC 5155) and nothing else */
#ifndef DR_COMMON_SHA1_H
#define DR_COMMON_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

/* SHA-1 is broken for collisions, not for what NSEC3 uses it for: a zone's signer already
 * chose the hashes, and the router only recomputes them to route by them. */
struct sha1 {
	uint32_t h[5];
	uint64_t bytes;
	uint8_t block[64];
	size_t used;
};

void sha1_init(struct sha1 *s);
void sha1_update(struct sha1 *s, const uint8_t *data, size_t len);
void sha1_final(struct sha1 *s, uint8_t out[SHA1_LEN]);

#endif
