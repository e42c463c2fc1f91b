/* SPDX-License-Identifier: MIT */
/* conf/yaml_util.c -- value parsers shared by the YAML readers; every error names file and line */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/yaml_util.h"

int yaml_fail(struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int off =
		snprintf(y->err, y->len, "%s:%zu: ", y->conf->file, n ? n->start_mark.line + 1 : 1);

	if (off < 0 || (size_t)off >= y->len) {
		return DR_ECONF;
	}
	va_start(ap, fmt);
	vsnprintf(y->err + off, y->len - (size_t)off, fmt, ap);
	va_end(ap);
	return DR_ECONF;
}

yaml_node_t *yaml_node(struct yctx *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

const char *yaml_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

int yaml_want_scalar(struct yctx *y, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		return yaml_fail(y, n, "%s must be a single value", what);
	}
	return DR_EOK;
}

/* A key that takes one value or a list of them: <one> for each. */
int yaml_each_value(struct yctx *y, yaml_node_t *v, int (*one)(struct yctx *y, yaml_node_t *v))
{
	if (v->type != YAML_SEQUENCE_NODE) {
		return one(y, v);
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		int rc = one(y, yaml_node(y, *i));
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

int yaml_parse_map(struct yctx *y, yaml_node_t *map, const struct keyword *table, void *obj,
		   const char *what)
{
	if (map->type != YAML_MAPPING_NODE) {
		return yaml_fail(y, map, "%s must be a mapping of keys", what);
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_node(y, p->key), *v = yaml_node(y, p->value);
		const struct keyword *kw;
		int rc;

		if (k->type != YAML_SCALAR_NODE) {
			return yaml_fail(y, k, "a key in %s must be a plain word", what);
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *prev = yaml_node(y, q->key);
			if (prev->type == YAML_SCALAR_NODE &&
			    strcmp(yaml_scalar(prev), yaml_scalar(k)) == 0) {
				return yaml_fail(y, k, "duplicate key '%s' in %s", yaml_scalar(k),
						 what);
			}
		}
		for (kw = table; kw->key != NULL; kw++) {
			if (strcmp(kw->key, yaml_scalar(k)) == 0) {
				break;
			}
		}
		if (kw->key == NULL) {
			return yaml_fail(y, k, "unknown key '%s' in %s", yaml_scalar(k), what);
		}
		rc = kw->parse(y, v, obj);
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

int yaml_parse_uint(struct yctx *y, yaml_node_t *v, const char *what, unsigned min, unsigned max,
		    unsigned *out)
{
	char *end;
	unsigned long n;

	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	errno = 0;
	n = strtoul(yaml_scalar(v), &end, 10);
	if (yaml_scalar(v)[0] < '0' || yaml_scalar(v)[0] > '9' || *end != '\0' || errno != 0 ||
	    n < min || n > max) {
		return yaml_fail(y, v, "%s must be a whole number from %u to %u, not '%s'", what,
				 min, max, yaml_scalar(v));
	}
	*out = (unsigned)n;
	return DR_EOK;
}

int yaml_parse_duration(struct yctx *y, yaml_node_t *v, const char *what, uint32_t *out)
{
	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_parse_duration(yaml_scalar(v), out) != DR_EOK) {
		return yaml_fail(y, v,
				 "%s must be a duration like 500ms or 2s (up to 1h), not '%s'",
				 what, yaml_scalar(v));
	}
	return DR_EOK;
}

int yaml_parse_text(struct yctx *y, yaml_node_t *v, const char *what, char *out, size_t cap)
{
	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	if (strlen(yaml_scalar(v)) >= cap || yaml_scalar(v)[0] == '\0') {
		return yaml_fail(y, v, "%s must be 1 to %zu characters", what, cap - 1);
	}
	memcpy(out, yaml_scalar(v), strlen(yaml_scalar(v)) + 1);
	return DR_EOK;
}

yaml_node_t *yaml_key_node(struct yctx *y, yaml_node_t *map, const char *name)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_node(y, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(yaml_scalar(k), name) == 0) {
			return k;
		}
	}
	return map;
}

int yaml_parse_bool(struct yctx *y, yaml_node_t *v, const char *what, bool *out)
{
	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "true") == 0) {
		*out = true;
	} else if (strcmp(yaml_scalar(v), "false") == 0) {
		*out = false;
	} else {
		return yaml_fail(y, v, "%s must be true or false, not '%s'", what, yaml_scalar(v));
	}
	return DR_EOK;
}
