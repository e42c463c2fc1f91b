/* SPDX-License-Identifier: MIT */
/* conf/yaml_limits.c -- the abuse-control keys: rate-limit, acl, query-limit */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/yaml_util.h"

#define RATE_MAX 10000000u /* a second's worth; more is no limit at all */

static int want_prefix(struct yctx *y, yaml_node_t *v, const char *what, struct prefix *out)
{
	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	if (prefix_parse(yaml_scalar(v), out) != DR_EOK) {
		return yaml_fail(y, v,
				 "bad client prefix '%s' in %s (like 192.0.2.0/24, 2001:db8::/32 "
				 "or one address; no bits set past the length)",
				 yaml_scalar(v), what);
	}
	return DR_EOK;
}

static int parse_action(struct yctx *y, yaml_node_t *v, const char *what, bool allow_ok,
			enum conf_acl_action *out)
{
	const char *t;

	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	t = yaml_scalar(v);
	if (allow_ok && strcmp(t, "allow") == 0) {
		*out = CONF_ACL_ALLOW;
	} else if (strcmp(t, "refuse") == 0) {
		*out = CONF_ACL_REFUSE;
	} else if (strcmp(t, "drop") == 0) {
		*out = CONF_ACL_DROP;
	} else {
		return yaml_fail(y, v, "%s must be %s, not '%s'", what,
				 allow_ok ? "allow, refuse or drop" : "refuse or drop", t);
	}
	return DR_EOK;
}

/* rate-limit: { responses-per-second, errors-per-second, slip, window, ipv4-prefix,
 *               ipv6-prefix, table-size, exempt, log-only } */

static int rrl_responses(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "rate-limit responses-per-second", 0, RATE_MAX,
			       &y->conf->rrl.responses_ps);
}

static int rrl_errors(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "rate-limit errors-per-second", 0, RATE_MAX,
			       &y->conf->rrl.errors_ps);
}

static int rrl_slip(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "rate-limit slip", 0, 10, &y->conf->rrl.slip);
}

static int rrl_window(struct yctx *y, yaml_node_t *v, void *obj)
{
	int rc = yaml_parse_duration(y, v, "rate-limit window", &y->conf->rrl.window_ms);

	(void)obj;
	if (rc == DR_EOK && y->conf->rrl.window_ms < 1000) {
		return yaml_fail(y, v, "rate-limit window must be at least 1s");
	}
	return rc;
}

static int rrl_v4(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned bits;
	int rc = yaml_parse_uint(y, v, "rate-limit ipv4-prefix", 1, 32, &bits);

	(void)obj;
	y->conf->limit_v4_bits = (uint8_t)bits;
	return rc;
}

static int rrl_v6(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned bits;
	int rc = yaml_parse_uint(y, v, "rate-limit ipv6-prefix", 1, 64, &bits);

	(void)obj;
	y->conf->limit_v6_bits = (uint8_t)bits;
	return rc;
}

static int rrl_table_size(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "rate-limit table-size", 1024, 1u << 26,
			       &y->conf->rrl.table_size);
}

static int exempt_one(struct yctx *y, yaml_node_t *v)
{
	struct conf_rrl *r = &y->conf->rrl;

	if (r->nexempt == CONF_EXEMPT_MAX) {
		return yaml_fail(y, v, "rate-limit exempt takes at most %d prefixes",
				 CONF_EXEMPT_MAX);
	}
	if (want_prefix(y, v, "rate-limit exempt", &r->exempt[r->nexempt]) != DR_EOK) {
		return DR_ECONF;
	}
	r->nexempt++;
	return DR_EOK;
}

static int rrl_exempt(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_each_value(y, v, exempt_one);
}

static int rrl_log_only(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_bool(y, v, "rate-limit log-only", &y->conf->rrl.log_only);
}

