/* SPDX-License-Identifier: MIT */
/* split/check.c -- --check: read the shard files back and test the invariants of sharding.md §2
 *
 * Independent of rules.c's bookkeeping, from what the files hold: the cuts are sorted and not
 * below a zone cut; each shard holds exactly its range's RRs (all of them), the apex SOA, the
 * boundary NSEC, the wildcard proofs of the apex and of both cuts' ancestors; every target of an
 * RRset it holds, outside its range, exists in it (or, for a CNAME to a missing name, its
 * covering NSEC is there); a target at or below another range's delegation has that
 * delegation's NS.
 */
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>
#include <libzscanner/scanner.h>

#include "split.h"

#define P_ANY (1u << 0)
#define P_NSEC (1u << 1)
#define P_NS (1u << 2)
#define P_REF (1u << 3) /* an RRset with a target other than NS */
#define P_SOA (1u << 4)

struct pass3 {
	const struct index *ix;
	const struct cuts *c;
	size_t shard;
	uint8_t *seen; /* P_* per node */
	uint64_t in_range, foreign;
	int err;
};

static void on_record(zs_scanner_t *s)
{
	struct pass3 *p = s->process.data;
	uint8_t low[SPLIT_NAME_MAX];

	name_lower(low, s->r_owner);
	long i = index_find(p->ix, low);
	if (i < 0) {
		p->foreign++;
		return;
	}
	if (cuts_node_shard(p->c, (size_t)i) == p->shard) {
		p->in_range++;
	}
	uint8_t bits = P_ANY;
	switch (s->r_type) {
	case KNOT_RRTYPE_NSEC:
		bits |= P_NSEC;
		break;
	case KNOT_RRTYPE_NS:
		bits |= P_NS;
		break;
	case KNOT_RRTYPE_SOA:
		bits |= P_SOA;
		break;
	case KNOT_RRTYPE_CNAME:
	case KNOT_RRTYPE_MX:
	case KNOT_RRTYPE_SRV:
	case KNOT_RRTYPE_SVCB:
	case KNOT_RRTYPE_HTTPS:
		bits |= P_REF;
		break;
	default:
		break;
	}
	p->seen[i] |= bits;
}

static void on_error(zs_scanner_t *s)
{
	struct pass3 *p = s->process.data;

	fprintf(stderr, "%s:%llu: %s\n", s->file.name, (unsigned long long)s->line_counter,
		zs_strerror(s->error.code));
	p->err = 1;
	s->state = ZS_STATE_STOP;
}

static int bad(size_t shard, const char *what, const uint8_t *n)
{
	char txt[KNOT_DNAME_TXT_MAXLEN + 1] = "?";

	if (n != NULL && name_to_text(n, txt, sizeof(txt)) != 0) {
		snprintf(txt, sizeof(txt), "?");
	}
	fprintf(stderr, "check: shard %zu: %s%s%s\n", shard, what, n ? " " : "", n ? txt : "");
	return 1;
}

/* Does the shard hold <n> or a name below it? */
static int exists_in(const struct pass3 *p, const uint8_t *n)
{
	for (size_t i = index_lower(p->ix, n); i < p->ix->n_nodes; i++) {
		if (!name_is_below(index_name(p->ix, i), n)) {
			return 0;
		}
		if (p->seen[i] & P_ANY) {
			return 1;
		}
	}
	return 0;
}

static int check_target(const struct pass3 *p, const struct ref *r)
{
	const struct index *ix = p->ix;
	const uint8_t *t = ix->arena + r->target;

	if (!name_is_below(t, ix->apex) || cuts_shard_of(p->c, t) == p->shard) {
		return 0;
	}
	long cut = index_cut_above(ix, t, 1);
	if (cut >= 0 && (ix->nodes[cut].flags & NF_DELEG)) {
		return (p->seen[cut] & P_NS) ? 0 : bad(p->shard, "no delegation NS for target", t);
	}
	long i = index_find(ix, t);
	if (i >= 0) {
		return exists_in(p, t) ? 0 : bad(p->shard, "target missing:", t);
	}
	long ce = index_encloser(ix, t);
	if (ce >= 0 && !exists_in(p, index_name(ix, (size_t)ce))) {
		return bad(p->shard, "closest encloser missing for", t);
	}
	if (r->kind == REF_CNAME && ix->mode == MODE_NSEC) {
		long pred = index_pred_nsec(ix, t);
		if (pred >= 0 && !(p->seen[pred] & P_NSEC)) {
			return bad(p->shard, "no NSEC covering CNAME target", t);
		}
	}
	return 0;
}

