/* SPDX-License-Identifier: MIT */
/* conf/yaml.c -- read the YAML configuration file; every error names file and line */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/err.h"
#include "conf/conf.h"
#include "conf/yaml_util.h"

/* Top-level keys. */

static int listen_one(struct yctx *y, yaml_node_t *v)
{
	char msg[CONF_ERR_LEN];
	int rc;

	if (yaml_want_scalar(y, v, "a listen address") != DR_EOK) {
		return DR_ECONF;
	}
	rc = conf_add_listen(y->conf, yaml_scalar(v), msg, sizeof(msg));
	return rc == DR_ECONF ? yaml_fail(y, v, "%s", msg) : rc;
}

static int key_listen(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_each_value(y, v, listen_one);
}

static int key_workers(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	if (v->type == YAML_SCALAR_NODE && strcmp(yaml_scalar(v), "auto") == 0) {
		y->conf->workers = 0;
		return DR_EOK;
	}
	return yaml_parse_uint(y, v, "workers ('auto' or a number)", 1, 256, &y->conf->workers);
}

static int key_busy_poll(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	if (yaml_want_scalar(y, v, "busy-poll") != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_parse_busy_poll(yaml_scalar(v), &y->conf->busy_poll_us) != DR_EOK) {
		return yaml_fail(y, v,
				 "busy-poll must be 0 or like 50us or 1ms (up to 100ms), not '%s'",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

/* One client prefix of the list <key> into <list> (<*n> of at most <max>). */
static int prefix_item(struct yctx *y, yaml_node_t *v, const char *key, struct prefix *list,
		       size_t *n, size_t max)
{
	char what[64];

	snprintf(what, sizeof(what), "a %s prefix", key);
	if (yaml_want_scalar(y, v, what) != DR_EOK) {
		return DR_ECONF;
	}
	if (*n == max) {
		return yaml_fail(y, v, "%s takes at most %zu prefixes", key, max);
	}
	if (prefix_parse(yaml_scalar(v), &list[*n]) != DR_EOK) {
		return yaml_fail(y, v,
				 "bad client prefix '%s' in %s (like 192.0.2.0/24, "
				 "2001:db8::/32 or one address; no bits set past the length)",
				 yaml_scalar(v), key);
	}
	(*n)++;
	return DR_EOK;
}

static int transfers_one(struct yctx *y, yaml_node_t *v)
{
	struct conf *c = y->conf;

	return prefix_item(y, v, "transfers", c->transfers, &c->ntransfers, CONF_TRANSFERS_MAX);
}

static int explain_from_one(struct yctx *y, yaml_node_t *v)
{
	struct conf *c = y->conf;

	return prefix_item(y, v, "explain-from", c->explain_from, &c->nexplain_from,
			   CONF_EXPLAIN_FROM_MAX);
}

/* explain-from: [ PREFIX, ... ] -- the clients that may ask explain.dnsrouter. CH TXT; the
 * list replaces the default (loopback), and [] lets nobody */
static int key_explain_from(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	y->conf->nexplain_from = 0;
	return yaml_each_value(y, v, explain_from_one);
}

/* transfers: [ PREFIX, ... ] -- the clients whose zone transfers are relayed */
static int key_transfers(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_each_value(y, v, transfers_one);
}

static int key_identity(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "identity", y->conf->identity, sizeof(y->conf->identity));
}

static int key_version(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "version", y->conf->version, sizeof(y->conf->version));
}

static int key_no_route(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	if (yaml_want_scalar(y, v, "no-route") != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "servfail") == 0) {
		y->conf->no_route_rcode = WIRE_RCODE_SERVFAIL;
	} else if (strcmp(yaml_scalar(v), "refused") == 0) {
		y->conf->no_route_rcode = WIRE_RCODE_REFUSED;
	} else {
		return yaml_fail(y, v, "no-route must be 'servfail' or 'refused', not '%s'",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static int key_timeout(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_duration(y, v, "timeout", &y->conf->timeout_ms);
}

static int tcp_max_conns(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "tcp max-connections", 1, 1000000, &y->conf->tcp_max_conns);
}

static int tcp_idle(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_duration(y, v, "tcp idle-timeout", &y->conf->tcp_idle_ms);
}

static int tcp_per_client(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "tcp max-connections-per-client", 0, 1000000,
			       &y->conf->tcp_per_client);
}

static int tcp_query_timeout(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_duration(y, v, "tcp query-timeout", &y->conf->tcp_query_ms);
}

static int tcp_max_queries(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "tcp max-queries-per-connection", 0, 1000000000,
			       &y->conf->tcp_max_queries);
}

