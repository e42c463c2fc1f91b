/* SPDX-License-Identifier: MIT */
/* split/nsec3.c -- nsec3 mode (sharding.md §3 B2): shards by the NSEC3 hash of the label below
 * the apex, for delegation-only zones
 *
 * A query goes to the shard whose hash range holds H(F), F the qname's ancestor one label below
 * the apex (or the qname itself); the apex goes to shard 0. The ranges start at fixed base32hex
 * prefixes ("0", "8", "g", "o" for 4 shards), so routes survive re-signing. First-level names
 * that are not delegations (nic, www, an ENT like co) need random chain members below them: they
 * go to a rest shard with the whole chain (--rest), reached by ordinary zone routes.
 */
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>
#include <openssl/evp.h>

#include "split.h"

static const char b32hex[] = "0123456789abcdefghijklmnopqrstuv";

int nsec3_hash(const struct index *ix, const uint8_t *n, char out[33])
{
	uint8_t buf[SPLIT_NAME_MAX + 255 + 20], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t len = name_len(n);

	memcpy(buf, n, len);
	memcpy(buf + len, ix->n3_salt, ix->n3_salt_len);
	if (EVP_Digest(buf, len + ix->n3_salt_len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
	    mdlen != 20) {
		return -1;
	}
	for (unsigned k = 0; k < ix->n3_iter; k++) {
		memcpy(buf, md, 20);
		memcpy(buf + 20, ix->n3_salt, ix->n3_salt_len);
		if (EVP_Digest(buf, 20u + ix->n3_salt_len, md, &mdlen, EVP_sha1(), NULL) != 1) {
			return -1;
		}
	}
	/* base32hex without padding (RFC 4648 §7), 160 bits: 32 characters */
	for (int i = 0; i < 32; i++) {
		int bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)md[byte] << 8 | (byte + 1 < 20 ? md[byte + 1] : 0);
		out[i] = b32hex[(v >> (11 - shift)) & 31];
	}
	out[32] = '\0';
	return 0;
}

/* The first-level name at or above <n> (a pointer into <n>), or NULL for the apex. */
static const uint8_t *first_level(const struct index *ix, const uint8_t *n)
{
	int extra = name_labels(n) - name_labels(ix->apex);

	if (extra <= 0) {
		return NULL;
	}
	while (extra-- > 1) {
		n = name_parent(n);
	}
	return n;
}

static int in_rest(const struct cuts *c, const uint8_t *f)
{
	for (size_t i = 0; i < c->n_rest; i++) {
		if (name_cmp(c->rest[i], f) == 0) {
			return 1;
		}
	}
	return 0;
}

static size_t shard_of_hash(const struct cuts *c, const char *h)
{
	size_t s = c->n_hash - 1; /* below the first prefix: wraps to the last */

	for (size_t i = 0; i < c->n_hash; i++) {
		if (strncmp(h, c->prefix[i], strlen(c->prefix[i])) >= 0) {
			s = i;
		}
	}
	return s;
}

size_t nsec3_route(const struct cuts *c, const uint8_t *n)
{
	const uint8_t *f = first_level(c->ix, n);
	char h[33];

	if (f == NULL) {
		return 0;
	}
	if (in_rest(c, f)) {
		return c->n_hash;
	}
	return nsec3_hash(c->ix, f, h) == 0 ? shard_of_hash(c, h) : 0;
}

static int is_chain(const struct index *ix, size_t i)
{
	return (ix->nodes[i].flags & NF_NSEC3) != 0;
}

/* Compare chain member <k>'s hash label with <h>. */
static int chain_cmp(const struct index *ix, size_t k, const char *h)
{
	const uint8_t *n = index_name(ix, ix->chain[k]);
	char lab[64];

	memcpy(lab, n + 1, n[0]);
	lab[n[0]] = '\0';
	return strcmp(lab, h);
}

long nsec3_chain_pred(const struct index *ix, const char *h, int strict)
{
	size_t lo = 0, hi = ix->n_chain;

	if (ix->n_chain == 0) {
		return -1;
	}
	/* the first member past <h> (or at it, when strict); the one before it is the answer */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = chain_cmp(ix, mid, h);
		if (d < 0 || (d == 0 && !strict)) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (long)ix->chain[lo > 0 ? lo - 1 : ix->n_chain - 1];
}

