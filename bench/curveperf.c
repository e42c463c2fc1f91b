/* SPDX-License-Identifier: MIT */
/* bench/curveperf.c -- a DNSCurve UDP load generator: K client keys, TXT or streamlined
 *
 * dnsperf cannot speak DNSCurve and dq forks once per query, so the benchmark has its own
 * generator. It sends the queries of a list (dnsperf's "name type" lines, or one name) to one
 * server, each wrapped for the next of K client keys in turn (K = 1: every key warm at the
 * server; K = 10,000: beyond CurveDNS's 5,000-entry cache; K = 1,000,000: every key cold), as
 * TXT queries under a zone, as unpadded streamlined ones, or as plain DNS for the baseline.
 * Either N queries stay outstanding (closed loop: the server's maximum) or queries leave at
 * a fixed rate. Every answer is verified: the outer frame, the echoed client nonce or
 * question, the box, and the inner ID and question; then counted by rcode. At the end one
 * JSON object goes to stdout and one line for people to stderr.
 *
 *   curveperf -s 127.0.0.1 -p 5354 -k uz5... -f txt -z example. -q www.example -t TXT \
 *             -K 10000 -c 100 -l 5
 *
 * Client keys cost ~60 us each (a key pair and the shared key), so they are made before the
 * timed phase, on every CPU, and only as many as the run can use: min(K, -n, -Q x -l); at most
 * --prep-seconds of work (then the run cycles over the keys it has, and says so).
 * Layouts: crypto-fronts.md §1.1; the codec is the router's own (src/curve/).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/rand.h"
#include "curve/base32.h"
#include "curve/box.h"
#include "curve/format.h"
#include "curve/key.h"
#include "wire/wire.h"

#define BATCH 64        /* datagrams per sendmmsg/recvmmsg */
#define RX_ROUNDS 16    /* recvmmsg batches per loop turn */
#define PKT_MAX 512     /* a query we send: header, a 255-byte name, type, class */
#define RX_MAX 4096     /* a longer answer is truncated, hence bad */
#define SLOTS_MAX 65536 /* outstanding queries; a plain query's ID is its slot */
#define SECONDS_MAX 3600
#define TIMEOUT_MS_MAX 10000
#define KEYS_MAX 100000000ULL
/* Keys made at most: ~60 s of work on two CPUs, far past --prep-seconds' default, and 128 MB. */
#define KEYS_PREP_MAX 2000000ULL
#define QUERIES_MAX 10000000 /* lines of a query file */
#define THREADS_MAX 64
#define SCAN_NS 5000000ULL /* how often outstanding queries are checked for their timeout */
#define NS 1000000000ULL
#define TXT_KEY_PREFIX "x1a"

static const uint8_t query_magic[CURVE_MAGIC_LEN] = {'Q', '6', 'f', 'n', 'v', 'W', 'j', '8'};
static const uint8_t response_magic[CURVE_MAGIC_LEN] = {'R', '6', 'f', 'n', 'v', 'W', 'J', '8'};

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

enum fmt {
	FMT_TXT = 0,
	FMT_STREAMLINED = 1,
	FMT_PLAIN = 2,
};

static const char *const fmt_names[] = {"txt", "streamlined", "plain"};

/* Our half of the nonce: a random prefix per process, the slot, the slot's generation. The
 * answer echoes it (streamlined: in clear; TXT: in the echoed question), which finds the slot;
 * (slot, generation) never repeats within a process and the keys are the process's own. */
enum {
	CN_OFF_PREFIX = 0,
	CN_OFF_SLOT = 4,
	CN_OFF_GEN = 8,
};

/* A TXT answer: the fixed part after the echoed question (c00c, type, class, TTL, RDLENGTH). */
enum {
	TXT_ANS_NAME = 0,
	TXT_ANS_TYPE = 2,
	TXT_ANS_CLASS = 4,
	TXT_ANS_RDLEN = 10,
	TXT_ANS_FIXED = 12,
	TXT_NONCE_CHARS = 20, /* base32 characters that carry the 12-byte client nonce */
};

struct opts {
	struct sockaddr_storage server;
	socklen_t server_len;
	char server_text[INET6_ADDRSTRLEN + 8];
	uint8_t server_pk[CURVE_KEY_LEN];
	bool have_pk;
	uint64_t keys;
	enum fmt fmt;
	uint8_t zone[WIRE_NAME_MAX]; /* wire form with the root label */
	size_t zone_len;
	const char *datafile;
	const char *qname;
	uint16_t qtype;
	unsigned outstanding;
	uint64_t rate; /* 0: closed loop */
	double seconds;
	uint64_t max_queries; /* 0: no cap but time */
	unsigned timeout_ms;
	const char *nonces_path;
	unsigned threads;
	double prep_seconds;
	int cpu;   /* -1: where the caller put us */
	bool warm; /* ask each key once before the clock starts */
	long pid;  /* the server's process, whose CPU time is reported; 0: none */
};

/* The questions to ask, wire form (QNAME QTYPE QCLASS), back to back in <pool>. */
struct qlist {
	uint8_t *pool;
	size_t pool_len, pool_cap;
	uint32_t *off;
	uint16_t *len;
	size_t n, cap;
	size_t longest;
};

/* Client keys: the public key sent and the key shared with the server (beforenm). The secret
 * keys are wiped as soon as the shared keys are made. */
struct keyset {
	uint8_t (*pk)[CURVE_KEY_LEN];
	uint8_t (*shared)[CURVE_KEY_LEN];
	uint64_t n;
	double prep_s;
	bool capped; /* fewer keys than the run could use: the time budget or KEYS_PREP_MAX */
};

struct slot {
	uint64_t sent_ns;
	uint32_t gen;
	uint32_t key;
	uint32_t query;
	bool busy;
	uint16_t id;       /* outer ID (TXT and plain) */
	uint16_t inner_id; /* the inner message's ID */
	uint16_t len;      /* of <pkt> */
	uint8_t nonce[CURVE_HALF_NONCE];
	uint8_t pkt[PKT_MAX];
};

/* What became of an answer. */
enum verdict {
	ANSWER_OK = 0,
	BAD_STRAY = 1, /* not an answer to any query of ours */
	BAD_FRAME = 2, /* ours, but its outer frame is wrong (or it was truncated) */
	BAD_BOX = 3,   /* ours, but the box does not open */
	BAD_INNER = 4, /* the box opens, but the message inside is not the answer */
	BAD_N = 5,
};

