/* SPDX-License-Identifier: MIT */
/* common/hash.h -- a small fast non-cryptographic hash for table keys */
#ifndef DR_COMMON_HASH_H
#define DR_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over <len> bytes, finished with a 64-bit mixer so that low bits are usable as an
 * index. Keys here are DNS names (at most 255 bytes), so a byte loop is fast enough. */
static inline uint64_t hash_bytes(const uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

#endif