/* Split "a,b,c" into absolute names below the apex, into c->rest. */
static int parse_rest(struct cuts *c, const struct index *ix, const char *rest)
{
	size_t count = 1;

	for (const char *p = rest; p && *p; p++) {
		count += *p == ',';
	}
	c->rest = calloc(count, sizeof(*c->rest));
	if (c->rest == NULL) {
		return SPLIT_EXIT_USAGE;
	}
	for (const char *p = rest; p && *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char txt[2 * KNOT_DNAME_TXT_MAXLEN], apex[KNOT_DNAME_TXT_MAXLEN + 1];
		if (l == 0 || l > 63 || name_to_text(ix->apex, apex, sizeof(apex)) != 0) {
			fprintf(stderr, "--rest: bad label list '%s'\n", rest);
			return SPLIT_EXIT_USAGE;
		}
		snprintf(txt, sizeof(txt), "%.*s.%s", (int)l, p, ix->apex_len == 1 ? "" : apex);
		if (name_from_text(txt, c->rest[c->n_rest]) != 0) {
			fprintf(stderr, "--rest: bad label '%.*s'\n", (int)l, p);
			return SPLIT_EXIT_USAGE;
		}
		c->n_rest++;
		p = e ? e + 1 : NULL;
	}
	return SPLIT_EXIT_OK;
}

int nsec3_fits(const struct index *ix, const char *rest, int why)
{
	struct cuts c = {.ix = ix};
	int ok = 1, apex_labels = name_labels(ix->apex);

	if (ix->has_nsec3param != 1 || !ix->has_nsec3) {
		if (why) {
			fprintf(stderr, "nsec3 mode needs an NSEC3 zone with one NSEC3PARAM (%d)\n",
				ix->has_nsec3param);
		}
		return 0;
	}
	if (parse_rest(&c, ix, rest) != SPLIT_EXIT_OK) {
		cuts_free(&c);
		return 0;
	}
	for (size_t i = 1; i < ix->n_nodes; i++) {
		const struct node *nd = &ix->nodes[i];
		const uint8_t *n = index_name(ix, i);
		if (is_chain(ix, i) || name_labels(n) != apex_labels + 1 ||
		    (nd->flags & NF_DELEG) || in_rest(&c, n)) {
			continue;
		}
		ok = 0;
		if (why) {
			char txt[KNOT_DNAME_TXT_MAXLEN + 1];
			if (name_to_text(n, txt, sizeof(txt)) == 0) {
				fprintf(stderr,
					"line %u: %s is not a delegation: name it in --rest\n",
					nd->line, txt);
			}
		}
	}
	cuts_free(&c);
	return ok;
}

int nsec3_setup(struct cuts *c, const struct index *ix, size_t shards, const char *rest)
{
	int ret = parse_rest(c, ix, rest);

	c->ix = ix;
	c->hashed = 1;
	if (ret != SPLIT_EXIT_OK) {
		return ret;
	}
	c->n_hash = shards;
	c->n = shards + (c->n_rest > 0);
	c->prefix = calloc(shards, sizeof(*c->prefix));
	c->node_shard = calloc(ix->n_nodes ? ix->n_nodes : 1, sizeof(*c->node_shard));
	c->name = calloc(c->n, sizeof(*c->name));
	c->first = calloc(c->n, sizeof(*c->first));
	if (c->prefix == NULL || c->node_shard == NULL || c->name == NULL || c->first == NULL) {
		return SPLIT_EXIT_USAGE;
	}
	for (size_t i = 0; i < shards; i++) {
		/* evenly spaced two-character prefixes, trailing zeros dropped */
		unsigned v = (unsigned)(i * 1024 / shards);
		char *p = c->prefix[i];
		p[0] = b32hex[v / 32];
		p[1] = b32hex[v % 32];
		p[2] = '\0';
		if (p[1] == '0') {
			p[1] = '\0';
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		memcpy(c->name[i], ix->apex, ix->apex_len);
	}
	for (size_t i = 0; i < ix->n_nodes; i++) {
		const uint8_t *n = index_name(ix, i);
		if (is_chain(ix, i)) {
			char lab[64];
			memcpy(lab, n + 1, n[0]);
			lab[n[0]] = '\0';
			c->node_shard[i] = (uint32_t)shard_of_hash(c, lab);
		} else {
			c->node_shard[i] = (uint32_t)nsec3_route(c, n);
		}
	}
	return SPLIT_EXIT_OK;
}