static const char *const bad_names[BAD_N] = {"", "stray", "frame", "box", "inner"};

struct stats {
	uint64_t sent;
	uint64_t answered; /* answers matched to an outstanding query: ok or bad */
	uint64_t ok;
	uint64_t bad_why[BAD_N]; /* answers that failed a check, matched or not */
	uint64_t late;           /* answers to a query already timed out or answered */
	uint64_t lost;           /* timed out */
	uint64_t skipped;        /* fixed rate: due while every slot was taken */
	uint64_t send_errors;
	uint64_t refused; /* ICMP port unreachable */
	uint64_t recv_errors;
	uint64_t tc;
	uint64_t nonces;       /* server nonces written to --nonces */
	uint64_t nonce_errors; /* --nonces writes that failed */
	uint64_t rcode[16];
};

/* Latency histogram, in ns: 100 ns steps up to 1 ms, 1 us to 10 ms, 10 us to 100 ms, 1 ms
 * to 10 s (the longest timeout). */
#define HIST_N 37901

struct hist {
	uint32_t count[HIST_N];
	uint64_t n, sum_ns, max_ns;
};

struct run {
	struct opts o;
	int fd;
	struct qlist ql;
	struct keyset ks;
	struct slot *slots;
	uint32_t *free;
	unsigned nslots, nfree;
	uint8_t nonce_prefix[4];
	struct rand_state rnd;
	uint64_t next_key, next_query;
	struct stats st;
	struct hist *h;
	FILE *nonces;
	uint64_t t_first_send, t_last_answer;
	uint64_t warm_ok; /* answers to the warm-up, not counted in <st> */
	struct mmsghdr tx[BATCH];
	struct iovec tx_iov[BATCH];
	uint32_t tx_slot[BATCH];
	struct mmsghdr rx[BATCH];
	struct iovec rx_iov[BATCH];
	uint8_t rx_buf[BATCH][RX_MAX];
	uint8_t text[RX_MAX];    /* an opened box */
	uint8_t payload[RX_MAX]; /* a TXT answer's strings joined */
};

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

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("curveperf: clock_gettime");
		exit(1);
	}
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1) {
		return 0.0;
	}
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The ns every thread of process <pid> has spent on a CPU: the first field of
 * /proc/PID/task/TID/schedstat, finer than the clock ticks of /proc/PID/stat (10 ms, too coarse
 * for a few seconds at a fixed rate). -1 when the process is gone or the kernel has no
 * schedstat. A thread that exits meanwhile takes its time with it: the servers measured here
 * keep theirs. */
static int64_t proc_cpu_ns(long pid)
{
	char path[64];
	int64_t sum = 0;
	struct dirent *de;
	DIR *d;

	if (snprintf(path, sizeof(path), "/proc/%ld/task", pid) >= (int)sizeof(path) ||
	    (d = opendir(path)) == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "/proc/%ld/task/%.16s/schedstat", pid,
			     de->d_name) >= (int)sizeof(path) ||
		    (f = fopen(path, "r")) == NULL) {
			continue; /* gone since readdir */
		}
		int got = fscanf(f, "%llu", &ns);
		if (fclose(f) == 0 && got == 1) {
			sum += (int64_t)ns;
		}
	}
	if (closedir(d) != 0) {
		return -1;
	}
	return sum;
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

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Presentation form "a.b.example." (trailing dot optional, "." the root) into wire form.
 * Plain labels only: no escapes. */
static bool name_to_wire(const char *s, size_t slen, uint8_t *out, size_t *out_len)
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

static bool parse_type(const char *s, uint16_t *type)
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

/* ---------------------------------------------------------------------------------------- */
/* options */

static int parse_opts(int argc, char **argv, struct opts *o)
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

/* ---------------------------------------------------------------------------------------- */
/* the query list */

static bool qlist_grow(struct qlist *ql, size_t more)
{
	if (ql->n == ql->cap) {
		size_t cap = ql->cap ? 2 * ql->cap : 1024;
		uint32_t *off = realloc(ql->off, cap * sizeof(*off));
		if (off == NULL) {
			return false;
		}
		ql->off = off;
		uint16_t *len = realloc(ql->len, cap * sizeof(*len));
		if (len == NULL) {
			return false;
		}
		ql->len = len;
		ql->cap = cap;
	}
	if (ql->pool_len + more > ql->pool_cap) {
		size_t cap = ql->pool_cap ? 2 * ql->pool_cap : 65536;
		while (cap < ql->pool_len + more) {
			cap *= 2;
		}
		if (cap > UINT32_MAX) {
			return false;
		}
		uint8_t *pool = realloc(ql->pool, cap);
		if (pool == NULL) {
			return false;
		}
		ql->pool = pool;
		ql->pool_cap = cap;
	}
	return true;
}

static bool qlist_add(struct qlist *ql, const char *name, size_t name_len, uint16_t type)
{
	uint8_t wire[WIRE_NAME_MAX];
	size_t wlen;

	if (!name_to_wire(name, name_len, wire, &wlen) || !qlist_grow(ql, wlen + 4)) {
		return false;
	}
	uint8_t *q = ql->pool + ql->pool_len;
	memcpy(q, wire, wlen);
	wire_write_u16(q + wlen, type);
	wire_write_u16(q + wlen + 2, WIRE_CLASS_IN);
	ql->off[ql->n] = (uint32_t)ql->pool_len;
	ql->len[ql->n] = (uint16_t)(wlen + 4);
	ql->pool_len += wlen + 4;
	if (wlen + 4 > ql->longest) {
		ql->longest = wlen + 4;
	}
	ql->n++;
	return true;
}

/* dnsperf's data file: "name type" per line; blank lines and ';' comments skipped. */
static int qlist_load(struct qlist *ql, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;
	int ret = -1;

	if (f == NULL) {
		fprintf(stderr, "curveperf: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name, *type, *save = NULL;
		uint16_t t;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "curveperf: %s:%u: line too long\n", path, lineno);
			goto out;
		}
		name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL || name[0] == ';') {
			continue;
		}
		type = strtok_r(NULL, " \t\r\n", &save);
		if (type == NULL || !parse_type(type, &t) ||
		    !qlist_add(ql, name, strlen(name), t)) {
			fprintf(stderr, "curveperf: %s:%u: bad query (want \"name type\")\n", path,
				lineno);
			goto out;
		}
		if (ql->n > QUERIES_MAX) {
			fprintf(stderr, "curveperf: %s: more than %d queries\n", path, QUERIES_MAX);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "curveperf: %s: read error\n", path);
		goto out;
	}
	if (ql->n == 0) {
		fprintf(stderr, "curveperf: %s: no queries\n", path);
		goto out;
	}
	ret = 0;
