/* SPDX-License-Identifier: MIT */
/* route/regex_set.c -- ordered regex routes, indexed by the literal suffix each one requires */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "route/regex_set.h"
#include "route/route.h"

#define KEY_MAX 1024
#define PROBES_MAX 160 /* a name of 255 bytes has at most 128 dots; escapes add more */

struct bucket {
	uint64_t hash;
	char *key; /* NULL: empty */
	size_t key_len;
	uint32_t *order; /* route positions, ascending */
	uint32_t n;
};

struct regex_set {
	struct route *const *routes;
	uint32_t nroutes;
	uint32_t *always; /* positions of patterns without a key, ascending */
	uint32_t nalways;
	struct bucket *buckets;
	uint32_t mask;
};

/* Hash a suffix from its last byte backwards, so one pass over a name yields the hash of every
 * suffix. */
static inline uint64_t step(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ull;
}

static inline uint64_t finish(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_suffix(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = len; i-- > 0;) {
		h = step(h, (unsigned char)s[i]);
	}
	return finish(h);
}

/* A character that stands for itself in a pattern and cannot start an escape in a name's
 * presentation form. */
static bool plain_literal(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
	       c == '.' || c == '/' || c == '*' || c == '=' || c == ',' || c == ':' || c == '#' ||
	       c == '%' || c == '&' || c == '!' || c == '~' || c == '+' || c == '<' || c == '>';
}

int regex_set_key(const char *pattern, char *key, size_t cap)
{
	char lit[KEY_MAX];
	size_t n = 0, i = 0, len = strlen(pattern);
	bool start_anchored = pattern[0] == '^';
	bool run_from_start = start_anchored;

	/* Alternation, inline options or backtracking verbs ((*ACCEPT) ends a match early) could
	 * make the suffix optional: always try those. */
	if (strchr(pattern, '|') != NULL || strstr(pattern, "(?") != NULL ||
	    strstr(pattern, "(*") != NULL || len == 0 || pattern[len - 1] != '$') {
		return -1;
	}
	i = start_anchored ? 1 : 0;
	while (i < len - 1) {
		char c = pattern[i];
		char value;
		size_t next;

		if (c == '\\') {
			char e = pattern[i + 1];
			if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
			    (e >= '0' && e <= '9') || e == '\0') {
				n = 0; /* \d, \w, \x2e, back-references: not a literal */
				run_from_start = false;
				i += 2;
				continue;
			}
			value = e;
			next = i + 2;
		} else if (c == '[') {
			size_t j = i + 1;
			if (pattern[j] == '^') {
				j++;
			}
			if (pattern[j] == ']') {
				j++;
			}
			while (j < len && pattern[j] != ']') {
				j += pattern[j] == '\\' ? 2 : 1;
			}
			n = 0;
			run_from_start = false;
			i = j + 1;
			continue;
		} else if (c == '.' || c == '(' || c == ')' || c == '^' || c == '$' || c == '*' ||
			   c == '+' || c == '?' || c == '{' || c == '}') {
			n = 0;
			run_from_start = false;
			i++;
			continue;
		} else {
			value = c;
			next = i + 1;
		}
		/* A quantifier after it makes the character optional or repeated. */
		if (pattern[next] == '*' || pattern[next] == '+' || pattern[next] == '?' ||
		    pattern[next] == '{') {
			n = 0;
			run_from_start = false;
			i = next;
			continue;
		}
		if (!plain_literal(value) || n + 1 >= sizeof(lit)) {
			n = 0;
			run_from_start = false;
			i = next;
			continue;
		}
		lit[n++] = value;
		i = next;
	}
	if (i != len - 1 || n == 0) {
		return -1;
	}
	/* ^literal$: the whole name. Otherwise what follows the literal's first dot: the text
	 * has a dot there, so the suffix after it is one the lookup probes. */
	if (!run_from_start) {
		char *dot = memchr(lit, '.', n);
		if (dot == NULL || (size_t)(dot - lit) + 1 == n) {
			return -1; /* only the root would be left: every name has it */
		}
		n -= (size_t)(dot - lit) + 1;
		memmove(lit, dot + 1, n);
	}
	if (n >= cap) {
		return -1;
	}
	memcpy(key, lit, n);
	key[n] = '\0';
	return (int)n;
}