/* health: global defaults and per-backend overrides share one table. */

static int health_enabled(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	if (yaml_want_scalar(y, v, "health enabled") != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "true") == 0) {
		h->enabled = true;
	} else if (strcmp(yaml_scalar(v), "false") == 0) {
		h->enabled = false;
	} else {
		return yaml_fail(y, v, "health enabled must be true or false, not '%s'",
				 yaml_scalar(v));
	}
	h->set |= CONF_HEALTH_ENABLED;
	return DR_EOK;
}

static int health_transport(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	if (yaml_want_scalar(y, v, "health transport") != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "tcp") == 0) {
		h->tcp = true;
	} else if (strcmp(yaml_scalar(v), "udp") == 0) {
		h->tcp = false;
	} else {
		return yaml_fail(y, v, "health transport must be tcp or udp, not '%s'",
				 yaml_scalar(v));
	}
	h->set |= CONF_HEALTH_TRANSPORT;
	return DR_EOK;
}

static int health_query(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	if (yaml_want_scalar(y, v, "health query") != DR_EOK) {
		return DR_ECONF;
	}
	if (conf_parse_health_query(yaml_scalar(v), h) != DR_EOK) {
		return yaml_fail(
			y, v,
			"health query must be 'NAME [CLASS] TYPE' (e.g. 'id.server. CH TXT'), "
			"not '%s'",
			yaml_scalar(v));
	}
	h->set |= CONF_HEALTH_QUERY;
	return DR_EOK;
}

static int health_interval(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_INTERVAL;
	return yaml_parse_duration(y, v, "health interval", &h->interval_ms);
}

static int health_timeout(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_TIMEOUT;
	return yaml_parse_duration(y, v, "health timeout", &h->timeout_ms);
}

static int health_fall(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_FALL;
	return yaml_parse_uint(y, v, "health fall", 1, 1000, &h->fall);
}

static int health_rise(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_RISE;
	return yaml_parse_uint(y, v, "health rise", 1, 1000, &h->rise);
}

static int health_hold_down(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_HOLD_DOWN;
	return yaml_parse_duration(y, v, "health hold-down", &h->hold_down_ms);
}

static int health_hold_down_max(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;

	h->set |= CONF_HEALTH_HOLD_DOWN_MAX;
	return yaml_parse_duration(y, v, "health hold-down-max", &h->hold_down_max_ms);
}

static const char *const rcode_names[] = {
	"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
};

static int health_rcodes(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_health *h = obj;
	uint32_t mask = 0;

	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "health rcodes must be a list such as [NOERROR, REFUSED]");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		size_t k;
		if (yaml_want_scalar(y, item, "an rcode") != DR_EOK) {
			return DR_ECONF;
		}
		for (k = 0; k < sizeof(rcode_names) / sizeof(rcode_names[0]); k++) {
			if (strcasecmp(rcode_names[k], yaml_scalar(item)) == 0) {
				break;
			}
		}
		if (k == sizeof(rcode_names) / sizeof(rcode_names[0])) {
			return yaml_fail(y, item, "unknown rcode '%s'", yaml_scalar(item));
		}
		mask |= 1u << k;
	}
	if (mask == 0) {
		return yaml_fail(y, v, "health rcodes must name at least one rcode");
	}
	h->rcodes = mask;
	h->set |= CONF_HEALTH_RCODES;
	return DR_EOK;
}

static const struct keyword health_keys[] = {
	{"enabled", health_enabled},
	{"query", health_query},
	{"transport", health_transport},
	{"interval", health_interval},
	{"timeout", health_timeout},
	{"fall", health_fall},
	{"rise", health_rise},
	{"rcodes", health_rcodes},
	{"hold-down", health_hold_down},
	{"hold-down-max", health_hold_down_max},
	{NULL, NULL},
};

static int key_health(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_map(y, v, health_keys, &y->conf->health, "health");
}