out:
	if (fclose(f) != 0 && ret == 0) {
		ret = -1;
	}
	return ret;
}

/* The wire bytes a TXT query of a <inner_len>-byte message takes: header, box labels, the
 * key label, the zone, type and class. */
static size_t txt_query_len(size_t inner_len, size_t zone_len, size_t *name_len)
{
	size_t chars = CURVE_BASE32_LEN(CURVE_HALF_NONCE + CURVE_MAC_LEN + inner_len);
	size_t labels = (chars + CURVE_TXT_LABEL_MAX - 1) / CURVE_TXT_LABEL_MAX;

	*name_len = chars + labels + 1 + CURVE_TXT_KEY_LABEL + zone_len;
	return WIRE_HDR_LEN + *name_len + 4;
}

/* Every query must fit its frame: checked once here, so building one cannot fail. */
static bool qlist_fits(const struct run *r)
{
	size_t inner = WIRE_HDR_LEN + r->ql.longest, name_len;

	switch (r->o.fmt) {
	case FMT_TXT:
		if (txt_query_len(inner, r->o.zone_len, &name_len) > PKT_MAX ||
		    name_len > WIRE_NAME_MAX) {
			fprintf(stderr,
				"curveperf: the longest query (%zu bytes) does not fit a TXT "
				"query's name under this zone\n",
				inner);
			return false;
		}
		return true;
	case FMT_STREAMLINED:
		return CURVE_SQ_MIN + inner <= PKT_MAX;
	case FMT_PLAIN:
		return inner <= PKT_MAX;
	}
	return false;
}

/* ---------------------------------------------------------------------------------------- */
/* client keys */

struct prep_job {
	struct keyset *ks;
	const uint8_t *server_pk;
	uint64_t first, end, done;
	uint64_t deadline_ns;
	int err;
};

static void *prep_thread(void *arg)
{
	struct prep_job *j = arg;
	uint8_t sk[CURVE_KEY_LEN];

	for (uint64_t i = j->first; i < j->end; i++) {
		/* The clock every 256 keys (~15 ms): the budget is coarse anyway. */
		if ((i - j->first) % 256 == 0 && now_ns() >= j->deadline_ns) {
			break;
		}
		if (crypto_box_keypair(j->ks->pk[i], sk) != 0 ||
		    crypto_box_beforenm(j->ks->shared[i], j->server_pk, sk) != 0) {
			j->err = 1;
			break;
		}
		j->done++;
	}
	sodium_memzero(sk, sizeof(sk));
	return NULL;
}

/* How many keys this run can use: each query takes the next key, so no more than it sends. */
static uint64_t keys_wanted(const struct opts *o)
{
	uint64_t want = o->keys;

	if (o->max_queries > 0 && o->max_queries < want) {
		want = o->max_queries;
	}
	if (o->rate > 0) {
		uint64_t can = (uint64_t)((double)o->rate * o->seconds) + 1;
		if (can < want) {
			want = can;
		}
	}
	return want;
}

/* keys_wanted(), within KEYS_PREP_MAX. */
static uint64_t keys_needed(const struct opts *o)
{
	uint64_t want = keys_wanted(o);

	return want < KEYS_PREP_MAX ? want : KEYS_PREP_MAX;
}

/* Make the keys on -j threads within --prep-seconds; a thread that ran out of time leaves
 * a gap, closed by moving the later keys down. */
static int keyset_prepare(struct keyset *ks, const struct opts *o)
{
	struct prep_job jobs[THREADS_MAX];
	pthread_t tid[THREADS_MAX];
	uint64_t need = keys_needed(o), t0 = now_ns(), n = 0;
	unsigned threads = need < o->threads ? (unsigned)need : o->threads;

	ks->pk = calloc(need, CURVE_KEY_LEN);
	ks->shared = calloc(need, CURVE_KEY_LEN);
	if (ks->pk == NULL || ks->shared == NULL) {
		fprintf(stderr, "curveperf: no memory for %" PRIu64 " keys\n", need);
		return -1;
	}
	for (unsigned i = 0; i < threads; i++) {
		jobs[i] = (struct prep_job){
			.ks = ks,
			.server_pk = o->server_pk,
			.first = need * i / threads,
			.end = need * (i + 1) / threads,
			.deadline_ns = t0 + (uint64_t)(o->prep_seconds * (double)NS),
		};
		if (pthread_create(&tid[i], NULL, prep_thread, &jobs[i]) != 0) {
			fprintf(stderr, "curveperf: cannot start a key thread\n");
			for (unsigned k = 0; k < i; k++) {
				(void)pthread_join(tid[k], NULL);
			}
			return -1;
		}
	}
	int err = 0;
	for (unsigned i = 0; i < threads; i++) {
		if (pthread_join(tid[i], NULL) != 0) {
			err = 1;
		}
		err |= jobs[i].err;
	}
	if (err) {
		fprintf(stderr, "curveperf: making client keys failed (is -k a valid key?)\n");
		return -1;
	}
	for (unsigned i = 0; i < threads; i++) {
		if (n != jobs[i].first) {
			memmove(ks->pk[n], ks->pk[jobs[i].first], jobs[i].done * CURVE_KEY_LEN);
			memmove(ks->shared[n], ks->shared[jobs[i].first],
				jobs[i].done * CURVE_KEY_LEN);
		}
		n += jobs[i].done;
	}
	if (n == 0) {
		fprintf(stderr, "curveperf: no client key made within %.1f s\n", o->prep_seconds);
		return -1;
	}
	ks->n = n;
	ks->capped = n < need || need < keys_wanted(o);
	ks->prep_s = (double)(now_ns() - t0) / (double)NS;
	return 0;
}

static void keyset_free(struct keyset *ks)
{
	if (ks->shared != NULL) {
		sodium_memzero(ks->shared, ks->n * CURVE_KEY_LEN);
	}
	free(ks->shared);
	free(ks->pk);
}

/* ---------------------------------------------------------------------------------------- */
/* building queries */

