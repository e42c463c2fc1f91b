/* SPDX-License-Identifier: MIT */
/* common/strmap.h -- a string-keyed hash map for the control plane (open addressing) */
#ifndef DR_COMMON_STRMAP_H
#define DR_COMMON_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	char *key; /* the map's own copy */
	void *value;
	uint64_t hash;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* a power of two */
	size_t len;
};

/* An empty map sized for about <expect> keys. Returns DR_EOK or DR_ENOMEM. */
int strmap_init(struct strmap *m, size_t expect);
void strmap_deinit(struct strmap *m);

/* The value under <key>, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/* Set <key> (copied) to <value>, replacing. Returns DR_EOK or DR_ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *value);

#endif
