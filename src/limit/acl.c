/* SPDX-License-Identifier: MIT */
/* limit/acl.c -- access rules compiled for a lookup per query */
#include <stdlib.h>
#include <string.h>

#include "limit/acl.h"

#define NONE UINT32_MAX

/* Addresses are held as 128 bits, an IPv4 one in the top 32, so one masking and one hash serve
 * both families. */
struct acl_slot {
	uint64_t hi, lo;
	uint32_t rule; /* lowest rule index with this masked address; NONE: empty slot */
};

/* The rules of one family and one prefix length: an open-addressing table, at most half full
 * so that a miss stops after a probe or two. */
struct acl_len {
	uint32_t min_rule; /* lowest rule index here: lookups try lengths in this order */
	uint8_t bits;
	uint32_t mask; /* slots - 1 */
	struct acl_slot *slots;
};

struct acl {
	struct acl_len *len[2]; /* [0] IPv4, [1] IPv6, by min_rule ascending */
	unsigned nlen[2];
	uint8_t *action; /* per rule */
};

static int fam_index(sa_family_t family)
{
	return family == AF_INET ? 0 : family == AF_INET6 ? 1 : -1;
}

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++) {
		v = v << 8 | p[i];
	}
	return v;
}

static void load_addr(int fam, const uint8_t *a, uint64_t *hi, uint64_t *lo)
{
	if (fam == 0) {
		*hi = (uint64_t)a[0] << 56 | (uint64_t)a[1] << 48 | (uint64_t)a[2] << 40 |
		      (uint64_t)a[3] << 32;
		*lo = 0;
	} else {
		*hi = load_be64(a);
		*lo = load_be64(a + 8);
	}
}

/* Keep the first <bits> (0..128) of hi:lo. */
static void mask_addr(unsigned bits, uint64_t *hi, uint64_t *lo)
{
	if (bits == 0) {
		*hi = 0;
		*lo = 0;
	} else if (bits < 64) {
		*hi &= ~(UINT64_MAX >> bits);
		*lo = 0;
	} else if (bits == 64) {
		*lo = 0;
	} else if (bits < 128) {
		*lo &= ~(UINT64_MAX >> (bits - 64));
	}
}

/* Rule prefixes come from the config, not from clients, so chains cannot be built on purpose:
 * a fixed mixer (splitmix64's finalizer) is enough. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint32_t slot_of(const struct acl_len *l, uint64_t hi, uint64_t lo)
{
	return (uint32_t)mix64(hi ^ (lo * 0x9e3779b97f4a7c15ull)) & l->mask;
}

/* The rule of <hi>:<lo> (already masked) in <l>, or NONE. */
static uint32_t len_find(const struct acl_len *l, uint64_t hi, uint64_t lo)
{
	for (uint32_t s = slot_of(l, hi, lo);; s = (s + 1) & l->mask) {
		const struct acl_slot *e = &l->slots[s];
		if (e->rule == NONE || (e->hi == hi && e->lo == lo)) {
			return e->rule;
		}
	}
}

/* Insert rule <r>; rules come in list order, so a duplicate prefix keeps the earlier one. */
static void len_insert(struct acl_len *l, uint64_t hi, uint64_t lo, uint32_t r)
{
	for (uint32_t s = slot_of(l, hi, lo);; s = (s + 1) & l->mask) {
		struct acl_slot *e = &l->slots[s];
		if (e->rule == NONE) {
			e->hi = hi;
			e->lo = lo;
			e->rule = r;
			return;
		}
		if (e->hi == hi && e->lo == lo) {
			return;
		}
	}
}

/* A rule prefix_contains could match: a known family and a length that fits it. */
static bool rule_usable(const struct prefix *p)
{
	int fam = fam_index(p->family);

	return fam >= 0 && p->bits <= (fam == 0 ? 32 : 128);
}

static int cmp_min_rule(const void *a, const void *b)
{
	const struct acl_len *x = a, *y = b;

	return x->min_rule < y->min_rule ? -1 : x->min_rule > y->min_rule;
}

