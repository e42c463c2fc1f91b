/* SPDX-License-Identifier: MIT */
/* bench/curveperf/opts.c -- the command line: options, names, types, the server and its key */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "curve/key.h"
#include "curveperf.h"

#define TIMEOUT_MS_MAX 10000
#define KEYS_MAX 100000000ULL

const char *const fmt_names[3] = {"txt", "streamlined", "plain"};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: curveperf -s IP -p PORT -k KEY -l SECONDS (-d FILE | -q NAME) [options]\n"
		"  -s IP           server address (IPv4 or IPv6)\n"
		"  -p PORT         server port (default 53)\n"
		"  -k KEY          server public key: 64 hex digits or the 54-character uz5... form\n"
		"  -f FORMAT       txt (default; needs -z), streamlined (unpadded), plain (no crypto)\n"
		"  -z ZONE         the TXT format's zone suffix, e.g. example.\n"
		"  -K N            client keys, used round robin (default 1)\n"
		"  -d FILE         queries, one \"name type\" per line (as dnsperf -d)\n"
		"  -q NAME         one query name instead (-t TYPE, default A)\n"
		"  -c N            outstanding queries: closed loop (default 100; at most %d)\n"
		"  -Q RATE         fixed rate in queries/s instead (-c: the most outstanding, "
		"default 10000)\n"
		"  -l SECONDS      how long to send (required, at most %d)\n"
		"  -n COUNT        the most queries to send (default: until -l)\n"
		"  -T MS           a query unanswered this long is lost (default 1000)\n"
		"  -j THREADS      threads that make the client keys (default: online CPUs)\n"
		"  --prep-seconds S  most time to spend making keys (default 20)\n"
		"  --cpu N         run the load on CPU N only, once the keys are made on all\n"
		"  --warm          ask once with every key before the clock starts (not counted)\n"
		"  --pid PID       report the CPU time process PID spent during the timed phase\n"
		"  --nonces FILE   append the server nonce of every answer whose box opened\n"
		"                  (12 raw bytes each, no header)\n"
		"Prints one JSON object on stdout and a summary on stderr.\n",
		SLOTS_MAX, SECONDS_MAX);
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s == '\0' || *s == '-') {
		return false;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return false;
	}
	*out = v;
	return true;
}

static bool parse_seconds(const char *s, double max, double *out)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0.0) || v > max) {
		return false;
	}
	*out = v;
	return true;
}

/* Presentation form "a.b.example." (trailing dot optional, "." the root) into wire form.
 * Plain labels only: no escapes. */
bool name_to_wire(const char *s, size_t slen, uint8_t *out, size_t *out_len)
{
	size_t len = 0, i = 0;

	if (slen == 1 && s[0] == '.') {
		out[0] = 0;
		*out_len = 1;
		return true;
	}
	while (i < slen) {
		size_t l = 0;
		while (i + l < slen && s[i + l] != '.') {
			l++;
		}
		if (l == 0 || l > WIRE_LABEL_MAX || len + 1 + l + 1 > WIRE_NAME_MAX ||
		    memchr(s + i, '\\', l) != NULL) {
			return false;
		}
		out[len++] = (uint8_t)l;
		memcpy(out + len, s + i, l);
		len += l;
		i += l + 1; /* the dot, or past the end */
	}
	if (len == 0) {
		return false;
	}
	out[len++] = 0;
	*out_len = len;
	return true;
}

bool parse_type(const char *s, uint16_t *type)
{
	static const struct {
		const char *name;
		uint16_t type;
	} types[] = {
		{"A", 1},       {"NS", 2},    {"CNAME", 5}, {"SOA", 6},  {"PTR", 12},
		{"MX", 15},     {"TXT", 16},  {"AAAA", 28}, {"SRV", 33}, {"DS", 43},
		{"DNSKEY", 48}, {"CAA", 257}, {"ANY", 255},
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, types[i].name) == 0) {
			*type = types[i].type;
			return true;
		}
	}
	if (strncasecmp(s, "TYPE", 4) == 0) {
		s += 4;
	}
	if (!parse_u64(s, 65535, &v)) {
		return false;
	}
	*type = (uint16_t)v;
	return true;
}

static bool parse_server(const char *s, uint16_t port, struct opts *o)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&o->server;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->server;
	int n;

	memset(&o->server, 0, sizeof(o->server));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		o->server_len = sizeof(*in);
		n = snprintf(o->server_text, sizeof(o->server_text), "%s:%u", s, port);
	} else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		o->server_len = sizeof(*in6);
		n = snprintf(o->server_text, sizeof(o->server_text), "[%s]:%u", s, port);
	} else {
		return false;
	}
	return n > 0 && (size_t)n < sizeof(o->server_text);
}

static bool parse_key(const char *s, uint8_t pk[CURVE_KEY_LEN])
{
	size_t n = strlen(s);

	if (n == CURVE_KEY_DNS_LEN && strncasecmp(s, "uz5", 3) == 0) {
		return curve_key_from_dns_name(s, pk) == DR_EOK;
	}
	if (n != 2 * CURVE_KEY_LEN) {
		return false;
	}
	return sodium_hex2bin(pk, CURVE_KEY_LEN, s, n, NULL, NULL, NULL) == 0;
}

