/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_shardkeys.c -- reserved etcd keys of sharded zones: "<id>\n<value>", checked as
 * they arrive, then built into routes beside fixed registrations and into a snapshot */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "common/err.h"
#include "conf/conf.h"
#include "route/route.h"
#include "fuzz.h"

/* Registrations the fuzzed map of example. (or one of them) meets. */
static const char *const reg_ids[] = {
	"_shards/example./0/a", "_shards/example./1/b",
	"_shards/example./1/a", /* a in two shards: left out */
	"_shards/example./9/c", /* past most maps */
};
static const char *const reg_values[] = {
	"127.0.0.1:5300",
	"127.0.0.2:5300",
	"127.0.0.1:5300",
	"[::1]:5300",
};

#define NREG (sizeof(reg_ids) / sizeof(reg_ids[0]))

static void build(const char *id, const char *value)
{
	const char *ids[NREG + 1], *values[NREG + 1];
	struct backend_registry reg;
	struct snapshot *s;
	char err[CONF_ERR_LEN];
	struct conf c;

	CHECK(conf_init(&c) == DR_EOK);
	ids[0] = id;
	values[0] = value;
	for (size_t i = 0; i < NREG; i++) {
		char why[CONF_ERR_LEN];
		CHECK(conf_shard_key_check(reg_ids[i], reg_values[i], why, sizeof(why)) == DR_EOK);
		ids[i + 1] = reg_ids[i];
		values[i + 1] = reg_values[i];
	}
	CHECK(conf_add_shard_keys(&c, ids, values, NREG + 1) == DR_EOK);
	if (backend_registry_init(&reg, 1) == DR_EOK) {
		s = snapshot_build(&c, &reg, NULL, 1, err, sizeof(err));
		snapshot_free(s);
		backend_registry_deinit(&reg);
	}
	conf_deinit(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *value;
	char err[CONF_ERR_LEN];
	int rc;

	if (text == NULL) {
		return 0;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	value = strchr(text, '\n');
	if (value != NULL && memchr(data, '\0', size) == NULL) {
		*value++ = '\0';
		rc = conf_shard_key(text) ? conf_shard_key_check(text, value, err, sizeof(err))
					  : DR_ECONF;
		CHECK(rc == DR_EOK || rc == DR_ECONF);
		if (rc == DR_EOK) {
			build(text, value);
		}
	}
	free(text);
	return 0;
}