static int key_admin(struct yctx *y, yaml_node_t *v, void *obj)
{
	const char *text;
	char addr[64];

	(void)obj;
	if (yaml_want_scalar(y, v, "admin") != DR_EOK) {
		return DR_ECONF;
	}
	text = yaml_scalar(v);
	/* A bare port is the loopback address: the endpoint is never public by accident. */
	if (strspn(text, "0123456789") == strlen(text) && strlen(text) <= 5) {
		snprintf(addr, sizeof(addr), "127.0.0.1:%s", text);
		text = addr;
	}
	if (sockaddr_parse(text, strlen(text), 0, &y->conf->admin) != DR_EOK) {
		return yaml_fail(y, v,
				 "bad admin address '%s' (want ip:port, [ipv6]:port or a port)",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static int key_admin_key(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "admin-key", y->conf->admin_key, sizeof(y->conf->admin_key));
}

/* user, group, chroot: where the process goes once its sockets are bound. */
static int key_user(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "user", y->conf->user, sizeof(y->conf->user));
}

static int key_group(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "group", y->conf->group, sizeof(y->conf->group));
}

static int key_chroot(struct yctx *y, yaml_node_t *v, void *obj)
{
	int rc = yaml_parse_text(y, v, "chroot", y->conf->chroot, sizeof(y->conf->chroot));

	(void)obj;
	if (rc == DR_EOK && y->conf->chroot[0] != '/') {
		return yaml_fail(y, v, "chroot must be an absolute path, not '%s'",
				 y->conf->chroot);
	}
	return rc;
}

/* etcd: { endpoints, prefix, timeout } */

static int etcd_endpoint(struct yctx *y, yaml_node_t *v)
{
	struct conf_etcd *e = &y->conf->etcd;

	if (yaml_want_scalar(y, v, "an etcd endpoint") != DR_EOK) {
		return DR_ECONF;
	}
	if ((strncmp(yaml_scalar(v), "http://", 7) != 0 &&
	     strncmp(yaml_scalar(v), "https://", 8) != 0) ||
	    strlen(yaml_scalar(v)) < 9 || strlen(yaml_scalar(v)) > 255) {
		return yaml_fail(y, v,
				 "etcd endpoint must be an http:// or https:// URL such as "
				 "http://127.0.0.1:2379, not '%s'",
				 yaml_scalar(v));
	}
	if (e->nendpoints == CONF_ETCD_ENDPOINTS_MAX) {
		return yaml_fail(y, v, "at most %d etcd endpoints", CONF_ETCD_ENDPOINTS_MAX);
	}
	e->endpoints[e->nendpoints] = strdup(yaml_scalar(v));
	if (e->endpoints[e->nendpoints] == NULL) {
		return DR_ENOMEM;
	}
	e->nendpoints++;
	return DR_EOK;
}

static int etcd_endpoints(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_each_value(y, v, etcd_endpoint);
}

static int etcd_prefix(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "etcd prefix", y->conf->etcd.prefix,
			       sizeof(y->conf->etcd.prefix));
}

static int etcd_timeout(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_duration(y, v, "etcd timeout", &y->conf->etcd.timeout_ms);
}

/* A PEM file the etcd client will read: checked now, so a typo is a config error. */
static int etcd_file(struct yctx *y, yaml_node_t *v, const char *what, char *out, size_t cap)
{
	int rc = yaml_parse_text(y, v, what, out, cap);
	struct stat st;

	if (rc != DR_EOK) {
		return rc;
	}
	if (stat(out, &st) != 0 || access(out, R_OK) != 0) {
		return yaml_fail(y, v, "cannot read etcd %s '%s' (%s)", what, out, strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		return yaml_fail(y, v, "cannot read etcd %s '%s' (not a regular file)", what, out);
	}
	return DR_EOK;
}

static int etcd_ca(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return etcd_file(y, v, "ca", y->conf->etcd.ca, sizeof(y->conf->etcd.ca));
}

static int etcd_cert(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return etcd_file(y, v, "cert", y->conf->etcd.cert, sizeof(y->conf->etcd.cert));
}

static int etcd_key(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return etcd_file(y, v, "key", y->conf->etcd.key, sizeof(y->conf->etcd.key));
}

static int etcd_username(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "etcd username", y->conf->etcd.username,
			       sizeof(y->conf->etcd.username));
}

