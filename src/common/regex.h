/* SPDX-License-Identifier: MIT */
/* common/regex.h -- PCRE2 patterns, JIT-compiled, matched against presentation names */
#ifndef DR_COMMON_REGEX_H
#define DR_COMMON_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct regex;
struct regex_scratch;

/* Compile <pattern> (JIT where the platform allows). Returns NULL with the reason and offset in
 * <err> of <len> bytes. The result is immutable and may be matched from many threads. */
struct regex *regex_new(const char *pattern, char *err, size_t len);

/* Check that <pattern> compiles, without keeping it (no JIT: cheaper). DR_EOK, or DR_EINVAL
 * with the reason in <err>. */
int regex_check(const char *pattern, char *err, size_t len);

/* Share <re> (compiled patterns are immutable): one more reference. Control thread only. */
struct regex *regex_ref(struct regex *re);

/* Drop a reference; the last one frees. NULL is ignored. */
void regex_free(struct regex *re);

/* Per-thread match state; NULL when out of memory. */
struct regex_scratch *regex_scratch_new(void);
void regex_scratch_free(struct regex_scratch *s);

/* True when <re> matches <subject> of <len> bytes. Uses <s>, owned by the calling thread. A
 * match that runs past its step limit (a pattern that backtracks without end on this subject)
 * is no match, and counted. */
bool regex_match(const struct regex *re, const char *subject, size_t len, struct regex_scratch *s);

/* How many matches with <s> ran past the step limit. Any thread may read it. */
uint64_t regex_scratch_limit_hits(const struct regex_scratch *s);

#endif
