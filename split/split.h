/* SPDX-License-Identifier: MIT */
/* split/split.h -- dnsrouter-split: shared types of the zone index, the cuts and the copy sets
 *
 * The tool cuts a (signed) zone into shard zone files (doc/dnsrouter-split.1, and
 * /work/shared/notes/sharding.md for the design). It never holds the zone whole: pass 1 builds
 * an index of owner names (flags, bytes, first line) and of the names the records point at
 * (MX, SRV, NS, CNAME, SVCB/HTTPS targets); pass 2 streams every RR to its shard file(s).
 */
#ifndef SPLIT_SPLIT_H
#define SPLIT_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SPLIT_NAME_MAX 255
#define SPLIT_LABELS_MAX 128

/* Exit codes (sharding.md §6). */
enum {
	SPLIT_EXIT_OK = 0,
	SPLIT_EXIT_USAGE = 1,  /* usage or I/O */
	SPLIT_EXIT_CANNOT = 2, /* cannot split as asked */
	SPLIT_EXIT_CHECK = 3,  /* --check found a broken invariant */
};

/* Node flags. */
#define NF_DATA (1u << 0) /* has at least one RR (else an empty non-terminal) */
#define NF_NSEC (1u << 1)
#define NF_NSEC3 (1u << 2) /* only NSEC3 (and its RRSIG): a hashed chain owner */
#define NF_NS (1u << 3)
#define NF_DS (1u << 4)
#define NF_SOA (1u << 5)
#define NF_CNAME (1u << 6)
#define NF_DNAME (1u << 7)
#define NF_ADDR (1u << 8)   /* A or AAAA */
#define NF_DELEG (1u << 9)  /* NS below the apex: a zone cut */
#define NF_BELOW (1u << 10) /* strictly below a zone cut or DNAME: glue or occluded */
#define NF_WILD (1u << 11)  /* first label is '*' */
#define NF_APEX (1u << 12)
#define NF_OTHER (1u << 13) /* has a type other than NSEC/NSEC3/RRSIG */

/* One owner name (or empty non-terminal) of the zone, in canonical order after index_sort. */
struct node {
	uint64_t name; /* offset of the lower-cased wire name in the index's arena */
	uint32_t flags;
	uint32_t bytes; /* wire bytes of its RRs */
	uint32_t rrs;
	uint32_t line;  /* line of its first RR in the zone file */
	uint16_t probe; /* a type fit to probe the node (0: none) */
};

/* A name a record points at: additional-section (MX, SRV, NS, SVCB/HTTPS), CNAME or DNAME. */
enum ref_kind {
	REF_ADDR = 0,
	REF_CNAME = 1,
	REF_DNAME = 2,
};

struct ref {
	uint64_t owner;  /* arena offset while reading, node index after index_sort */
	uint64_t target; /* arena offset */
	uint16_t type;   /* the record type holding the target */
	uint8_t kind;
};

enum zone_mode {
	MODE_UNSIGNED = 0,
	MODE_NSEC = 1,
	MODE_NSEC3 = 2, /* canonical ranges, whole NSEC3 chain in every shard */
};

struct index {
	uint8_t *arena; /* lower-cased wire names, back to back */
	size_t arena_len, arena_cap;
	struct node *nodes;
	size_t n_nodes, cap_nodes;
	struct ref *refs; /* sorted by owner node after index_sort */
	size_t n_refs, cap_refs;
	uint8_t apex[SPLIT_NAME_MAX];
	size_t apex_len;
	uint32_t serial;
	uint64_t total_rrs, total_bytes;
	int mode;
	int has_nsec, has_nsec3, has_nsec3param;
	/* the apex NSEC3PARAM (RFC 5155 §4) */
	uint8_t n3_alg;
	uint16_t n3_iter;
	uint8_t n3_salt_len;
	uint8_t n3_salt[255];
	/* the NSEC3 chain owners' node indices, in hash order (made by index_build) */
	size_t *chain;
	size_t n_chain;
};

static inline const uint8_t *index_name(const struct index *ix, size_t i)
{
	return ix->arena + ix->nodes[i].name;
}

/* name.c -- wire names: canonical order (RFC 4034 §6.1), ancestry, text. */
size_t name_len(const uint8_t *n);
int name_labels(const uint8_t *n);
void name_lower(uint8_t *dst, const uint8_t *src);
int name_cmp(const uint8_t *a, const uint8_t *b);
int name_is_below(const uint8_t *n, const uint8_t *anc); /* at or below */
const uint8_t *name_parent(const uint8_t *n);
int name_to_text(const uint8_t *n, char *dst, size_t len);
int name_from_text(const char *txt, uint8_t *dst);

/* index.c -- pass 1. Returns 0, or an exit code after printing why. */
int index_build(struct index *ix, const char *file, const char *origin);
void index_free(struct index *ix);
/* Index of <n>, or -1. */
long index_find(const struct index *ix, const uint8_t *n);
/* First node not sorting before <n> (n_nodes if none). */
size_t index_lower(const struct index *ix, const uint8_t *n);
/* The chain owner (NSEC) sorting strictly before <n>, or -1. */
long index_pred_nsec(const struct index *ix, const uint8_t *n);
/* The closest existing ancestor of <n> (or <n> itself), or -1 outside the zone. */
long index_encloser(const struct index *ix, const uint8_t *n);
/* The zone cut or DNAME owner <n> is strictly below, or -1. */
long index_cut_above(const struct index *ix, const uint8_t *n, int or_self);

