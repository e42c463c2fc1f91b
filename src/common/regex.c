/* SPDX-License-Identifier: MIT */
/* common/regex.c -- PCRE2 patterns, JIT-compiled, matched against presentation names */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/regex.h"

struct regex {
	pcre2_code *code;
	unsigned refs;
};

/* Steps one match may take. A pattern such as ^([a-z0-9]+-?)*[a-z0-9]\.example\.$ backtracks
 * exponentially on a name a client chose; PCRE2's own default (10 million) let 46 such queries
 * a second fill a worker. Real routing patterns on names of at most 1,021 characters take a
 * few thousand. */
#define REGEX_MATCH_LIMIT 100000u

struct regex_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	_Atomic uint64_t limit_hits; /* written by the owning thread, read by the admin one */
};

struct regex *regex_new(const char *pattern, char *err, size_t len)
{
	int errcode;
	PCRE2_SIZE erroff;
	struct regex *re = malloc(sizeof(*re));

	if (re == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &errcode, &erroff,
				 NULL);
	if (re->code == NULL) {
		PCRE2_UCHAR msg[200];
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		snprintf(err, len, "%s at offset %zu", (const char *)msg, (size_t)erroff);
		free(re);
		return NULL;
	}
	/* JIT is an optimisation: where it is unavailable the interpreter gives the same
	 * answers, so a failure here is not an error. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	re->refs = 1;
	return re;
}

int regex_check(const char *pattern, char *err, size_t len)
{
	int errcode;
	PCRE2_SIZE erroff;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &errcode,
					 &erroff, NULL);

	if (code == NULL) {
		PCRE2_UCHAR msg[200];
		pcre2_get_error_message(errcode, msg, sizeof(msg));
		snprintf(err, len, "%s at offset %zu", (const char *)msg, (size_t)erroff);
		return DR_EINVAL;
	}
	pcre2_code_free(code);
	return DR_EOK;
}

struct regex *regex_ref(struct regex *re)
{
	re->refs++;
	return re;
}

void regex_free(struct regex *re)
{
	if (re != NULL && --re->refs == 0) {
		pcre2_code_free(re->code);
		free(re);
	}
}

struct regex_scratch *regex_scratch_new(void)
{
	struct regex_scratch *s = malloc(sizeof(*s));

	if (s == NULL) {
		return NULL;
	}
	/* One pair is enough: routing asks whether, not where. */
	s->md = pcre2_match_data_create(1, NULL);
	s->mc = pcre2_match_context_create(NULL);
	if (s->md == NULL || s->mc == NULL ||
	    pcre2_set_match_limit(s->mc, REGEX_MATCH_LIMIT) != 0) {
		regex_scratch_free(s);
		return NULL;
	}
	atomic_init(&s->limit_hits, 0);
	return s;
}

void regex_scratch_free(struct regex_scratch *s)
{
	if (s != NULL) {
		pcre2_match_data_free(s->md);
		pcre2_match_context_free(s->mc);
		free(s);
	}
}

bool regex_match(const struct regex *re, const char *subject, size_t len, struct regex_scratch *s)
{
	int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, s->md, s->mc);

	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_JIT_STACKLIMIT) {
		atomic_store_explicit(&s->limit_hits,
				      atomic_load_explicit(&s->limit_hits, memory_order_relaxed) +
					      1,
				      memory_order_relaxed);
	}
	return rc >= 0;
}

uint64_t regex_scratch_limit_hits(const struct regex_scratch *s)
{
	return atomic_load_explicit(&s->limit_hits, memory_order_relaxed);
}
