/* SPDX-License-Identifier: MIT */
/* split/rules.c -- the records each shard copies from outside its range (sharding.md §2)
 *
 * Items 2-6 of "each shard file": the apex node, the apex wildcard proof, the boundary NSEC, the
 * wildcard proofs of both cuts' ancestors, and the closure over every RRset the shard holds
 * (additional-section targets, CNAME targets, delegations), iterated to a fixpoint with a
 * worklist. A copy is a node plus a mask of the RRsets taken (copy_covers).
 */
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>

#include "split.h"

const char *const reason_names[R_COUNT] = {"apex",     "wildcard", "boundary",
					   "ancestor", "closure",  "chain"};

struct work {
	const struct index *ix;
	const struct cuts *c;
	struct copyset *cs;
	size_t shard;
	size_t lo, hi; /* the range's nodes: [lo, hi) */
	size_t max_copy;
	uint64_t *todo; /* nodes whose copied RRsets' targets still need the closure */
	size_t n_todo, cap_todo;
	int err; /* -1: out of memory; else an exit code, said */
};

static uint64_t hash(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static struct copy *slot_of(const struct copyset *cs, uint64_t i)
{
	size_t mask = cs->cap - 1;

	for (size_t h = hash(i) & mask;; h = (h + 1) & mask) {
		if (cs->slot[h].node == i || cs->slot[h].node == UINT64_MAX) {
			return &cs->slot[h];
		}
	}
}

static int copyset_grow(struct copyset *cs)
{
	struct copyset n = {.cap = cs->cap ? cs->cap * 2 : 64};

	n.slot = malloc(n.cap * sizeof(*n.slot));
	if (n.slot == NULL) {
		return -1;
	}
	memset(n.slot, 0xff, n.cap * sizeof(*n.slot));
	for (size_t i = 0; i < cs->cap; i++) {
		if (cs->slot[i].node != UINT64_MAX) {
			*slot_of(&n, cs->slot[i].node) = cs->slot[i];
			n.used++;
		}
	}
	free(cs->slot);
	*cs = n;
	return 0;
}

const struct copy *copyset_get(const struct copyset *cs, uint64_t i)
{
	if (cs->cap == 0) {
		return NULL;
	}
	const struct copy *s = slot_of(cs, i);
	return s->node == i ? s : NULL;
}

void copyset_free(struct copyset *cs)
{
	free(cs->slot);
	memset(cs, 0, sizeof(*cs));
}

int copy_covers(unsigned mask, uint16_t type)
{
	switch (type) {
	case KNOT_RRTYPE_NSEC:
		return (mask & (C_ALL | C_NSEC)) != 0;
	case KNOT_RRTYPE_NS:
		return (mask & (C_ALL | C_NS)) != 0;
	case KNOT_RRTYPE_DS:
		return (mask & (C_ALL | C_DS)) != 0;
	case KNOT_RRTYPE_A:
	case KNOT_RRTYPE_AAAA:
		return (mask & (C_ALL | C_ADDR)) != 0;
	default:
		return (mask & C_ALL) != 0;
	}
}

static int node_in(const struct work *w, size_t i)
{
	if (w->c->node_shard != NULL) {
		return w->c->node_shard[i] == w->shard;
	}
	return i >= w->lo && i < w->hi;
}

/* Copy the RRsets <mask> of node <i> unless the range holds it; new RRsets join the worklist. */
static void add(struct work *w, long i, unsigned mask, int reason)
{
	if (i < 0 || node_in(w, (size_t)i) || w->err) {
		return;
	}
	if ((w->cs->used + 1) * 2 > w->cs->cap && copyset_grow(w->cs) != 0) {
		w->err = -1;
		return;
	}
	struct copy *s = slot_of(w->cs, (uint64_t)i);
	if (s->node == UINT64_MAX) {
		*s = (struct copy){.node = (uint64_t)i, .reason = (uint8_t)reason};
		w->cs->used++;
	}
	if ((s->mask | mask) == s->mask) {
		return;
	}
	s->mask |= (uint8_t)mask;
	if (w->n_todo == w->cap_todo) {
		size_t ncap = w->cap_todo ? w->cap_todo * 2 : 256;
		uint64_t *nt = reallocarray(w->todo, ncap, sizeof(*nt));
		if (nt == NULL) {
			w->err = -1;
			return;
		}
		w->todo = nt;
		w->cap_todo = ncap;
	}
	w->todo[w->n_todo++] = (uint64_t)i;
}

static int in_range(const struct work *w, const uint8_t *n)
{
	return cuts_shard_of(w->c, n) == w->shard;
}

/* Make <n> exist in the shard: its own NSEC or its first descendant's (sharding.md: witness);
 * in a zone without NSEC, the first node with data in its subtree. */
static void witness(struct work *w, const uint8_t *n, int reason)
{
	const struct index *ix = w->ix;

	for (size_t i = index_lower(ix, n); i < ix->n_nodes; i++) {
		const struct node *nd = &ix->nodes[i];
		if (!name_is_below(index_name(ix, i), n)) {
			return;
		}
		if (nd->flags & NF_NSEC) {
			add(w, (long)i, C_NSEC, reason);
			return;
		}
		if (ix->mode != MODE_NSEC && (nd->flags & NF_DATA) && !(nd->flags & NF_NSEC3) &&
		    !(nd->flags & NF_BELOW)) {
			add(w, (long)i, (nd->flags & NF_DELEG) ? C_NS | C_DS : C_ALL, reason);
			return;
		}
	}
}

/* The proof for *.<ce>: the wildcard node, or the NSEC covering it. */
static void wildcard_proof(struct work *w, const uint8_t *ce, int reason)
{
	uint8_t wild[SPLIT_NAME_MAX + 2];
	size_t len = name_len(ce);

	if (len + 2 > SPLIT_NAME_MAX) {
		return;
	}
	wild[0] = 1;
	wild[1] = '*';
	memcpy(wild + 2, ce, len);
	long i = index_find(w->ix, wild);
	if (i >= 0) {
		add(w, i, C_ALL, reason);
	} else if (w->ix->mode == MODE_NSEC) {
		add(w, index_pred_nsec(w->ix, wild), C_NSEC, reason);
	}
}

/* nsec3 mode: the NSEC3 matching H(<n>), or with <cover> the one covering it. */
static void nsec3_match(struct work *w, const uint8_t *n, int reason)
{
	char h[33];

	if (nsec3_hash(w->ix, n, h) != 0) {
		w->err = -1;
		return;
	}
	long i = nsec3_chain_pred(w->ix, h, 0);
	add(w, i, C_ALL, reason);
}

/* nsec3 mode, items 2-4 of B2: the apex and its NSEC3, the apex wildcard's proof, the boundary
 * NSEC3 (the chain's predecessor of the range's first hash, wrapping); the rest shard takes the
 * whole chain. */
static void nsec3_items(struct work *w)
{
	const struct index *ix = w->ix;
	uint8_t wild[SPLIT_NAME_MAX + 2] = {1, '*'};

	add(w, 0, C_ALL, R_APEX);
	nsec3_match(w, ix->apex, R_APEX);
	memcpy(wild + 2, ix->apex, ix->apex_len);
	long i = ix->apex_len + 2 <= SPLIT_NAME_MAX ? index_find(ix, wild) : -1;
	if (i >= 0) {
		add(w, i, C_ALL, R_WILDCARD);
	} else {
		nsec3_match(w, wild, R_WILDCARD); /* no match: the covering one */
	}
	if (w->shard < w->c->n_hash) {
		add(w, nsec3_chain_pred(ix, w->c->prefix[w->shard], 1), C_ALL, R_BOUNDARY);
		return;
	}
	for (size_t k = 0; k < ix->n_nodes; k++) {
		if (ix->nodes[k].flags & NF_NSEC3) {
			add(w, (long)k, C_ALL, R_CHAIN);
		}
	}
}

/* One target of an RRset the shard holds (sharding.md §2 item 6 and its four amendments). */
static void closure_target(struct work *w, const uint8_t *t, int kind)
{
	const struct index *ix = w->ix;

	if (!name_is_below(t, ix->apex) || in_range(w, t)) {
		return;
	}
	long cut = index_cut_above(ix, t, 1);
	if (cut >= 0 && (ix->nodes[cut].flags & NF_DELEG)) {
		/* at or below a delegation in another range: the referral's records; its glue
		 * comes with the closure of the NS RRset */
		add(w, cut, C_NS | C_DS | C_NSEC, R_CLOSURE);
		if (w->c->hashed) {
			nsec3_match(w, index_name(ix, (size_t)cut), R_CLOSURE);
		}
		long g = index_find(ix, t);
		if (g >= 0 && (ix->nodes[g].flags & NF_ADDR)) {
			add(w, g, C_ADDR, R_CLOSURE);
		}
		return;
	}
	long i = index_find(ix, t);
	if (i >= 0 && (ix->nodes[i].flags & NF_DATA)) {
		if (kind == REF_CNAME) {
			add(w, i, C_ALL, R_CLOSURE);
		} else if (ix->nodes[i].flags & NF_ADDR) {
			add(w, i, C_ADDR, R_CLOSURE);
		} else {
			witness(w, t, R_CLOSURE);
		}
		return;
	}
	if (i >= 0) { /* an empty non-terminal */
		if (kind == REF_CNAME && ix->mode == MODE_NSEC) {
			add(w, index_pred_nsec(ix, t), C_NSEC, R_CLOSURE);
		}
		witness(w, t, R_CLOSURE);
		return;
	}
	long ce = index_encloser(ix, t);
	if (ce < 0) {
		return;
	}
	if (kind == REF_CNAME && ix->mode == MODE_NSEC) {
		add(w, index_pred_nsec(ix, t), C_NSEC, R_CLOSURE);
	}
	wildcard_proof(w, index_name(ix, (size_t)ce), R_CLOSURE);
	witness(w, index_name(ix, (size_t)ce), R_CLOSURE);
}

/* The target <t> of the DNAME at node <owner>: a query below the owner gets a CNAME into the
 * target's subtree, which the backend follows, so the shard holding the owner needs the
 * target as a CNAME target, and every name of its subtree with its NSEC (the proofs of names
 * below it that do not exist). */
static void dname_target(struct work *w, size_t owner, const uint8_t *t)
{
	const struct index *ix = w->ix;
	size_t first = index_lower(ix, t), n = 0;

	if (!name_is_below(t, ix->apex)) {
		return;
	}
	closure_target(w, t, REF_CNAME);
	while (first + n < ix->n_nodes && name_is_below(index_name(ix, first + n), t)) {
		n++;
	}
	if (n > w->max_copy) {
		char txt[KNOT_DNAME_TXT_MAXLEN + 1] = "?";
		(void)name_to_text(index_name(ix, owner), txt, sizeof(txt));
		fprintf(stderr,
			"line %u: the DNAME at %s points at a subtree of %zu names, more than "
			"--max-copy %zu\n",
			ix->nodes[owner].line, txt, n, w->max_copy);
		w->err = SPLIT_EXIT_CANNOT;
		return;
	}
	for (size_t i = first; i < first + n && !w->err; i++) {
		add(w, (long)i, C_ALL, R_CLOSURE);
	}
}

/* The targets of node <i>'s RRsets that <mask> covers. */
static void closure_node(struct work *w, size_t i, unsigned mask)
{
	const struct index *ix = w->ix;
	size_t lo = 0, hi = ix->n_refs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->refs[mid].owner < i) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	for (; lo < ix->n_refs && ix->refs[lo].owner == i && !w->err; lo++) {
		const struct ref *r = &ix->refs[lo];
		if (!copy_covers(mask, r->type)) {
			continue;
		}
		if (r->kind == REF_DNAME) {
			dname_target(w, i, ix->arena + r->target);
		} else {
			closure_target(w, ix->arena + r->target, r->kind);
		}
	}
}

