/* SPDX-License-Identifier: MIT */
/* tests/unit/test_etcd_keys.c -- the keys under the prefix as etcd's JSON gateway reports them:
 * range answers, watch messages, what is published */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "discovery/etcd_keys.h"

/* base64 of the texts: /dnsrouter/a, /dnsrouter/b, /dnsrouter/c, 127.0.0.1:53,^a\.$,
 * 127.0.0.2:53,^b\.$, "not an entry" */
#define KEY_A "\"L2Ruc3JvdXRlci9h\""
#define KEY_B "\"L2Ruc3JvdXRlci9i\""
#define KEY_C "\"L2Ruc3JvdXRlci9j\""
#define VAL_A "\"MTI3LjAuMC4xOjUzLF5hXC4k\""
#define VAL_B "\"MTI3LjAuMC4yOjUzLF5iXC4k\""
#define VAL_BAD "\"bm90IGFuIGVudHJ5\""

static const char range_answer[] = "{\"header\":{\"revision\":\"7\"},\"kvs\":["
				   "{\"key\":" KEY_B ",\"value\":" VAL_B ",\"mod_revision\":\"6\"},"
				   "{\"key\":" KEY_A ",\"value\":" VAL_A ",\"mod_revision\":\"5\"},"
				   "{\"key\":" KEY_C ",\"value\":" VAL_BAD "},"
				   "{\"key\":\"!!!notbase64\",\"value\":" VAL_A "},"
				   "{\"key\":\"L2E=\",\"value\":\"AAAA\"}]}";

static int quiet(void **state)
{
	(void)state;
	atomic_store(&log_level_current, LOG_LVL_ERR);
	return 0;
}

static struct etcd_set *published(const struct etcd_keys *k, uint64_t *invalid)
{
	struct etcd_set *s = etcd_keys_set(k, invalid);

	assert_non_null(s);
	return s;
}

/* Valid entries are published in key order; a value that is no entry, a key that is not
 * base64 and a value with a NUL inside are kept as invalid, and do not stop the read. */
static void test_range(void **state)
{
	struct etcd_keys k = {0};
	struct etcd_set *s;
	uint64_t invalid;

	(void)state;
	assert_int_equal(etcd_keys_load(&k, range_answer, strlen(range_answer)), DR_EOK);
	assert_int_equal(k.revision, 7);
	assert_int_equal(k.n, 5);
	s = published(&k, &invalid);
	assert_int_equal(s->n, 2);
	assert_int_equal(invalid, 3);
	assert_string_equal(s->keys[0], "/dnsrouter/a");
	assert_string_equal(s->values[0], "127.0.0.1:53,^a\\.$");
	assert_string_equal(s->keys[1], "/dnsrouter/b");
	etcd_set_free(s);
	for (size_t i = 0; i < k.n; i++) {
		if (strcmp(k.kvs[i].key, "(undecodable) !!!notbase64") == 0) {
			assert_null(k.kvs[i].value);
			etcd_keys_deinit(&k);
			return;
		}
	}
	fail_msg("the undecodable key is not kept under a marked name");
}

/* Not a range answer: an error, and what was held stays. */
static void test_range_bad(void **state)
{
	struct etcd_keys k = {0};
	static const char *bad[] = {"", "null", "[]", "{\"kvs\":[]}", "{\"header\":", "\xff"};

	(void)state;
	assert_int_equal(etcd_keys_load(&k, range_answer, strlen(range_answer)), DR_EOK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(etcd_keys_load(&k, bad[i], strlen(bad[i])), DR_EINVAL);
		assert_int_equal(k.n, 5);
	}
	etcd_keys_deinit(&k);
}

static void watch(struct etcd_keys *k, const char *msg, struct etcd_watch_note *note)
{
	etcd_keys_apply_watch(k, msg, strlen(msg), note);
}

static void test_watch(void **state)
{
	struct etcd_keys k = {0};
	struct etcd_watch_note note;
	struct etcd_set *s;
	uint64_t invalid;

	(void)state;
	assert_int_equal(etcd_keys_load(&k, range_answer, strlen(range_answer)), DR_EOK);

	watch(&k, "{\"result\":{\"header\":{\"revision\":\"7\"},\"created\":true}}", &note);
	assert_int_equal(note.outcome, ETCD_WATCH_OK);
	assert_true(note.created);
	assert_false(note.changed);

	/* c becomes valid, a is deleted */
	watch(&k,
	      "{\"result\":{\"events\":[{\"kv\":{\"key\":" KEY_C ",\"value\":" VAL_B
	      ",\"mod_revision\":\"8\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":" KEY_A
	      ",\"mod_revision\":\"9\"}}]}}",
	      &note);
	assert_int_equal(note.outcome, ETCD_WATCH_OK);
	assert_true(note.changed);
	assert_false(note.created);
	assert_int_equal(k.revision, 9);
	s = published(&k, &invalid);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->keys[0], "/dnsrouter/b");
	assert_string_equal(s->keys[1], "/dnsrouter/c");
	assert_int_equal(invalid, 2);
	etcd_set_free(s);

	watch(&k, "{\"result\":{\"compact_revision\":\"5\",\"canceled\":true}}", &note);
	assert_int_equal(note.outcome, ETCD_WATCH_COMPACTED);
	assert_int_equal(note.compact_revision, 5);
	watch(&k,
	      "{\"result\":{\"canceled\":true,\"cancel_reason\":\"etcdserver: invalid auth "
	      "token\"}}",
	      &note);
	assert_int_equal(note.outcome, ETCD_WATCH_CANCELED);
	assert_string_equal(note.reason, "etcdserver: invalid auth token");
	watch(&k, "{\"error\":{\"message\":\"x\"}}", &note);
	assert_int_equal(note.outcome, ETCD_WATCH_BAD);
	watch(&k, "not json", &note);
	assert_int_equal(note.outcome, ETCD_WATCH_BAD);
	assert_int_equal(k.n, 4); /* none of those touched the keys */
	etcd_keys_deinit(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_range_bad),
		cmocka_unit_test(test_watch),
	};

	return cmocka_run_group_tests(tests, quiet, NULL);
}
