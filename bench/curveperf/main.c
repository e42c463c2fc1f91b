/* SPDX-License-Identifier: MIT */
/* bench/curveperf/main.c -- a DNSCurve UDP load generator: K client keys, TXT or streamlined
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
 *
 * The parts: opts.c (the command line), qlist.c (the queries), keys.c (client keys), query.c
 * (building queries), check.c (verifying answers), load.c (the loop), main.c (set-up, report).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "curveperf.h"

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE",  "RCODE11",  "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

static const char *const bad_names[BAD_N] = {"", "stray", "frame", "box", "inner"};

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