/* cuts.c -- the shards' first names. */
struct cuts {
	uint8_t (*name)[SPLIT_NAME_MAX]; /* name[0] is the apex */
	size_t n;
	long *first; /* index_lower of each cut */
	/* nsec3 mode (sharding.md §3 B2): hash ranges of the label below the apex */
	const struct index *ix;
	int hashed;
	size_t n_hash;     /* hash shards; a rest shard, if any, is the last (index n_hash) */
	char (*prefix)[8]; /* each hash shard's first hash, a base32hex prefix */
	uint8_t (*rest)[SPLIT_NAME_MAX]; /* the first-level names of the rest shard */
	size_t n_rest;
	uint32_t *node_shard; /* the shard holding each node */
};
int cuts_balance(struct cuts *c, const struct index *ix, size_t shards, int by_bytes);
int cuts_read(struct cuts *c, const struct index *ix, const char *file);
void cuts_free(struct cuts *c);
/* The shard queries for <n> go to (canonical order, or the hash of its first label). */
size_t cuts_shard_of(const struct cuts *c, const uint8_t *n);
/* The shard whose file holds node <i>'s records. */
size_t cuts_node_shard(const struct cuts *c, size_t i);

/* nsec3.c -- nsec3 mode: hash ranges, the rest shard, the NSEC3 chain in hash order. */
int nsec3_setup(struct cuts *c, const struct index *ix, size_t shards, const char *rest);
size_t nsec3_route(const struct cuts *c, const uint8_t *n);
/* The base32hex NSEC3 hash of <n> (RFC 5155 §5), 32 characters and a NUL; 0 or -1. */
int nsec3_hash(const struct index *ix, const uint8_t *n, char out[33]);
/* The chain node with the greatest hash below <h> (or equal, unless <strict>), wrapping to the
 * last; -1 without a chain. */
long nsec3_chain_pred(const struct index *ix, const char *h, int strict);
/* Is this NSEC3PARAM-less or NSEC3-less zone, or a zone with non-delegation first-level names
 * outside <rest>, fit for nsec3 mode? 1 or 0; with <why>, say why not on stderr. */
int nsec3_fits(const struct index *ix, const char *rest, int why);

/* rules.c -- the copied records of every shard (sharding.md §2). */
#define C_NSEC (1u << 0)
#define C_NS (1u << 1)
#define C_DS (1u << 2)
#define C_ADDR (1u << 3)
#define C_ALL (1u << 4)

enum reason {
	R_APEX = 0,
	R_WILDCARD,
	R_BOUNDARY,
	R_ANCESTOR,
	R_CLOSURE,
	R_CHAIN,
	R_COUNT,
};
extern const char *const reason_names[R_COUNT];

struct copy {
	uint64_t node; /* UINT64_MAX: free slot */
	uint8_t mask;
	uint8_t reason;
};

struct copyset {
	struct copy *slot;
	size_t cap, used;
};

/* The copies of <shard>. A DNAME's in-zone target subtree is copied whole (an answer below the
 * DNAME follows the synthesized CNAME into it): more than <max_copy> names is exit 2. */
#define SPLIT_MAX_COPY 10000
int rules_compute(struct copyset *cs, const struct index *ix, const struct cuts *c, size_t shard,
		  size_t max_copy);
/* The copy of node <i> in <cs>, or NULL. */
const struct copy *copyset_get(const struct copyset *cs, uint64_t i);
void copyset_free(struct copyset *cs);
/* Does a copy mask cover an RR of <type> (RRSIGs: the covered type)? */
int copy_covers(unsigned mask, uint16_t type);

/* output.c -- pass 2 and the routes/manifest files. */
struct shard_out {
	char path[4096];
	char file[512];
	uint64_t rrs, bytes;
	uint64_t copied[R_COUNT];
	char probe[SPLIT_NAME_MAX * 4 + 32];
};

struct options {
	const char *zonefile, *outdir, *cutsfile, *origin, *prefix, *rest;
	size_t shards;
	size_t max_copy;                /* names of a DNAME target subtree a shard may copy */
	const char *etcd, *etcd_prefix; /* --etcd: put map.json there; NULL: do not */
	int by_bytes, check, mode;
};

int output_write(const struct options *o, const struct index *ix, const struct cuts *c,
		 struct copyset *cs, struct shard_out *so);
int output_routes(const struct options *o, const struct index *ix, const struct cuts *c,
		  const struct shard_out *so);
int output_manifest(const struct options *o, const struct index *ix, const struct cuts *c,
		    const struct shard_out *so);
int output_map(const struct options *o, const struct index *ix, const struct cuts *c,
	       const struct shard_out *so);

/* publish.c -- --etcd: put map.json at <etcd_prefix>_shards/<zone>/map. */
int publish_map(const struct options *o, const struct index *ix);

/* check.c -- --check: reads the shard files back and checks the invariants. */
int check_shards(const struct index *ix, const struct cuts *c, const struct shard_out *so);

#endif