static const struct keyword rrl_keys[] = {
	{"responses-per-second", rrl_responses},
	{"errors-per-second", rrl_errors},
	{"slip", rrl_slip},
	{"window", rrl_window},
	{"ipv4-prefix", rrl_v4},
	{"ipv6-prefix", rrl_v6},
	{"table-size", rrl_table_size},
	{"exempt", rrl_exempt},
	{"log-only", rrl_log_only},
	{NULL, NULL},
};

int yaml_key_rate_limit(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_map(y, v, rrl_keys, NULL, "rate-limit");
}

/* acl: [ { from: PREFIX | [PREFIX, ...], action: allow | refuse | drop } ] */

struct acl_item {
	struct conf_acl *acl;
	yaml_node_t *from;
	enum conf_acl_action action;
	bool has_action;
};

static int acl_from(struct yctx *y, yaml_node_t *v, void *obj)
{
	((struct acl_item *)obj)->from = v;
	(void)y;
	return DR_EOK;
}

static int acl_action(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct acl_item *it = obj;

	it->has_action = true;
	return parse_action(y, v, "acl action", true, &it->action);
}

static const struct keyword acl_keys[] = {
	{"from", acl_from},
	{"action", acl_action},
	{NULL, NULL},
};

static int acl_add(struct yctx *y, yaml_node_t *v, struct conf_acl *acl,
		   enum conf_acl_action action)
{
	struct conf_acl_rule *grown;

	if (acl->n == CONF_ACL_MAX) {
		return yaml_fail(y, v, "an acl takes at most %d rules", CONF_ACL_MAX);
	}
	/* Doubling at powers of two: a list of n rules costs O(n) copies. */
	if ((acl->n & (acl->n - 1)) == 0) {
		grown = realloc(acl->rules, (acl->n ? acl->n * 2 : 4) * sizeof(*grown));
		if (grown == NULL) {
			return DR_ENOMEM;
		}
		acl->rules = grown;
	}
	if (want_prefix(y, v, "acl from", &acl->rules[acl->n].from) != DR_EOK) {
		return DR_ECONF;
	}
	acl->rules[acl->n++].action = action;
	return DR_EOK;
}

static int acl_list(struct yctx *y, yaml_node_t *v, struct conf_acl *acl, const char *what)
{
	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "%s must be a list of { from, action }", what);
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		struct acl_item it = {.acl = acl};
		int rc = yaml_parse_map(y, item, acl_keys, &it, "an acl rule");

		if (rc != DR_EOK) {
			return rc;
		}
		if (it.from == NULL || !it.has_action) {
			return yaml_fail(y, item, "an acl rule needs from and action");
		}
		if (it.from->type != YAML_SEQUENCE_NODE) {
			rc = acl_add(y, it.from, acl, it.action);
		}
		for (yaml_node_item_t *j = it.from->data.sequence.items.start;
		     it.from->type == YAML_SEQUENCE_NODE && j < it.from->data.sequence.items.top;
		     j++) {
			rc = acl_add(y, yaml_node(y, *j), acl, it.action);
			if (rc != DR_EOK) {
				break;
			}
		}
		if (rc != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}

int yaml_key_acl(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return acl_list(y, v, &y->conf->acl, "acl");
}

int yaml_route_acl(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	return acl_list(y, v, &r->acl, "a route's acl");
}

/* query-limit: { per-second, burst, action } */

static int ql_rate(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "query-limit per-second", 0, RATE_MAX,
			       &y->conf->qlimit.per_second);
}

static int ql_burst(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "query-limit burst", 0, RATE_MAX, &y->conf->qlimit.burst);
}

static int ql_action(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return parse_action(y, v, "query-limit action", false, &y->conf->qlimit.action);
}

static const struct keyword ql_keys[] = {
	{"per-second", ql_rate},
	{"burst", ql_burst},
	{"action", ql_action},
	{NULL, NULL},
};

int yaml_key_query_limit(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_map(y, v, ql_keys, NULL, "query-limit");
}
