/* SPDX-License-Identifier: MIT */
/* conf/yaml_curve.c -- the dnscurve key: server keys, listeners, nonces, cache, budget */
#include <string.h>

#include "common/err.h"
#include "conf/yaml_util.h"
#include "curve/cache.h"
#include "curve/key.h"

static int curve_key_one(struct yctx *y, yaml_node_t *v)
{
	struct conf_curve *cc = &y->conf->curve;
	char msg[CONF_ERR_LEN];
	char *path;

	if (cc->nkeys == CONF_CURVE_KEYS_MAX) {
		return yaml_fail(y, v, "dnscurve keys: at most %d (a miss tries each in turn)",
				 CONF_CURVE_KEYS_MAX);
	}
	path = cc->key_files[cc->nkeys];
	if (yaml_parse_text(y, v, "a dnscurve key file", path, CONF_PATH_MAX) != DR_EOK) {
		return DR_ECONF;
	}
	if (curve_key_load(path, cc->keys[cc->nkeys], msg, sizeof(msg)) != DR_EOK) {
		return yaml_fail(y, v, "dnscurve key %s", msg);
	}
	for (size_t i = 0; i < cc->nkeys; i++) {
		if (memcmp(cc->keys[i], cc->keys[cc->nkeys], sizeof(cc->keys[i])) == 0) {
			return yaml_fail(y, v, "dnscurve key %s: the same key as %s", path,
					 cc->key_files[i]);
		}
	}
	cc->nkeys++;
	return DR_EOK;
}

static int curve_keys(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_each_value(y, v, curve_key_one);
}

static int curve_listen_one(struct yctx *y, yaml_node_t *v)
{
	struct conf_curve *cc = &y->conf->curve;

	if (yaml_want_scalar(y, v, "a dnscurve listen address") != DR_EOK) {
		return DR_ECONF;
	}
	if (cc->nlisten == CONF_CURVE_LISTEN_MAX) {
		return yaml_fail(y, v, "dnscurve listen: at most %d addresses",
				 CONF_CURVE_LISTEN_MAX);
	}
	if (sockaddr_parse(yaml_scalar(v), strlen(yaml_scalar(v)), 0, &cc->listen[cc->nlisten]) !=
	    DR_EOK) {
		return yaml_fail(y, v, "bad dnscurve listen address '%s' (ip:port or [v6]:port)",
				 yaml_scalar(v));
	}
	cc->nlisten++;
	return DR_EOK;
}

static int curve_listen(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	y->conf->curve.listen_line = (int)v->start_mark.line + 1;
	if (v->type == YAML_SCALAR_NODE && strcmp(yaml_scalar(v), "both") == 0) {
		y->conf->curve.all_listeners = true;
		y->conf->curve.nlisten = 0;
		return DR_EOK;
	}
	y->conf->curve.all_listeners = false;
	return yaml_each_value(y, v, curve_listen_one);
}

static int curve_nonce_instance(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned n;
	int rc = yaml_parse_uint(y, v, "dnscurve nonce-instance", 0, 65535, &n);

	(void)obj;
	y->conf->curve.nonce_instance = (uint16_t)n;
	return rc;
}

static int curve_key_cache(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned n;
	int rc = yaml_parse_uint(y, v, "dnscurve key-cache", CURVE_CACHE_WAYS, CURVE_CACHE_MAX, &n);

	(void)obj;
	if (rc == DR_EOK && (n & (n - 1)) != 0) {
		return yaml_fail(y, v, "dnscurve key-cache must be a power of two, not %u", n);
	}
	y->conf->curve.key_cache = n;
	return rc;
}

static int curve_new_keys(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned n;
	int rc = yaml_parse_uint(y, v, "dnscurve new-keys-per-second", 0, 1000000, &n);

	(void)obj;
	y->conf->curve.new_keys_ps = n;
	return rc;
}

static int curve_nonce_file(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "dnscurve nonce-file", y->conf->curve.nonce_file,
			       CONF_PATH_MAX);
}

static const struct keyword curve_table[] = {
	{"keys", curve_keys},
	{"listen", curve_listen},
	{"nonce-instance", curve_nonce_instance},
	{"key-cache", curve_key_cache},
	{"new-keys-per-second", curve_new_keys},
	{"nonce-file", curve_nonce_file},
	{NULL, NULL},
};

int yaml_key_dnscurve(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_curve *cc = &y->conf->curve;
	int rc;

	cc->line = (int)v->start_mark.line + 1;
	rc = yaml_parse_map(y, v, curve_table, obj, "dnscurve");
	if (rc == DR_EOK && cc->nkeys == 0) {
		return yaml_fail(y, v, "dnscurve needs keys: a list of 1 to %d key files",
				 CONF_CURVE_KEYS_MAX);
	}
	return rc;
}
