/* SPDX-License-Identifier: MIT */
/* conf/yaml_util.h -- what the YAML readers of the configuration share: the context, the
 * keyword tables and the value parsers that report FILE:LINE */
#ifndef DR_CONF_YAML_UTIL_H
#define DR_CONF_YAML_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "conf/conf.h"

struct yctx {
	yaml_document_t doc;
	struct conf *conf;
	char *err;
	size_t len;
};

typedef int key_fn(struct yctx *y, yaml_node_t *value, void *obj);

struct keyword {
	const char *key;
	key_fn *parse;
};

/* Write "FILE:LINE: " and the message into y->err; returns DR_ECONF. */
int yaml_fail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

yaml_node_t *yaml_node(struct yctx *y, int id);
const char *yaml_scalar(const yaml_node_t *n);

/* Each returns DR_EOK, or DR_ECONF with the reason (<what> names the key) in y->err. */
int yaml_want_scalar(struct yctx *y, yaml_node_t *n, const char *what);
int yaml_each_value(struct yctx *y, yaml_node_t *v, int (*one)(struct yctx *y, yaml_node_t *v));
int yaml_parse_map(struct yctx *y, yaml_node_t *map, const struct keyword *table, void *obj,
		   const char *what);
int yaml_parse_uint(struct yctx *y, yaml_node_t *v, const char *what, unsigned min, unsigned max,
		    unsigned *out);
int yaml_parse_duration(struct yctx *y, yaml_node_t *v, const char *what, uint32_t *out);
int yaml_parse_text(struct yctx *y, yaml_node_t *v, const char *what, char *out, size_t cap);
int yaml_parse_bool(struct yctx *y, yaml_node_t *v, const char *what, bool *out);

/* The node of key <name> in mapping <map>, for an error about it; <map> when it is absent. */
yaml_node_t *yaml_key_node(struct yctx *y, yaml_node_t *map, const char *name);

/* The limit keys (conf/yaml_limits.c): rate-limit, acl, query-limit, and a route's acl. */
int yaml_key_rate_limit(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_key_acl(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_key_query_limit(struct yctx *y, yaml_node_t *v, void *obj);
/* The DNSCurve front (conf/yaml_curve.c). */
int yaml_key_dnscurve(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_key_dnstap(struct yctx *y, yaml_node_t *v, void *obj);
/* A zone route served in shards (conf/yaml_shards.c); obj: struct conf_route. */
int yaml_route_shards(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_route_nsec3(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_route_full_zone(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_route_serial(struct yctx *y, yaml_node_t *v, void *obj);
int yaml_route_acl(struct yctx *y, yaml_node_t *v, void *obj); /* obj: struct conf_route */

#endif
