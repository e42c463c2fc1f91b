/* SPDX-License-Identifier: MIT */
/* conf/yaml_shards.c -- a zone route served in shards: shards, nsec3, full-zone */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/yaml_util.h"

static int shard_from(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_shard *sh = obj;

	if (yaml_want_scalar(y, v, "a shard's from") != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_shard_from(sh, yaml_scalar(v)) != DR_EOK) {
		return yaml_fail(y, v, "bad shard from '%s' (a name, or a base32hex prefix)",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static int shard_backends(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_shard *sh = obj;

	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "a shard's backends must be a list of backend names");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		if (yaml_want_scalar(y, item, "a backend name") != DR_EOK) {
			return DR_ECONF;
		}
		if (conf_shard_add_backend(sh, yaml_scalar(item)) != DR_EOK) {
			return DR_ENOMEM;
		}
	}
	return DR_EOK;
}

static int shard_probe(struct yctx *y, yaml_node_t *v, void *obj)
{
	if (yaml_want_scalar(y, v, "a shard's probe") != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_shard_probe(obj, yaml_scalar(v)) != DR_EOK) {
		return yaml_fail(y, v, "bad shard probe '%s' (NAME TYPE, like \"www.example. A\")",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static const struct keyword shard_keys[] = {
	{"from", shard_from},
	{"backends", shard_backends},
	{"probe", shard_probe},
	{NULL, NULL},
};

int yaml_route_shards(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "shards must be a list of { from, backends, probe }");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		struct conf_shard *grown;
		int rc;

		if (r->nshards == CONF_SHARDS_MAX) {
			return yaml_fail(y, item, "at most %d shards", CONF_SHARDS_MAX);
		}
		grown = realloc(r->shards, (r->nshards + 1) * sizeof(*grown));
		if (grown == NULL) {
			return DR_ENOMEM;
		}
		r->shards = grown;
		memset(&grown[r->nshards], 0, sizeof(*grown));
		grown[r->nshards].line = (int)item->start_mark.line + 1;
		r->nshards++;
		rc = yaml_parse_map(y, item, shard_keys, &grown[r->nshards - 1], "a shard");
		if (rc != DR_EOK) {
			return rc;
		}
		if (grown[r->nshards - 1].from_len == 0 &&
		    grown[r->nshards - 1].prefix[0] == '\0') {
			return yaml_fail(y, item, "a shard needs from");
		}
	}
	return DR_EOK;
}

static int nsec3_algorithm(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned a;

	(void)obj;
	if (yaml_parse_uint(y, v, "nsec3 algorithm", 1, 255, &a) != DR_EOK) {
		return DR_ECONF;
	}
	return a == 1 ? DR_EOK : yaml_fail(y, v, "nsec3 algorithm must be 1 (SHA-1), not %u", a);
}

static int nsec3_iterations(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_nsec3 *p = obj;
	unsigned n;
	int rc = yaml_parse_uint(y, v, "nsec3 iterations", 0, CONF_NSEC3_ITERATIONS_MAX, &n);

	p->iterations = (uint16_t)n;
	return rc;
}

static int nsec3_salt(struct yctx *y, yaml_node_t *v, void *obj)
{
	if (yaml_want_scalar(y, v, "nsec3 salt") != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_nsec3_salt(obj, yaml_scalar(v)) != DR_EOK) {
		return yaml_fail(y, v, "nsec3 salt must be hex (up to 255 bytes) or \"-\"");
	}
	return DR_EOK;
}

static const struct keyword nsec3_keys[] = {
	{"algorithm", nsec3_algorithm},
	{"iterations", nsec3_iterations},
	{"salt", nsec3_salt},
	{NULL, NULL},
};

int yaml_route_nsec3(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	r->nsec3 = true;
	return yaml_parse_map(y, v, nsec3_keys, &r->nsec3_params, "nsec3");
}

int yaml_route_full_zone(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	return yaml_parse_text(y, v, "full-zone", r->full_zone, sizeof(r->full_zone));
}

int yaml_route_serial(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;
	unsigned n;

	if (yaml_parse_uint(y, v, "serial", 0, UINT32_MAX, &n) != DR_EOK) {
		return DR_ECONF;
	}
	r->serial_pinned = true;
	r->serial = n;
	return DR_EOK;
}