static int etcd_password(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "etcd password", y->conf->etcd.password,
			       sizeof(y->conf->etcd.password));
}

static const struct keyword etcd_keys[] = {
	{"endpoints", etcd_endpoints},
	{"prefix", etcd_prefix},
	{"timeout", etcd_timeout},
	{"ca", etcd_ca},
	{"cert", etcd_cert},
	{"key", etcd_key},
	{"username", etcd_username},
	{"password", etcd_password},
	{NULL, NULL},
};

static int key_etcd(struct yctx *y, yaml_node_t *v, void *obj)
{
	int rc = yaml_parse_map(y, v, etcd_keys, obj, "etcd");

	const struct conf_etcd *e = &y->conf->etcd;

	if (rc != DR_EOK) {
		return rc;
	}
	if (e->nendpoints == 0) {
		return yaml_fail(y, v, "etcd needs at least one endpoint");
	}
	if ((e->cert[0] == '\0') != (e->key[0] == '\0')) {
		return yaml_fail(y, yaml_key_node(y, v, e->cert[0] ? "cert" : "key"),
				 "etcd cert and key go together");
	}
	if ((e->username[0] == '\0') != (e->password[0] == '\0')) {
		return yaml_fail(y, yaml_key_node(y, v, e->username[0] ? "username" : "password"),
				 "etcd username and password go together");
	}
	return DR_EOK;
}

static int tcp_backend_conns(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "tcp backend-connections", 1, CONF_TCP_BACKEND_CONNS_MAX,
			       &y->conf->tcp_backend_conns);
}

static const struct keyword tcp_keys[] = {
	{"backend-connections", tcp_backend_conns},
	{"max-connections", tcp_max_conns},
	{"idle-timeout", tcp_idle},
	{"max-connections-per-client", tcp_per_client},
	{"query-timeout", tcp_query_timeout},
	{"max-queries-per-connection", tcp_max_queries},
	{NULL, NULL},
};

static int key_tcp(struct yctx *y, yaml_node_t *v, void *obj)
{
	return yaml_parse_map(y, v, tcp_keys, obj, "tcp");
}

/* backends: [ { name, address, timeout } ] */

static int be_name(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	return yaml_parse_text(y, v, "backend name", be->name, sizeof(be->name));
}

static int be_address(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	if (yaml_want_scalar(y, v, "backend address") != DR_EOK) {
		return DR_ECONF;
	}
	if (sockaddr_parse(yaml_scalar(v), strlen(yaml_scalar(v)), 53, &be->addr) != DR_EOK) {
		return yaml_fail(y, v, "bad backend address '%s' (want ip:port or [ipv6]:port)",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static int be_timeout(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	return yaml_parse_duration(y, v, "backend timeout", &be->timeout_ms);
}

static int be_weight(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	return yaml_parse_uint(y, v, "backend weight", 1, CONF_WEIGHT_MAX, &be->weight);
}

static int parse_client_address(struct yctx *y, yaml_node_t *v, enum conf_client_address *out)
{
	if (yaml_want_scalar(y, v, "client-address") != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "none") == 0) {
		*out = CONF_CA_NONE;
	} else if (strcmp(yaml_scalar(v), "ecs") == 0) {
		*out = CONF_CA_ECS;
	} else if (strcmp(yaml_scalar(v), "proxy-v2") == 0) {
		*out = CONF_CA_PROXY;
	} else if (strcmp(yaml_scalar(v), "transparent") == 0) {
		*out = CONF_CA_TRANSPARENT;
	} else {
		return yaml_fail(
			y, v, "client-address must be none, ecs, proxy-v2 or transparent, not '%s'",
			yaml_scalar(v));
	}
	return DR_EOK;
}

static int be_client_address(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	return parse_client_address(y, v, &be->client_address);
}

static int key_client_address(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return parse_client_address(y, v, &y->conf->client_address);
}

static int ecs_v4(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned bits;
	int rc = yaml_parse_uint(y, v, "ecs ipv4-prefix", 0, 32, &bits);

	(void)obj;
	y->conf->ecs.v4_bits = (uint8_t)bits;
	return rc;
}

static int ecs_v6(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned bits;
	int rc = yaml_parse_uint(y, v, "ecs ipv6-prefix", 0, 128, &bits);

	(void)obj;
	y->conf->ecs.v6_bits = (uint8_t)bits;
	return rc;
}

static int ecs_override(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_bool(y, v, "ecs override", &y->conf->ecs.override);
}

static const struct keyword ecs_keys[] = {
	{"ipv4-prefix", ecs_v4},
	{"ipv6-prefix", ecs_v6},
	{"override", ecs_override},
	{NULL, NULL},
};

static int key_ecs(struct yctx *y, yaml_node_t *v, void *obj)
{
	return yaml_parse_map(y, v, ecs_keys, obj, "ecs");
}

static int be_health(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_backend *be = obj;

	return yaml_parse_map(y, v, health_keys, &be->health, "backend health");
}

static const struct keyword backend_keys[] = {
	{"name", be_name},     {"address", be_address}, {"timeout", be_timeout},
	{"weight", be_weight}, {"health", be_health},   {"client-address", be_client_address},
	{NULL, NULL},
};

static int key_backends(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "backends must be a list");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		struct conf_backend *be = conf_backend_add(y->conf);
		int rc;

		if (be == NULL) {
			return DR_ENOMEM;
		}
		be->line = (int)item->start_mark.line + 1;
		rc = yaml_parse_map(y, item, backend_keys, be, "a backend");
		if (rc != DR_EOK) {
			return rc;
		}
		if (be->name[0] == '\0' || be->addr.sa.sa_family == 0) {
			return yaml_fail(y, item, "a backend needs a name and an address");
		}
	}
	return DR_EOK;
}

