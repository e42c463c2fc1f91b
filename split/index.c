/* SPDX-License-Identifier: MIT */
/* split/index.c -- pass 1: a compact index of the zone's owner names in canonical order
 *
 * Per owner name: flags (which types, zone cut, glue), bytes, RR count, first line, a probe
 * type; plus the names records point at. The RRs themselves are not kept: pass 2
 * (output.c) reads the file again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>
#include <libzscanner/scanner.h>

#include "split.h"

struct pass1 {
	struct index *ix;
	uint8_t last[SPLIT_NAME_MAX];
	size_t last_len;
	size_t cur;
	int err;
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap) {
		return 0;
	}
	size_t ncap = *cap ? *cap : 1024;
	while (ncap < need) {
		ncap *= 2;
	}
	void *np = reallocarray(*p, ncap, size);
	if (np == NULL) {
		return -1;
	}
	*p = np;
	*cap = ncap;
	return 0;
}

/* Copy a lower-cased wire name into the arena; its offset, or UINT64_MAX without memory. */
static uint64_t arena_add(struct index *ix, const uint8_t *n)
{
	size_t len = name_len(n);

	if (grow((void **)&ix->arena, &ix->arena_cap, ix->arena_len + len, 1) != 0) {
		return UINT64_MAX;
	}
	uint64_t off = ix->arena_len;
	name_lower(ix->arena + off, n);
	ix->arena_len += len;
	return off;
}

static int node_add(struct index *ix, const uint8_t *n, uint32_t line)
{
	if (grow((void **)&ix->nodes, &ix->cap_nodes, ix->n_nodes + 1, sizeof(struct node)) != 0) {
		return -1;
	}
	uint64_t off = arena_add(ix, n);
	if (off == UINT64_MAX) {
		return -1;
	}
	ix->nodes[ix->n_nodes++] = (struct node){.name = off, .line = line};
	return 0;
}

static int ref_add(struct index *ix, uint64_t owner, const uint8_t *target, uint16_t type,
		   uint8_t kind)
{
	if (grow((void **)&ix->refs, &ix->cap_refs, ix->n_refs + 1, sizeof(struct ref)) != 0) {
		return -1;
	}
	uint64_t off = arena_add(ix, target);
	if (off == UINT64_MAX) {
		return -1;
	}
	ix->refs[ix->n_refs++] =
		(struct ref){.owner = owner, .target = off, .type = type, .kind = kind};
	return 0;
}

/* The offset of the target name in the rdata of <type>, or -1 if it holds none we follow. */
static int target_offset(uint16_t type, uint8_t *kind)
{
	*kind = REF_ADDR;
	switch (type) {
	case KNOT_RRTYPE_NS:
		return 0;
	case KNOT_RRTYPE_CNAME:
		*kind = REF_CNAME;
		return 0;
	case KNOT_RRTYPE_DNAME:
		*kind = REF_DNAME;
		return 0;
	case KNOT_RRTYPE_MX:
	case KNOT_RRTYPE_SVCB:
	case KNOT_RRTYPE_HTTPS:
		return 2;
	case KNOT_RRTYPE_SRV:
		return 6;
	default:
		return -1;
	}
}

static void note_type(struct node *nd, zs_scanner_t *s)
{
	uint16_t t = s->r_type, covered = 0;

	nd->rrs++;
	nd->bytes += s->r_owner_length + 10 + s->r_data_length;
	if (t == KNOT_RRTYPE_RRSIG && s->r_data_length >= 2) {
		covered = (uint16_t)(s->r_data[0] << 8 | s->r_data[1]);
	}
	if (t != KNOT_RRTYPE_NSEC3 && covered != KNOT_RRTYPE_NSEC3) {
		nd->flags |= NF_OTHER;
	}
	nd->flags |= NF_DATA;
	switch (t) {
	case KNOT_RRTYPE_NSEC:
		nd->flags |= NF_NSEC;
		break;
	case KNOT_RRTYPE_NSEC3:
		nd->flags |= NF_NSEC3;
		break;
	case KNOT_RRTYPE_NS:
		nd->flags |= NF_NS;
		break;
	case KNOT_RRTYPE_DS:
		nd->flags |= NF_DS;
		nd->probe = KNOT_RRTYPE_DS;
		break;
	case KNOT_RRTYPE_SOA:
		nd->flags |= NF_SOA;
		break;
	case KNOT_RRTYPE_CNAME:
		nd->flags |= NF_CNAME;
		break;
	case KNOT_RRTYPE_DNAME:
		nd->flags |= NF_DNAME;
		break;
	case KNOT_RRTYPE_A:
	case KNOT_RRTYPE_AAAA:
		nd->flags |= NF_ADDR;
		break;
	default:
		break;
	}
	if (nd->probe == 0 && t != KNOT_RRTYPE_RRSIG && t != KNOT_RRTYPE_NSEC &&
	    t != KNOT_RRTYPE_NSEC3 && t != KNOT_RRTYPE_NS) {
		nd->probe = t;
	}
}

