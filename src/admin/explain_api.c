/* SPDX-License-Identifier: MIT */
/* admin/explain_api.c -- GET /api/v1/explain?name=NAME&type=TYPE */
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "admin/explain_api.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "route/explain.h"

/* "NAME TYPE" read as a health query is: a name, and a type by mnemonic or TYPEnn. */
static bool question_of(const char *name, const char *type, struct wire_question *q)
{
	char text[WIRE_NAME_TEXT_MAX + 32];
	struct conf_health h;

	if (name == NULL || strlen(name) >= WIRE_NAME_TEXT_MAX ||
	    (type != NULL && strlen(type) > 16) || strchr(name, ' ') != NULL) {
		return false;
	}
	snprintf(text, sizeof(text), "%s %s", name, type != NULL ? type : "A");
	if (conf_parse_health_query(text, &h) != DR_EOK) {
		return false;
	}
	memset(q, 0, sizeof(*q));
	q->qtype = h.qtype;
	q->qclass = h.qclass;
	while (h.qname[q->name_len] != 0) {
		q->name_len = (uint16_t)(q->name_len + 1u + h.qname[q->name_len]);
		q->labels++;
	}
	q->name_len++;
	memcpy(q->name, h.qname, q->name_len);
	return true;
}

char *explain_api_json(const struct metrics_source *src, const char *name, const char *type,
		       bool *bad)
{
	struct strbuf sb = {0};
	struct wire_question q;
	struct regex_scratch *rs;
	struct explain e;

	*bad = !question_of(name, type, &q);
	if (*bad) {
		strbuf_printf(&sb, "{\"error\":\"want ?name=NAME&type=TYPE (type: A when left "
				   "out)\"}\n");
		return strbuf_take(&sb);
	}
	rs = regex_scratch_new();
	if (rs == NULL) {
		return NULL;
	}
	rcu_register_thread();
	pthread_mutex_lock(&src->reg->lock); /* backend names change under it */
	const struct snapshot *snap = rcu_dereference(src->router->snap);
	if (snap != NULL) {
		explain_route(snap, &q, rs, &e);
		explain_json(&sb, snap, &q, &e);
	} else {
		strbuf_printf(&sb, "{\"error\":\"starting\"}\n");
	}
	pthread_mutex_unlock(&src->reg->lock);
	rcu_unregister_thread();
	regex_scratch_free(rs);
	return strbuf_take(&sb);
}
