/* SPDX-License-Identifier: MIT */
/* route/regex_set.h -- ordered regex routes, indexed by the literal suffix each one requires */
#ifndef DR_ROUTE_REGEX_SET_H
#define DR_ROUTE_REGEX_SET_H

#include <stddef.h>
#include <stdint.h>

#include "common/regex.h"

struct route;

/* Most routing regexps end in a literal before `$` (`^[ab].*\.example\.$`): a name can only
 * match if its text ends with that literal. The set hashes each such suffix, so a lookup probes
 * one bucket per dot in the name and runs only the regexps that can match, in route order,
 * instead of every regexp. Patterns without a usable literal are always tried. */
struct regex_set;

/* Index <n> regex routes in <routes> (in route order: the first match wins). Returns NULL when
 * out of memory. Borrows the routes for the set's life. */
struct regex_set *regex_set_new(struct route *const *routes, uint32_t n);
void regex_set_free(struct regex_set *set);

/* The first route, in order, whose regexp matches <text> of <len> bytes, or NULL. */
const struct route *regex_set_match(const struct regex_set *set, const char *text, size_t len,
				    struct regex_scratch *rs);

/* Exposed for tests: the literal key <pattern> is indexed under, written to <key> (<cap>
 * bytes). Returns its length, or -1 when the pattern must always be tried. */
int regex_set_key(const char *pattern, char *key, size_t cap);

#endif
