/* SPDX-License-Identifier: MIT */
/* bench/curveperf/curveperf.h -- what the parts of curveperf share: limits, options, the run */
#ifndef CURVEPERF_H
#define CURVEPERF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "common/rand.h"
#include "curve/box.h"
#include "wire/wire.h"

#define BATCH 64        /* datagrams per sendmmsg/recvmmsg */
#define PKT_MAX 512     /* a query we send: header, a 255-byte name, type, class */
#define RX_MAX 4096     /* a longer answer is truncated, hence bad */
#define SLOTS_MAX 65536 /* outstanding queries; a plain query's ID is its slot */
#define SECONDS_MAX 3600
#define THREADS_MAX 64
#define NS 1000000000ULL

enum fmt {
	FMT_TXT = 0,
	FMT_STREAMLINED = 1,
	FMT_PLAIN = 2,
};

/* "txt", "streamlined", "plain", by enum fmt */
extern const char *const fmt_names[3];

/* Our half of the nonce: a random prefix per process, the slot, the slot's generation. The
 * answer echoes it (streamlined: in clear; TXT: in the echoed question), which finds the slot;
 * (slot, generation) never repeats within a process and the keys are the process's own. */
enum {
	CN_OFF_PREFIX = 0,
	CN_OFF_SLOT = 4,
	CN_OFF_GEN = 8,
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

/* opts.c: the command line into <o>; 0, or the exit status (2: a bad option). */
int parse_opts(int argc, char **argv, struct opts *o);
/* Presentation form (no escapes) into wire form; false if it is not a name. */
bool name_to_wire(const char *s, size_t slen, uint8_t *out, size_t *out_len);
/* A type's mnemonic, TYPEnnn or a number; false if none of those. */
bool parse_type(const char *s, uint16_t *type);

/* qlist.c: the queries to ask. */
bool qlist_add(struct qlist *ql, const char *name, size_t name_len, uint16_t type);
int qlist_load(struct qlist *ql, const char *path);
bool qlist_fits(const struct run *r);

/* keys.c: the client keys, made before the timed phase; freed (and wiped) by keyset_free(). */
int keys_setup(struct run *r);
void keyset_free(struct keyset *ks);

/* query.c: slot <si>'s next query, into its packet. */
void query_build(struct run *r, uint32_t si);

/* check.c: verdicts on answers, the latency histogram. */
void answer_handle(struct run *r, const uint8_t *pkt, size_t len, bool truncated, uint64_t now);
void slot_release(struct run *r, uint32_t si);
double hist_pct_us(const struct hist *h, double p);

/* load.c: the clock, and the load itself; load_run() returns the elapsed ns. */
uint64_t now_ns(void);
uint64_t load_run(struct run *r);

#endif /* CURVEPERF_H */
