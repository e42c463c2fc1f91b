/* SPDX-License-Identifier: MIT */
/* front/curve.c -- the DNSCurve front: boxed queries opened on the UDP and TCP listeners into
 * plain ones, routed like any other, and their answers boxed back */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "curve/cache.h"
#include "curve/nonce.h"
#include "front/curve.h"
#include "limit/bucket.h"
#include "wire/edns.h"
#include "worker/tx.h"

#define BUDGET_PREFIXES 16384u /* client prefixes whose fresh-key budget a worker tracks */
/* Boxed answers wait here for the batch's sendmmsg: room for a few hundred typical ones and
 * always for the largest, so a full arena costs one early flush. */
#define ARENA_SIZE (2u * (WIRE_TCP_MSG_MAX + 1024))
#define PLAIN_SIZE (WIRE_TCP_MSG_MAX + CURVE_MAC_LEN)
#define EDNS_MIN 512 /* RFC 6891 §6.2.5: a smaller EDNS size means 512 */

struct curve_front {
	struct curve_cache *cache; /* shared keys, for the keys below; NULL: DNSCurve off */
	uint32_t cache_entries;
	uint8_t keys[CONF_CURVE_KEYS_MAX][CURVE_KEY_LEN]; /* the server keys it was filled for */
	size_t nkeys;
	struct curve_nonce nonce;
	struct bucket_table *budget; /* fresh-key computations per client prefix */
	uint32_t budget_rate;        /* per second, this worker's share; 0: no limit */
	uint64_t gen;                /* the snapshot the fields above follow */
	bool *on;                    /* per listener: DNSCurve detected there */
	uint8_t *plain;              /* PLAIN_SIZE: an opened query, or a TXT answer's box */
	uint8_t *arena;              /* ARENA_SIZE: boxed answers until they are sent */
	size_t arena_used;
};

/* Counters of a query or an answer, by transport and format. */
static enum stat_counter by_kind(enum stat_counter first, bool tcp, enum curve_format f)
{
	return (enum stat_counter)(first + 2 * tcp + (f == CURVE_FMT_TXT));
}

static bool same_keys(const struct curve_front *cf, const struct conf_curve *cc)
{
	return cf->nkeys == cc->nkeys && cf->cache_entries == cc->key_cache &&
	       memcmp(cf->keys, cc->keys, cc->nkeys * CURVE_KEY_LEN) == 0;
}

/* A new snapshot: which listeners detect DNSCurve, and a fresh cache when the keys changed (a
 * cached entry names a key by its place in the list). */
static void refresh(struct worker *w, struct curve_front *cf)
{
	const struct conf_curve *cc = &w->snap->curve;

	cf->gen = w->snap_gen;
	if (!same_keys(cf, cc)) {
		curve_cache_free(cf->cache);
		cf->cache = NULL;
		explicit_bzero(cf->keys, sizeof(cf->keys));
		cf->nkeys = 0;
		cf->cache_entries = cc->key_cache;
		if (cc->nkeys > 0 && (cf->cache = curve_cache_new(cc->key_cache)) == NULL) {
			log_warn("worker",
				 "worker %u: no memory for %u DNSCurve shared keys: DNSCurve "
				 "queries are dropped",
				 w->id, cc->key_cache);
		} else {
			cf->nkeys = cc->nkeys;
			memcpy(cf->keys, cc->keys, cc->nkeys * CURVE_KEY_LEN);
		}
	}
	for (uint32_t i = 0; i < w->nlisteners; i++) {
		bool on = cf->cache != NULL && cc->all_listeners;
		for (size_t j = 0; cf->cache != NULL && !on && j < cc->nlisten; j++) {
			on = sockaddr_equal(&w->listeners[i].addr, &cc->listen[j]);
		}
		cf->on[i] = on;
	}
	/* Every query of a client prefix comes to one worker (worker_steer), so each worker
	 * holds the whole budget of the prefixes it serves. */
	cf->budget_rate = cc->new_keys_ps;
	cf->nonce.instance = cc->nonce_instance; /* the counter goes on: still never repeats */
}

bool curve_front_on(struct worker *w, uint32_t ls_idx)
{
	struct curve_front *cf = w->curve;

	if (cf->gen != w->snap_gen) {
		refresh(w, cf);
	}
	return cf->on[ls_idx];
}