int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { OPT_NONCES = 256, OPT_PREP, OPT_CPU, OPT_WARM, OPT_PID };
	static const struct option longopts[] = {
		{"nonces", required_argument, NULL, OPT_NONCES},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"warm", no_argument, NULL, OPT_WARM},
		{"pid", required_argument, NULL, OPT_PID},
		{"prep-seconds", required_argument, NULL, OPT_PREP},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *server = NULL, *zone = NULL;
	uint64_t v, port = 53;
	bool have_c = false;
	long cpus;
	int c;

	memset(o, 0, sizeof(*o));
	o->keys = 1;
	o->fmt = FMT_TXT;
	o->qtype = WIRE_TYPE_A;
	o->outstanding = 100;
	o->timeout_ms = 1000;
	o->prep_seconds = 20.0;
	o->cpu = -1;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = cpus > 0 ? (unsigned)(cpus < THREADS_MAX ? cpus : THREADS_MAX) : 1;
	while ((c = getopt_long(argc, argv, "s:p:k:f:z:K:d:q:t:c:Q:l:n:T:j:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'p':
			if (!parse_u64(optarg, 65535, &port) || port == 0) {
				fprintf(stderr, "curveperf: bad port %s\n", optarg);
				return 2;
			}
			break;
		case 'k':
			if (!parse_key(optarg, o->server_pk)) {
				fprintf(stderr, "curveperf: bad key %s (64 hex digits or uz5...)\n",
					optarg);
				return 2;
			}
			o->have_pk = true;
			break;
		case 'f':
			if (strcmp(optarg, "txt") == 0) {
				o->fmt = FMT_TXT;
			} else if (strcmp(optarg, "streamlined") == 0) {
				o->fmt = FMT_STREAMLINED;
			} else if (strcmp(optarg, "plain") == 0) {
				o->fmt = FMT_PLAIN;
			} else {
				fprintf(stderr, "curveperf: bad format %s\n", optarg);
				return 2;
			}
			break;
		case 'z':
			zone = optarg;
			break;
		case 'K':
			if (!parse_u64(optarg, KEYS_MAX, &o->keys) || o->keys == 0) {
				fprintf(stderr, "curveperf: bad -K %s (1..%llu)\n", optarg,
					KEYS_MAX);
				return 2;
			}
			break;
		case 'd':
			o->datafile = optarg;
			break;
		case 'q':
			o->qname = optarg;
			break;
		case 't':
			if (!parse_type(optarg, &o->qtype)) {
				fprintf(stderr, "curveperf: bad type %s\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (!parse_u64(optarg, SLOTS_MAX, &v) || v == 0) {
				fprintf(stderr, "curveperf: bad -c %s (1..%d)\n", optarg,
					SLOTS_MAX);
				return 2;
			}
			o->outstanding = (unsigned)v;
			have_c = true;
			break;
		case 'Q':
			if (!parse_u64(optarg, 10000000, &o->rate) || o->rate == 0) {
				fprintf(stderr, "curveperf: bad rate %s\n", optarg);
				return 2;
			}
			break;
		case 'l':
			if (!parse_seconds(optarg, SECONDS_MAX, &o->seconds)) {
				fprintf(stderr, "curveperf: bad -l %s (0..%d s)\n", optarg,
					SECONDS_MAX);
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, UINT64_MAX / 2, &o->max_queries)) {
				fprintf(stderr, "curveperf: bad -n %s\n", optarg);
				return 2;
			}
			break;
		case 'T':
			if (!parse_u64(optarg, TIMEOUT_MS_MAX, &v) || v == 0) {
				fprintf(stderr, "curveperf: bad -T %s (1..%d ms)\n", optarg,
					TIMEOUT_MS_MAX);
				return 2;
			}
			o->timeout_ms = (unsigned)v;
			break;
		case 'j':
			if (!parse_u64(optarg, THREADS_MAX, &v) || v == 0) {
				fprintf(stderr, "curveperf: bad -j %s\n", optarg);
				return 2;
			}
			o->threads = (unsigned)v;
			break;
		case OPT_NONCES:
			o->nonces_path = optarg;
			break;
		case OPT_PREP:
			if (!parse_seconds(optarg, SECONDS_MAX, &o->prep_seconds)) {
				fprintf(stderr, "curveperf: bad --prep-seconds %s\n", optarg);
				return 2;
			}
			break;
		case OPT_CPU:
			if (!parse_u64(optarg, CPU_SETSIZE - 1, &v)) {
				fprintf(stderr, "curveperf: bad --cpu %s\n", optarg);
				return 2;
			}
			o->cpu = (int)v;
			break;
		case OPT_WARM:
			o->warm = true;
			break;
		case OPT_PID:
			if (!parse_u64(optarg, INT32_MAX, &v) || v == 0) {
				fprintf(stderr, "curveperf: bad --pid %s\n", optarg);
				return 2;
			}
			o->pid = (long)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || server == NULL || o->seconds == 0.0 ||
	    (o->datafile == NULL) == (o->qname == NULL)) {
		fprintf(stderr, "curveperf: need -s, -l and one of -d or -q\n");
		usage(stderr);
		return 2;
	}
	if (!parse_server(server, (uint16_t)port, o)) {
		fprintf(stderr, "curveperf: bad server address %s\n", server);
		return 2;
	}
	if (o->fmt != FMT_PLAIN && !o->have_pk) {
		fprintf(stderr, "curveperf: -f %s needs the server key (-k)\n", fmt_names[o->fmt]);
		return 2;
	}
	if (o->fmt == FMT_TXT) {
		if (zone == NULL || !name_to_wire(zone, strlen(zone), o->zone, &o->zone_len)) {
			fprintf(stderr, "curveperf: -f txt needs a zone suffix (-z example.)\n");
			return 2;
		}
	}
	if (o->rate > 0 && !have_c) {
		o->outstanding = 10000;
	}
	return 0;
}