static void on_record(zs_scanner_t *s)
{
	struct pass1 *p = s->process.data;
	struct index *ix = p->ix;
	uint8_t low[SPLIT_NAME_MAX];

	name_lower(low, s->r_owner);
	if (!name_is_below(low, ix->apex)) {
		fprintf(stderr, "%s:%llu: record outside the zone\n", s->file.name,
			(unsigned long long)s->line_counter);
		p->err = SPLIT_EXIT_CANNOT;
		s->state = ZS_STATE_STOP;
		return;
	}
	size_t len = s->r_owner_length;
	if (ix->n_nodes == 0 || len != p->last_len || memcmp(low, p->last, len) != 0) {
		if (node_add(ix, low, (uint32_t)s->line_counter) != 0) {
			goto nomem;
		}
		memcpy(p->last, low, len);
		p->last_len = len;
		p->cur = ix->n_nodes - 1;
	}
	struct node *nd = &ix->nodes[p->cur];
	note_type(nd, s);
	ix->total_rrs++;
	ix->total_bytes += s->r_owner_length + 10 + s->r_data_length;
	if (s->r_type == KNOT_RRTYPE_SOA && len == ix->apex_len && s->r_data_length >= 22) {
		size_t off = name_len(s->r_data);
		off += name_len(s->r_data + off);
		if (off + 4 <= s->r_data_length) {
			const uint8_t *d = s->r_data + off;
			ix->serial = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
				     (uint32_t)d[2] << 8 | d[3];
		}
	}
	if (s->r_type == KNOT_RRTYPE_NSEC3PARAM && len == ix->apex_len && s->r_data_length >= 5 &&
	    s->r_data_length == 5u + s->r_data[4]) {
		ix->has_nsec3param++;
		ix->n3_alg = s->r_data[0];
		ix->n3_iter = (uint16_t)(s->r_data[2] << 8 | s->r_data[3]);
		ix->n3_salt_len = s->r_data[4];
		memcpy(ix->n3_salt, s->r_data + 5, s->r_data[4]);
	}
	uint8_t kind;
	int off = target_offset(s->r_type, &kind);
	if (off >= 0 && (uint32_t)off < s->r_data_length && s->r_data[off] != 0) {
		if (ref_add(ix, nd->name, s->r_data + off, s->r_type, kind) != 0) {
			goto nomem;
		}
	}
	return;
nomem:
	fprintf(stderr, "out of memory at line %llu\n", (unsigned long long)s->line_counter);
	p->err = SPLIT_EXIT_USAGE;
	s->state = ZS_STATE_STOP;
}

static void on_error(zs_scanner_t *s)
{
	struct pass1 *p = s->process.data;

	fprintf(stderr, "%s:%llu: %s\n", s->file.name, (unsigned long long)s->line_counter,
		zs_strerror(s->error.code));
	p->err = SPLIT_EXIT_USAGE;
	s->state = ZS_STATE_STOP;
}

static int cmp_nodes(const void *a, const void *b, void *arena)
{
	const struct node *x = a, *y = b;
	return name_cmp((const uint8_t *)arena + x->name, (const uint8_t *)arena + y->name);
}

static int cmp_refs(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	return x->owner < y->owner ? -1 : x->owner > y->owner;
}

