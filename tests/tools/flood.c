/* SPDX-License-Identifier: MIT */
/* tests/tools/flood.c -- a bounded UDP DNS load generator for loopback tests and the bench
 *
 * Sends queries from <S> loopback source addresses (one UDP socket each, so the target sees
 * <S> different clients) to one loopback target, in sendmmsg batches, for at most -t seconds
 * and -n queries, at -r queries/s in total or as fast as it can. Reads answers as they come
 * (epoll + recvmmsg, never blocking the sends), waits -W ms for late ones, and prints one
 * line of JSON: sent, answers, answers by rcode, truncated answers, elapsed seconds.
 *
 *   flood -s 127.0.0.1:5353 -t 2 -S 50 -B 127.2.0.1 --step 256 -m random -z example.
 *
 * Only loopback: the target and every source must be in 127.0.0.0/8 or be ::1.
 * Needs nothing but libc (Linux: sendmmsg, recvmmsg, epoll).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64    /* datagrams per sendmmsg/recvmmsg */
#define TX_BUF 600  /* largest datagram sent (garbage mode: 1..600 bytes) */
#define RX_BUF 4096 /* answers are counted from their header; longer ones truncated */
#define SOURCES_MAX 4096
#define SECONDS_MAX 3600.0 /* -t is required and bounded */
#define WAIT_MS_MAX 10000
#define NAME_MAX_WIRE 255
#define HDR_LEN 12
#define RX_ROUNDS 16 /* recvmmsg batches per readable socket per turn */

enum mode {
	MODE_RANDOM = 0,
	MODE_FIXED = 1,
	MODE_GARBAGE = 2,
	MODE_MIX = 3,
};

static const char *const mode_names[] = {"random", "fixed", "garbage", "mix"};

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

struct opts {
	struct sockaddr_storage target;
	socklen_t target_len;
	char target_text[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage base; /* first source address, port 0 */
	uint32_t step;
	unsigned sources;
	uint64_t rate;  /* queries/s over all sources; 0: as fast as possible */
	uint64_t count; /* 0: no limit but time */
	double seconds;
	unsigned wait_ms;
	enum mode mode;
	uint8_t zone[NAME_MAX_WIRE]; /* wire form, random labels go in front */
	size_t zone_len;
	uint8_t qname[NAME_MAX_WIRE]; /* wire form, for fixed mode */
	size_t qname_len;
	uint16_t qtype;
	bool edns;
	uint64_t seed;
};

struct stats {
	uint64_t sent;
	uint64_t send_errors;  /* sendmmsg failures other than a full socket buffer */
	uint64_t send_blocked; /* sendmmsg found the socket buffer full (EAGAIN/ENOBUFS) */
	uint64_t refused;      /* ICMP port unreachable reported on a socket */
	uint64_t recv_errors;
	uint64_t answers; /* datagrams with a DNS header and QR=1 */
	uint64_t not_dns; /* datagrams shorter than a header or with QR=0 */
	uint64_t rcode[16];
	uint64_t tc;
};

struct flood {
	struct opts o;
	int *fds;
	unsigned nfds;
	int ep;
	uint64_t rng;
	struct stats st;
	struct mmsghdr tx[BATCH];
	struct iovec tx_iov[BATCH];
	uint8_t tx_buf[BATCH][TX_BUF];
	struct mmsghdr rx[BATCH];
	struct iovec rx_iov[BATCH];
	uint8_t rx_buf[BATCH][RX_BUF];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: flood -s IP:PORT -t SECONDS [options]\n"
		"  -s IP:PORT    target (loopback: 127.0.0.0/8, [::1]:PORT)\n"
		"  -t SECONDS    longest run, required (at most %.0f)\n"
		"  -S N          source addresses, one socket each (default 1, at most %d)\n"
		"  -B ADDR       first source address (default 127.0.0.10; ::1 for an IPv6 target)\n"
		"  --step K      IPv4 distance between sources (default 1; 256: one /24 each)\n"
		"  -r RATE       queries/s over all sources (default 0: as fast as possible)\n"
		"  -n COUNT      most queries to send (default 0: until -t)\n"
		"  -m MODE       random (default), fixed, garbage, mix\n"
		"  -z ZONE       zone under which random mode makes names (default example.)\n"
		"  -q NAME       the name of fixed mode\n"
		"  -T TYPE       query type: A (default), AAAA, TXT, NS, MX, SOA, ANY or a number\n"
		"  -e            add an EDNS OPT record (payload 1232)\n"
		"  -W MS         wait for late answers after the last send (default 200)\n"
		"  -R SEED       random seed (default: from the clock)\n"
		"Prints one JSON line: sent, answers, rcodes, tc, elapsed, ...\n",
		SECONDS_MAX, SOURCES_MAX);
}

