/* SPDX-License-Identifier: MIT */
/* common/strmap.c -- a string-keyed hash map for the control plane (open addressing) */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/strmap.h"

int strmap_init(struct strmap *m, size_t expect)
{
	size_t cap = 16;

	while (cap < 2 * expect) {
		cap *= 2;
	}
	m->slots = calloc(cap, sizeof(*m->slots));
	m->cap = cap;
	m->len = 0;
	return m->slots ? DR_EOK : DR_ENOMEM;
}

void strmap_deinit(struct strmap *m)
{
	for (size_t i = 0; m->slots != NULL && i < m->cap; i++) {
		free(m->slots[i].key);
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct strmap_slot *s = &m->slots[i];
		if (s->key == NULL || (s->hash == h && strcmp(s->key, key) == 0)) {
			return s;
		}
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	uint64_t h = hash_bytes((const uint8_t *)key, strlen(key), 0);
	struct strmap_slot *s = find(m, key, h);

	return s->key != NULL ? s->value : NULL;
}

static int grow(struct strmap *m)
{
	struct strmap old = *m;

	if (strmap_init(m, old.cap) != DR_EOK) {
		*m = old;
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].key != NULL) {
			*find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
			m->len++;
		}
	}
	free(old.slots);
	return DR_EOK;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
	uint64_t h = hash_bytes((const uint8_t *)key, strlen(key), 0);
	struct strmap_slot *s;

	if (2 * (m->len + 1) > m->cap && grow(m) != DR_EOK) {
		return DR_ENOMEM;
	}
	s = find(m, key, h);
	if (s->key == NULL) {
		s->key = strdup(key);
		if (s->key == NULL) {
			return DR_ENOMEM;
		}
		s->hash = h;
		m->len++;
	}
	s->value = value;
	return DR_EOK;
}