/* The wildcard proof for *.<e>: the node, or the NSEC covering it. */
static int wildcard_missing(const struct pass3 *p, const uint8_t *e)
{
	uint8_t wild[SPLIT_NAME_MAX + 2] = {1, '*'};
	size_t len = name_len(e);

	if (len + 2 > SPLIT_NAME_MAX) {
		return 0;
	}
	memcpy(wild + 2, e, len);
	long w = index_find(p->ix, wild);
	long cover = w >= 0 ? w : index_pred_nsec(p->ix, wild);
	if (cover >= 0 && !(p->seen[cover] & (w >= 0 ? P_ANY : P_NSEC))) {
		return bad(p->shard, "no wildcard proof below", e);
	}
	return 0;
}

static int check_one(struct pass3 *p)
{
	const struct index *ix = p->ix;
	const struct cuts *c = p->c;
	size_t lo = c->hashed ? 0 : (size_t)c->first[p->shard];
	size_t hi =
		c->hashed || p->shard + 1 >= c->n ? ix->n_nodes : (size_t)c->first[p->shard + 1];
	uint64_t want = 0;
	int fails = 0;

	for (size_t i = lo; i < hi; i++) {
		want += cuts_node_shard(c, i) == p->shard ? ix->nodes[i].rrs : 0;
	}
	if (p->in_range != want) {
		fprintf(stderr, "check: shard %zu: %llu RRs of its range, the zone has %llu\n",
			p->shard, (unsigned long long)p->in_range, (unsigned long long)want);
		fails++;
	}
	if (p->foreign) {
		fails += bad(p->shard, "holds names not in the zone", NULL);
	}
	if (!(p->seen[0] & P_SOA)) {
		fails += bad(p->shard, "no SOA at", ix->apex);
	}
	if (ix->mode == MODE_NSEC) {
		long pred = p->shard > 0 ? index_pred_nsec(ix, c->name[p->shard]) : -1;
		if (pred >= 0 && !(p->seen[pred] & P_NSEC)) {
			fails += bad(p->shard, "no boundary NSEC before", c->name[p->shard]);
		}
		fails += wildcard_missing(p, ix->apex);
	}
	for (size_t k = p->shard; ix->mode == MODE_NSEC && k <= p->shard + 1 && k < c->n; k++) {
		for (const uint8_t *a = name_parent(c->name[k]); a && name_len(a) > ix->apex_len;
		     a = name_parent(a)) {
			fails += wildcard_missing(p, a);
		}
	}
	for (size_t k = 0; k < ix->n_refs; k++) {
		const struct ref *r = &ix->refs[k];
		uint8_t need = r->type == KNOT_RRTYPE_NS ? P_NS : P_REF;
		if ((p->seen[r->owner] & need) && !(ix->nodes[r->owner].flags & NF_BELOW)) {
			fails += check_target(p, r);
		}
	}
	return fails;
}

int check_shards(const struct index *ix, const struct cuts *c, const struct shard_out *so)
{
	int fails = 0;
	uint64_t total = 0;
	char origin[KNOT_DNAME_TXT_MAXLEN + 1];

	if (name_to_text(ix->apex, origin, sizeof(origin)) != 0) {
		return SPLIT_EXIT_USAGE;
	}
	for (size_t i = 1; i < c->n && !c->hashed; i++) {
		if (name_cmp(c->name[i - 1], c->name[i]) >= 0) {
			fails += bad(i, "cut not after the previous one:", c->name[i]);
		}
		if (index_cut_above(ix, c->name[i], 0) >= 0) {
			fails += bad(i, "cut below a zone cut or DNAME:", c->name[i]);
		}
	}
	for (size_t i = 0; i < c->n; i++) {
		struct pass3 p = {.ix = ix, .c = c, .shard = i};
		zs_scanner_t *s = calloc(1, sizeof(*s));
		p.seen = calloc(ix->n_nodes, 1);
		if (s == NULL || p.seen == NULL) {
			free(s);
			free(p.seen);
			return SPLIT_EXIT_USAGE;
		}
		int ok = zs_init(s, origin, KNOT_CLASS_IN, 3600) == 0 &&
			 zs_set_input_file(s, so[i].path) == 0 &&
			 zs_set_processing(s, on_record, on_error, &p) == 0 && zs_parse_all(s) == 0;
		zs_deinit(s);
		free(s);
		if (!ok || p.err) {
			fprintf(stderr, "check: %s: cannot read it back\n", so[i].path);
			free(p.seen);
			return SPLIT_EXIT_USAGE;
		}
		total += p.in_range;
		fails += check_one(&p);
		free(p.seen);
	}
	if (total != ix->total_rrs) {
		fprintf(stderr, "check: the ranges hold %llu RRs, the zone %llu\n",
			(unsigned long long)total, (unsigned long long)ix->total_rrs);
		fails++;
	}
	return fails ? SPLIT_EXIT_CHECK : SPLIT_EXIT_OK;
}