/* ---------------------------------------------------------------------------------------- */
/* small helpers */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: enough for labels, IDs and garbage. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static double now_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("flood: clock_gettime");
		exit(1);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
	return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

/* "1.2.3.4", "::1" or "[::1]" into <ss> with port <port>. */
static bool parse_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	if (n >= sizeof(buf)) {
		return false;
	}
	memcpy(buf, s, n + 1);
	if (buf[0] == '[' && n >= 2 && buf[n - 1] == ']') {
		buf[n - 1] = '\0';
		memmove(buf, buf + 1, n - 1);
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*len = sizeof(*in);
		return true;
	}
	if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return true;
	}
	return false;
}

/* "127.0.0.1:53" or "[::1]:53". */
static bool parse_target(const char *s, struct opts *o)
{
	const char *colon = strrchr(s, ':');
	char host[INET6_ADDRSTRLEN + 2];
	uint64_t port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s) {
		return false;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (strchr(host, ':') != NULL && host[0] != '[') {
		return false; /* a bare IPv6 address needs brackets */
	}
	if (!parse_u64(colon + 1, 65535, &port) || port == 0) {
		return false;
	}
	if (!parse_addr(host, (uint16_t)port, &o->target, &o->target_len)) {
		return false;
	}
	int n = snprintf(o->target_text, sizeof(o->target_text), "%s", s);
	return n > 0 && (size_t)n < sizeof(o->target_text);
}

/* Presentation form "a.b.example." (trailing dot optional, "." the root) into wire form.
 * Plain labels only: no escapes. */
static bool name_to_wire(const char *s, uint8_t *out, size_t *out_len)
{
	size_t len = 0;

	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		*out_len = 1;
		return true;
	}
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		if (l == 0 || l > 63 || len + 1 + l + 1 > NAME_MAX_WIRE || memchr(s, '\\', l)) {
			return false;
		}
		out[len++] = (uint8_t)l;
		memcpy(out + len, s, l);
		len += l;
		s += l;
		if (*s == '.') {
			s++;
		}
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
	} types[] = {{"A", 1},    {"NS", 2},    {"SOA", 6},  {"MX", 15},
		     {"TXT", 16}, {"AAAA", 28}, {"ANY", 255}};
	uint64_t v;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(s, types[i].name) == 0) {
			*type = types[i].type;
			return true;
		}
	}
	if (!parse_u64(s, 65535, &v)) {
		return false;
	}
	*type = (uint16_t)v;
	return true;
}