static struct bucket *bucket_find(const struct regex_set *set, uint64_t h, const char *key,
				  size_t len)
{
	for (uint32_t i = (uint32_t)h & set->mask;; i = (i + 1) & set->mask) {
		struct bucket *b = &set->buckets[i];
		if (b->key == NULL ||
		    (b->hash == h && b->key_len == len && memcmp(b->key, key, len) == 0)) {
			return b;
		}
	}
}

static int index_route(struct regex_set *set, uint32_t pos, const char *pattern)
{
	char key[KEY_MAX];
	int len = regex_set_key(pattern, key, sizeof(key));
	struct bucket *b;
	uint32_t *grown;

	if (len < 0) {
		set->always[set->nalways++] = pos;
		return 0;
	}
	b = bucket_find(set, hash_suffix(key, (size_t)len), key, (size_t)len);
	if (b->key == NULL) {
		b->key = strndup(key, (size_t)len);
		if (b->key == NULL) {
			return -1;
		}
		b->key_len = (size_t)len;
		b->hash = hash_suffix(key, (size_t)len);
	}
	grown = realloc(b->order, (b->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		return -1;
	}
	b->order = grown;
	b->order[b->n++] = pos;
	return 0;
}

struct regex_set *regex_set_new(struct route *const *routes, uint32_t n)
{
	struct regex_set *set = calloc(1, sizeof(*set));
	uint32_t size = 16;

	if (set == NULL) {
		return NULL;
	}
	while (size < 2 * n) {
		size *= 2;
	}
	set->routes = routes;
	set->nroutes = n;
	set->mask = size - 1;
	set->buckets = calloc(size, sizeof(*set->buckets));
	set->always = calloc(n + 1, sizeof(*set->always));
	if (set->buckets == NULL || set->always == NULL) {
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (index_route(set, i, routes[i]->pattern) != 0) {
			goto fail;
		}
	}
	return set;
fail:
	regex_set_free(set);
	return NULL;
}

void regex_set_free(struct regex_set *set)
{
	if (set == NULL) {
		return;
	}
	for (uint32_t i = 0; set->buckets != NULL && i <= set->mask; i++) {
		free(set->buckets[i].key);
		free(set->buckets[i].order);
	}
	free(set->buckets);
	free(set->always);
	free(set);
}

struct cursor {
	const uint32_t *order;
	uint32_t n;
};

const struct route *regex_set_match(const struct regex_set *set, const char *text, size_t len,
				    struct regex_scratch *rs)
{
	struct cursor lists[PROBES_MAX + 1];
	unsigned nlists = 0;
	uint64_t h = 0xcbf29ce484222325ull;

	if (set->nalways > 0) {
		lists[nlists++] = (struct cursor){set->always, set->nalways};
	}
	/* Every suffix that starts the text or follows a dot, longest last. */
	for (size_t p = len; p-- > 0;) {
		h = step(h, (unsigned char)text[p]);
		if ((p == 0 || text[p - 1] == '.') && nlists < PROBES_MAX) {
			const struct bucket *b = bucket_find(set, finish(h), text + p, len - p);
			if (b->key != NULL) {
				lists[nlists++] = (struct cursor){b->order, b->n};
			}
		}
	}
	/* Merge the candidate lists in route order; the first regexp that matches wins. */
	for (;;) {
		unsigned best = nlists;
		for (unsigned i = 0; i < nlists; i++) {
			if (lists[i].n > 0 &&
			    (best == nlists || lists[i].order[0] < lists[best].order[0])) {
				best = i;
			}
		}
		if (best == nlists) {
			return NULL;
		}
		const struct route *r = set->routes[lists[best].order[0]];
		lists[best].order++;
		lists[best].n--;
		if (regex_match(r->re, text, len, rs)) {
			return r;
		}
	}
}
