/* SPDX-License-Identifier: MIT */
/* route/lookup.c -- find the route for a question */
#include <string.h>

#include "common/hash.h"
#include "route/route.h"

const struct route *route_zone_at(const struct snapshot *s, const uint8_t *name, unsigned len)
{
	uint64_t h = hash_bytes(name, len, 0);

	for (uint32_t i = (uint32_t)h & s->zone_mask;; i = (i + 1) & s->zone_mask) {
		const struct zone_slot *slot = &s->zones[i];
		if (slot->route == NULL) {
			return NULL;
		}
		if (slot->hash == h && slot->route->zone_len == len &&
		    memcmp(slot->route->zone, name, len) == 0) {
			return slot->route;
		}
	}
}

/* Longest zone first: the whole name, then each suffix down to the root. */
static const struct route *zone_longest(const struct snapshot *s, const struct wire_question *q)
{
	unsigned pos = 0;

	for (;;) {
		const struct route *r = route_zone_at(s, q->name + pos, q->name_len - pos);
		if (r != NULL || q->name[pos] == 0) {
			return r;
		}
		pos += 1u + q->name[pos];
	}
}

const struct route *route_lookup(const struct snapshot *s, const struct wire_question *q,
				 struct regex_scratch *rs)
{
	if (s->nregex > 0) {
		char text[WIRE_NAME_TEXT_MAX];
		int len = wire_name_to_text(q->name, text, sizeof(text));

		const struct route *r =
			len > 0 ? regex_set_match(s->regex_set, text, (size_t)len, rs) : NULL;
		if (r != NULL) {
			return r;
		}
	}
	const struct route *r = zone_longest(s, q);
	if (r != NULL && r->shards != NULL) {
		r = r->shards->routes[shard_index(r->shards, q)];
	}
	return r;
}
