/* SPDX-License-Identifier: MIT */
/* worker/query.c -- what to do with a client's query, whatever transport brought it */
#include <string.h>

#include "common/err.h"
#include "common/prefix.h"
#include "limit/acl.h"
#include "limit/qlimit.h"
#include "route/explain.h"
#include "worker/query.h"
#include "wire/edns.h"
#include "wire/synth.h"

/* Names the router answers itself, in lower-cased wire form (RFC 4892 and BIND custom). */
static const uint8_t name_id_server[] = "\2id\6server";
static const uint8_t name_hostname_bind[] = "\10hostname\4bind";
static const uint8_t name_version_bind[] = "\7version\4bind";
static const uint8_t name_version_server[] = "\7version\6server";

/* The suffix that asks the router to explain the name before it. */
static const uint8_t suffix_explain[] = "\7explain\11dnsrouter";

static bool name_is(const struct wire_question *q, const uint8_t *name, size_t size)
{
	/* <size> counts the string literal's NUL, which stands for the root label. */
	return q->name_len == size && memcmp(q->name, name, size) == 0;
}

static void reply(struct worker *w, struct query_verdict *v, uint8_t *msg, size_t len, size_t cap,
		  const struct wire_question *q, int rcode, int ede, const char *txt)
{
	int n = synth_reply(msg, len, cap, q, rcode, ede, txt);

	(void)w;
	v->action = n > 0 ? QUERY_REPLY : QUERY_DROP;
	v->reply_len = n;
}

static bool prefixes_hold(const struct prefix *list, uint32_t n, const union sockaddr_any *client)
{
	for (uint32_t i = 0; i < n; i++) {
		if (prefix_contains(&list[i], client)) {
			return true;
		}
	}
	return false;
}

/* The name <q> asks about, as a question of type A, when it ends in explain.dnsrouter. */
static bool explained_question(const struct wire_question *q, struct wire_question *eq)
{
	size_t slen = sizeof(suffix_explain); /* its NUL is the root label */

	if (q->name_len < slen || memcmp(q->name + q->name_len - slen, suffix_explain, slen)) {
		return false;
	}
	*eq = *q;
	eq->name_len = (uint16_t)(q->name_len - slen + 1);
	eq->name[eq->name_len - 1] = 0;
	eq->labels = (uint8_t)(q->labels - 2);
	eq->qtype = WIRE_TYPE_A;
	eq->qclass = WIRE_CLASS_IN;
	/* A name that only ends like the suffix (a label "xexplain") is not one. */
	for (size_t pos = 0, end = (size_t)eq->name_len - 1; pos < end; pos += 1u + eq->name[pos]) {
		if (pos + 1u + eq->name[pos] > end) {
			return false;
		}
	}
	return true;
}

/* explain.dnsrouter. CH TXT: the route of the name before the suffix, as TXT strings, for
 * clients in explain-from; REFUSED for others. The answer keeps to the client's UDP size by
 * leaving out its last lines. */
static void explain(struct worker *w, const struct query_origin *from, uint8_t *msg, size_t len,
		    size_t cap, const struct wire_question *q, const struct wire_question *eq,
		    struct query_verdict *v)
{
	const struct snapshot *s = w->snap;
	char lines[EXPLAIN_LINES_MAX][EXPLAIN_LINE_LEN];
	const char *txts[EXPLAIN_LINES_MAX];
	struct explain e;
	struct wire_opt opt;
	size_t n, limit = cap;
	int rlen = DR_ESPACE;

	if (!prefixes_hold(s->explain_from, s->nexplain_from, from->client)) {
		reply(w, v, msg, len, cap, q, WIRE_RCODE_REFUSED, WIRE_EDE_PROHIBITED, NULL);
		return;
	}
	if (!from->tcp) {
		bool edns = edns_find_opt(msg, len, q, &opt) == DR_EOK && opt.present;
		limit = edns && opt.udp_size > 512 ? opt.udp_size : 512;
		limit = limit < cap ? limit : cap;
	}
	explain_route(s, eq, w->rs, &e);
	n = explain_lines(s, eq, &e, lines, EXPLAIN_LINES_MAX);
	for (size_t i = 0; i < n; i++) {
		txts[i] = lines[i];
	}
	for (; n > 0 && rlen == DR_ESPACE; n--) {
		rlen = synth_reply_txts(msg, len, limit, q, WIRE_RCODE_NOERROR, WIRE_EDE_NONE, txts,
					n);
	}
	v->action = rlen > 0 ? QUERY_REPLY : QUERY_DROP;
	v->reply_len = rlen;
}