/* The inner message: a header with <id> and no flags (an authoritative query), one question. */
static size_t inner_build(const struct run *r, uint32_t query, uint16_t id, uint8_t *out)
{
	const uint16_t qlen = r->ql.len[query];

	memset(out, 0, WIRE_HDR_LEN);
	wire_set_id(out, id);
	wire_write_u16(out + WIRE_OFF_QDCOUNT, 1);
	memcpy(out + WIRE_HDR_LEN, r->ql.pool + r->ql.off[query], qlen);
	return WIRE_HDR_LEN + qlen;
}

/* A failure that the checks before the timed phase rule out: a bug, so stop. */
static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "curveperf: internal error: %s\n", what);
		exit(1);
	}
}

/* "x1a" and the key, then the zone, then IN TXT, from <p> on; returns the end. */
static size_t txt_tail(const struct run *r, const uint8_t *pk, uint8_t *pkt, size_t p)
{
	/* 52 characters by the length, the last one for the key's top bit, always 0: dropped. */
	char key[CURVE_BASE32_LEN(CURVE_KEY_LEN)];

	must(curve_base32_encode(pk, CURVE_KEY_LEN, key, sizeof(key)) == (int)sizeof(key) &&
		     key[CURVE_BASE32_KEY_LEN] == '0',
	     "key encoding");
	pkt[p++] = CURVE_TXT_KEY_LABEL;
	memcpy(pkt + p, TXT_KEY_PREFIX, 3);
	memcpy(pkt + p + 3, key, CURVE_BASE32_KEY_LEN);
	p += CURVE_TXT_KEY_LABEL;
	memcpy(pkt + p, r->o.zone, r->o.zone_len);
	p += r->o.zone_len;
	wire_write_u16(pkt + p, WIRE_TYPE_TXT);
	wire_write_u16(pkt + p + 2, WIRE_CLASS_IN);
	return p + 4;
}

/* Write slot <si>'s next query into its packet. Sizes were checked by qlist_fits(). */
static void query_build(struct run *r, uint32_t si)
{
	struct slot *s = &r->slots[si];
	uint8_t inner[PKT_MAX], boxed[PKT_MAX];
	char chars[2 * PKT_MAX];
	size_t ilen, blen = 0;

	s->gen++;
	s->key = (uint32_t)(r->next_key++ % r->ks.n);
	s->query = (uint32_t)(r->next_query++ % r->ql.n);
	s->inner_id = (uint16_t)rand_next(&r->rnd);
	s->id = (uint16_t)rand_next(&r->rnd);
	memcpy(s->nonce + CN_OFF_PREFIX, r->nonce_prefix, 4);
	put_u32(s->nonce + CN_OFF_SLOT, si);
	put_u32(s->nonce + CN_OFF_GEN, s->gen);
	if (r->o.fmt == FMT_PLAIN) {
		/* No nonce to find the slot by: the ID is the slot. */
		s->inner_id = s->id = (uint16_t)si;
		s->len = (uint16_t)inner_build(r, s->query, s->id, s->pkt);
		return;
	}
	ilen = inner_build(r, s->query, s->inner_id, inner);
	const uint8_t *shared = r->ks.shared[s->key];
	if (r->o.fmt == FMT_STREAMLINED) {
		memcpy(s->pkt + CURVE_SQ_OFF_MAGIC, query_magic, CURVE_MAGIC_LEN);
		memcpy(s->pkt + CURVE_SQ_OFF_PK, r->ks.pk[s->key], CURVE_KEY_LEN);
		memcpy(s->pkt + CURVE_SQ_OFF_NONCE, s->nonce, CURVE_HALF_NONCE);
		must(curve_box_seal(s->pkt + CURVE_SQ_OFF_BOX, PKT_MAX - CURVE_SQ_OFF_BOX, &blen,
				    inner, ilen, s->nonce, NULL, shared) == DR_EOK,
		     "seal");
		s->len = (uint16_t)(CURVE_SQ_OFF_BOX + blen);
		return;
	}
	/* TXT: base32(client nonce || box) in labels of 50, the key label, the zone. */
	memcpy(boxed, s->nonce, CURVE_HALF_NONCE);
	must(curve_box_seal(boxed + CURVE_HALF_NONCE, PKT_MAX - CURVE_HALF_NONCE, &blen, inner,
			    ilen, s->nonce, NULL, shared) == DR_EOK,
	     "seal");
	int nchars = curve_base32_encode(boxed, CURVE_HALF_NONCE + blen, chars, sizeof(chars));
	must(nchars > 0, "box encoding");
	memset(s->pkt, 0, WIRE_HDR_LEN);
	wire_set_id(s->pkt, s->id);
	wire_write_u16(s->pkt + WIRE_OFF_QDCOUNT, 1);
	size_t p = WIRE_HDR_LEN;
	for (int done = 0; done < nchars;) {
		int l = nchars - done < CURVE_TXT_LABEL_MAX ? nchars - done : CURVE_TXT_LABEL_MAX;
		s->pkt[p++] = (uint8_t)l;
		memcpy(s->pkt + p, chars + done, (size_t)l);
		p += (size_t)l;
		done += l;
	}
	s->len = (uint16_t)txt_tail(r, r->ks.pk[s->key], s->pkt, p);
}

/* ---------------------------------------------------------------------------------------- */
/* verifying answers */

static unsigned hist_index(uint64_t ns)
{
	if (ns < 1000000) {
		return (unsigned)(ns / 100);
	}
	if (ns < 10000000) {
		return 10000 + (unsigned)((ns - 1000000) / 1000);
	}
	if (ns < 100000000) {
		return 19000 + (unsigned)((ns - 10000000) / 10000);
	}
	if (ns < 10000000000ULL) {
		return 28000 + (unsigned)((ns - 100000000) / 1000000);
	}
	return HIST_N - 1;
}

static uint64_t hist_floor_ns(unsigned i)
{
	if (i < 10000) {
		return (uint64_t)i * 100;
	}
	if (i < 19000) {
		return 1000000 + (uint64_t)(i - 10000) * 1000;
	}
	if (i < 28000) {
		return 10000000 + (uint64_t)(i - 19000) * 10000;
	}
	return 100000000 + (uint64_t)(i - 28000) * 1000000;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns) {
		h->max_ns = ns;
	}
}

