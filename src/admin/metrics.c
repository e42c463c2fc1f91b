/* SPDX-License-Identifier: MIT */
/* admin/metrics.c -- what the admin endpoint shows: counters summed over workers, as
 * Prometheus text and JSON */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <urcu-qsbr.h>

#include "admin/metrics.h"
#include "limit/qlimit.h"
#include "limit/rrl.h"
#include "common/strbuf.h"

static const char *const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15",
};

static const struct {
	const char *reason;
	enum stat_counter counter;
} drops[] = {
	{"short", ST_DROP_SHORT},               /* shorter than a header */
	{"response", ST_DROP_QR},               /* QR=1 at a listener */
	{"truncated", ST_DROP_TRUNC},           /* UDP query larger than we read */
	{"bad_response", ST_DROP_BAD_RESPONSE}, /* backend answer that matched nothing */
	{"send_failed", ST_DROP_SEND},
	{"retry_lost", ST_DROP_RING}, /* query copy overwritten before its timeout */
	{"table_full", ST_INFLIGHT_FULL},
	{"tcp_refused", ST_TCP_REFUSED}, /* accepted while draining */
};

static uint64_t sum_stat(const struct metrics_source *src, enum stat_counter k)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < src->nworkers; i++) {
		sum += stat_read(&src->workers[i]->stats.c[k]);
	}
	return sum;
}

static uint64_t sum_regex_limits(const struct metrics_source *src)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < src->nworkers; i++) {
		sum += regex_scratch_limit_hits(src->workers[i]->rs);
	}
	return sum;
}

static uint64_t sum_rcode(const struct metrics_source *src, unsigned rcode)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < src->nworkers; i++) {
		sum += stat_read(&src->workers[i]->stats.rcode[rcode]);
	}
	return sum;
}

