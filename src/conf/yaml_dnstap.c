/* SPDX-License-Identifier: MIT */
/* conf/yaml_dnstap.c -- the dnstap key: where to, what, how much */
#include "common/err.h"
#include "conf/yaml_util.h"

static int dnstap_socket(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "dnstap socket", y->conf->dnstap.socket, CONF_PATH_MAX);
}

static int dnstap_file(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_text(y, v, "dnstap file", y->conf->dnstap.file, CONF_PATH_MAX);
}

static int dnstap_identity(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_bool(y, v, "dnstap identity", &y->conf->dnstap.identity);
}

static int dnstap_queries(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_bool(y, v, "dnstap queries", &y->conf->dnstap.queries);
}

static int dnstap_responses(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_bool(y, v, "dnstap responses", &y->conf->dnstap.responses);
}

static int dnstap_sample(struct yctx *y, yaml_node_t *v, void *obj)
{
	(void)obj;
	return yaml_parse_uint(y, v, "dnstap sample", 1, 1000000, &y->conf->dnstap.sample);
}

static int dnstap_queue_size(struct yctx *y, yaml_node_t *v, void *obj)
{
	unsigned n;

	(void)obj;
	if (yaml_parse_uint(y, v, "dnstap queue-size", 16, 16384, &n) != DR_EOK) {
		return DR_ECONF;
	}
	if ((n & (n - 1)) != 0) {
		return yaml_fail(y, v, "dnstap queue-size must be a power of two, not %u", n);
	}
	y->conf->dnstap.queue_size = n;
	return DR_EOK;
}

static const struct keyword dnstap_table[] = {
	{"socket", dnstap_socket},         {"file", dnstap_file},
	{"identity", dnstap_identity},     {"queries", dnstap_queries},
	{"responses", dnstap_responses},   {"sample", dnstap_sample},
	{"queue-size", dnstap_queue_size}, {NULL, NULL},
};

int yaml_key_dnstap(struct yctx *y, yaml_node_t *v, void *obj)
{
	struct conf_dnstap *d = &y->conf->dnstap;
	int rc = yaml_parse_map(y, v, dnstap_table, obj, "dnstap");

	if (rc == DR_EOK && (d->socket[0] != '\0') == (d->file[0] != '\0')) {
		return yaml_fail(y, v, "dnstap needs one of socket (a unix socket path) or file");
	}
	d->enabled = rc == DR_EOK;
	return rc;
}
