/* SPDX-License-Identifier: MIT */
/* limit/rrl.h -- response rate limiting on UDP answers (BIND's and Knot's RRL) */
#ifndef DR_LIMIT_RRL_H
#define DR_LIMIT_RRL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "conf/conf.h"
#include "wire/wire.h"

enum rrl_verdict {
	RRL_PASS = 0, /* send the answer */
	RRL_SLIP = 1, /* send an empty answer with TC=1 instead (the client retries over TCP) */
	RRL_DROP = 2, /* send nothing */
};

/* One worker's RRL state: a bucket table (limit/bucket.h). */
struct rrl;

/* Create the state for <entries> buckets; <seed> keys its hash. NULL when out of memory. */
struct rrl *rrl_new(uint32_t entries, uint64_t seed);
void rrl_free(struct rrl *r);
uint32_t rrl_count(const struct rrl *r); /* buckets in use */

/* The fate of an answer with rcode <rcode> to question <q> (NULL for an answer without one:
 * then only the error bucket applies) sent to <client> at <now_ms>, under <c> with client
 * prefixes of <v4_bits>/<v6_bits>.
 * - Answers (NOERROR, and YXDOMAIN..NOTZONE) are keyed by client prefix, lower-cased qname,
 *   qtype and qclass, at c->responses_ps; errors (FORMERR, SERVFAIL, NXDOMAIN, NOTIMP,
 *   REFUSED, BADVERS) share one bucket per client prefix at c->errors_ps (responses_ps when
 *   0), so a random-name flood is held whatever the names.
 * - Over the limit: every c->slip-th limited answer of a bucket is RRL_SLIP, the rest
 *   RRL_DROP (all RRL_DROP when slip is 0).
 * - Clients in c->exempt, and everything when c->responses_ps is 0, pass untouched.
 * With c->log_only the verdict is always RRL_PASS and <*would> (may be NULL) says whether
 * the answer would have been limited; otherwise <*would> is the verdict != RRL_PASS. */
enum rrl_verdict rrl_check(struct rrl *r, const struct conf_rrl *c, unsigned v4_bits,
			   unsigned v6_bits, const union sockaddr_any *client,
			   const struct wire_question *q, int rcode, uint64_t now_ms, bool *would);

/* Rewrite the answer <msg> of <len> bytes in place into what RRL_SLIP sends: its header with
 * TC=1, QDCOUNT 1 and no records, and its question. Returns the new length, or 0 when <msg>
 * has no question to keep (then the answer is dropped instead). */
size_t rrl_slip_reply(uint8_t *msg, size_t len);

#endif