/* Open <q>'s box with <shared> into cf->plain; its length goes to *<n>. */
static bool box_opens(struct curve_front *cf, const struct curve_query *q,
		      const uint8_t shared[CURVE_KEY_LEN], size_t *n)
{
	return curve_box_open(cf->plain, PLAIN_SIZE, n, q->box, q->box_len, q->client_nonce, NULL,
			      shared) == DR_EOK;
}

/* May <client> have one more shared key computed? */
static bool budget_allows(struct worker *w, struct curve_front *cf,
			  const union sockaddr_any *client)
{
	const struct snapshot *s = w->snap;
	uint64_t key;

	if (cf->budget_rate == 0) {
		return true;
	}
	key = bucket_prefix_key(client, s->limit_v4_bits, s->limit_v6_bits);
	return bucket_charge(cf->budget, key, w->now_ms, cf->budget_rate, cf->budget_rate, 0) == 0;
}

/* Find the shared key that opens <q>'s box into cf->plain (*<n> bytes): cached, else computed
 * for each server key the cache lacks, as the budget allows. Every key computed is cached,
 * opened or not: it is the right one for that pair, so a client repeating a bad box costs a
 * lookup. Returns DR_EOK with the key in <shared>, DR_EMALF (no key opens it) or DR_ESPACE (over the budget), counted. */
static int find_shared(struct worker *w, struct curve_front *cf, const struct curve_query *q,
		       const union sockaddr_any *client, uint8_t shared[CURVE_KEY_LEN], size_t *n)
{
	bool cached[CONF_CURVE_KEYS_MAX] = {false};
	bool missing = false;

	for (size_t i = 0; i < cf->nkeys; i++) {
		const uint8_t *k = curve_cache_get(cf->cache, q->client_pk, (uint8_t)i);
		cached[i] = k != NULL;
		missing |= k == NULL;
		if (k != NULL && box_opens(cf, q, k, n)) {
			memcpy(shared, k, CURVE_KEY_LEN);
			STAT_INC(w, ST_CURVE_CACHE_HIT);
			return DR_EOK;
		}
	}
	if (!missing) {
		STAT_INC(w, ST_CURVE_DROP_BOX);
		return DR_EMALF;
	}
	if (!budget_allows(w, cf, client)) {
		STAT_INC(w, ST_CURVE_DROP_BUDGET);
		return DR_ESPACE;
	}
	STAT_INC(w, ST_CURVE_CACHE_MISS);
	for (size_t i = 0; i < cf->nkeys; i++) {
		if (cached[i] || curve_box_shared(shared, q->client_pk, cf->keys[i]) != DR_EOK) {
			continue;
		}
		curve_cache_put(cf->cache, q->client_pk, (uint8_t)i, shared);
		if (box_opens(cf, q, shared, n)) {
			return DR_EOK;
		}
	}
	explicit_bzero(shared, CURVE_KEY_LEN);
	STAT_INC(w, ST_CURVE_DROP_BOX);
	return DR_EMALF;
}

/* The opened text of <n> bytes in cf->plain without dq's padding: the DNS message alone
 * (Knot answers FORMERR to the padding). A message that runs past the text goes as it is,
 * to be answered FORMERR like any plain one. */
static size_t strip_padding(struct worker *w, const uint8_t *plain, size_t n)
{
	enum curve_pad pad;
	size_t msg_len;

	if (curve_inner_len(plain, n, &msg_len, &pad) == DR_EOK) {
		return msg_len;
	}
	if (msg_len > 0) {
		STAT_INC(w, ST_CURVE_ODD_PADDING); /* not dq's: still not the backend's to see */
		return msg_len;
	}
	return n;
}

/* Lower the EDNS size of the query <msg> by what wrapping its answer adds, so that the
 * backend sets TC inside the box in time; say in cs->udp_max how much the client takes. */
static void fit_udp_size(const struct curve_query *q, uint8_t *msg, size_t len,
			 struct curve_session *cs)
{
	struct wire_question wq;
	struct wire_opt opt = {.present = false};
	size_t pos, inner;

