/* SPDX-License-Identifier: MIT */
/* split/cuts.c -- the shards' first names: balanced (--shards N) or read (--cuts FILE)
 *
 * The cut rules of sharding.md §2: a cut is never strictly below a zone cut or a DNAME owner
 * (exit 2), and every proper ancestor of a cut must have a name with data sorting before the
 * cut, or it would be NXDOMAIN in the earlier shard; such a cut is lifted to the highest
 * ancestor with nothing before it, and said so on stderr.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "split.h"

static int cuts_alloc(struct cuts *c, size_t n)
{
	c->name = calloc(n, sizeof(*c->name));
	c->first = calloc(n, sizeof(*c->first));
	if (c->name == NULL || c->first == NULL) {
		cuts_free(c);
		return -1;
	}
	return 0;
}

void cuts_free(struct cuts *c)
{
	free(c->name);
	free(c->first);
	free(c->prefix);
	free(c->rest);
	free(c->node_shard);
	memset(c, 0, sizeof(*c));
}

size_t cuts_node_shard(const struct cuts *c, size_t i)
{
	return c->node_shard ? c->node_shard[i] : cuts_shard_of(c, index_name(c->ix, i));
}

static int is_chain(const struct node *nd)
{
	return (nd->flags & NF_NSEC3) != 0;
}

int cuts_balance(struct cuts *c, const struct index *ix, size_t shards, int by_bytes)
{
	int apex_labels = name_labels(ix->apex);
	uint64_t total = 0, acc = 0;

	if (cuts_alloc(c, shards) != 0) {
		return SPLIT_EXIT_USAGE;
	}
	c->ix = ix;
	for (size_t i = 0; i < ix->n_nodes; i++) {
		const struct node *nd = &ix->nodes[i];
		total += is_chain(nd) ? 0 : (by_bytes ? nd->bytes : (nd->flags & NF_DATA) != 0);
	}
	memcpy(c->name[0], ix->apex, ix->apex_len);
	c->n = 1;
	for (size_t i = 1; i < ix->n_nodes && c->n < shards; i++) {
		const struct node *nd = &ix->nodes[i];
		/* the default cuts fall between first-label subtrees */
		if (!is_chain(nd) && name_labels(index_name(ix, i)) == apex_labels + 1 &&
		    acc * shards >= total * c->n) {
			memcpy(c->name[c->n++], index_name(ix, i), name_len(index_name(ix, i)));
		}
		acc += is_chain(nd) ? 0 : (by_bytes ? nd->bytes : (nd->flags & NF_DATA) != 0);
	}
	if (c->n < shards) {
		fprintf(stderr, "warning: only %zu first-label subtrees to cut at, %zu shards\n",
			c->n, c->n);
	}
	for (size_t i = 0; i < c->n; i++) {
		c->first[i] = (long)index_lower(ix, c->name[i]);
	}
	return SPLIT_EXIT_OK;
}

/* Does subtree(<anc>) hold a name with data sorting before <cut>? */
static int data_before(const struct index *ix, const uint8_t *anc, const uint8_t *cut)
{
	for (size_t i = index_lower(ix, anc); i < ix->n_nodes; i++) {
		const uint8_t *n = index_name(ix, i);
		if (name_cmp(n, cut) >= 0 || !name_is_below(n, anc)) {
			return 0;
		}
		if ((ix->nodes[i].flags & NF_DATA) && !is_chain(&ix->nodes[i])) {
			return 1;
		}
	}
	return 0;
}