/* routes: [ { zone | regex, backends, policy } ] */

static int route_pattern(struct yctx *y, yaml_node_t *v, struct conf_route *r,
			 enum conf_route_kind kind)
{
	if (r->pattern != NULL) {
		return yaml_fail(y, v, "a route has either zone or regex, not both");
	}
	if (yaml_want_scalar(y, v, kind == CONF_ROUTE_ZONE ? "zone" : "regex") != DR_EOK) {
		return DR_ECONF;
	}
	r->kind = kind;
	r->pattern = strdup(yaml_scalar(v));
	if (r->pattern == NULL) {
		return DR_ENOMEM;
	}
	if (kind == CONF_ROUTE_ZONE) {
		int n = wire_name_from_text(yaml_scalar(v), r->zone);
		if (n < 0) {
			return yaml_fail(y, v, "bad zone name '%s'", yaml_scalar(v));
		}
		r->zone_len = (unsigned)n;
	}
	return DR_EOK;
}

static int route_zone(struct yctx *y, yaml_node_t *v, void *obj)
{
	return route_pattern(y, v, obj, CONF_ROUTE_ZONE);
}

static int route_regex(struct yctx *y, yaml_node_t *v, void *obj)
{
	return route_pattern(y, v, obj, CONF_ROUTE_REGEX);
}

static int route_backends(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "route backends must be a list of backend names");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		if (yaml_want_scalar(y, item, "a backend name") != DR_EOK) {
			return DR_ECONF;
		}
		if (conf_route_add_backend(r, yaml_scalar(item)) != DR_EOK) {
			return DR_ENOMEM;
		}
	}
	return DR_EOK;
}

static int route_policy(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	if (yaml_want_scalar(y, v, "policy") != DR_EOK) {
		return DR_ECONF;
	}
	int policy = conf_policy_from_name(yaml_scalar(v));

	if (policy < 0) {
		return yaml_fail(y, v,
				 "unknown policy '%s' (round-robin, weighted, least-outstanding, "
				 "hash, first-available)",
				 yaml_scalar(v));
	}
	r->policy = (enum conf_policy)policy;
	return DR_EOK;
}

static int route_fallback(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_route *r = obj;

	if (yaml_want_scalar(y, v, "fallback") != DR_EOK) {
		return DR_ECONF;
	}
	if (strcmp(yaml_scalar(v), "servfail") == 0) {
		r->fallback = CONF_FALLBACK_SERVFAIL;
	} else if (strcmp(yaml_scalar(v), "all") == 0) {
		r->fallback = CONF_FALLBACK_ALL;
	} else {
		return yaml_fail(y, v, "fallback must be 'servfail' or 'all', not '%s'",
				 yaml_scalar(v));
	}
	return DR_EOK;
}

