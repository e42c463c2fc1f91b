/* SPDX-License-Identifier: MIT */
/* split/main.c -- dnsrouter-split: command line, the two passes, the output files */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libknot/libknot.h>
#include <libzscanner/scanner.h>

#include "split.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dnsrouter-split ZONEFILE -o DIR (--shards N | --cuts FILE) [--origin ZONE]\n"
		"                       [--mode auto|canonical|nsec3] [--balance bytes|names]\n"
		"                       [--rest LABEL,...] [--backend-prefix NAME] [--max-copy N]\n"
		"                       [--check] [--etcd URL [--etcd-prefix PREFIX]]\n"
		"exit: 0 ok, 1 usage or I/O, 2 cannot split as asked, 3 --check failed\n");
}

/* The zone's origin when --origin is absent: the owner of the file's first record. */
static int guess_origin(const char *file, char *dst, size_t len)
{
	zs_scanner_t *s = calloc(1, sizeof(*s));
	int ret = -1;

	if (s == NULL) {
		return -1;
	}
	if (zs_init(s, ".", KNOT_CLASS_IN, 3600) == 0 && zs_set_input_file(s, file) == 0) {
		while (zs_parse_record(s) == 0 && s->state != ZS_STATE_EOF &&
		       s->state != ZS_STATE_ERROR) {
			if (s->state == ZS_STATE_DATA) {
				ret = knot_dname_to_str(dst, s->r_owner, len) ? 0 : -1;
				break;
			}
		}
	}
	zs_deinit(s);
	free(s);
	return ret;
}

static int prefix_ok(const char *p)
{
	if (*p == '\0' || strlen(p) > 64) {
		return 0;
	}
	for (; *p; p++) {
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			return 0;
		}
	}
	return 1;
}

enum {
	O_SHARDS = 256,
	O_CUTS,
	O_ORIGIN,
	O_MODE,
	O_BALANCE,
	O_REST,
	O_PREFIX,
	O_CHECK,
	O_MAX_COPY,
	O_ETCD,
	O_ETCD_PREFIX,
};

/* A whole number from <min> to <max> in <arg>, into <out>; -1 after saying <what>. */
static int count_arg(const char *arg, unsigned long min, unsigned long max, const char *what,
		     size_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || *end || arg[0] < '0' || arg[0] > '9' || n < min || n > max) {
		fprintf(stderr, "%s\n", what);
		return -1;
	}
	*out = n;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o, int *mode_req)
{
	static const struct option longopts[] = {
		{"shards", required_argument, NULL, O_SHARDS},
		{"cuts", required_argument, NULL, O_CUTS},
		{"origin", required_argument, NULL, O_ORIGIN},
		{"mode", required_argument, NULL, O_MODE},
		{"balance", required_argument, NULL, O_BALANCE},
		{"rest", required_argument, NULL, O_REST},
		{"backend-prefix", required_argument, NULL, O_PREFIX},
		{"check", no_argument, NULL, O_CHECK},
		{"max-copy", required_argument, NULL, O_MAX_COPY},
		{"etcd", required_argument, NULL, O_ETCD},
		{"etcd-prefix", required_argument, NULL, O_ETCD_PREFIX},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->outdir = optarg;
			break;
		case O_SHARDS:
			if (count_arg(optarg, 1, 4096, "--shards: 1..4096", &o->shards) != 0) {
				return -1;
			}
			break;
		case O_CUTS:
			o->cutsfile = optarg;
			break;
		case O_ORIGIN:
			o->origin = optarg;
			break;
		case O_MODE:
			if (strcmp(optarg, "auto") && strcmp(optarg, "canonical") &&
			    strcmp(optarg, "nsec3")) {
				fprintf(stderr, "--mode: auto, canonical or nsec3\n");
				return -1;
			}
			*mode_req = optarg[0];
			break;
		case O_BALANCE:
			if (strcmp(optarg, "bytes") && strcmp(optarg, "names")) {
				fprintf(stderr, "--balance: bytes or names\n");
				return -1;
			}
			o->by_bytes = optarg[0] == 'b';
			break;
		case O_REST:
			o->rest = optarg;
			break;
		case O_PREFIX:
			if (!prefix_ok(optarg)) {
				fprintf(stderr,
					"--backend-prefix: letters, digits, '-', '_', '.'\n");
				return -1;
			}
			o->prefix = optarg;
			break;
		case O_CHECK:
			o->check = 1;
			break;
		case O_ETCD:
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0) {
				fprintf(stderr, "--etcd: an http:// or https:// URL\n");
				return -1;
			}
			o->etcd = optarg;
			break;
		case O_ETCD_PREFIX:
			o->etcd_prefix = optarg;
			break;
		case O_MAX_COPY:
			if (count_arg(optarg, 0, SIZE_MAX, "--max-copy: a number of names",
				      &o->max_copy) != 0) {
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			exit(SPLIT_EXIT_OK);
		default:
			return -1;
		}
	}
	if (optind + 1 != argc || o->outdir == NULL || (o->shards == 0) == (o->cutsfile == NULL)) {
		return -1;
	}
	o->zonefile = argv[optind];
	return 0;
}