/* The address of source <i>: base + i * step (IPv4); ::1 only for IPv6. */
static bool source_addr(const struct opts *o, unsigned i, struct sockaddr_storage *ss,
			socklen_t *len)
{
	*ss = o->base;
	if (ss->ss_family == AF_INET6) {
		*len = sizeof(struct sockaddr_in6);
		return i == 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	uint64_t a = (uint64_t)ntohl(in->sin_addr.s_addr) + (uint64_t)i * o->step;
	if (a > UINT32_MAX) {
		return false;
	}
	in->sin_addr.s_addr = htonl((uint32_t)a);
	*len = sizeof(*in);
	return is_loopback(ss);
}

/* ---------------------------------------------------------------------------------------- */
/* options */

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"step", required_argument, NULL, 1},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *base = NULL, *zone = "example.", *qname = NULL, *mode = "random";
	bool have_target = false, have_seed = false;
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->sources = 1;
	o->step = 1;
	o->wait_ms = 200;
	o->qtype = 1;
	while ((c = getopt_long(argc, argv, "s:t:S:B:r:n:m:z:q:T:eW:R:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_target(optarg, o)) {
				fprintf(stderr,
					"flood: bad target %s (want IP:PORT or [IPv6]:PORT)\n",
					optarg);
				return -1;
			}
			have_target = true;
			break;
		case 't': {
			char *end;
			errno = 0;
			o->seconds = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(o->seconds > 0) ||
			    o->seconds > SECONDS_MAX) {
				fprintf(stderr, "flood: -t wants 0 < seconds <= %.0f\n",
					SECONDS_MAX);
				return -1;
			}
			break;
		}
		case 'S':
			if (!parse_u64(optarg, SOURCES_MAX, &v) || v == 0) {
				fprintf(stderr, "flood: -S wants 1..%d\n", SOURCES_MAX);
				return -1;
			}
			o->sources = (unsigned)v;
			break;
		case 'B':
			base = optarg;
			break;
		case 1:
			if (!parse_u64(optarg, 1u << 24, &v) || v == 0) {
				fprintf(stderr, "flood: --step wants 1..%u\n", 1u << 24);
				return -1;
			}
			o->step = (uint32_t)v;
			break;
		case 'r':
			if (!parse_u64(optarg, 100000000, &o->rate)) {
				fprintf(stderr, "flood: -r wants 0..100000000\n");
				return -1;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, UINT64_MAX / 2, &o->count)) {
				fprintf(stderr, "flood: bad -n %s\n", optarg);
				return -1;
			}
			break;
		case 'm':
			mode = optarg;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'q':
			qname = optarg;
			break;
		case 'T':
			if (!parse_type(optarg, &o->qtype)) {
				fprintf(stderr, "flood: bad -T %s\n", optarg);
				return -1;
			}
			break;
		case 'e':
			o->edns = true;
			break;
		case 'W':
			if (!parse_u64(optarg, WAIT_MS_MAX, &v)) {
				fprintf(stderr, "flood: -W wants 0..%d ms\n", WAIT_MS_MAX);
				return -1;
			}
			o->wait_ms = (unsigned)v;
			break;
		case 'R':
			if (!parse_u64(optarg, UINT64_MAX, &o->seed)) {
				fprintf(stderr, "flood: bad -R %s\n", optarg);
				return -1;
			}
			have_seed = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || !have_target || o->seconds == 0) {
		fprintf(stderr, "flood: -s and -t are required\n");
		usage(stderr);
		return -1;
	}
	if (!is_loopback(&o->target)) {
		fprintf(stderr, "flood: the target must be a loopback address\n");
		return -1;
	}
	size_t m = 0;
	while (m < sizeof(mode_names) / sizeof(mode_names[0]) && strcmp(mode, mode_names[m]) != 0) {
		m++;
	}
	if (m == sizeof(mode_names) / sizeof(mode_names[0])) {
		fprintf(stderr, "flood: unknown mode %s\n", mode);
		return -1;
	}
	o->mode = (enum mode)m;
	if (!name_to_wire(zone, o->zone, &o->zone_len) || o->zone_len > NAME_MAX_WIRE - 64) {
		fprintf(stderr, "flood: bad zone %s\n", zone);
		return -1;
	}
	if (o->mode == MODE_FIXED) {
		if (qname == NULL || !name_to_wire(qname, o->qname, &o->qname_len)) {
			fprintf(stderr, "flood: fixed mode needs a valid -q NAME\n");
			return -1;
		}
	}
	socklen_t len;
	if (base == NULL) {
		base = o->target.ss_family == AF_INET ? "127.0.0.10" : "::1";
	}
	if (!parse_addr(base, 0, &o->base, &len) || o->base.ss_family != o->target.ss_family) {
		fprintf(stderr, "flood: bad -B %s (must be of the target's family)\n", base);
		return -1;
	}
	struct sockaddr_storage last;
	if (!source_addr(o, o->sources - 1, &last, &len) || !is_loopback(&o->base)) {
		fprintf(stderr, "flood: sources must stay in 127.0.0.0/8 (IPv6: only ::1, -S 1)\n");
		return -1;
	}
	if (!have_seed) {
		struct timespec ts;
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
			perror("flood: clock_gettime");
			return -1;
		}
		o->seed = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
			  ((uint64_t)getpid() << 48);
	}
	if (o->seed == 0) {
		o->seed = 0x9E3779B97F4A7C15ULL; /* xorshift must not start at 0 */
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* sockets */

static int open_sources(struct flood *f)
{
	const struct opts *o = &f->o;

	f->ep = epoll_create1(EPOLL_CLOEXEC);
	if (f->ep == -1) {
		perror("flood: epoll_create1");
		return -1;
	}
	f->fds = calloc(o->sources, sizeof(*f->fds));
	if (f->fds == NULL) {
		perror("flood: calloc");
		return -1;
	}
	for (unsigned i = 0; i < o->sources; i++) {
		struct sockaddr_storage src;
		socklen_t len;
		char text[INET6_ADDRSTRLEN] = "?";
		int size = 1 << 20;

		if (!source_addr(o, i, &src, &len)) {
			fprintf(stderr, "flood: source %u out of range\n", i);
			return -1;
		}
		const void *a = src.ss_family == AF_INET
					? (const void *)&((struct sockaddr_in *)&src)->sin_addr
					: (const void *)&((struct sockaddr_in6 *)&src)->sin6_addr;
		if (inet_ntop(src.ss_family, a, text, sizeof(text)) == NULL) {
			strcpy(text, "?");
		}
		int fd = socket(src.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			perror("flood: socket");
			return -1;
		}
		f->fds[f->nfds++] = fd;
		/* Best effort: the kernel caps these at net.core.[rw]mem_max. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) == -1) {
			perror("flood: setsockopt (buffers; going on)");
		}
		if (bind(fd, (struct sockaddr *)&src, len) == -1) {
			fprintf(stderr, "flood: bind %s: %s\n", text, strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&o->target, o->target_len) == -1) {
			fprintf(stderr, "flood: connect %s from %s: %s\n", o->target_text, text,
				strerror(errno));
			return -1;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			perror("flood: epoll_ctl");
			return -1;
		}
	}
	return 0;
}

static void close_sources(struct flood *f)
{
	for (unsigned i = 0; i < f->nfds; i++) {
		if (close(f->fds[i]) == -1) {
			perror("flood: close");
		}
	}
	free(f->fds);
	f->fds = NULL;
	f->nfds = 0;
	if (f->ep != -1 && close(f->ep) == -1) {
		perror("flood: close");
	}
	f->ep = -1;
}

/* ---------------------------------------------------------------------------------------- */
/* packets */

static size_t put_header(uint8_t *p, uint16_t id, uint16_t arcount)
{
	p[0] = (uint8_t)(id >> 8);
	p[1] = (uint8_t)id;
	p[2] = 0x01; /* RD, as dig and dnsperf send */
	p[3] = 0x00;
	p[4] = 0;
	p[5] = 1; /* QDCOUNT */
	memset(p + 6, 0, 4);
	p[10] = (uint8_t)(arcount >> 8);
	p[11] = (uint8_t)arcount;
	return HDR_LEN;
}

static size_t put_tail(const struct opts *o, uint8_t *p, size_t len)
{
	p[len++] = (uint8_t)(o->qtype >> 8);
	p[len++] = (uint8_t)o->qtype;
	p[len++] = 0;
	p[len++] = 1; /* class IN */
	if (o->edns) {
		static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
		memcpy(p + len, opt, sizeof(opt));
		len += sizeof(opt);
	}
	return len;
}

/* A query for <random label>.<zone>: 6..10 characters of [a-z0-9]. */
static size_t make_random(struct flood *f, uint8_t *p)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	uint64_t r = rng_next(&f->rng);
	size_t len = put_header(p, (uint16_t)r, f->o.edns ? 1 : 0);
	size_t l = 6 + (size_t)((r >> 16) % 5);

	p[len++] = (uint8_t)l;
	for (size_t i = 0; i < l; i++) {
		p[len++] = (uint8_t)alphabet[rng_next(&f->rng) % (sizeof(alphabet) - 1)];
	}
	memcpy(p + len, f->o.zone, f->o.zone_len);
	return put_tail(&f->o, p, len + f->o.zone_len);
}

static size_t make_fixed(struct flood *f, uint8_t *p)
{
	size_t len = put_header(p, (uint16_t)rng_next(&f->rng), f->o.edns ? 1 : 0);

	memcpy(p + len, f->o.qname, f->o.qname_len);
	return put_tail(&f->o, p, len + f->o.qname_len);
}

/* 1..TX_BUF random bytes; one in four of those long enough gets a header that looks like a
 * query's (QR=0, opcode QUERY, QDCOUNT 1, no records), so it gets past a header check. */
static size_t make_garbage(struct flood *f, uint8_t *p)
{
	uint64_t r = rng_next(&f->rng);
	size_t len = 1 + (size_t)(r % TX_BUF);

	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = rng_next(&f->rng);
		size_t n = len - i < 8 ? len - i : 8;
		memcpy(p + i, &x, n);
	}
	if (((r >> 32) & 3) == 0 && len >= HDR_LEN) {
		p[2] &= 0x07; /* QR=0, opcode 0; AA TC RD random */
		p[4] = 0;
		p[5] = 1;
		memset(p + 6, 0, 6);
	}
	return len;
}

static size_t make_packet(struct flood *f, uint8_t *p)
{
	switch (f->o.mode) {
	case MODE_RANDOM:
		return make_random(f, p);
	case MODE_FIXED:
		return make_fixed(f, p);
	case MODE_GARBAGE:
		return make_garbage(f, p);
	case MODE_MIX:
		break;
	}
	return (rng_next(&f->rng) & 1) ? make_garbage(f, p) : make_random(f, p);
}

/* ---------------------------------------------------------------------------------------- */
/* I/O */

/* Send <n> (1..BATCH) new datagrams on source <i>. Returns how many went out; sets <*full>
 * when the socket buffer was full. */
static unsigned send_batch(struct flood *f, unsigned i, unsigned n, bool *full)
{
	unsigned done = 0;

	for (unsigned k = 0; k < n; k++) {
		f->tx_iov[k].iov_base = f->tx_buf[k];
		f->tx_iov[k].iov_len = make_packet(f, f->tx_buf[k]);
		memset(&f->tx[k], 0, sizeof(f->tx[k]));
		f->tx[k].msg_hdr.msg_iov = &f->tx_iov[k];
		f->tx[k].msg_hdr.msg_iovlen = 1;
	}
	*full = false;
	while (done < n) {
		int rc = sendmmsg(f->fds[i], f->tx + done, n - done, MSG_DONTWAIT);
		if (rc == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				f->st.send_blocked++;
				*full = true;
			} else if (errno == ECONNREFUSED) {
				f->st.refused++; /* an earlier datagram's ICMP; the next send may pass */
			} else {
				f->st.send_errors++;
			}
			break;
		}
		if (rc == 0) {
			break;
		}
		done += (unsigned)rc;
	}
	f->st.sent += done;
	return done;
}