static bool is_transfer(const struct wire_question *q)
{
	return q->qtype == WIRE_TYPE_AXFR || q->qtype == WIRE_TYPE_IXFR;
}

static bool transfer_allowed(const struct snapshot *s, const union sockaddr_any *client)
{
	return prefixes_hold(s->transfers, s->ntransfers, client);
}

/* id.server/hostname.bind/version.* CH TXT, and the zone transfers of clients that the
 * transfers rule does not allow. True when it answered. */
static bool answer_locally(struct worker *w, const struct query_origin *from, uint8_t *msg,
			   size_t len, size_t cap, const struct wire_question *q,
			   struct query_verdict *v)
{
	const struct snapshot *s = w->snap;
	struct wire_question eq;

	if (is_transfer(q)) {
		if (transfer_allowed(s, from->client)) {
			return false;
		}
		STAT_INC(w, ST_XFR_REFUSED);
		reply(w, v, msg, len, cap, q, WIRE_RCODE_REFUSED, WIRE_EDE_PROHIBITED, NULL);
		return true;
	}
	if (q->qclass != WIRE_CLASS_CH || q->qtype != WIRE_TYPE_TXT) {
		return false;
	}
	if (explained_question(q, &eq)) {
		explain(w, from, msg, len, cap, q, &eq, v);
		return true;
	}
	if (name_is(q, name_id_server, sizeof(name_id_server)) ||
	    name_is(q, name_hostname_bind, sizeof(name_hostname_bind))) {
		reply(w, v, msg, len, cap, q, WIRE_RCODE_NOERROR, WIRE_EDE_NONE, s->identity);
		return true;
	}
	if (name_is(q, name_version_bind, sizeof(name_version_bind)) ||
	    name_is(q, name_version_server, sizeof(name_version_server))) {
		if (s->version[0] != '\0') {
			reply(w, v, msg, len, cap, q, WIRE_RCODE_NOERROR, WIRE_EDE_NONE,
			      s->version);
		} else {
			reply(w, v, msg, len, cap, q, WIRE_RCODE_REFUSED, WIRE_EDE_PROHIBITED,
			      NULL);
		}
		return true;
	}
	return false;
}

static uint32_t pending_at(void *arg, const struct backend *be)
{
	struct worker *w = arg;
	struct wbackend *wb = be->idx < w->nbes ? w->bes[be->idx] : NULL;

	return wb != NULL ? wb->pending : 0;
}

static struct backend *pick(struct worker *w, const struct route *r, const struct wire_question *q,
			    const struct backend *exclude)
{
	struct pool_ctx pc = {
		.cursor = r->idx < w->nrr ? &w->rr[r->idx] : &w->rr[0],
		.pending = pending_at,
		.arg = w,
	};

	return pool_pick(&r->pool, q, &pc, exclude);
}

/* Drop or refuse a query by <action> of an access rule or the query limit; <parsed> says
 * whether <q> holds the query's question (a refusal needs it). */
static void deny(struct worker *w, struct query_verdict *v, uint8_t *msg, size_t len, size_t cap,
		 const struct wire_question *q, bool parsed, enum conf_acl_action action,
		 enum stat_counter refused, enum stat_counter dropped)
{
	if (action == CONF_ACL_REFUSE && parsed) {
		STAT_INC(w, refused);
		reply(w, v, msg, len, cap, q, WIRE_RCODE_REFUSED, WIRE_EDE_PROHIBITED, NULL);
		return;
	}
	STAT_INC(w, dropped);
	v->action = QUERY_DROP;
	v->close = true;
}

/* The checks before anything else is done for the client: the global access rules, then
 * the query limit. True when they decided the query's fate. */
static bool screen(struct worker *w, const struct query_origin *from, uint8_t *msg, size_t len,
		   size_t cap, const struct wire_question *q, bool parsed, struct query_verdict *v)
{
	const struct snapshot *s = w->snap;
	enum conf_acl_action action = acl_check(s->acl, from->client);

	if (action != CONF_ACL_ALLOW) {
		deny(w, v, msg, len, cap, q, parsed, action, ST_ACL_REFUSE, ST_ACL_DROP);
		return true;
	}
	if (s->qlimit.per_second != 0 && !qlimit_allow(w->ql, &s->qlimit, s->limit_v4_bits,
						       s->limit_v6_bits, from->client, w->now_ms)) {
		deny(w, v, msg, len, cap, q, parsed, s->qlimit.action, ST_QLIMIT_REFUSE,
		     ST_QLIMIT_DROP);
		return true;
	}
	return false;
}