/* Items 4 and 5 for the cut <n> (the range's start or its end). */
static void cut_proofs(struct work *w, const uint8_t *n, int boundary)
{
	const struct index *ix = w->ix;

	if (boundary && ix->mode == MODE_NSEC) {
		add(w, index_pred_nsec(ix, n), C_NSEC, R_BOUNDARY);
	}
	for (const uint8_t *p = name_parent(n); p && name_len(p) > ix->apex_len;
	     p = name_parent(p)) {
		wildcard_proof(w, p, R_ANCESTOR);
		/* A name below the start cut whose closest encloser is this ancestor needs the
		 * ancestor to exist in the shard, or the backend takes a higher (apex) wildcard;
		 * its existing names may all sort before the cut. The end cut's ancestors exist
		 * in the shard by the lifting rule. */
		if (boundary) {
			witness(w, p, R_ANCESTOR);
		}
	}
}

int rules_compute(struct copyset *cs, const struct index *ix, const struct cuts *c, size_t shard,
		  size_t max_copy)
{
	struct work w = {.ix = ix, .c = c, .cs = cs, .shard = shard, .max_copy = max_copy};

	if (c->hashed) {
		nsec3_items(&w);
		for (size_t i = 0; i < ix->n_nodes && !w.err; i++) {
			if (c->node_shard[i] == shard) {
				closure_node(&w, i, C_ALL);
			}
		}
		goto fixpoint;
	}
	w.lo = (size_t)c->first[shard];
	w.hi = shard + 1 < c->n ? (size_t)c->first[shard + 1] : ix->n_nodes;
	add(&w, 0, C_ALL, R_APEX);
	wildcard_proof(&w, ix->apex, R_WILDCARD);
	if (shard > 0) {
		cut_proofs(&w, c->name[shard], 1);
	}
	if (shard + 1 < c->n) {
		cut_proofs(&w, c->name[shard + 1], 0);
	}
	if (ix->mode == MODE_NSEC3) {
		for (size_t i = 0; i < ix->n_nodes; i++) {
			if (ix->nodes[i].flags & NF_NSEC3) {
				add(&w, (long)i, C_ALL, R_CHAIN);
			}
		}
	}
	for (size_t i = w.lo; i < w.hi && !w.err; i++) {
		closure_node(&w, i, C_ALL);
	}
fixpoint:
	/* the worklist: every node that got new RRsets, until nothing changes */
	while (w.n_todo > 0 && !w.err) {
		uint64_t i = w.todo[--w.n_todo];
		const struct copy *s = copyset_get(cs, i);
		closure_node(&w, (size_t)i, s->mask);
	}
	free(w.todo);
	if (w.err == -1) {
		fprintf(stderr, "out of memory computing shard %zu\n", shard);
		return SPLIT_EXIT_USAGE;
	}
	return w.err ? w.err : SPLIT_EXIT_OK;
}