static const struct keyword route_keys[] = {
	{"zone", route_zone},
	{"regex", route_regex},
	{"backends", route_backends},
	{"policy", route_policy},
	{"fallback", route_fallback},
	{"acl", yaml_route_acl},
	{"shards", yaml_route_shards},
	{"nsec3", yaml_route_nsec3},
	{"full-zone", yaml_route_full_zone},
	{"serial", yaml_route_serial},
	{NULL, NULL},
};

static int key_routes(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	if (v->type != YAML_SEQUENCE_NODE) {
		return yaml_fail(y, v, "routes must be a list");
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_node(y, *i);
		struct conf_route *r = conf_route_add(y->conf);
		int rc;

		if (r == NULL) {
			return DR_ENOMEM;
		}
		r->line = (int)item->start_mark.line + 1;
		rc = yaml_parse_map(y, item, route_keys, r, "a route");
		if (rc != DR_EOK) {
			return rc;
		}
		if (r->pattern == NULL) {
			return yaml_fail(y, item, "a route needs a zone or a regex");
		}
	}
	return DR_EOK;
}

/* One key per line reads better than packed columns. */
/* clang-format off */
static const struct keyword top_keys[] = {
	{"listen", key_listen},
	{"workers", key_workers},
	{"busy-poll", key_busy_poll},
	{"identity", key_identity},
	{"version", key_version},
	{"no-route", key_no_route},
	{"transfers", key_transfers},
	{"explain-from", key_explain_from},
	{"dnstap", yaml_key_dnstap},
	{"timeout", key_timeout},
	{"tcp", key_tcp},
	{"admin", key_admin},
	{"admin-key", key_admin_key},
	{"rate-limit", yaml_key_rate_limit},
	{"client-address", key_client_address},
	{"ecs", key_ecs},
	{"acl", yaml_key_acl},
	{"query-limit", yaml_key_query_limit},
	{"dnscurve", yaml_key_dnscurve},
	{"user", key_user},
	{"group", key_group},
	{"chroot", key_chroot},
	{"health", key_health},
	{"etcd", key_etcd},
	{"backends", key_backends},
	{"routes", key_routes},
	{NULL, NULL},
};
/* clang-format on */

/* A second document ("---") would be silently ignored: say so instead. */
static int only_document(struct yctx *y, yaml_parser_t *parser, const char *path)
{
	yaml_document_t next;
	yaml_node_t *root;
	int rc = DR_EOK;

	if (yaml_parser_load(parser, &next) == 0) {
		snprintf(y->err, y->len, "%s:%zu: %s", path, parser->problem_mark.line + 1,
			 parser->problem ? parser->problem : "not valid YAML");
		return DR_ECONF;
	}
	root = yaml_document_get_root_node(&next);
	if (root != NULL && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
		snprintf(y->err, y->len,
			 "%s:%zu: a second YAML document; the configuration is one document", path,
			 next.start_mark.line + 1);
		rc = DR_ECONF;
	}
	yaml_document_delete(&next);
	return rc;
}

int conf_load_yaml(struct conf *c, const char *path, char *err, size_t len)
{
	yaml_parser_t parser;
	struct yctx y = {.conf = c, .err = err, .len = len};
	yaml_node_t *root;
	FILE *f;
	int rc;

	free(c->file);
	c->file = strdup(path);
	if (c->file == NULL) {
		return DR_ENOMEM;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, len, "%s:0: cannot open (%s)", path, strerror(errno));
		return DR_ECONF;
	}
	if (yaml_parser_initialize(&parser) == 0) {
		fclose(f);
		return DR_ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (yaml_parser_load(&parser, &y.doc) == 0) {
		snprintf(err, len, "%s:%zu: %s", path, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "not valid YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return DR_ECONF;
	}
	root = yaml_document_get_root_node(&y.doc);
	if (root == NULL) {
		rc = DR_EOK; /* an empty file is every default */
	} else {
		rc = yaml_parse_map(&y, root, top_keys, NULL, "the configuration");
	}
	if (rc == DR_EOK && root != NULL) {
		rc = only_document(&y, &parser, path);
	}
	yaml_document_delete(&y.doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}
