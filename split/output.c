/* SPDX-License-Identifier: MIT */
/* split/output.c -- pass 2 (every RR to its shard file and the shards copying it), routes.yaml
 * and manifest.json (sharding.md §5 and §6) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libknot/libknot.h>
#include <libzscanner/scanner.h>
#include <openssl/evp.h>

#include "split.h"

#define LINE_MAX_LEN (4 * 65536 + 4096)

struct pass2 {
	const struct index *ix;
	const struct cuts *c;
	struct copyset *cs;
	struct shard_out *so;
	FILE **f;
	char *line;
	uint8_t *rdata;
	int err;
};

/* The zone's name as a file stem: "example" for example., "root" for the root. */
static void zone_stem(const struct index *ix, char *dst, size_t len)
{
	if (ix->apex_len == 1 || name_to_text(ix->apex, dst, len) != 0) {
		snprintf(dst, len, "root");
		return;
	}
	size_t l = strlen(dst);
	if (l > 1 && dst[l - 1] == '.') {
		dst[l - 1] = '\0';
	}
	for (char *p = dst; *p; p++) {
		if (*p == '/' || *p == '\\') {
			*p = '_';
		}
	}
}

/* One RR in presentation form, with Knot's own dumper (so Knot reads back the same bytes). */
static int format_rr(struct pass2 *p, zs_scanner_t *s)
{
	knot_rrset_t rr;
	char owner[KNOT_DNAME_TXT_MAXLEN + 1], type[32];

	knot_rrset_init(&rr, s->r_owner, s->r_type, s->r_class, s->r_ttl);
	knot_rdata_init((knot_rdata_t *)p->rdata, (uint16_t)s->r_data_length, s->r_data);
	rr.rrs.count = 1;
	rr.rrs.size = (uint32_t)knot_rdata_size((uint16_t)s->r_data_length);
	rr.rrs.rdata = (knot_rdata_t *)p->rdata;
	if (knot_dname_to_str(owner, s->r_owner, sizeof(owner)) == NULL ||
	    knot_rrtype_to_string(s->r_type, type, sizeof(type)) < 0) {
		return -1;
	}
	int n = snprintf(p->line, LINE_MAX_LEN, "%s\t%u\tIN\t%s\t", owner, s->r_ttl, type);
	if (n < 0 || n >= LINE_MAX_LEN) {
		return -1;
	}
	int d = knot_rrset_txt_dump_data(&rr, 0, p->line + n, LINE_MAX_LEN - (size_t)n - 2,
					 &KNOT_DUMP_STYLE_DEFAULT);
	if (d < 0) {
		return -1;
	}
	p->line[n + d] = '\n';
	p->line[n + d + 1] = '\0';
	return n + d + 1;
}

static uint16_t covered_type(const zs_scanner_t *s)
{
	if (s->r_type == KNOT_RRTYPE_RRSIG && s->r_data_length >= 2) {
		return (uint16_t)(s->r_data[0] << 8 | s->r_data[1]);
	}
	return s->r_type;
}

static void on_record(zs_scanner_t *s)
{
	struct pass2 *p = s->process.data;
	uint8_t low[SPLIT_NAME_MAX];

	name_lower(low, s->r_owner);
	long node = index_find(p->ix, low);
	int len = format_rr(p, s);
	if (node < 0 || len < 0) {
		fprintf(stderr, "%s:%llu: cannot place or print the record\n", s->file.name,
			(unsigned long long)s->line_counter);
		goto fail;
	}
	size_t own = cuts_node_shard(p->c, (size_t)node);
	uint64_t bytes = s->r_owner_length + 10 + s->r_data_length;
	uint16_t type = covered_type(s);
	for (size_t i = 0; i < p->c->n; i++) {
		const struct copy *cp = NULL;
		if (i != own) {
			cp = copyset_get(&p->cs[i], (uint64_t)node);
			if (cp == NULL || !copy_covers(cp->mask, type)) {
				continue;
			}
			p->so[i].copied[cp->reason]++;
		}
		if (fwrite(p->line, 1, (size_t)len, p->f[i]) != (size_t)len) {
			fprintf(stderr, "%s: %s\n", p->so[i].path, strerror(errno));
			goto fail;
		}
		p->so[i].rrs++;
		p->so[i].bytes += bytes;
	}
	return;
fail:
	p->err = SPLIT_EXIT_USAGE;
	s->state = ZS_STATE_STOP;
}