/* Give back the growth slack before sorting: the sort's own buffer is as big as the nodes. */
static void shrink(struct index *ix)
{
	struct node *n = reallocarray(ix->nodes, ix->n_nodes ? ix->n_nodes : 1, sizeof(*n));
	uint8_t *a = realloc(ix->arena, ix->arena_len ? ix->arena_len : 1);

	if (n != NULL) {
		ix->nodes = n;
		ix->cap_nodes = ix->n_nodes ? ix->n_nodes : 1;
	}
	if (a != NULL) {
		ix->arena = a;
		ix->arena_cap = ix->arena_len ? ix->arena_len : 1;
	}
}

/* Sort the nodes and merge owners that appear more than once in the file. */
static void sort_merge(struct index *ix)
{
	shrink(ix);
	qsort_r(ix->nodes, ix->n_nodes, sizeof(struct node), cmp_nodes, ix->arena);
	size_t w = 0;
	for (size_t i = 0; i < ix->n_nodes; i++) {
		if (w > 0 && name_cmp(index_name(ix, w - 1), index_name(ix, i)) == 0) {
			struct node *d = &ix->nodes[w - 1], *s = &ix->nodes[i];
			d->flags |= s->flags;
			d->bytes += s->bytes;
			d->rrs += s->rrs;
			d->line = s->line && (s->line < d->line || !d->line) ? s->line : d->line;
			d->probe = d->probe ? d->probe : s->probe;
			continue;
		}
		ix->nodes[w++] = ix->nodes[i];
	}
	ix->n_nodes = w;
}

/* Empty non-terminals become nodes without data, so that existence is a lookup. The ones found
 * are appended past the sorted part (searches see only that) and merged by one sort at the end. */
static int add_ents(struct index *ix)
{
	size_t n = ix->n_nodes;

	for (size_t i = 0; i < n; i++) {
		if ((ix->nodes[i].flags & (NF_NSEC3 | NF_OTHER)) == NF_NSEC3) {
			continue;
		}
		uint8_t name[SPLIT_NAME_MAX];
		memcpy(name, index_name(ix, i), name_len(index_name(ix, i)));
		for (const uint8_t *p = name_parent(name); p && name_len(p) > ix->apex_len;
		     p = name_parent(p)) {
			size_t total = ix->n_nodes;
			ix->n_nodes = n;
			long found = index_find(ix, p);
			ix->n_nodes = total;
			if (found >= 0) {
				break;
			}
			if (node_add(ix, p, 0) != 0) {
				return -1;
			}
		}
	}
	sort_merge(ix);
	return 0;
}

static void mark(struct index *ix)
{
	long cut = -1;

	for (size_t i = 0; i < ix->n_nodes; i++) {
		struct node *nd = &ix->nodes[i];
		const uint8_t *n = index_name(ix, i);
		if ((nd->flags & (NF_NSEC3 | NF_OTHER)) != NF_NSEC3) {
			nd->flags &= ~NF_NSEC3;
		}
		if (n[0] == 1 && n[1] == '*') {
			nd->flags |= NF_WILD;
		}
		if (i == 0) {
			nd->flags |= NF_APEX;
		} else if (nd->flags & NF_NS) {
			nd->flags |= NF_DELEG;
		}
		if (cut >= 0 && name_is_below(n, index_name(ix, (size_t)cut))) {
			nd->flags |= NF_BELOW;
			continue;
		}
		cut = (nd->flags & (NF_DELEG | NF_DNAME)) ? (long)i : -1;
	}
}

/* Chain owners are <hash>.<apex>, all one label below the apex with labels of one length, so
 * the canonical order of the index is their hash order. */
static int chain_build(struct index *ix)
{
	size_t n = 0;

	for (size_t i = 0; i < ix->n_nodes; i++) {
		n += (ix->nodes[i].flags & NF_NSEC3) != 0;
	}
	ix->chain = calloc(n ? n : 1, sizeof(*ix->chain));
	if (ix->chain == NULL) {
		return -1;
	}
	for (size_t i = 0; i < ix->n_nodes; i++) {
		if (ix->nodes[i].flags & NF_NSEC3) {
			ix->chain[ix->n_chain++] = i;
		}
	}
	return 0;
}