static void count_answer(struct flood *f, const uint8_t *p, size_t len)
{
	if (len < HDR_LEN || (p[2] & 0x80) == 0) {
		f->st.not_dns++;
		return;
	}
	f->st.answers++;
	f->st.rcode[p[3] & 0x0f]++;
	if (p[2] & 0x02) {
		f->st.tc++;
	}
}

/* Read what source <i> holds, up to RX_ROUNDS batches. */
static void recv_source(struct flood *f, unsigned i)
{
	for (int round = 0; round < RX_ROUNDS; round++) {
		for (unsigned k = 0; k < BATCH; k++) {
			f->rx_iov[k].iov_base = f->rx_buf[k];
			f->rx_iov[k].iov_len = RX_BUF;
			memset(&f->rx[k], 0, sizeof(f->rx[k]));
			f->rx[k].msg_hdr.msg_iov = &f->rx_iov[k];
			f->rx[k].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(f->fds[i], f->rx, BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == ECONNREFUSED) {
				f->st.refused++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				f->st.recv_errors++;
			}
			return;
		}
		for (int k = 0; k < n; k++) {
			count_answer(f, f->rx_buf[k], f->rx[k].msg_len);
		}
		if (n < BATCH) {
			return;
		}
	}
}

/* Wait up to <timeout_ms> (0: just look) for answers and read every readable source. */
static void drain(struct flood *f, int timeout_ms)
{
	struct epoll_event ev[64];
	int n;

	n = epoll_wait(f->ep, ev, 64, timeout_ms);
	if (n == -1) {
		if (errno != EINTR) {
			perror("flood: epoll_wait");
			exit(1);
		}
		return;
	}
	for (int k = 0; k < n; k++) {
		if (ev[k].data.u32 < f->nfds) {
			recv_source(f, ev[k].data.u32);
		}
	}
}