static void on_error(zs_scanner_t *s)
{
	struct pass2 *p = s->process.data;

	fprintf(stderr, "%s:%llu: %s\n", s->file.name, (unsigned long long)s->line_counter,
		zs_strerror(s->error.code));
	p->err = SPLIT_EXIT_USAGE;
	s->state = ZS_STATE_STOP;
}

/* The router's configuration knows these mnemonics; any other type goes in the RFC 3597 form
 * TYPEnnn, which it also takes (DS, for instance, is TYPE43). */
static int router_knows(uint16_t t)
{
	static const uint16_t known[] = {KNOT_RRTYPE_A,     KNOT_RRTYPE_NS,   KNOT_RRTYPE_CNAME,
					 KNOT_RRTYPE_SOA,   KNOT_RRTYPE_PTR,  KNOT_RRTYPE_MX,
					 KNOT_RRTYPE_TXT,   KNOT_RRTYPE_AAAA, KNOT_RRTYPE_SRV,
					 KNOT_RRTYPE_DNSKEY};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i] == t) {
			return 1;
		}
	}
	return 0;
}

/* The shard's probe: its first name with data it answers for itself, a wildcard owner only when
 * there is nothing else; none for a range without data. */
/* The shard's probe: its first name with data it answers for itself, a wildcard owner only when
 * there is nothing else; none for a range without data. */
static void probe_of(const struct index *ix, const struct cuts *c, size_t shard, char *dst,
		     size_t len)
{
	size_t lo = c->hashed ? 0 : (size_t)c->first[shard];
	size_t hi = c->hashed || shard + 1 >= c->n ? ix->n_nodes : (size_t)c->first[shard + 1];
	char name[KNOT_DNAME_TXT_MAXLEN + 1], type[32];
	long pick = -1;

	dst[0] = '\0';
	for (size_t i = lo; i < hi; i++) {
		const struct node *nd = &ix->nodes[i];
		if (nd->probe == 0 || (nd->flags & (NF_BELOW | NF_NSEC3)) ||
		    cuts_node_shard(c, i) != shard) {
			continue;
		}
		if (pick < 0 || !(nd->flags & NF_WILD)) {
			pick = (long)i;
		}
		if (!(nd->flags & NF_WILD)) {
			break;
		}
	}
	if (pick < 0 || name_to_text(index_name(ix, (size_t)pick), name, sizeof(name)) != 0 ||
	    knot_rrtype_to_string(ix->nodes[pick].probe, type, sizeof(type)) < 0) {
		return;
	}
	if (!router_knows(ix->nodes[pick].probe)) {
		snprintf(type, sizeof(type), "TYPE%u", ix->nodes[pick].probe);
	}
	snprintf(dst, len, "%s %s", name, type);
}

static int close_checked(FILE *f, const char *path)
{
	int bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "%s: write failed\n", path);
		return SPLIT_EXIT_USAGE;
	}
	return SPLIT_EXIT_OK;
}

int output_write(const struct options *o, const struct index *ix, const struct cuts *c,
		 struct copyset *cs, struct shard_out *so)
{
	struct pass2 p = {.ix = ix, .c = c, .cs = cs, .so = so};
	zs_scanner_t *s = calloc(1, sizeof(*s));
	char stem[KNOT_DNAME_TXT_MAXLEN + 1], origin[KNOT_DNAME_TXT_MAXLEN + 1];
	int ret = SPLIT_EXIT_USAGE, inited = 0;