/* Apply the cut rules to <n> in place; 0, or an exit code. */
static int cut_fix(const struct index *ix, uint8_t *n, const char *file, unsigned line)
{
	char txt[KNOT_DNAME_TXT_MAXLEN + 1], anc_txt[KNOT_DNAME_TXT_MAXLEN + 1];
	long above = index_cut_above(ix, n, 0);

	if (name_to_text(n, txt, sizeof(txt)) != 0) {
		return SPLIT_EXIT_USAGE;
	}
	if (above >= 0) {
		const struct node *nd = &ix->nodes[above];
		if (name_to_text(index_name(ix, (size_t)above), anc_txt, sizeof(anc_txt)) != 0) {
			return SPLIT_EXIT_USAGE;
		}
		fprintf(stderr, "%s:%u: cut %s is below the %s at %s (zone line %u)\n", file, line,
			txt, (nd->flags & NF_DNAME) ? "DNAME" : "zone cut", anc_txt, nd->line);
		return SPLIT_EXIT_CANNOT;
	}
	/* the ancestors from the highest down: the first without data before the cut wins */
	const uint8_t *anc[SPLIT_LABELS_MAX];
	int k = 0;
	for (const uint8_t *p = name_parent(n); p && name_len(p) > ix->apex_len;
	     p = name_parent(p)) {
		anc[k++] = p;
	}
	while (k-- > 0) {
		if (!data_before(ix, anc[k], n)) {
			if (name_to_text(anc[k], anc_txt, sizeof(anc_txt)) != 0) {
				return SPLIT_EXIT_USAGE;
			}
			fprintf(stderr,
				"%s:%u: cut %s lifted to %s (no name with data before it)\n", file,
				line, txt, anc_txt);
			memmove(n, anc[k], name_len(anc[k]));
			break;
		}
	}
	return SPLIT_EXIT_OK;
}

static int cmp_names(const void *a, const void *b)
{
	return name_cmp(a, b);
}

int cuts_read(struct cuts *c, const struct index *ix, const char *file)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	size_t cap = 16;
	unsigned lineno = 0;
	int ret = SPLIT_EXIT_USAGE;

	if (f == NULL) {
		perror(file);
		return SPLIT_EXIT_USAGE;
	}
	if (cuts_alloc(c, cap) != 0) {
		goto out;
	}
	c->ix = ix;
	memcpy(c->name[0], ix->apex, ix->apex_len);
	c->n = 1;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *s = line, *e;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "%s:%u: line too long\n", file, lineno);
			goto out;
		}
		while (isspace((unsigned char)*s)) {
			s++;
		}
		for (e = s; *e && !isspace((unsigned char)*e) && *e != '#'; e++) {
		}
		*e = '\0';
		if (*s == '\0') {
			continue;
		}
		uint8_t n[SPLIT_NAME_MAX];
		if (name_from_text(s, n) != 0 || !name_is_below(n, ix->apex)) {
			fprintf(stderr, "%s:%u: '%s' is not an absolute name in the zone\n", file,
				lineno, s);
			ret = SPLIT_EXIT_CANNOT;
			goto out;
		}
		if (name_len(n) == ix->apex_len) {
			continue;
		}
		ret = cut_fix(ix, n, file, lineno);
		if (ret != SPLIT_EXIT_OK) {
			goto out;
		}
		ret = SPLIT_EXIT_USAGE;
		if (c->n == cap) {
			void *nn = reallocarray(c->name, cap * 2, sizeof(*c->name));
			if (nn == NULL) {
				goto out;
			}
			c->name = nn;
			void *nf = reallocarray(c->first, cap * 2, sizeof(*c->first));
			if (nf == NULL) {
				goto out;
			}
			c->first = nf;
			cap *= 2;
		}
		memcpy(c->name[c->n++], n, name_len(n));
	}
	if (ferror(f)) {
		perror(file);
		goto out;
	}
	qsort(c->name + 1, c->n - 1, sizeof(*c->name), cmp_names);
	size_t w = 1;
	for (size_t i = 1; i < c->n; i++) {
		if (name_cmp(c->name[w - 1], c->name[i]) != 0) {
			memmove(c->name[w++], c->name[i], SPLIT_NAME_MAX);
		}
	}
	c->n = w;
	for (size_t i = 0; i < c->n; i++) {
		c->first[i] = (long)index_lower(ix, c->name[i]);
	}
	ret = SPLIT_EXIT_OK;
out:
	if (fclose(f) != 0 && ret == SPLIT_EXIT_OK) {
		ret = SPLIT_EXIT_USAGE;
	}
	return ret;
}

size_t cuts_shard_of(const struct cuts *c, const uint8_t *n)
{
	size_t lo = 0, hi = c->n;

	if (c->hashed) {
		return nsec3_route(c, n);
	}

	/* the last cut not after <n>; cut 0 is the apex, so every in-zone name has one */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(c->name[mid], n) <= 0) {
			lo = mid;
		} else {
			hi = mid;
		}
	}
	return lo;
}