/* The latency below which a fraction <p> of answers came, in us (a bucket's lower end). */
static double hist_pct_us(const struct hist *h, double p)
{
	uint64_t rank = (uint64_t)((double)h->n * p), seen = 0;

	if (h->n == 0) {
		return 0.0;
	}
	if (rank >= h->n) {
		rank = h->n - 1;
	}
	for (unsigned i = 0; i < HIST_N; i++) {
		seen += h->count[i];
		if (seen > rank) {
			return (double)hist_floor_ns(i) / 1000.0;
		}
	}
	return (double)h->max_ns / 1000.0;
}

static void slot_release(struct run *r, uint32_t si)
{
	r->slots[si].busy = false;
	r->free[r->nfree++] = si;
}

/* The slot an echoed client nonce names, or -1 (counted: late, or bad as a stray). */
static int64_t slot_of_nonce(struct run *r, const uint8_t *nonce)
{
	uint32_t si = get_u32(nonce + CN_OFF_SLOT);

	if (memcmp(nonce + CN_OFF_PREFIX, r->nonce_prefix, 4) != 0 || si >= r->nslots) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	const struct slot *s = &r->slots[si];
	if (!s->busy || memcmp(s->nonce, nonce, CURVE_HALF_NONCE) != 0) {
		r->st.late++; /* ours, but timed out or answered already */
		return -1;
	}
	return si;
}

/* The inner answer <msg> (<len> bytes) to slot <s>: its ID, QR, and the question asked. */
static enum verdict inner_check(struct run *r, const struct slot *s, const uint8_t *msg, size_t len)
{
	const uint16_t qlen = r->ql.len[s->query];

	if (len < WIRE_HDR_LEN || wire_id(msg) != s->inner_id || !wire_is_response(msg) ||
	    wire_opcode(msg) != WIRE_OPCODE_QUERY || wire_read_u16(msg + WIRE_OFF_QDCOUNT) != 1 ||
	    len - WIRE_HDR_LEN < qlen ||
	    memcmp(msg + WIRE_HDR_LEN, r->ql.pool + r->ql.off[s->query], qlen) != 0) {
		return BAD_INNER;
	}
	r->st.rcode[wire_rcode(msg)]++;
	if (msg[WIRE_OFF_FLAGS1] & WIRE_FLAG1_TC) {
		r->st.tc++;
	}
	return ANSWER_OK;
}

/* Open the box of slot <s>'s answer, record the server nonce, check the text inside. */
static enum verdict box_check(struct run *r, const struct slot *s, const uint8_t *snonce,
			      const uint8_t *box, size_t box_len)
{
	size_t len;

	if (curve_box_open(r->text, sizeof(r->text), &len, box, box_len, s->nonce, snonce,
			   r->ks.shared[s->key]) != DR_EOK) {
		return BAD_BOX;
	}
	if (r->nonces != NULL) {
		if (fwrite(snonce, CURVE_HALF_NONCE, 1, r->nonces) == 1) {
			r->st.nonces++;
		} else {
			r->st.nonce_errors++;
		}
	}
	return inner_check(r, s, r->text, len);
}

/* A streamlined answer: magic, client nonce, server nonce, box. */
static int64_t check_streamlined(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	if (len < CURVE_SR_OVERHEAD || memcmp(pkt, response_magic, CURVE_MAGIC_LEN) != 0) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	int64_t si = slot_of_nonce(r, pkt + CURVE_SR_OFF_CNONCE);
	if (si >= 0) {
		*v = box_check(r, &r->slots[si], pkt + CURVE_SR_OFF_SNONCE, pkt + CURVE_SR_OFF_BOX,
			       len - CURVE_SR_OFF_BOX);
	}
	return si;
}

/* The header and answer record of a TXT answer to <s>: ID, flags 0x84 0x00 (QR, AA: dq takes
 * nothing else), counts 1 1 0 0, the question echoed, then c00c TXT IN whose RDATA ends the
 * packet. */
static bool txt_frame_ok(const struct slot *s, const uint8_t *pkt, size_t len)
{
	const size_t qlen = s->len - WIRE_HDR_LEN, p = s->len;

	return len >= p + TXT_ANS_FIXED && wire_id(pkt) == s->id &&
	       pkt[WIRE_OFF_FLAGS1] == (WIRE_FLAG1_QR | WIRE_FLAG1_AA) &&
	       pkt[WIRE_OFF_FLAGS2] == 0 && wire_read_u16(pkt + WIRE_OFF_QDCOUNT) == 1 &&
	       wire_read_u16(pkt + WIRE_OFF_ANCOUNT) == 1 &&
	       wire_read_u16(pkt + WIRE_OFF_NSCOUNT) == 0 &&
	       wire_read_u16(pkt + WIRE_OFF_ARCOUNT) == 0 &&
	       memcmp(pkt + WIRE_HDR_LEN, s->pkt + WIRE_HDR_LEN, qlen) == 0 &&
	       wire_read_u16(pkt + p + TXT_ANS_NAME) == (0xc000 | WIRE_HDR_LEN) &&
	       wire_read_u16(pkt + p + TXT_ANS_TYPE) == WIRE_TYPE_TXT &&
	       wire_read_u16(pkt + p + TXT_ANS_CLASS) == WIRE_CLASS_IN &&
	       len - p - TXT_ANS_FIXED == wire_read_u16(pkt + p + TXT_ANS_RDLEN);
}

/* A TXT answer: the frame, then the RDATA's character-strings joined, server nonce || box. */
static int64_t check_txt(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	uint8_t nonce[CURVE_HALF_NONCE + 1];
	size_t n = 0;

	/* The client nonce opens the echoed name: its first label has 50 characters. */
	if (len < WIRE_HDR_LEN + 1 + TXT_NONCE_CHARS || pkt[WIRE_HDR_LEN] < TXT_NONCE_CHARS ||
	    curve_base32_decode((const char *)pkt + WIRE_HDR_LEN + 1, TXT_NONCE_CHARS,
				CURVE_BASE32_KEEP, nonce, sizeof(nonce)) != CURVE_HALF_NONCE + 1) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	int64_t si = slot_of_nonce(r, nonce);
	if (si < 0) {
		return -1;
	}
	const struct slot *s = &r->slots[si];
	if (!txt_frame_ok(s, pkt, len)) {
		return si; /* *v stays BAD_FRAME */
	}
	for (size_t p = s->len + TXT_ANS_FIXED; p < len;) {
		size_t l = pkt[p++];
		if (l > len - p || l > sizeof(r->payload) - n) {
			return si;
		}
		memcpy(r->payload + n, pkt + p, l);
		n += l;
		p += l;
	}
	if (n >= CURVE_HALF_NONCE + CURVE_MAC_LEN) {
		*v = box_check(r, s, r->payload, r->payload + CURVE_HALF_NONCE,
			       n - CURVE_HALF_NONCE);
	}
	return si;
}

