/* SPDX-License-Identifier: MIT */
/* limit/qlimit.h -- the query limit: a token bucket per client prefix, before routing */
#ifndef DR_LIMIT_QLIMIT_H
#define DR_LIMIT_QLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "conf/conf.h"

/* One worker's query-limit state: a bucket table (limit/bucket.h). */
struct qlimit;

struct qlimit *qlimit_new(uint32_t entries, uint64_t seed);
void qlimit_free(struct qlimit *l);
uint32_t qlimit_count(const struct qlimit *l); /* buckets in use */

/* True when the query of <client> at <now_ms> is within <c> (c->per_second queries a second
 * per client prefix of <v4_bits>/<v6_bits>, bursts of c->burst, or of per_second when burst
 * is 0); always true when c->per_second is 0. */
bool qlimit_allow(struct qlimit *l, const struct conf_qlimit *c, unsigned v4_bits, unsigned v6_bits,
		  const union sockaddr_any *client, uint64_t now_ms);

#endif
