/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_etcd.c -- what etcd's JSON gateway sends: a range answer, then watch messages
 *
 * The input is lines: the first is given to the key table as a range answer, every other as
 * one message of a watch stream. After each, the table must hold sorted, distinct keys whose
 * values are valid entries or nothing, and the published set must be exactly those. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "discovery/etcd_keys.h"
#include "fuzz.h"

static void check(const struct etcd_keys *k)
{
	char why[CONF_ERR_LEN];
	uint64_t invalid;
	struct etcd_set *s = etcd_keys_set(k, &invalid);
	size_t valid = 0;

	CHECK(s != NULL);
	for (size_t i = 0; i < k->n; i++) {
		CHECK(k->kvs[i].key != NULL);
		CHECK(i == 0 || strcmp(k->kvs[i - 1].key, k->kvs[i].key) < 0);
		if (k->kvs[i].value != NULL) {
			CHECK(conf_entry_check(k->kvs[i].value, why, sizeof(why)) == DR_EOK);
			CHECK(valid < s->n && strcmp(s->keys[valid], k->kvs[i].key) == 0);
			CHECK(strcmp(s->values[valid], k->kvs[i].value) == 0);
			valid++;
		}
	}
	CHECK(valid == s->n && valid + invalid == k->n);
	etcd_set_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_keys k = {0};
	const char *text = (const char *)data;
	size_t pos = 0;
	bool first = true;

	atomic_store(&log_level_current, LOG_LVL_ERR); /* skipped keys are logged as warnings */
	while (pos < size) {
		const char *nl = memchr(text + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (text + pos)) : size - pos;

		if (first) {
			int rc = etcd_keys_load(&k, text + pos, len);
			CHECK(rc == DR_EOK || rc == DR_EINVAL);
			first = false;
		} else {
			struct etcd_watch_note note;
			uint64_t revision = k.revision;

			etcd_keys_apply_watch(&k, text + pos, len, &note);
			CHECK(note.outcome != ETCD_WATCH_NOMEM);
			CHECK(note.outcome == ETCD_WATCH_OK || !note.changed);
			CHECK(k.revision >= revision); /* a watch never goes back */
		}
		check(&k);
		pos += len + 1;
	}
	etcd_keys_deinit(&k);
	return 0;
}