/* A plain answer: the ID is the slot. */
static int64_t check_plain(struct run *r, const uint8_t *pkt, size_t len, enum verdict *v)
{
	if (len < WIRE_HDR_LEN || wire_id(pkt) >= r->nslots) {
		r->st.bad_why[BAD_STRAY]++;
		return -1;
	}
	uint32_t si = wire_id(pkt);
	if (!r->slots[si].busy) {
		r->st.late++;
		return -1;
	}
	*v = inner_check(r, &r->slots[si], pkt, len);
	return si;
}

/* Check the datagram <pkt> and end the query it answers. <pkt> is untrusted: every byte read
 * is inside <len>. A datagram longer than the buffer (<truncated>) is checked as far as it
 * goes, so it still ends its query, as bad. */
static void answer_handle(struct run *r, const uint8_t *pkt, size_t len, bool truncated,
			  uint64_t now)
{
	enum verdict v = BAD_FRAME;
	int64_t si;

	switch (r->o.fmt) {
	case FMT_TXT:
		si = check_txt(r, pkt, len, &v);
		break;
	case FMT_STREAMLINED:
		si = check_streamlined(r, pkt, len, &v);
		break;
	default:
		si = check_plain(r, pkt, len, &v);
		break;
	}
	if (si < 0) {
		return;
	}
	if (truncated) {
		v = BAD_FRAME;
	}
	/* A matched answer ends its query, good or bad: the server has spoken. */
	r->st.answered++;
	if (v == ANSWER_OK) {
		r->st.ok++;
		hist_add(r->h, now - r->slots[si].sent_ns);
		r->t_last_answer = now;
	} else {
		r->st.bad_why[v]++;
	}
	slot_release(r, (uint32_t)si);
}

/* ---------------------------------------------------------------------------------------- */
/* the loop */

static void recv_all(struct run *r)
{
	for (int round = 0; round < RX_ROUNDS; round++) {
		for (unsigned i = 0; i < BATCH; i++) {
			r->rx_iov[i] = (struct iovec){.iov_base = r->rx_buf[i], .iov_len = RX_MAX};
			r->rx[i].msg_hdr =
				(struct msghdr){.msg_iov = &r->rx_iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(r->fd, r->rx, BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == ECONNREFUSED) {
				r->st.refused++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				r->st.recv_errors++;
			}
			return;
		}
		uint64_t now = now_ns();
		for (int i = 0; i < n; i++) {
			answer_handle(r, r->rx_buf[i], r->rx[i].msg_len,
				      (r->rx[i].msg_hdr.msg_flags & MSG_TRUNC) != 0, now);
		}
		if (n < BATCH) {
			return;
		}
	}
}

/* Build and send up to <want> queries in one sendmmsg. Returns how many left. */
static unsigned send_batch(struct run *r, unsigned want)
{
	unsigned n = 0;
	int sent;

	while (n < want && n < BATCH && r->nfree > 0) {
		uint32_t si = r->free[--r->nfree];
		query_build(r, si);
		r->tx_slot[n] = si;
		r->tx_iov[n] =
			(struct iovec){.iov_base = r->slots[si].pkt, .iov_len = r->slots[si].len};
		r->tx[n].msg_hdr = (struct msghdr){.msg_iov = &r->tx_iov[n], .msg_iovlen = 1};
		n++;
	}
	if (n == 0) {
		return 0;
	}
	uint64_t now = now_ns();
	do {
		sent = sendmmsg(r->fd, r->tx, n, 0);
	} while (sent == -1 && errno == EINTR);
	if (sent == -1) {
		if (errno == ECONNREFUSED) {
			r->st.refused++;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			r->st.send_errors++;
		}
		sent = 0;
	}
	if (r->t_first_send == 0 && sent > 0) {
		r->t_first_send = now;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t si = r->tx_slot[i];
		if ((int)i < sent) {
			r->slots[si].busy = true;
			r->slots[si].sent_ns = now;
		} else {
			r->free[r->nfree++] = si; /* its nonce is spent: the next use bumps gen */
		}
	}
	r->st.sent += (uint64_t)sent;
	return (unsigned)sent;
}

static void timeouts_scan(struct run *r, uint64_t now)
{
	const uint64_t limit = (uint64_t)r->o.timeout_ms * 1000000ULL;

	for (uint32_t si = 0; si < r->nslots; si++) {
		if (r->slots[si].busy && now - r->slots[si].sent_ns >= limit) {
			r->st.lost++;
			slot_release(r, si);
		}
	}
}

static void wait_readable(int fd, uint64_t wait_ns)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct timespec ts = {.tv_sec = (time_t)(wait_ns / NS), .tv_nsec = (long)(wait_ns % NS)};

	if (ppoll(&pfd, 1, &ts, NULL) == -1 && errno != EINTR) {
		perror("curveperf: ppoll");
		exit(1);
	}
}

/* Closed loop: fill every free slot (up to <cap> queries). */
static void send_closed(struct run *r, uint64_t cap)
{
	while (r->nfree > 0 && cap > 0) {
		unsigned got = send_batch(r, cap < BATCH ? (unsigned)cap : BATCH);
		if (got == 0) {
			return;
		}
		cap -= got;
	}
}

/* Fixed rate: send the queries due by <now> (query k is due k / rate seconds after <t0>);
 * those due while every slot is taken are skipped, not sent late in a burst, so the rate
 * stays fixed. Returns how long until the next one is due. */
static uint64_t send_fixed(struct run *r, uint64_t t0, uint64_t now, uint64_t cap,
			   uint64_t *scheduled)
{
	const double rate = (double)r->o.rate;
	uint64_t due = (uint64_t)((double)(now - t0) * rate / (double)NS) + 1;

	while (*scheduled < due && cap > 0) {
		uint64_t want = due - *scheduled < cap ? due - *scheduled : cap;
		if (r->nfree == 0) {
			r->st.skipped += want;
			*scheduled += want;
			break;
		}
		unsigned got = send_batch(r, want < BATCH ? (unsigned)want : BATCH);
		if (got == 0) {
			break;
		}
		*scheduled += got;
		cap -= got;
	}
	uint64_t next = t0 + (uint64_t)((double)*scheduled * (double)NS / rate);
	now = now_ns();
	return next > now ? next - now : 0;
}