	p.f = calloc(c->n, sizeof(*p.f));
	p.line = malloc(LINE_MAX_LEN);
	p.rdata = malloc(sizeof(knot_rdata_t) + 65536);
	if (s == NULL || p.f == NULL || p.line == NULL || p.rdata == NULL) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	zone_stem(ix, stem, sizeof(stem));
	if (name_to_text(ix->apex, origin, sizeof(origin)) != 0) {
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (c->hashed && i == c->n_hash) {
			snprintf(so[i].file, sizeof(so[i].file), "%.400s.rest.zone", stem);
		} else {
			snprintf(so[i].file, sizeof(so[i].file), "%.400s.shard%zu.zone", stem, i);
		}
		snprintf(so[i].path, sizeof(so[i].path), "%.3000s/%s", o->outdir, so[i].file);
		probe_of(ix, c, i, so[i].probe, sizeof(so[i].probe));
		p.f[i] = fopen(so[i].path, "w");
		if (p.f[i] == NULL) {
			fprintf(stderr, "%s: %s\n", so[i].path, strerror(errno));
			goto out;
		}
		fprintf(p.f[i], "; %s shard %zu of %zu, made by dnsrouter-split\n", origin, i,
			c->n);
	}
	inited = 1;
	if (zs_init(s, origin, KNOT_CLASS_IN, 3600) != 0 ||
	    zs_set_input_file(s, o->zonefile) != 0 ||
	    zs_set_processing(s, on_record, on_error, &p) != 0) {
		fprintf(stderr, "%s: %s\n", o->zonefile, zs_strerror(s->error.code));
		goto out;
	}
	if (zs_parse_all(s) != 0 && p.err == 0) {
		fprintf(stderr, "%s: %s\n", o->zonefile, zs_strerror(s->error.code));
		goto out;
	}
	ret = p.err ? p.err : SPLIT_EXIT_OK;
out:
	if (inited) {
		zs_deinit(s);
	}
	for (size_t i = 0; p.f != NULL && i < c->n; i++) {
		if (p.f[i] != NULL && close_checked(p.f[i], so[i].path) != SPLIT_EXIT_OK) {
			ret = SPLIT_EXIT_USAGE;
		}
	}
	free(p.f);
	free(p.line);
	free(p.rdata);
	free(s);
	return ret;
}

/* A YAML single-quoted scalar: only the quote is special. */
static void yaml_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'') {
			fputc('\'', f);
		}
		fputc(*s, f);
	}
	fputc('\'', f);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			fputc('\\', f);
		}
		if ((unsigned char)*s < 0x20) {
			fprintf(f, "\\u%04x", (unsigned char)*s);
			continue;
		}
		fputc(*s, f);
	}
	fputc('"', f);
}

static const char *mode_name(const struct index *ix, const struct cuts *c)
{
	if (c->hashed) {
		return "nsec3";
	}
	return ix->mode == MODE_NSEC ? "nsec"
				     : (ix->mode == MODE_NSEC3 ? "nsec3-canonical" : "unsigned");
}

/* The salt in hex, "-" for none (RFC 5155 §3.3). */
static void salt_hex(const struct index *ix, char *dst)
{
	for (unsigned i = 0; i < ix->n3_salt_len; i++) {
		snprintf(dst + 2 * i, 3, "%02x", ix->n3_salt[i]);
	}
	dst[2 * ix->n3_salt_len] = '\0';
	if (ix->n3_salt_len == 0) {
		strcpy(dst, "-");
	}
}

/* The backend name of shard <i>: NAME-s<i>, the rest shard NAME-rest. */
static void backend_name(const struct options *o, const struct cuts *c, size_t i, char *dst,
			 size_t len)
{
	if (c->hashed && i == c->n_hash) {
		snprintf(dst, len, "%s-rest", o->prefix);
	} else {
		snprintf(dst, len, "%s-s%zu", o->prefix, i);
	}
}

