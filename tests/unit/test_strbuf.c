/* SPDX-License-Identifier: MIT */
/* tests/unit/test_strbuf.c -- text for the admin endpoint: JSON strings and Prometheus label
 * values, always valid UTF-8 whatever bytes a name or pattern holds */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

static void expect(void (*escape)(struct strbuf *, const char *), const char *in, const char *want)
{
	struct strbuf sb = {0};
	char *got;

	strbuf_printf(&sb, "<");
	escape(&sb, in);
	strbuf_printf(&sb, ">");
	got = strbuf_take(&sb);
	assert_non_null(got);
	if (strcmp(got, want) != 0) {
		fail_msg("escaped '%s' as '%s', want '%s'", in, got, want);
	}
	free(got);
}

static void test_json_escapes(void **state)
{
	(void)state;
	expect(strbuf_json, "plain", "<plain>");
	expect(strbuf_json, "a\"b\\c", "<a\\\"b\\\\c>");
	expect(strbuf_json, "tab\there\n", "<tab\\u0009here\\u000a>");
	expect(strbuf_json, "", "<>");
}

/* Well-formed UTF-8 passes; every byte that is not part of it becomes U+FFFD. */
static void test_json_utf8(void **state)
{
	(void)state;
	expect(strbuf_json, "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
	       "<caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80>");
	expect(strbuf_json, "^\xff\\.$", "<^\\ufffd\\\\.$>");
	expect(strbuf_json, "\x80", "<\\ufffd>");                       /* lone continuation */
	expect(strbuf_json, "\xc0\x80", "<\\ufffd\\ufffd>");            /* overlong NUL */
	expect(strbuf_json, "\xe6\x97", "<\\ufffd\\ufffd>");            /* cut short at the end */
	expect(strbuf_json, "\xe6\x97x", "<\\ufffd\\ufffdx>");          /* cut short before ASCII */
	expect(strbuf_json, "\xed\xa0\x80", "<\\ufffd\\ufffd\\ufffd>"); /* a surrogate */
	expect(strbuf_json, "\xf4\x90\x80\x80", "<\\ufffd\\ufffd\\ufffd\\ufffd>"); /* > U+10FFFF */
}

static void test_label(void **state)
{
	(void)state;
	expect(strbuf_label, "ns1", "<ns1>");
	expect(strbuf_label, "a\"b\\c\nd", "<a\\\"b\\\\c\\nd>");
	expect(strbuf_label, "x\xffy", "<x\xef\xbf\xbdy>");
	expect(strbuf_label, "\xc3\xa9", "<\xc3\xa9>");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