/* Send for -l seconds (or -n queries), closed loop or at the fixed rate, then wait for the
 * outstanding answers up to the timeout. Returns the elapsed ns. */
static uint64_t load_run(struct run *r)
{
	const uint64_t t0 = now_ns(), end = t0 + (uint64_t)(r->o.seconds * (double)NS);
	uint64_t scheduled = 0, last_scan = t0, now = t0;
	bool sending = true;

	while (sending || r->nfree < r->nslots) {
		recv_all(r);
		now = now_ns();
		if (now - last_scan >= SCAN_NS) {
			timeouts_scan(r, now);
			last_scan = now;
		}
		if (sending &&
		    (now >= end || (r->o.max_queries && r->st.sent >= r->o.max_queries))) {
			sending = false;
		}
		/* Closed loop: every free slot is filled, so wait for answers (or the scan). */
		uint64_t wait = SCAN_NS;
		if (sending) {
			uint64_t cap =
				r->o.max_queries ? r->o.max_queries - r->st.sent : UINT64_MAX;
			if (r->o.rate == 0) {
				send_closed(r, cap);
			} else {
				wait = send_fixed(r, t0, now, cap, &scheduled);
			}
		}
		if (wait > SCAN_NS) {
			wait = SCAN_NS;
		}
		if (wait > 0) {
			wait_readable(r->fd, wait);
		}
	}
	return now - t0;
}

/* ---------------------------------------------------------------------------------------- */
/* set-up and report */