void query_decide(struct worker *w, const struct query_origin *from, uint8_t *msg, size_t len,
		  size_t cap, struct wire_question *q, struct query_verdict *v)
{
	int rc = wire_parse_query(msg, len, q);
	struct wire_opt opt;
	enum conf_acl_action action;

	memset(v, 0, sizeof(*v));
	if (len < WIRE_HDR_LEN) {
		STAT_INC(w, ST_DROP_SHORT);
		return;
	}
	if (rc == DR_ERESPONSE) {
		STAT_INC(w, ST_DROP_QR);
		return;
	}
	if (screen(w, from, msg, len, cap, q, rc == DR_EOK, v)) {
		return;
	}
	if (rc == DR_EOK && edns_find_opt(msg, len, q, &opt) != DR_EOK) {
		rc = DR_EMALF; /* records that run past the end, or two OPT records */
	}
	if (rc != DR_EOK) {
		STAT_INC(w, ST_FORMERR);
		v->action = QUERY_REPLY;
		v->reply_len = synth_formerr(msg, len);
		return;
	}
	if (opt.present && opt.version != 0) {
		/* RFC 6891 §6.1.3: EDNS versions above 0 get BADVERS; no backend speaks one
		 * either. */
		STAT_INC(w, ST_LOCAL);
		STAT_INC(w, ST_BADVERS);
		reply(w, v, msg, len, cap, q, WIRE_RCODE_BADVERS, WIRE_EDE_NONE, NULL);
		return;
	}
	if (wire_opcode(msg) != WIRE_OPCODE_QUERY) {
		/* UPDATE, NOTIFY, ...: relayed, they would reach the backend from our address,
		 * which its ACL trusts. NOTIMP: "does not support the requested kind of query"
		 * (RFC 1035 §4.1.1). */
		STAT_INC(w, ST_LOCAL);
		reply(w, v, msg, len, cap, q, WIRE_RCODE_NOTIMP, WIRE_EDE_NONE, NULL);
		return;
	}
	if (answer_locally(w, from, msg, len, cap, q, v)) {
		STAT_INC(w, ST_LOCAL);
		return;
	}
	v->route = route_lookup(w->snap, q, w->rs);
	if (v->route == NULL) {
		STAT_INC(w, ST_NOROUTE);
		reply(w, v, msg, len, cap, q, w->snap->no_route_rcode, WIRE_EDE_NOT_AUTHORITATIVE,
		      NULL);
		return;
	}
	action = acl_check(v->route->acl, from->client);
	if (action != CONF_ACL_ALLOW) {
		deny(w, v, msg, len, cap, q, true, action, ST_ACL_REFUSE, ST_ACL_DROP);
		return;
	}
	if (v->route->shard_of != NULL && is_transfer(q)) {
		/* One shard holds a part of the zone: only a source of the whole zone may be
		 * transferred from. */
		v->route = v->route->shard_of->shards->full_zone;
		if (v->route == NULL) {
			STAT_INC(w, ST_XFR_REFUSED);
			reply(w, v, msg, len, cap, q, WIRE_RCODE_REFUSED, WIRE_EDE_PROHIBITED,
			      NULL);
			return;
		}
	}
	v->be = pick(w, v->route, q, NULL);
	v->wb = v->be ? worker_backend(w, v->be) : NULL;
	if (v->wb == NULL) {
		STAT_INC(w, ST_SERVFAIL_NOBACKEND);
		reply(w, v, msg, len, cap, q, WIRE_RCODE_SERVFAIL, WIRE_EDE_NO_REACHABLE_AUTHORITY,
		      NULL);
		return;
	}
	/* Over UDP an allowed transfer is an ordinary query: the backend answers it as it
	 * would the client (an IXFR that fits, or TC=1 to come back over TCP). */
	v->action = from->tcp && is_transfer(q) ? QUERY_TRANSFER : QUERY_FORWARD;
}

struct wbackend *query_pick_retry(struct worker *w, const struct wire_question *q,
				  const struct backend *failed)
{
	const struct route *r = route_lookup(w->snap, q, w->rs);
	struct backend *be;

	if (r == NULL) {
		return NULL;
	}
	be = pick(w, r, q, failed);
	return be ? worker_backend(w, be) : NULL;
}

int query_servfail(uint8_t *msg, size_t len, size_t cap, int ede)
{
	struct wire_question q;

	if (wire_parse_question(msg, len, &q) != DR_EOK) {
		return DR_EMALF;
	}
	return synth_reply(msg, len, cap, &q, WIRE_RCODE_SERVFAIL, ede, NULL);
}
