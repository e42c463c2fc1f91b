/* SPDX-License-Identifier: MIT */
/* bench/curveperf/keys.c -- client keys: key pairs and shared keys, made on every CPU */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "curveperf.h"

/* Keys made at most: ~60 s of work on two CPUs, far past --prep-seconds' default, and 128 MB. */
#define KEYS_PREP_MAX 2000000ULL

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

void keyset_free(struct keyset *ks)
{
	if (ks->shared != NULL) {
		sodium_memzero(ks->shared, ks->n * CURVE_KEY_LEN);
	}
	free(ks->shared);
	free(ks->pk);
}

int keys_setup(struct run *r)
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
