/* SPDX-License-Identifier: MIT */
/* limit/rrl.c -- response rate limiting on UDP answers (BIND's and Knot's RRL) */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/prefix.h"
#include "limit/bucket.h"
#include "limit/rrl.h"

/* What a bucket counts, mixed into its key so that the kinds never share a bucket. */
enum {
	RRL_TAG_ANSWER = 1,
	RRL_TAG_ERROR = 2,
};

struct rrl {
	struct bucket_table *t;
	uint64_t seed; /* keys the hash of qnames into bucket keys */
};

struct rrl *rrl_new(uint32_t entries, uint64_t seed)
{
	struct rrl *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		return NULL;
	}
	r->t = bucket_table_new(entries, seed);
	if (r->t == NULL) {
		free(r);
		return NULL;
	}
	/* A second seed from the first, so that the key hash and the table's index hash differ. */
	r->seed = seed ^ 0x52524c5f6b657973ull;
	return r;
}

void rrl_free(struct rrl *r)
{
	if (r == NULL) {
		return;
	}
	bucket_table_free(r->t);
	free(r);
}

uint32_t rrl_count(const struct rrl *r)
{
	return bucket_table_count(r->t);
}

/* RFC 6895 §2.3: NOERROR and the dynamic-update rcodes YXDOMAIN..NOTZONE (6..10) carry an
 * answer of their own; every other rcode is an error, whatever the name. */
static bool rcode_is_answer(int rcode)
{
	return rcode == WIRE_RCODE_NOERROR || (rcode >= 6 && rcode <= 10);
}

static uint64_t answer_key(const struct rrl *r, uint64_t prefix, const struct wire_question *q)
{
	uint8_t buf[8 + 2 + 2 + 1 + WIRE_NAME_MAX];
	size_t len = q->name_len <= WIRE_NAME_MAX ? q->name_len : WIRE_NAME_MAX;

	for (unsigned i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(prefix >> (56 - 8 * i));
	}
	wire_write_u16(buf + 8, q->qtype);
	wire_write_u16(buf + 10, q->qclass);
	buf[12] = RRL_TAG_ANSWER;
	/* q->name is lower-cased already (wire_parse_question), so case variants of one
	 * name share the bucket as they must. */
	memcpy(buf + 13, q->name, len);
	return hash_bytes(buf, 13 + len, r->seed);
}

static uint64_t error_key(const struct rrl *r, uint64_t prefix)
{
	uint8_t buf[9];

	for (unsigned i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(prefix >> (56 - 8 * i));
	}
	buf[8] = RRL_TAG_ERROR;
	return hash_bytes(buf, sizeof(buf), r->seed);
}

static bool exempt(const struct conf_rrl *c, const union sockaddr_any *client)
{
	for (size_t i = 0; i < c->nexempt && i < CONF_EXEMPT_MAX; i++) {
		if (prefix_contains(&c->exempt[i], client)) {
			return true;
		}
	}
	return false;
}

enum rrl_verdict rrl_check(struct rrl *r, const struct conf_rrl *c, unsigned v4_bits,
			   unsigned v6_bits, const union sockaddr_any *client,
			   const struct wire_question *q, int rcode, uint64_t now_ms, bool *would)
{
	enum rrl_verdict v = RRL_PASS;
	uint64_t prefix, key;
	uint32_t rate, over;

	if (c->responses_ps == 0 || exempt(c, client)) {
		goto out;
	}
	prefix = bucket_prefix_key(client, v4_bits, v6_bits);
	if (q != NULL && rcode_is_answer(rcode)) {
		key = answer_key(r, prefix, q);
		rate = c->responses_ps;
	} else {
		key = error_key(r, prefix);
		rate = c->errors_ps != 0 ? c->errors_ps : c->responses_ps;
	}
	/* The debt is the window: a prefix that kept flooding stays limited until it has been
	 * quiet for about window seconds, however long the flood lasted. */
	uint64_t window_s = c->window_ms / 1000 > 0 ? c->window_ms / 1000 : 1;
	uint64_t debt = (uint64_t)rate * window_s;
	if (debt > UINT32_MAX) {
		debt = UINT32_MAX;
	}
	over = bucket_charge(r->t, key, now_ms, rate, rate, (uint32_t)debt);
	if (over != 0) {
		v = c->slip != 0 && over % c->slip == 0 ? RRL_SLIP : RRL_DROP;
	}
out:
	if (would != NULL) {
		*would = v != RRL_PASS;
	}
	return c->log_only ? RRL_PASS : v;
}

size_t rrl_slip_reply(uint8_t *msg, size_t len)
{
	struct wire_question q;

	if (wire_parse_question(msg, len, &q) != DR_EOK) {
		return 0;
	}
	/* RFC 2181 §9: TC says the client should retry over TCP; the records are gone, and with
	 * them any OPT, so the reply is as small as the query that caused it. */
	msg[WIRE_OFF_FLAGS1] |= WIRE_FLAG1_TC;
	wire_write_u16(msg + WIRE_OFF_QDCOUNT, 1);
	wire_write_u16(msg + WIRE_OFF_ANCOUNT, 0);
	wire_write_u16(msg + WIRE_OFF_NSCOUNT, 0);
	wire_write_u16(msg + WIRE_OFF_ARCOUNT, 0);
	return q.end;
}