	cs->udp_max = EDNS_MIN;
	if (wire_parse_question(msg, len, &wq) != DR_EOK ||
	    edns_find_opt(msg, len, &wq, &opt) != DR_EOK || !opt.present) {
		return; /* 512 implied: only our TC answer can help (Knot would not go lower) */
	}
	cs->udp_max = opt.udp_size > EDNS_MIN ? opt.udp_size : EDNS_MIN;
	inner = curve_inner_max(q, cs->udp_max);
	pos = opt.offset;
	if (wire_skip_name(msg, len, &pos) == DR_EOK && pos + 4 <= len) {
		wire_write_u16(msg + pos + 2, (uint16_t)(inner > EDNS_MIN ? inner : EDNS_MIN));
	}
}

static void session_from(struct curve_session *cs, const struct curve_query *q)
{
	memcpy(cs->client_nonce, q->client_nonce, CURVE_HALF_NONCE);
	cs->format = (uint8_t)q->format;
	cs->rd = q->rd;
	cs->id = q->id;
	cs->question_len = 0;
	if (q->format == CURVE_FMT_TXT && q->question_len <= sizeof(cs->question)) {
		cs->question_len = q->question_len;
		memcpy(cs->question, q->question, q->question_len);
	}
}

int curve_front_open(struct worker *w, uint8_t *pkt, size_t len, size_t cap, bool tcp,
		     const union sockaddr_any *client, size_t *inner_len, struct curve_session *cs)
{
	struct curve_front *cf = w->curve;
	struct curve_query q;
	size_t n;
	int rc;

	if (curve_parse(pkt, len, &q) != DR_EOK ||
	    (q.format == CURVE_FMT_TXT && q.question_len > sizeof(cs->question))) {
		STAT_INC(w, ST_CURVE_DROP_MALFORMED);
		return DR_EMALF;
	}
	rc = find_shared(w, cf, &q, client, cs->shared, &n);
	if (rc != DR_EOK) {
		return rc;
	}
	n = strip_padding(w, cf->plain, n);
	if (n < WIRE_HDR_LEN || n > cap) {
		STAT_INC(w, ST_CURVE_DROP_MALFORMED);
		return DR_EMALF;
	}
	STAT_INC(w, by_kind(ST_CURVE_QUERIES_UDP_STREAMLINED, tcp, q.format));
	session_from(cs, &q); /* before <pkt> is overwritten: <q> borrows it */
	memcpy(pkt, cf->plain, n);
	if (tcp) {
		cs->udp_max = 0;
	} else {
		fit_udp_size(&q, pkt, n, cs);
	}
	*inner_len = n;
	return DR_EOK;
}

/* The query view of <cs> that the framing functions take. */
static void query_of(const struct curve_session *cs, struct curve_query *q)
{
	q->format = (enum curve_format)cs->format;
	memcpy(q->client_nonce, cs->client_nonce, CURVE_HALF_NONCE);
	q->id = cs->id;
	q->rd = cs->rd;
	q->question = cs->question;
	q->question_len = cs->question_len;
}

/* Cut the answer <msg> down to our TC=1 answer: header and question, nothing else. Returns
 * its length, or 0 when even that exceeds <max>. */
static size_t truncate_answer(uint8_t *msg, size_t len, size_t max)
{
	struct wire_question q;
	size_t n = wire_parse_question(msg, len, &q) == DR_EOK ? q.end : WIRE_HDR_LEN;

	if (n > max) {
		return 0;
	}
	if (n == WIRE_HDR_LEN) {
		wire_write_u16(msg + WIRE_OFF_QDCOUNT, 0);
	}
	msg[WIRE_OFF_FLAGS1] |= WIRE_FLAG1_TC;
	wire_write_u16(msg + WIRE_OFF_ANCOUNT, 0);
	wire_write_u16(msg + WIRE_OFF_NSCOUNT, 0);
	wire_write_u16(msg + WIRE_OFF_ARCOUNT, 0);
	return n;
}

/* <need> bytes that stay valid until the next flush. An empty send queue means nothing
 * points into the arena any more; a full arena sends the queue early. */
static uint8_t *arena_get(struct worker *w, struct curve_front *cf, size_t need)
{
	uint8_t *p;

	if (w->tx->n == 0) {
		cf->arena_used = 0;
	}
	if (cf->arena_used + need > ARENA_SIZE) {
		tx_flush(w);
		cf->arena_used = 0;
	}
	p = cf->arena + cf->arena_used;
	cf->arena_used += need;
	return p;
}