/* A shard's first name, or its first hash in nsec3 mode ("rest" for the rest shard). */
static int from_text(const struct cuts *c, size_t i, char *dst, size_t len)
{
	if (c->hashed) {
		snprintf(dst, len, "%s", i < c->n_hash ? c->prefix[i] : "rest");
		return 0;
	}
	return name_to_text(c->name[i], dst, len);
}

int output_routes(const struct options *o, const struct index *ix, const struct cuts *c,
		  const struct shard_out *so)
{
	char path[4200], zone[KNOT_DNAME_TXT_MAXLEN + 1], from[KNOT_DNAME_TXT_MAXLEN + 1], be[100];
	size_t n = c->hashed ? c->n_hash : c->n;

	snprintf(path, sizeof(path), "%.4000s/routes.yaml", o->outdir);
	if (name_to_text(ix->apex, zone, sizeof(zone)) != 0) {
		return SPLIT_EXIT_USAGE;
	}
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return SPLIT_EXIT_USAGE;
	}
	backend_name(o, c, c->n_hash, be, sizeof(be)); /* the rest shard's, if any */
	fprintf(f, "# dnsrouter-split: the route of %s (serial %u, %s, %zu shards)\n", zone,
		ix->serial, mode_name(ix, c), c->n);
	fprintf(f, "# It expects backends named %s-s0 .. %s-s%zu%s%s in the configuration's\n",
		o->prefix, o->prefix, n - 1, c->n_rest ? " and " : "", c->n_rest ? be : "");
	fprintf(f, "# backends section, each serving its file (%s, ...).\n",
		c->n ? so[0].file : "");
	fprintf(f, "routes:\n  - zone: ");
	yaml_str(f, zone);
	if (c->hashed) {
		char salt[520];
		salt_hex(ix, salt);
		fprintf(f, "\n    nsec3: { algorithm: %u, iterations: %u, salt: '%s' }", ix->n3_alg,
			ix->n3_iter, salt);
	}
	fprintf(f, "\n    shards:\n");
	for (size_t i = 0; i < n; i++) {
		if (from_text(c, i, from, sizeof(from)) != 0) {
			fclose(f);
			return SPLIT_EXIT_USAGE;
		}
		backend_name(o, c, i, be, sizeof(be));
		fprintf(f, "      - { from: ");
		yaml_str(f, from);
		fprintf(f, ", backends: [%s]", be);
		if (so[i].probe[0] != '\0') {
			fprintf(f, ", probe: ");
			yaml_str(f, so[i].probe);
		}
		fprintf(f, " }\n");
	}
	/* the rest shard's first-level names: plain zone routes, more specific than the zone */
	backend_name(o, c, c->n_hash, be, sizeof(be));
	for (size_t i = 0; i < c->n_rest; i++) {
		if (name_to_text(c->rest[i], from, sizeof(from)) != 0) {
			fclose(f);
			return SPLIT_EXIT_USAGE;
		}
		fprintf(f, "  - { zone: ");
		yaml_str(f, from);
		fprintf(f, ", backends: [%s] }\n", be);
	}
	return close_checked(f, path);
}

static int sha256_file(const char *file, char hex[65])
{
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ret = -1;
	FILE *f = fopen(file, "rb");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (f == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (EVP_DigestUpdate(ctx, buf, n) != 1) {
			goto out;
		}
	}
	if (ferror(f) || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
		goto out;
	}
	for (unsigned i = 0; i < mdlen; i++) {
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	}
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	if (f != NULL) {
		fclose(f);
	}
	return ret;
}