static void header(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family with one label, a line per value: what the access rules, the query limit, RRL
 * and the TCP limits did. */
struct labelled {
	const char *value;
	enum stat_counter counter;
};

static const struct labelled acl_actions[] = {
	{"refuse", ST_ACL_REFUSE},
	{"drop", ST_ACL_DROP},
};

static const struct labelled qlimit_actions[] = {
	{"refuse", ST_QLIMIT_REFUSE},
	{"drop", ST_QLIMIT_DROP},
};

static const struct labelled rrl_results[] = {
	{"slip", ST_RRL_SLIP},
	{"drop", ST_RRL_DROP},
	{"would", ST_RRL_WOULD},
};

static const struct labelled tcp_closes[] = {
	{"per_client", ST_TCP_CLOSE_PER_CLIENT},
	{"query_timeout", ST_TCP_CLOSE_QUERY_TIMEOUT},
	{"max_queries", ST_TCP_CLOSE_MAX_QUERIES},
	{"evicted", ST_TCP_CLOSE_EVICTED},
};

static const struct labelled curve_drops[] = {
	{"malformed", ST_CURVE_DROP_MALFORMED},
	{"box", ST_CURVE_DROP_BOX},
	{"budget", ST_CURVE_DROP_BUDGET},
};

/* DNSCurve queries and answers: two labels, transport and format. */
static void curve_by_kind(struct strbuf *sb, const struct metrics_source *src, const char *name,
			  const char *help, enum stat_counter first)
{
	static const char *const kinds[4][2] = {
		{"udp", "streamlined"}, {"udp", "txt"}, {"tcp", "streamlined"}, {"tcp", "txt"}};

	header(sb, name, "counter", help);
	for (unsigned i = 0; i < 4; i++) {
		strbuf_printf(sb, "%s{transport=\"%s\",format=\"%s\"} %llu\n", name, kinds[i][0],
			      kinds[i][1],
			      (unsigned long long)sum_stat(src, (enum stat_counter)(first + i)));
	}
}

/* Families of one counter without labels. */
static const struct {
	const char *name;
	const char *help;
	enum stat_counter counter;
} plain[] = {
	{"dnsrouter_backend_unreachable_total",
	 "UDP queries failed over at once because the backend was unreachable (ICMP).",
	 ST_BACKEND_UNREACHABLE},
	{"dnsrouter_client_address_unedited_total",
	 "Queries that went without the client's address (signed, malformed, no room, or a "
	 "transparent backend of the other family) and answers the router's client subnet could "
	 "not be taken out of.",
	 ST_CLIENTADDR_UNEDITED},
	{"dnsrouter_transparent_sockets_opened_total",
	 "UDP sockets opened from a client's own address to a transparent backend (a client that "
	 "keeps its port reuses its socket).",
	 ST_TRANSPARENT_OPENED},
	{"dnsrouter_dnstap_messages_total", "dnstap messages queued for the writer.",
	 ST_DNSTAP_SENT},
	{"dnsrouter_dnstap_dropped_total",
	 "dnstap messages dropped because the writer's queue was full (a slow reader).",
	 ST_DNSTAP_DROPPED},
	{"dnsrouter_curve_key_cache_hits_total",
	 "DNSCurve queries opened with a shared key from the worker's cache.", ST_CURVE_CACHE_HIT},
	{"dnsrouter_curve_key_cache_misses_total",
	 "DNSCurve queries whose shared key had to be computed (about 40 us each).",
	 ST_CURVE_CACHE_MISS},
	{"dnsrouter_curve_truncated_total",
	 "DNSCurve UDP answers too big for the client once boxed, sent as our TC=1 answer.",
	 ST_CURVE_TRUNCATED},
	{"dnsrouter_curve_odd_padding_total",
	 "Opened DNSCurve queries followed by bytes that are not dq's padding (not forwarded).",
	 ST_CURVE_ODD_PADDING},
	{"dnsrouter_transparent_failed_total",
	 "Queries to a transparent backend answered SERVFAIL because no socket from the client's "
	 "address could be had (all busy, or the host refused it).",
	 ST_TRANSPARENT_FAILED},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void labelled_family(struct strbuf *sb, const struct metrics_source *src, const char *name,
			    const char *help, const char *label, const struct labelled *v, size_t n)
{
	header(sb, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(sb, "%s{%s=\"%s\"} %llu\n", name, label, v[i].value,
			      (unsigned long long)sum_stat(src, v[i].counter));
	}
}

/* Where relayed TCP queries spend their time inside the router and at the backend. */
static void tcp_stage_metrics(struct strbuf *sb, const struct metrics_source *src)
{
	static const struct labelled stages[] = {
		{"in", ST_TCP_US_IN},
		{"backend", ST_TCP_US_BACKEND},
		{"out", ST_TCP_US_OUT},
	};

	header(sb, "dnsrouter_tcp_stage_seconds_total", "counter",
	       "Time relayed TCP queries answered on their first try spent, by stage: in = from "
	       "the query read to its place in the backend connection's buffer; backend = from "
	       "there (written at the end of that loop turn) to its answer read; out = from the "
	       "answer read to its write to the client.");
	for (size_t i = 0; i < NELEM(stages); i++) {
		strbuf_printf(sb, "dnsrouter_tcp_stage_seconds_total{stage=\"%s\"} %.6f\n",
			      stages[i].value, (double)sum_stat(src, stages[i].counter) / 1e6);
	}
	header(sb, "dnsrouter_tcp_stage_answers_total", "counter",
	       "Relayed TCP answers whose stages dnsrouter_tcp_stage_seconds_total counts.");
	strbuf_printf(sb, "dnsrouter_tcp_stage_answers_total %llu\n",
		      (unsigned long long)sum_stat(src, ST_TCP_TIMED));
}

static void limit_metrics(struct strbuf *sb, const struct metrics_source *src)
{
	labelled_family(sb, src, "dnsrouter_acl_total",
			"Queries an access rule refused or dropped (global or a route's).",
			"action", acl_actions, NELEM(acl_actions));
	labelled_family(sb, src, "dnsrouter_query_limit_total",
			"Queries over the query limit, refused or dropped.", "action",
			qlimit_actions, NELEM(qlimit_actions));
	labelled_family(sb, src, "dnsrouter_rrl_total",
			"Answers response rate limiting replaced by TC=1 (slip), dropped, or "
			"would have limited (log-only).",
			"result", rrl_results, NELEM(rrl_results));
	labelled_family(sb, src, "dnsrouter_tcp_closed_total",
			"Client TCP connections the TCP limits closed, by limit.", "reason",
			tcp_closes, NELEM(tcp_closes));
	tcp_stage_metrics(sb, src);
	labelled_family(sb, src, "dnsrouter_curve_dropped_total",
			"DNSCurve queries dropped: malformed, no configured key opens the box, or "
			"a fresh key over the client prefix's budget.",
			"reason", curve_drops, NELEM(curve_drops));
	curve_by_kind(sb, src, "dnsrouter_curve_queries_total",
		      "DNSCurve queries opened, by transport and format.",
		      ST_CURVE_QUERIES_UDP_STREAMLINED);
	curve_by_kind(sb, src, "dnsrouter_curve_answers_total",
		      "DNSCurve answers boxed and sent, by transport and format.",
		      ST_CURVE_ANSWERS_UDP_STREAMLINED);
	for (size_t i = 0; i < NELEM(plain); i++) {
		header(sb, plain[i].name, "counter", plain[i].help);
		strbuf_printf(sb, "%s %llu\n", plain[i].name,
			      (unsigned long long)sum_stat(src, plain[i].counter));
	}
}

static void router_metrics(struct strbuf *sb, const struct metrics_source *src)
{
	header(sb, "dnsrouter_queries_total", "counter", "Queries received from clients.");
	strbuf_printf(sb, "dnsrouter_queries_total{transport=\"udp\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_QUERIES_UDP));
	strbuf_printf(sb, "dnsrouter_queries_total{transport=\"tcp\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_QUERIES_TCP));
	header(sb, "dnsrouter_responses_total", "counter", "Responses sent to clients, by rcode.");
	/* Responses are counted by their header's four rcode bits; BADVERS (16) has NOERROR
	 * there. Only the router makes BADVERS answers (no query of EDNS version above 0 goes
	 * to a backend), so their count moves from NOERROR to its own line. */
	uint64_t badvers = sum_stat(src, ST_BADVERS);
	for (unsigned r = 0; r < 16; r++) {
		uint64_t n = sum_rcode(src, r);
		if (r == WIRE_RCODE_NOERROR) {
			n = n > badvers ? n - badvers : 0;
		}
		if (n > 0 || r <= 5) {
			strbuf_printf(sb, "dnsrouter_responses_total{rcode=\"%s\"} %llu\n",
				      rcode_names[r], (unsigned long long)n);
		}
	}
	if (badvers > 0) {
		strbuf_printf(sb, "dnsrouter_responses_total{rcode=\"BADVERS\"} %llu\n",
			      (unsigned long long)badvers);
	}
	header(sb, "dnsrouter_local_answers_total", "counter",
	       "Answers the router wrote itself (identity, version, refused transfers).");
	strbuf_printf(sb, "dnsrouter_local_answers_total %llu\n",
		      (unsigned long long)sum_stat(src, ST_LOCAL));
	header(sb, "dnsrouter_servfail_total", "counter",
	       "SERVFAIL answers the router wrote, by cause.");
	strbuf_printf(sb, "dnsrouter_servfail_total{reason=\"timeout\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_SERVFAIL_TIMEOUT));
	strbuf_printf(sb, "dnsrouter_servfail_total{reason=\"no_backend\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_SERVFAIL_NOBACKEND));
	header(sb, "dnsrouter_no_route_total", "counter", "Queries that matched no route.");
	strbuf_printf(sb, "dnsrouter_no_route_total %llu\n",
		      (unsigned long long)sum_stat(src, ST_NOROUTE));
	header(sb, "dnsrouter_formerr_total", "counter", "Malformed queries answered FORMERR.");
	strbuf_printf(sb, "dnsrouter_formerr_total %llu\n",
		      (unsigned long long)sum_stat(src, ST_FORMERR));
	header(sb, "dnsrouter_retries_total", "counter",
	       "Queries sent again to another backend after a timeout.");
	strbuf_printf(sb, "dnsrouter_retries_total %llu\n",
		      (unsigned long long)sum_stat(src, ST_RETRIES));
	header(sb, "dnsrouter_transfers_total", "counter",
	       "Zone transfers (AXFR, IXFR): relayed to the end, failed, refused.");
	strbuf_printf(sb, "dnsrouter_transfers_total{result=\"complete\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_XFR_COMPLETE));
	strbuf_printf(sb, "dnsrouter_transfers_total{result=\"failed\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_XFR_FAILED));
	strbuf_printf(sb, "dnsrouter_transfers_total{result=\"refused\"} %llu\n",
		      (unsigned long long)sum_stat(src, ST_XFR_REFUSED));
	header(sb, "dnsrouter_regex_limit_total", "counter",
	       "Regex route matches cut off at their step limit (taken as no match).");
	strbuf_printf(sb, "dnsrouter_regex_limit_total %llu\n",
		      (unsigned long long)sum_regex_limits(src));
	limit_metrics(sb, src);
	header(sb, "dnsrouter_dropped_total", "counter", "Packets dropped, by reason.");
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		strbuf_printf(sb, "dnsrouter_dropped_total{reason=\"%s\"} %llu\n", drops[i].reason,
			      (unsigned long long)sum_stat(src, drops[i].counter));
	}
}

static void label(struct strbuf *sb, const struct backend *be)
{
	strbuf_printf(sb, "{backend=\"");
	strbuf_label(sb, be->name);
	strbuf_printf(sb, "\"");
}

/* One family over every backend: <value> picks the number. */
static void backend_family(struct strbuf *sb, const struct metrics_source *src, const char *name,
			   const char *type, const char *help,
			   uint64_t (*value)(const struct backend *be, unsigned nworkers))
{
	header(sb, name, type, help);
	for (uint32_t i = 0; i < src->reg->cap; i++) {
		const struct backend *be = src->reg->slots[i];
		if (be != NULL && backend_current(src->reg, be)) {
			strbuf_printf(sb, "%s", name);
			label(sb, be);
			strbuf_printf(sb, "} %llu\n",
				      (unsigned long long)value(be, src->reg->nworkers));
		}
	}
}

static uint64_t v_up(const struct backend *be, unsigned n)
{
	(void)n;
	return (atomic_load(&be->state) & BE_UP) != 0;
}

static uint64_t v_drained(const struct backend *be, unsigned n)
{
	(void)n;
	return (atomic_load(&be->state) & BE_DRAINED) != 0;
}

static uint64_t v_stale(const struct backend *be, unsigned n)
{
	(void)n;
	return (atomic_load(&be->state) & BE_STALE) != 0;
}

/* The apex SOA serial of every shard backend whose checks found one. */
static void serial_family(struct strbuf *sb, const struct metrics_source *src)
{
	const char *name = "dnsrouter_backend_serial";

	header(sb, name, "gauge",
	       "The zone's SOA serial a shard backend served at its last passed check.");
	for (uint32_t i = 0; i < src->reg->cap; i++) {
		const struct backend *be = src->reg->slots[i];
		if (be != NULL && backend_current(src->reg, be) && be->shard.count > 0 &&
		    be->serial_known) {
			strbuf_printf(sb, "%s", name);
			label(sb, be);
			strbuf_printf(sb, "} %u\n", be->serial);
		}
	}
}

static uint64_t v_queries(const struct backend *be, unsigned n)
{
	return BACKEND_SUM(be, n, queries);
}

static uint64_t v_answers(const struct backend *be, unsigned n)
{
	return BACKEND_SUM(be, n, answers);
}

static uint64_t v_timeouts(const struct backend *be, unsigned n)
{
	return BACKEND_SUM(be, n, timeouts);
}

static void latency_histogram(struct strbuf *sb, const struct metrics_source *src)
{
	const char *name = "dnsrouter_backend_latency_seconds";

	header(sb, name, "histogram", "Time from sending a query to a backend to its answer.");
	for (uint32_t i = 0; i < src->reg->cap; i++) {
		const struct backend *be = src->reg->slots[i];
		uint64_t cumulative = 0;
		if (be == NULL || !backend_current(src->reg, be)) {
			continue;
		}
		for (unsigned b = 0; b <= BACKEND_LAT_BUCKETS; b++) {
			cumulative += backend_sum(be, src->reg->nworkers,
						  offsetof(struct backend_counters, lat) +
							  b * sizeof(be->counters[0].lat[0]));
			strbuf_printf(sb, "%s_bucket", name);
			label(sb, be);
			if (b < BACKEND_LAT_BUCKETS) {
				strbuf_printf(sb, ",le=\"%g\"} %llu\n",
					      backend_lat_bounds_us[b] / 1e6,
					      (unsigned long long)cumulative);
			} else {
				strbuf_printf(sb, ",le=\"+Inf\"} %llu\n",
					      (unsigned long long)cumulative);
			}
		}
		strbuf_printf(sb, "%s_sum", name);
		label(sb, be);
		strbuf_printf(sb, "} %.6f\n",
			      BACKEND_SUM(be, src->reg->nworkers, lat_sum_us) / 1e6);
		strbuf_printf(sb, "%s_count", name);
		label(sb, be);
		strbuf_printf(sb, "} %llu\n", (unsigned long long)cumulative);
	}
}

static void etcd_metrics(struct strbuf *sb, struct etcd *etcd)
{
	struct etcd_status st;

	etcd_status(etcd, &st);
	header(sb, "dnsrouter_etcd_up", "gauge", "1 when the last request to etcd succeeded.");
	strbuf_printf(sb, "dnsrouter_etcd_up %d\n", st.up ? 1 : 0);
	header(sb, "dnsrouter_etcd_data_age_seconds", "gauge",
	       "Seconds since the routes from etcd were last known current.");
	strbuf_printf(sb, "dnsrouter_etcd_data_age_seconds %.3f\n", st.age_ms / 1e3);
	header(sb, "dnsrouter_etcd_keys", "gauge", "Valid entries under the etcd prefix.");
	strbuf_printf(sb, "dnsrouter_etcd_keys %llu\n", (unsigned long long)st.keys);
	header(sb, "dnsrouter_etcd_invalid_keys", "gauge", "Keys whose value was skipped.");
	strbuf_printf(sb, "dnsrouter_etcd_invalid_keys %llu\n", (unsigned long long)st.invalid);
	header(sb, "dnsrouter_etcd_revision", "gauge", "The etcd revision the routes are from.");
	strbuf_printf(sb, "dnsrouter_etcd_revision %llu\n", (unsigned long long)st.revision);
}

char *metrics_prometheus(const struct metrics_source *src)
{
	struct strbuf sb = {0};

	router_metrics(&sb, src);
	if (src->etcd != NULL) {
		etcd_metrics(&sb, src->etcd);
	}
	pthread_mutex_lock(&src->reg->lock);
	backend_family(&sb, src, "dnsrouter_backend_up", "gauge",
		       "1 when the backend is in rotation by health.", v_up);
	backend_family(&sb, src, "dnsrouter_backend_drained", "gauge",
		       "1 when an operator drained the backend.", v_drained);
	backend_family(&sb, src, "dnsrouter_backend_stale", "gauge",
		       "1 when a shard backend serves another serial than its zone's target.",
		       v_stale);
	serial_family(&sb, src);
	backend_family(&sb, src, "dnsrouter_backend_queries_total", "counter",
		       "Queries sent to the backend, retries included.", v_queries);
	backend_family(&sb, src, "dnsrouter_backend_answers_total", "counter",
		       "Answers accepted from the backend.", v_answers);
	backend_family(&sb, src, "dnsrouter_backend_timeouts_total", "counter",
		       "Queries the backend did not answer in time.", v_timeouts);
	latency_histogram(&sb, src);
	pthread_mutex_unlock(&src->reg->lock);
	return strbuf_take(&sb);
}

char *metrics_backends_json(const struct metrics_source *src)
{
	struct strbuf sb = {0};
	bool first = true;
	char addr[SOCKADDR_STRLEN];

	strbuf_printf(&sb, "[");
	pthread_mutex_lock(&src->reg->lock);
	for (uint32_t i = 0; i < src->reg->cap; i++) {
		const struct backend *be = src->reg->slots[i];
		uint32_t st;
		unsigned n = src->reg->nworkers;
		if (be == NULL || !backend_current(src->reg, be)) {
			continue;
		}
		st = atomic_load(&be->state);
		strbuf_printf(&sb, "%s{\"name\":\"", first ? "" : ",");
		strbuf_json(&sb, be->name);
		strbuf_printf(&sb,
			      "\",\"address\":\"%s\",\"up\":%s,\"checked\":%s,\"drained\":%s,"
			      "\"weight\":%u,\"timeout_ms\":%u,\"queries\":%llu,\"answers\":%llu,"
			      "\"timeouts\":%llu,\"health\":{\"enabled\":%s,\"transport\":\"%s\","
			      "\"interval_ms\":%u,\"timeout_ms\":%u,\"fall\":%u,\"rise\":%u}",
			      sockaddr_format(&be->addr, addr, sizeof(addr)),
			      (st & BE_UP) ? "true" : "false", (st & BE_CHECKED) ? "true" : "false",
			      (st & BE_DRAINED) ? "true" : "false", be->weight,
			      atomic_load(&be->timeout_ms),
			      (unsigned long long)BACKEND_SUM(be, n, queries),
			      (unsigned long long)BACKEND_SUM(be, n, answers),
			      (unsigned long long)BACKEND_SUM(be, n, timeouts),
			      be->health.enabled ? "true" : "false", be->health.tcp ? "tcp" : "udp",
			      be->health.interval_ms, be->health.timeout_ms, be->health.fall,
			      be->health.rise);
		if (be->shard.count > 0) {
			strbuf_printf(&sb, ",\"shard\":%u,\"stale\":%s", be->shard.index,
				      (st & BE_STALE) ? "true" : "false");
			if (be->serial_known) {
				strbuf_printf(&sb, ",\"serial\":%u", be->serial);
			}
		}
		strbuf_printf(&sb, "}");
		first = false;
	}
	pthread_mutex_unlock(&src->reg->lock);
	strbuf_printf(&sb, "]\n");
	return strbuf_take(&sb);
}

static void routes_json(struct strbuf *sb, const struct snapshot *snap);

char *metrics_routes_json(const struct metrics_source *src)
{
	struct strbuf sb = {0};

	/* Registered only for this read: libmicrohttpd's threads come and go on their own. */
	rcu_register_thread();
	pthread_mutex_lock(&src->reg->lock); /* backend names change under it */
	const struct snapshot *snap = rcu_dereference(src->router->snap);

	if (snap != NULL) {
		routes_json(&sb, snap); /* NULL only while starting */
	} else {
		strbuf_printf(&sb, "[]\n");
	}
	pthread_mutex_unlock(&src->reg->lock);
	rcu_unregister_thread();
	return strbuf_take(&sb);
}

static void routes_json(struct strbuf *out, const struct snapshot *snap)
{
	struct strbuf sb = *out;

	strbuf_printf(&sb, "[");
	for (uint32_t i = 0; i < snap->nroutes; i++) {
		const struct route *r = &snap->routes[i];
		strbuf_printf(&sb, "%s{\"kind\":\"%s\",\"source\":\"%s\",\"pattern\":\"",
			      i ? "," : "", r->kind == CONF_ROUTE_ZONE ? "zone" : "regex",
			      r->source == CONF_SRC_ETCD ? "etcd" : "config");
		strbuf_json(&sb, r->pattern);
		strbuf_printf(&sb, "\",\"policy\":\"%s\",\"fallback\":\"%s\",\"backends\":[",
			      conf_policy_name(r->pool.policy),
			      r->pool.fallback == CONF_FALLBACK_ALL ? "all" : "servfail");
		for (uint32_t b = 0; b < r->pool.n; b++) {
			strbuf_printf(&sb, "%s\"", b ? "," : "");
			strbuf_json(&sb, r->pool.backends[b]->name);
			strbuf_printf(&sb, "\"");
		}
		strbuf_printf(&sb, "]}");
	}
	strbuf_printf(&sb, "]\n");
	*out = sb;
}

/* The buckets in use in the workers' RRL and query-limit tables, summed. The tables are made
 * with their worker, before any thread starts, and live as long as it. */
static bool table_counts(const struct metrics_source *src, uint64_t *rrl, uint64_t *ql)
{
	*rrl = *ql = 0;
	for (unsigned i = 0; i < src->nworkers; i++) {
		*rrl += rrl_count(src->workers[i]->rrl);
		*ql += qlimit_count(src->workers[i]->ql);
	}
	return true;
}

static const char *action_name(enum conf_acl_action a)
{
	return a == CONF_ACL_ALLOW ? "allow" : a == CONF_ACL_REFUSE ? "refuse" : "drop";
}

static void prefix_json(struct strbuf *sb, const struct prefix *p)
{
	char text[INET6_ADDRSTRLEN];

	if (inet_ntop(p->family, p->addr, text, sizeof(text)) == NULL) {
		snprintf(text, sizeof(text), "?");
	}
	strbuf_printf(sb, "\"%s/%u\"", text, p->bits);
}

static void acl_json(struct strbuf *sb, const struct metrics_source *src,
		     const struct conf_acl *acl)
{
	strbuf_printf(sb, "\"acl\":{\"rules\":%zu,\"list\":[", acl->n);
	for (size_t i = 0; i < acl->n; i++) {
		strbuf_printf(sb, "%s{\"from\":", i ? "," : "");
		prefix_json(sb, &acl->rules[i].from);
		strbuf_printf(sb, ",\"action\":\"%s\"}", action_name(acl->rules[i].action));
	}
	strbuf_printf(sb, "],\"refused\":%llu,\"dropped\":%llu}",
		      (unsigned long long)sum_stat(src, ST_ACL_REFUSE),
		      (unsigned long long)sum_stat(src, ST_ACL_DROP));
}

static void count_json(struct strbuf *sb, const char *name, bool known, uint64_t n)
{
	if (known) {
		strbuf_printf(sb, "\"%s\":%llu", name, (unsigned long long)n);
	} else {
		strbuf_printf(sb, "\"%s\":null", name);
	}
}

/* The limits of <s> with what they did: the query limit, RRL, the TCP limits. */
static void snapshot_limits_json(struct strbuf *sb, const struct metrics_source *src,
				 const struct snapshot *s)
{
	const struct conf_rrl *r = &s->rrl;
	uint64_t rrl_n, ql_n;
	bool known = table_counts(src, &rrl_n, &ql_n);

	strbuf_printf(sb, ",\"query_limit\":{\"per_second\":%u,\"burst\":%u,\"action\":\"%s\",",
		      s->qlimit.per_second, s->qlimit.burst, action_name(s->qlimit.action));
	count_json(sb, "entries", known, ql_n);
	strbuf_printf(sb, ",\"refused\":%llu,\"dropped\":%llu}",
		      (unsigned long long)sum_stat(src, ST_QLIMIT_REFUSE),
		      (unsigned long long)sum_stat(src, ST_QLIMIT_DROP));
	strbuf_printf(sb,
		      ",\"rate_limit\":{\"responses_per_second\":%u,\"errors_per_second\":%u,"
		      "\"slip\":%u,\"window_ms\":%u,\"ipv4_prefix\":%u,\"ipv6_prefix\":%u,"
		      "\"table_size\":%u,\"log_only\":%s,\"exempt\":[",
		      r->responses_ps, r->errors_ps, r->slip, r->window_ms, s->limit_v4_bits,
		      s->limit_v6_bits, r->table_size, r->log_only ? "true" : "false");
	for (size_t i = 0; i < r->nexempt; i++) {
		strbuf_printf(sb, "%s", i ? "," : "");
		prefix_json(sb, &r->exempt[i]);
	}
	strbuf_printf(sb, "],");
	count_json(sb, "entries", known, rrl_n);
	strbuf_printf(sb, ",\"slipped\":%llu,\"dropped\":%llu,\"would_limit\":%llu}",
		      (unsigned long long)sum_stat(src, ST_RRL_SLIP),
		      (unsigned long long)sum_stat(src, ST_RRL_DROP),
		      (unsigned long long)sum_stat(src, ST_RRL_WOULD));
	strbuf_printf(sb,
		      ",\"tcp\":{\"max_connections_per_client\":%u,\"query_timeout_ms\":%u,"
		      "\"max_queries_per_connection\":%u,\"closed\":{",
		      s->tcp_per_client, s->tcp_query_ms, s->tcp_max_queries);
	for (size_t i = 0; i < NELEM(tcp_closes); i++) {
		strbuf_printf(sb, "%s\"%s\":%llu", i ? "," : "", tcp_closes[i].value,
			      (unsigned long long)sum_stat(src, tcp_closes[i].counter));
	}
	strbuf_printf(sb, "}}");
}

char *metrics_limits_json(const struct metrics_source *src, const struct conf_acl *acl)
{
	struct strbuf sb = {0};

	strbuf_printf(&sb, "{");
	acl_json(&sb, src, acl);
	rcu_register_thread(); /* for the moment it reads, as metrics_routes_json */
	const struct snapshot *snap = rcu_dereference(src->router->snap);
	if (snap != NULL) {
		snapshot_limits_json(&sb, src, snap);
	}
	rcu_unregister_thread();
	strbuf_printf(&sb, ",\"backend_unreachable\":%llu}\n",
		      (unsigned long long)sum_stat(src, ST_BACKEND_UNREACHABLE));
	return strbuf_take(&sb);
}