/* The default backend prefix: the zone's first label (or "root"). */
static void default_prefix(const struct index *ix, char *dst, size_t len)
{
	size_t l = ix->apex[0];

	if (l == 0 || l >= len) {
		snprintf(dst, len, "root");
		return;
	}
	for (size_t i = 0; i < l; i++) {
		char ch = (char)ix->apex[1 + i];
		dst[i] = prefix_ok((char[]){ch, '\0'}) ? ch : '_';
	}
	dst[l] = '\0';
}

static int run(struct options *o, int mode_req)
{
	struct index ix = {0};
	struct cuts c = {0};
	struct copyset *cs = NULL;
	struct shard_out *so = NULL;
	char origin[KNOT_DNAME_TXT_MAXLEN + 1], prefix[80];
	int ret;

	if (o->origin == NULL) {
		if (guess_origin(o->zonefile, origin, sizeof(origin)) != 0) {
			fprintf(stderr, "%s: cannot read a first record for the origin\n",
				o->zonefile);
			return SPLIT_EXIT_USAGE;
		}
		o->origin = origin;
	}
	ret = index_build(&ix, o->zonefile, o->origin);
	if (ret != SPLIT_EXIT_OK) {
		goto out;
	}
	if (o->prefix == NULL) {
		default_prefix(&ix, prefix, sizeof(prefix));
		o->prefix = prefix;
	}
	int hashed = mode_req == 'n' ||
		     (mode_req == 'a' && ix.mode == MODE_NSEC3 && nsec3_fits(&ix, o->rest, 0));
	if (hashed && !nsec3_fits(&ix, o->rest, 1)) {
		ret = SPLIT_EXIT_CANNOT;
		goto out;
	}
	if (hashed && (o->cutsfile != NULL || o->shards > 1024)) {
		fprintf(stderr, "nsec3 mode: --shards 1..1024, no --cuts\n");
		ret = SPLIT_EXIT_USAGE;
		goto out;
	}
	if (ix.mode == MODE_NSEC3 && !hashed) {
		uint64_t chain = 0;
		for (size_t i = 0; i < ix.n_nodes; i++) {
			chain += (ix.nodes[i].flags & NF_NSEC3) ? ix.nodes[i].bytes : 0;
		}
		fprintf(stderr,
			"warning: NSEC3 zone split in canonical ranges: every shard holds "
			"the whole chain, %.0f%% of the zone's bytes\n",
			ix.total_bytes ? 100.0 * (double)chain / (double)ix.total_bytes : 0.0);
	}
	if (hashed) {
		ret = nsec3_setup(&c, &ix, o->shards, o->rest);
	} else {
		ret = o->cutsfile ? cuts_read(&c, &ix, o->cutsfile)
				  : cuts_balance(&c, &ix, o->shards, o->by_bytes);
	}
	if (ret != SPLIT_EXIT_OK) {
		goto out;
	}
	ret = SPLIT_EXIT_USAGE;
	cs = calloc(c.n, sizeof(*cs));
	so = calloc(c.n, sizeof(*so));
	if (cs == NULL || so == NULL) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		ret = rules_compute(&cs[i], &ix, &c, i, o->max_copy);
		if (ret != SPLIT_EXIT_OK) {
			goto out;
		}
	}
	if (mkdir(o->outdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s\n", o->outdir, strerror(errno));
		ret = SPLIT_EXIT_USAGE;
		goto out;
	}
	ret = output_write(o, &ix, &c, cs, so);
	if (ret == SPLIT_EXIT_OK) {
		ret = output_routes(o, &ix, &c, so);
	}
	if (ret == SPLIT_EXIT_OK) {
		ret = output_manifest(o, &ix, &c, so);
	}
	if (ret == SPLIT_EXIT_OK) {
		ret = output_map(o, &ix, &c, so);
	}
	if (ret == SPLIT_EXIT_OK && o->check) {
		ret = check_shards(&ix, &c, so);
	}
	/* Published last: routers act on the map at once, so only shards that passed. */
	if (ret == SPLIT_EXIT_OK && o->etcd != NULL) {
		ret = publish_map(o, &ix);
	}
out:
	for (size_t i = 0; cs != NULL && i < c.n; i++) {
		copyset_free(&cs[i]);
	}
	free(cs);
	free(so);
	cuts_free(&c);
	index_free(&ix);
	return ret;
}

int main(int argc, char **argv)
{
	struct options o = {
		.by_bytes = 1, .max_copy = SPLIT_MAX_COPY, .etcd_prefix = "/dnsrouter/"};
	int mode_req = 'a';

	if (parse_args(argc, argv, &o, &mode_req) != 0) {
		usage(stderr);
		return SPLIT_EXIT_USAGE;
	}
	return run(&o, mode_req);
}