/* Build the tables of family <fam> from <rules>. */
static int build_family(struct acl *a, int fam, const struct conf_acl_rule *rules, size_t n)
{
	uint32_t count[129] = {0}, first[129];
	unsigned nlen = 0;

	for (size_t i = 0; i < n; i++) {
		const struct prefix *p = &rules[i].from;
		if (rule_usable(p) && fam_index(p->family) == fam) {
			if (count[p->bits]++ == 0) {
				first[p->bits] = (uint32_t)i;
				nlen++;
			}
		}
	}
	if (nlen == 0) {
		return 0;
	}
	a->len[fam] = calloc(nlen, sizeof(struct acl_len));
	if (a->len[fam] == NULL) {
		return -1;
	}
	for (unsigned bits = 0; bits <= 128; bits++) {
		if (count[bits] == 0) {
			continue;
		}
		struct acl_len *l = &a->len[fam][a->nlen[fam]++];
		uint32_t size = 2;
		while (size < 2 * count[bits]) {
			size <<= 1;
		}
		l->bits = (uint8_t)bits;
		l->min_rule = first[bits];
		l->mask = size - 1;
		l->slots = malloc(size * sizeof(struct acl_slot));
		if (l->slots == NULL) {
			return -1;
		}
		for (uint32_t s = 0; s < size; s++) {
			l->slots[s].rule = NONE;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct prefix *p = &rules[i].from;
		uint64_t hi, lo;
		if (!rule_usable(p) || fam_index(p->family) != fam) {
			continue;
		}
		for (unsigned k = 0; k < a->nlen[fam]; k++) {
			struct acl_len *l = &a->len[fam][k];
			if (l->bits == p->bits) {
				load_addr(fam, p->addr, &hi, &lo);
				mask_addr(p->bits, &hi, &lo);
				len_insert(l, hi, lo, (uint32_t)i);
				break;
			}
		}
	}
	qsort(a->len[fam], a->nlen[fam], sizeof(struct acl_len), cmp_min_rule);
	return 0;
}

struct acl *acl_new(const struct conf_acl_rule *rules, size_t n)
{
	struct acl *a;

	/* Rule indices are 32-bit with NONE reserved; the config allows CONF_ACL_MAX. */
	if (n >= NONE) {
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		return NULL;
	}
	a->action = malloc(n > 0 ? n : 1);
	if (a->action == NULL) {
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		a->action[i] = (uint8_t)rules[i].action;
	}
	if (build_family(a, 0, rules, n) != 0 || build_family(a, 1, rules, n) != 0) {
		goto fail;
	}
	return a;
fail:
	acl_free(a);
	return NULL;
}

void acl_free(struct acl *a)
{
	if (a == NULL) {
		return;
	}
	for (int fam = 0; fam < 2; fam++) {
		/* A partly built family has zeroed (NULL) slots past the failure. */
		for (unsigned k = 0; a->len[fam] != NULL && k < a->nlen[fam]; k++) {
			free(a->len[fam][k].slots);
		}
		free(a->len[fam]);
	}
	free(a->action);
	free(a);
}

enum conf_acl_action acl_check(const struct acl *a, const union sockaddr_any *client)
{
	int fam = fam_index(client->sa.sa_family);
	uint32_t best = NONE;
	uint64_t hi, lo;

	if (a == NULL || fam < 0) {
		return CONF_ACL_ALLOW;
	}
	load_addr(fam,
		  fam == 0 ? (const uint8_t *)&client->sin.sin_addr
			   : client->sin6.sin6_addr.s6_addr,
		  &hi, &lo);
	for (unsigned k = 0; k < a->nlen[fam]; k++) {
		const struct acl_len *l = &a->len[fam][k];
		uint64_t mhi = hi, mlo = lo;
		/* Lengths come by their lowest rule: once a match beats that, no later length
		 * can hold an earlier rule. */
		if (best < l->min_rule) {
			break;
		}
		mask_addr(l->bits, &mhi, &mlo);
		uint32_t r = len_find(l, mhi, mlo);
		if (r < best) {
			best = r;
		}
	}
	return best == NONE ? CONF_ACL_ALLOW : (enum conf_acl_action)a->action[best];
}