static int socket_open(struct run *r)
{
	int fd = socket(r->o.server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int size = 4 << 20;

	if (fd == -1) {
		perror("curveperf: socket");
		return -1;
	}
	/* Larger buffers than the default absorb a closed loop's bursts; the kernel may cap them
	 * at net.core.[rw]mem_max, which only costs drops counted as lost. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) == -1) {
		perror("curveperf: setsockopt (continuing)");
	}
	if (connect(fd, (const struct sockaddr *)&r->o.server, r->o.server_len) == -1) {
		perror("curveperf: connect");
		close(fd);
		return -1;
	}
	r->fd = fd;
	return 0;
}

static int slots_init(struct run *r)
{
	r->nslots = r->o.outstanding;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	r->free = calloc(r->nslots, sizeof(*r->free));
	r->h = calloc(1, sizeof(*r->h));
	if (r->slots == NULL || r->free == NULL || r->h == NULL) {
		fprintf(stderr, "curveperf: no memory\n");
		return -1;
	}
	/* Free list in reverse, so slot 0 goes first. */
	for (uint32_t i = 0; i < r->nslots; i++) {
		r->free[i] = r->nslots - 1 - i;
	}
	r->nfree = r->nslots;
	return 0;
}

static void report(const struct run *r, uint64_t elapsed_ns, double client_cpu, int64_t server_ns)
{
	const struct stats *st = &r->st;
	double elapsed = (double)elapsed_ns / (double)NS;
	double active = r->t_last_answer > r->t_first_send
				? (double)(r->t_last_answer - r->t_first_send) / (double)NS
				: elapsed;
	double qps = active > 0 ? (double)st->ok / active : 0.0;
	uint64_t used = st->sent < r->ks.n ? st->sent : r->ks.n;
	const struct hist *h = r->h;
	uint64_t bad = 0;
	bool first = true;

	for (int i = BAD_STRAY; i < BAD_N; i++) {
		bad += st->bad_why[i];
	}

	printf("{\"server\": \"%s\", \"format\": \"%s\", \"mode\": \"%s\", \"outstanding\": %u, "
	       "\"rate\": %" PRIu64 ", \"keys\": %" PRIu64 ", \"keys_prepared\": %" PRIu64
	       ", \"keys_used\": %" PRIu64 ", \"keys_capped\": %s, \"prep_seconds\": %.3f, "
	       "\"queries\": %zu, ",
	       r->o.server_text, fmt_names[r->o.fmt], r->o.rate ? "fixed" : "closed",
	       r->o.outstanding, r->o.rate, r->o.keys, r->ks.n, used,
	       r->ks.capped ? "true" : "false", r->ks.prep_s, r->ql.n);
	printf("\"sent\": %" PRIu64 ", \"answered\": %" PRIu64 ", \"ok\": %" PRIu64
	       ", \"bad\": %" PRIu64 ", \"late\": %" PRIu64 ", \"lost\": %" PRIu64
	       ", \"skipped\": %" PRIu64 ", \"send_errors\": %" PRIu64 ", \"refused\": %" PRIu64
	       ", \"recv_errors\": %" PRIu64 ", \"tc\": %" PRIu64 ", \"bad_why\": {",
	       st->sent, st->answered, st->ok, bad, st->late, st->lost, st->skipped,
	       st->send_errors, st->refused, st->recv_errors, st->tc);
	for (int i = BAD_STRAY; i < BAD_N; i++) {
		printf("%s\"%s\": %" PRIu64, i == BAD_STRAY ? "" : ", ", bad_names[i],
		       st->bad_why[i]);
	}
	printf("}, \"rcodes\": {");
	for (int i = 0; i < 16; i++) {
		if (st->rcode[i] > 0) {
			printf("%s\"%s\": %" PRIu64, first ? "" : ", ", rcode_names[i],
			       st->rcode[i]);
			first = false;
		}
	}
	printf("}, \"elapsed\": %.3f, \"qps\": %.1f, \"latency_us\": {\"avg\": %.1f, \"p50\": %.1f, "
	       "\"p90\": %.1f, \"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f}, "
	       "\"client_cpu_s\": %.3f, \"nonces_written\": %" PRIu64
	       ", \"nonce_errors\": %" PRIu64,
	       elapsed, qps, h->n ? (double)h->sum_ns / (double)h->n / 1000.0 : 0.0,
	       hist_pct_us(h, 0.50), hist_pct_us(h, 0.90), hist_pct_us(h, 0.99),
	       hist_pct_us(h, 0.999), (double)h->max_ns / 1000.0, client_cpu, st->nonces,
	       st->nonce_errors);
	if (server_ns >= 0) {
		printf(", \"server_cpu_s\": %.4f, \"server_us_per_query\": %.3f",
		       (double)server_ns / 1e9,
		       st->ok ? (double)server_ns / 1000.0 / (double)st->ok : 0.0);
	}
	printf(", \"warm_ok\": %" PRIu64 "}\n", r->warm_ok);
	fprintf(stderr,
		"curveperf: %s %s, %" PRIu64 " keys (%" PRIu64 " prepared%s, %" PRIu64
		" used): sent %" PRIu64 ", ok %" PRIu64 ", bad %" PRIu64 ", lost %" PRIu64
		" in %.2f s = %.0f q/s; latency p50 %.1f us, p99 %.1f us\n",
		fmt_names[r->o.fmt], r->o.rate ? "fixed rate" : "closed loop", r->o.keys, r->ks.n,
		r->ks.capped ? ", capped" : "", used, st->sent, st->ok, bad, st->lost, elapsed, qps,
		hist_pct_us(h, 0.50), hist_pct_us(h, 0.99));
}

/* One query per key, closed loop, before the clock starts: the server then holds every key
 * it can cache (K = 1 and 10,000: warm keys). Counted apart, then the counters start over;
 * the server nonces go to --nonces all the same. */
static void warm_up(struct run *r)
{
	const struct opts saved = r->o;

	r->o.rate = 0;
	r->o.max_queries = r->ks.n;
	r->o.seconds = SECONDS_MAX;
	(void)load_run(r);
	r->warm_ok = r->st.ok;
	r->o = saved;
	const uint64_t nonces = r->st.nonces, nonce_errors = r->st.nonce_errors;
	memset(&r->st, 0, sizeof(r->st));
	r->st.nonces = nonces;
	r->st.nonce_errors = nonce_errors;
	memset(r->h, 0, sizeof(*r->h));
	r->t_first_send = r->t_last_answer = 0;
	r->next_key = 0;
}

/* The timed phase and the report; the exit status. */
static int measure(struct run *r)
{
	const double c0 = cpu_s();
	const int64_t s0 = r->o.pid ? proc_cpu_ns(r->o.pid) : -1;
	const uint64_t elapsed = load_run(r);
	const int64_t s1 = r->o.pid ? proc_cpu_ns(r->o.pid) : -1;
	const double c1 = cpu_s();

	if (r->o.pid && (s0 < 0 || s1 < 0)) {
		fprintf(stderr, "curveperf: --pid %ld: no CPU time to read\n", r->o.pid);
	}
	if (r->nonces != NULL) {
		if (fclose(r->nonces) != 0) {
			r->st.nonce_errors++;
		}
		r->nonces = NULL;
	}
	report(r, elapsed, c1 - c0, s0 >= 0 && s1 >= 0 ? s1 - s0 : -1);
	return r->st.nonce_errors > 0 ? 3 : 0;
}

static int keys_setup(struct run *r)
{
	if (r->o.fmt == FMT_PLAIN) {
		r->ks.n = 1; /* no keys: the round robin still needs a modulus */
		r->ks.pk = calloc(1, CURVE_KEY_LEN);
		r->ks.shared = calloc(1, CURVE_KEY_LEN);
		return r->ks.pk != NULL && r->ks.shared != NULL ? 0 : -1;
	}
	if (keyset_prepare(&r->ks, &r->o) != 0) {
		return -1;
	}
	if (r->ks.capped) {
		fprintf(stderr,
			"curveperf: only %" PRIu64 " of the %" PRIu64
			" keys the run could use made (--prep-seconds %.1f, at most %llu); it "
			"cycles over them\n",
			r->ks.n, keys_wanted(&r->o), r->o.prep_seconds, KEYS_PREP_MAX);
	}
	return 0;
}

static int nonces_open(struct run *r)
{
	if (r->o.nonces_path == NULL) {
		return 0;
	}
	r->nonces = fopen(r->o.nonces_path, "ab");
	if (r->nonces == NULL) {
		fprintf(stderr, "curveperf: %s: %s\n", r->o.nonces_path, strerror(errno));
		return -1;
	}
	if (setvbuf(r->nonces, NULL, _IOFBF, 1 << 20) != 0) {
		fprintf(stderr, "curveperf: setvbuf failed (continuing)\n");
	}
	return 0;
}

/* Keys on every CPU, the load on <cpu> alone (-1: leave it): a benchmark keeps the generator
 * off the server's CPU. */
static int cpu_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		return 0;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1) {
		fprintf(stderr, "curveperf: --cpu %d: %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct run run; /* ~300 KB of batch buffers: not on the stack */
	struct run *r = &run;
	int ret = 1;

	r->fd = -1;
	int rc = parse_opts(argc, argv, &r->o);
	if (rc != 0) {
		return rc;
	}
	if (curve_box_init() != DR_EOK || rand_seed(&r->rnd) != DR_EOK) {
		fprintf(stderr, "curveperf: libsodium or the random pool failed\n");
		return 1;
	}
	randombytes_buf(r->nonce_prefix, sizeof(r->nonce_prefix));
	/* Fixed-rate sends wake on a timer: 1 us of slack instead of the default 50. */
	if (prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) == -1) {
		perror("curveperf: PR_SET_TIMERSLACK (continuing)");
	}
	if (r->o.datafile != NULL) {
		if (qlist_load(&r->ql, r->o.datafile) != 0) {
			goto out;
		}
	} else if (!qlist_add(&r->ql, r->o.qname, strlen(r->o.qname), r->o.qtype)) {
		fprintf(stderr, "curveperf: bad query name %s\n", r->o.qname);
		goto out;
	}
	if (!qlist_fits(r) || slots_init(r) != 0) {
		goto out;
	}
	if (keys_setup(r) != 0 || nonces_open(r) != 0 || cpu_pin(r->o.cpu) != 0) {
		goto out;
	}
	if (socket_open(r) != 0) {
		goto out;
	}
	if (r->o.warm) {
		warm_up(r);
	}
	ret = measure(r);
out:
	if (r->nonces != NULL && fclose(r->nonces) != 0) {
		ret = 1;
	}
	if (r->fd != -1) {
		close(r->fd);
	}
	keyset_free(&r->ks);
	free(r->slots);
	free(r->free);
	free(r->h);
	free(r->ql.pool);
	free(r->ql.off);
	free(r->ql.len);
	if (fflush(stdout) != 0) {
		ret = 1;
	}
	return ret;
}