size_t curve_front_seal(struct worker *w, const struct curve_session *cs, uint8_t *msg, size_t len,
			uint8_t **out)
{
	struct curve_front *cf = w->curve;
	size_t limit = cs->udp_max != 0 ? cs->udp_max : WIRE_TCP_MSG_MAX;
	uint8_t snonce[CURVE_HALF_NONCE];
	struct curve_query q;
	size_t max, box_len, need;
	uint8_t *buf, *box;
	int n;

	query_of(cs, &q);
	max = curve_inner_max(&q, limit);
	if (len > max) {
		len = truncate_answer(msg, len, max);
		if (len == 0) {
			return 0;
		}
		STAT_INC(w, ST_CURVE_TRUNCATED);
	}
	/* The answer, its MAC, and the wrapping: the TXT header and question, nonce and
	 * string lengths, or the streamlined header. */
	need = len + CURVE_MAC_LEN + CURVE_SR_OFF_BOX + WIRE_HDR_LEN + cs->question_len + 32 +
	       len / 255 + 1;
	buf = arena_get(w, cf, need);
	/* Streamlined: sealed in place behind its header; TXT: aside, then cut into strings. */
	box = q.format == CURVE_FMT_STREAMLINED ? buf + CURVE_SR_OFF_BOX : cf->plain;
	curve_nonce_next(&cf->nonce, snonce);
	if (curve_box_seal(box,
			   q.format == CURVE_FMT_STREAMLINED ? need - CURVE_SR_OFF_BOX : PLAIN_SIZE,
			   &box_len, msg, len, cs->client_nonce, snonce, cs->shared) != DR_EOK ||
	    (n = curve_build_response(buf, need, &q, snonce, box, box_len)) <= 0) {
		return 0;
	}
	STAT_INC(w, by_kind(ST_CURVE_ANSWERS_UDP_STREAMLINED, cs->udp_max == 0, q.format));
	*out = buf;
	return (size_t)n;
}

uint64_t curve_front_nonce_last(const struct worker *w)
{
	return w->curve != NULL ? curve_nonce_last(&w->curve->nonce) : 0;
}

static void curve_deinit(struct worker *w)
{
	struct curve_front *cf = w->curve;

	if (cf == NULL) {
		return;
	}
	router_nonce_seen(w->router, curve_nonce_last(&cf->nonce));
	curve_cache_free(cf->cache);
	bucket_table_free(cf->budget);
	free(cf->on);
	free(cf->plain);
	free(cf->arena);
	explicit_bzero(cf, sizeof(*cf));
	free(cf);
	w->curve = NULL;
}

static int curve_init(struct worker *w, char *err, size_t len)
{
	struct curve_front *cf = calloc(1, sizeof(*cf));
	uint64_t seed;
	int rc;

	w->curve = cf;
	if (cf == NULL || (cf->on = calloc(w->nlisteners + 1, sizeof(*cf->on))) == NULL ||
	    (cf->plain = malloc(PLAIN_SIZE)) == NULL || (cf->arena = malloc(ARENA_SIZE)) == NULL) {
		snprintf(err, len, "out of memory");
		return DR_ENOMEM;
	}
	seed = (uint64_t)rand_next(&w->rnd) << 32 | rand_next(&w->rnd);
	cf->budget = bucket_table_new(BUDGET_PREFIXES, seed);
	if (cf->budget == NULL) {
		snprintf(err, len, "out of memory");
		return DR_ENOMEM;
	}
	cf->gen = UINT64_MAX; /* no snapshot yet: the first packet reads it */
	rc = curve_nonce_init(&cf->nonce, 0, (uint8_t)w->id, w->router->nonce_floor);
	if (rc == DR_EINVAL) {
		snprintf(err, len,
			 "dnscurve: the clock reads before the last server nonce counter saved "
			 "(%llu): refusing to start, or nonces could repeat",
			 (unsigned long long)w->router->nonce_floor);
		return DR_ECONF;
	}
	if (rc != DR_EOK) {
		snprintf(err, len, "dnscurve: cannot start the nonce counter (%s)",
			 dr_strerror(rc));
		return rc;
	}
	return DR_EOK;
}

const struct worker_part curve_front = {
	.init = curve_init,
	.deinit = curve_deinit,
};