static int ms_until(double t)
{
	double ms = t * 1000.0;

	if (ms <= 0) {
		return 0;
	}
	return ms > 1000 ? 1000 : (int)ms + 1;
}

/* Send until -t or -n, reading answers between batches. Returns the seconds it took. */
static double run(struct flood *f)
{
	const struct opts *o = &f->o;
	double start = now_s(), t = 0;
	unsigned next = 0;

	for (;;) {
		t = now_s() - start;
		if (t >= o->seconds || (o->count && f->st.sent >= o->count)) {
			break;
		}
		uint64_t want = BATCH;
		if (o->rate) {
			/* Query k is due at k / rate seconds: a late loop catches up in a batch. */
			uint64_t due = (uint64_t)(t * (double)o->rate) + 1;
			want = due > f->st.sent ? due - f->st.sent : 0;
			/* Spread a catch-up over the sources rather than give it all to one. */
			uint64_t share = (want + f->nfds - 1) / f->nfds;
			want = share < want ? share : want;
		}
		if (want > BATCH) {
			want = BATCH;
		}
		if (o->count && want > o->count - f->st.sent) {
			want = o->count - f->st.sent;
		}
		int timeout = 0;
		if (want > 0) {
			bool full;
			send_batch(f, next, (unsigned)want, &full);
			next = (next + 1) % f->nfds;
			if (full) {
				timeout = 1; /* let the receiver catch up rather than spin */
			}
		} else {
			double due_at = (double)f->st.sent / (double)o->rate;
			double until = due_at < o->seconds ? due_at : o->seconds;
			timeout = ms_until(until - t);
		}
		drain(f, timeout);
	}
	double elapsed = t;
	double end = now_s() + o->wait_ms / 1000.0;
	while (f->st.answers + f->st.not_dns < f->st.sent) {
		double left = end - now_s();
		if (left <= 0) {
			break;
		}
		drain(f, ms_until(left));
	}
	return elapsed;
}

