/* SPDX-License-Identifier: MIT */
/* route/regex.c -- PCRE2 patterns, JIT-compiled, matched against presentation names */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/err.h"
#include "route/regex.h"

struct regex {
	pcre2_code *code;
	unsigned refs;
};

struct regex_scratch {
	pcre2_match_data *md;
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
	if (s->md == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void regex_scratch_free(struct regex_scratch *s)
{
	if (s != NULL) {
		pcre2_match_data_free(s->md);
		free(s);
	}
}

bool regex_match(const struct regex *re, const char *subject, size_t len, struct regex_scratch *s)
{
	return pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, s->md, NULL) >= 0;
}
