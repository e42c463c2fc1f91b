/* SPDX-License-Identifier: MIT */
/* route/shard.h -- a zone cut into shards: which shard holds a name */
#ifndef DR_ROUTE_SHARD_H
#define DR_ROUTE_SHARD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sha1.h"
#include "conf/conf.h"
#include "wire/wire.h"

struct route;

#define SHARD_HASH_TEXT 32 /* an NSEC3 SHA-1 hash in base32hex (RFC 4648 §7) */

/* Where a shard starts: a name in canonical order, or a base32hex prefix of NSEC3 hashes. */
struct shard_start {
	uint8_t name[WIRE_NAME_MAX]; /* canonical: lower-cased wire form */
	uint8_t off[WIRE_LABELS_MAX];
	uint8_t nlabels;
	char prefix[SHARD_HASH_TEXT + 1]; /* nsec3: lower case */
};

/* The shards of one zone route, immutable like the snapshot that holds it. Shard i serves
 * the names from start[i] up to start[i + 1] (canonical order, on the whole name), or the
 * names whose label below the zone hashes (NSEC3, with the zone's parameters) from
 * start[i].prefix up to the next prefix; hashes below the first prefix wrap to the last
 * shard, and the apex goes to the first. */
struct shard_map {
	bool nsec3;
	struct conf_nsec3 params;
	uint8_t zone_labels; /* labels of the zone's name */
	uint32_t n;
	struct shard_start *start;
	struct route **routes;   /* each shard's own route: its pool, its cursor */
	struct route *full_zone; /* where transfers of the zone go; NULL: refused */
};

/* The index of the shard holding <q>'s name, which is at or below the zone. Allocation-free:
 * a binary search of the canonical starts (a few name comparisons), or an NSEC3 hash of one
 * name then a binary search of the prefixes. */
uint32_t shard_index(const struct shard_map *m, const struct wire_question *q);

/* The NSEC3 hash (RFC 5155 §5) of the lower-cased wire name <name> of <len> bytes under
 * <p>, in base32hex, lower case, NUL-terminated. */
void shard_nsec3_text(const struct conf_nsec3 *p, const uint8_t *name, unsigned len,
		      char out[SHARD_HASH_TEXT + 1]);

#endif