static void print_json(const struct flood *f, double elapsed)
{
	const struct stats *s = &f->st;
	bool first = true;

	printf("{\"target\": \"%s\", \"mode\": \"%s\", \"sources\": %u, \"rate\": %" PRIu64
	       ", \"sent\": %" PRIu64 ", \"answers\": %" PRIu64 ", \"rcodes\": {",
	       f->o.target_text, mode_names[f->o.mode], f->nfds, f->o.rate, s->sent, s->answers);
	for (int r = 0; r < 16; r++) {
		if (s->rcode[r]) {
			printf("%s\"%s\": %" PRIu64, first ? "" : ", ", rcode_names[r],
			       s->rcode[r]);
			first = false;
		}
	}
	printf("}, \"tc\": %" PRIu64 ", \"not_dns\": %" PRIu64 ", \"send_blocked\": %" PRIu64
	       ", \"send_errors\": %" PRIu64 ", \"refused\": %" PRIu64 ", \"recv_errors\": %" PRIu64
	       ", \"elapsed\": %.3f, \"qps\": %.0f}\n",
	       s->tc, s->not_dns, s->send_blocked, s->send_errors, s->refused, s->recv_errors,
	       elapsed, elapsed > 0 ? (double)s->sent / elapsed : 0.0);
}

int main(int argc, char **argv)
{
	struct flood *f = calloc(1, sizeof(*f));
	double elapsed;
	int ret = 1;

	if (f == NULL) {
		perror("flood: calloc");
		return 1;
	}
	f->ep = -1;
	if (parse_opts(argc, argv, &f->o) != 0) {
		goto out;
	}
	f->rng = f->o.seed;
	if (open_sources(f) != 0) {
		goto out;
	}
	elapsed = run(f);
	print_json(f, elapsed);
	if (fflush(stdout) == EOF) {
		perror("flood: stdout");
		goto out;
	}
	ret = 0;
out:
	close_sources(f);
	free(f);
	return ret;
}