int output_manifest(const struct options *o, const struct index *ix, const struct cuts *c,
		    const struct shard_out *so)
{
	char path[4200], zone[KNOT_DNAME_TXT_MAXLEN + 1], from[KNOT_DNAME_TXT_MAXLEN + 1];
	char hex[65];

	snprintf(path, sizeof(path), "%.4000s/manifest.json", o->outdir);
	if (name_to_text(ix->apex, zone, sizeof(zone)) != 0) {
		return SPLIT_EXIT_USAGE;
	}
	if (sha256_file(o->zonefile, hex) != 0) {
		fprintf(stderr, "%s: cannot hash\n", o->zonefile);
		return SPLIT_EXIT_USAGE;
	}
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return SPLIT_EXIT_USAGE;
	}
	fprintf(f, "{\n  \"zone\": ");
	json_str(f, zone);
	fprintf(f, ",\n  \"serial\": %u,\n  \"mode\": \"%s\",\n", ix->serial, mode_name(ix, c));
	if (ix->has_nsec3param == 1) {
		char salt[520];
		salt_hex(ix, salt);
		fprintf(f,
			"  \"nsec3\": { \"algorithm\": %u, \"iterations\": %u, \"salt\": \"%s\" },\n",
			ix->n3_alg, ix->n3_iter, salt);
	} else {
		fprintf(f, "  \"nsec3\": null,\n");
	}
	fprintf(f, "  \"input\": { \"file\": ");
	json_str(f, o->zonefile);
	fprintf(f, ", \"sha256\": \"%s\", \"rrs\": %llu, \"bytes\": %llu },\n", hex,
		(unsigned long long)ix->total_rrs, (unsigned long long)ix->total_bytes);
	fprintf(f, "  \"shards\": [\n");
	for (size_t i = 0; i < c->n; i++) {
		char be[100];
		if (from_text(c, i, from, sizeof(from)) != 0) {
			fclose(f);
			return SPLIT_EXIT_USAGE;
		}
		backend_name(o, c, i, be, sizeof(be));
		fprintf(f, "    { \"index\": %zu, \"from\": ", i);
		json_str(f, from);
		fprintf(f, ", \"file\": ");
		json_str(f, so[i].file);
		fprintf(f, ", \"backend\": \"%s\", \"rrs\": %llu, \"bytes\": %llu, \"probe\": ", be,
			(unsigned long long)so[i].rrs, (unsigned long long)so[i].bytes);
		json_str(f, so[i].probe);
		fprintf(f, ",\n      \"copied\": {");
		for (int r = 0; r < R_COUNT; r++) {
			fprintf(f, "%s \"%s\": %llu", r ? "," : "", reason_names[r],
				(unsigned long long)so[i].copied[r]);
		}
		fprintf(f, " } }%s\n", i + 1 < c->n ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return close_checked(f, path);
}

/* The route as dnsrouter takes it from etcd at PREFIX_shards/<zone>/map: the starts and probes
 * (backends register under PREFIX_shards/<zone>/<index>/<id>). The rest shard's names are
 * plain zone routes, not part of the map. */
int output_map(const struct options *o, const struct index *ix, const struct cuts *c,
	       const struct shard_out *so)
{
	char path[4200], from[KNOT_DNAME_TXT_MAXLEN + 1];
	size_t n = c->hashed ? c->n_hash : c->n;

	snprintf(path, sizeof(path), "%.4000s/map.json", o->outdir);
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return SPLIT_EXIT_USAGE;
	}
	fprintf(f, "{");
	if (c->hashed) {
		char salt[520];
		salt_hex(ix, salt);
		fprintf(f, "\"nsec3\": {\"algorithm\": %u, \"iterations\": %u, \"salt\": \"%s\"}, ",
			ix->n3_alg, ix->n3_iter, salt);
	}
	fprintf(f, "\"shards\": [");
	for (size_t i = 0; i < n; i++) {
		if (from_text(c, i, from, sizeof(from)) != 0) {
			fclose(f);
			return SPLIT_EXIT_USAGE;
		}
		fprintf(f, "%s\n  {\"from\": ", i ? "," : "");
		json_str(f, from);
		if (so[i].probe[0] != '\0') {
			fprintf(f, ", \"probe\": ");
			json_str(f, so[i].probe);
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n]}\n");
	return close_checked(f, path);
}