int index_build(struct index *ix, const char *file, const char *origin)
{
	zs_scanner_t *s = calloc(1, sizeof(*s));
	struct pass1 p = {.ix = ix};
	int ret = SPLIT_EXIT_USAGE;

	if (s == NULL) {
		return SPLIT_EXIT_USAGE;
	}
	if (name_from_text(origin, ix->apex) != 0) {
		fprintf(stderr, "bad origin '%s'\n", origin);
		goto out;
	}
	ix->apex_len = name_len(ix->apex);
	if (zs_init(s, origin, KNOT_CLASS_IN, 3600) != 0 || zs_set_input_file(s, file) != 0 ||
	    zs_set_processing(s, on_record, on_error, &p) != 0) {
		fprintf(stderr, "%s: %s\n", file, zs_strerror(s->error.code));
		goto deinit;
	}
	if (zs_parse_all(s) != 0 && p.err == 0) {
		fprintf(stderr, "%s: %s\n", file, zs_strerror(s->error.code));
		goto deinit;
	}
	if (p.err != 0) {
		ret = p.err;
		goto deinit;
	}
	sort_merge(ix);
	if (ix->n_nodes == 0 || !(ix->nodes[0].flags & NF_SOA) ||
	    name_len(index_name(ix, 0)) != ix->apex_len) {
		fprintf(stderr, "%s: no SOA at the apex %s\n", file, origin);
		ret = SPLIT_EXIT_CANNOT;
		goto deinit;
	}
	if (add_ents(ix) != 0) {
		fprintf(stderr, "out of memory\n");
		goto deinit;
	}
	mark(ix);
	for (size_t i = 0; i < ix->n_refs; i++) {
		ix->refs[i].owner = (uint64_t)index_find(ix, ix->arena + ix->refs[i].owner);
	}
	qsort(ix->refs, ix->n_refs, sizeof(struct ref), cmp_refs);
	ix->has_nsec = (ix->nodes[0].flags & NF_NSEC) != 0;
	for (size_t i = 0; i < ix->n_nodes; i++) {
		ix->has_nsec3 |= (ix->nodes[i].flags & NF_NSEC3) != 0;
	}
	ix->mode = ix->has_nsec ? MODE_NSEC : (ix->has_nsec3 ? MODE_NSEC3 : MODE_UNSIGNED);
	if (chain_build(ix) != 0) {
		fprintf(stderr, "out of memory\n");
		goto deinit;
	}
	ret = SPLIT_EXIT_OK;
deinit:
	zs_deinit(s);
out:
	free(s);
	return ret;
}

void index_free(struct index *ix)
{
	free(ix->arena);
	free(ix->nodes);
	free(ix->refs);
	free(ix->chain);
	memset(ix, 0, sizeof(*ix));
}

size_t index_lower(const struct index *ix, const uint8_t *n)
{
	size_t lo = 0, hi = ix->n_nodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(index_name(ix, mid), n) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

long index_find(const struct index *ix, const uint8_t *n)
{
	size_t i = index_lower(ix, n);

	return i < ix->n_nodes && name_cmp(index_name(ix, i), n) == 0 ? (long)i : -1;
}

long index_pred_nsec(const struct index *ix, const uint8_t *n)
{
	for (long i = (long)index_lower(ix, n) - 1; i >= 0; i--) {
		if (ix->nodes[i].flags & NF_NSEC) {
			return i;
		}
	}
	return -1;
}

long index_encloser(const struct index *ix, const uint8_t *n)
{
	if (!name_is_below(n, ix->apex)) {
		return -1;
	}
	for (const uint8_t *p = n; p != NULL; p = name_parent(p)) {
		long i = index_find(ix, p);
		if (i >= 0 && !(ix->nodes[i].flags & NF_NSEC3)) {
			return i;
		}
	}
	return 0;
}

long index_cut_above(const struct index *ix, const uint8_t *n, int or_self)
{
	long found = -1;
	const uint8_t *p = or_self ? n : name_parent(n);

	for (; p != NULL && name_len(p) > ix->apex_len; p = name_parent(p)) {
		long i = index_find(ix, p);
		if (i >= 0 && (ix->nodes[i].flags & (NF_DELEG | NF_DNAME))) {
			found = i;
		}
	}
	return found;
}
