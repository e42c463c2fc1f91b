/* SPDX-License-Identifier: MIT */
/* backend/health.c -- active and passive health checks, on a thread of their own
 *
 * One thread, one epoll, one non-blocking socket per check in progress. Everything runs with
 * the registry's lock held, so backends cannot be freed under a check; epoll events carry the
 * backend's slot and the check's sequence number, so an event that outlived its check (or its
 * backend) is recognised and ignored. Workers never wait on any of it: they read one state
 * word per backend. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backend/health.h"
#include "backend/serials.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/rand.h"
#include "wire/proxy.h"
#include "wire/wire.h"

#define TICK_MAX_MS 100 /* passive checks look at the counters this often */
#define ANSWER_BUF 4096 /* the header and question are all a check reads */
#define QUERY_BUF (2 + WIRE_HDR_LEN + WIRE_NAME_MAX + 4)
#define WAKE_TAG UINT64_MAX

/* A check is one query, or for a shard backend up to three in a row on one socket: its own,
 * then the zone's apex NSEC3PARAM (an nsec3 route whose shard has a probe) and SOA serial. */
enum check_step { STEP_OWN, STEP_NSEC3PARAM, STEP_SERIAL, STEP_END };

/* What judging an answer found. */
enum verdict { NOT_OURS, DECIDED, NEXT_STEP };

struct health_probe {
	uint32_t seq; /* of the check in progress; events carry it */
	int fd;       /* -1: no check in progress */
	bool tcp;
	bool connected;
	enum check_step step;   /* of the check in progress */
	uint64_t next_ms;       /* the next check is due */
	uint64_t deadline_ms;   /* the check in progress fails */
	uint64_t hold_until_ms; /* after a passive take-down: no check, no return before */
	uint64_t up_since_ms;   /* back in rotation since */
	uint32_t holds;         /* passive take-downs since it last stayed up hold-down-max */
	uint16_t id;
	uint32_t fails, succs; /* active checks in a row */
	uint32_t serial;       /* the apex SOA serial the check in progress found */
	uint32_t lost;         /* live queries timed out in a row, no answer between them */
	bool starved;          /* the last check found no descriptor to use: said once */
	uint64_t seen_timeouts, seen_answers;
	uint8_t query[QUERY_BUF]; /* with the TCP length prefix */
	size_t qlen;
	uint8_t out[PROXY_V2_LOCAL_LEN + QUERY_BUF]; /* what is sent: the query as it goes */
	size_t olen, qoff;                           /* bytes of <out>, and those sent (TCP) */
	uint8_t answer[2 + ANSWER_BUF];
	size_t alen;
};

struct health {
	struct backend_registry *reg;
	pthread_t thread;
	bool started;
	int epfd;
	int wake_fd;
	_Atomic bool stopping;
	uint32_t seq;
	uint64_t now_ms;
	struct rand_state rnd;
	struct log_limit starved_log; /* out of descriptors: one line a second, all backends */
};

static void probe_close(struct health_probe *p)
{
	if (p->fd != -1) {
		close(p->fd); /* also leaves epoll */
		p->fd = -1;
	}
}

/* Registry callback, lock held: the backend goes, its check with it. */
static void probe_drop(void *ctx, struct backend *be)
{
	(void)ctx;
	if (be->probe != NULL) {
		probe_close(be->probe);
		free(be->probe);
		be->probe = NULL;
	}
}

static const char *describe(const struct backend *be, char *buf, size_t len)
{
	char addr[SOCKADDR_STRLEN];

	sockaddr_format(&be->addr, addr, sizeof(addr));
	if (strcmp(be->name, addr) == 0) {
		snprintf(buf, len, "%s", addr); /* etcd and -b backends are named so */
	} else {
		snprintf(buf, len, "%s (%s)", be->name, addr);
	}
	return buf;
}

static void set_up(struct health *h, struct backend *be, const char *why)
{
	char who[CONF_NAME_MAX + SOCKADDR_STRLEN + 4];
	uint32_t old = atomic_fetch_or(&be->state, BE_UP | BE_CHECKED);

	if (!(old & BE_UP)) {
		be->probe->up_since_ms = h->now_ms;
		log_info("health", "backend %s is up (%s)", describe(be, who, sizeof(who)), why);
	}
}

static void set_down(struct backend *be, const char *why)
{
	char who[CONF_NAME_MAX + SOCKADDR_STRLEN + 4];
	uint32_t old = atomic_fetch_and(&be->state, ~(uint32_t)BE_UP);

	atomic_fetch_or(&be->state, BE_CHECKED);
	if ((old & BE_UP) || !(old & BE_CHECKED)) {
		log_info("health", "backend %s is down (%s)", describe(be, who, sizeof(who)), why);
	}
}

static void check_done(struct health *h, struct backend *be, bool ok, const char *why)
{
	struct health_probe *p = be->probe;
	uint32_t st = atomic_load(&be->state);
	bool first = !(st & BE_CHECKED);

	probe_close(p);
	p->next_ms = h->now_ms + be->health.interval_ms;
	if (ok && h->now_ms < p->hold_until_ms) {
		return; /* a check that began before a passive take-down does not count toward rise */
	}
	if (ok) {
		p->succs++;
		p->fails = 0;
		if (!(st & BE_UP) && (first || p->succs >= be->health.rise)) {
			set_up(h, be, why);
		}
		atomic_fetch_or(&be->state, BE_CHECKED);
		return;
	}
	p->fails++;
	p->succs = 0;
	if (first || ((st & BE_UP) && p->fails >= be->health.fall)) {
		set_down(be, why);
	}
}

/* The question a step of <be>'s check asks. */
struct check_question {
	const uint8_t *name;
	size_t name_len;
	uint16_t type, class;
};

static struct check_question step_question(const struct backend *be, enum check_step step)
{
	struct check_question q = {be->health.qname, 0, be->health.qtype, be->health.qclass};

	if (step != STEP_OWN) {
		q.name = be->shard.apex;
		q.type = step == STEP_SERIAL ? WIRE_TYPE_SOA : WIRE_TYPE_NSEC3PARAM;
		q.class = WIRE_CLASS_IN;
	}
	while (q.name[q.name_len] != 0) {
		q.name_len += 1u + q.name[q.name_len];
	}
	q.name_len++;
	return q;
}

/* The step after <step>: a shard backend's check goes on to its zone's apex. */
static enum check_step next_step(const struct backend *be, enum check_step step)
{
	if (be->shard.count == 0) {
		return STEP_END;
	}
	if (step == STEP_OWN && be->shard.nsec3param) {
		return STEP_NSEC3PARAM;
	}
	return step < STEP_SERIAL ? STEP_SERIAL : STEP_END;
}

static void build_query(struct health *h, const struct backend *be, struct health_probe *p)
{
	struct check_question cq = step_question(be, p->step);
	uint8_t *m = p->query + 2;

	p->id = (uint16_t)rand_next(&h->rnd);
	memset(m, 0, WIRE_HDR_LEN);
	wire_set_id(m, p->id);
	wire_write_u16(m + WIRE_OFF_QDCOUNT, 1);
	memcpy(m + WIRE_HDR_LEN, cq.name, cq.name_len);
	wire_write_u16(m + WIRE_HDR_LEN + cq.name_len, cq.type);
	wire_write_u16(m + WIRE_HDR_LEN + cq.name_len + 2, cq.class);
	p->qlen = WIRE_HDR_LEN + cq.name_len + 4;
	wire_write_u16(p->query, (uint16_t)p->qlen);
	p->qoff = 0;
	p->alen = 0;
	/* A backend that reads the client's address from a PROXY v2 header takes no query
	 * without one, and the check is the router's own: a LOCAL header, with no address.
	 * Over TCP the header opens the connection and the later steps follow it. */
	p->olen = 0;
	if (atomic_load_explicit(&be->client_address, memory_order_relaxed) == CONF_CA_PROXY &&
	    (!be->health.tcp || p->step == STEP_OWN)) {
		p->olen = proxy_v2_local(p->out, sizeof(p->out));
	}
	memcpy(p->out + p->olen, be->health.tcp ? p->query : p->query + 2,
	       be->health.tcp ? p->qlen + 2 : p->qlen);
	p->olen += be->health.tcp ? p->qlen + 2 : p->qlen;
}

static void check_start(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;
	const union sockaddr_any *to = &be->addr;
	int type = be->health.tcp ? SOCK_STREAM : SOCK_DGRAM;
	struct epoll_event ev;
	int one = 1;

	p->step = STEP_OWN;
	build_query(h, be, p);
	p->tcp = be->health.tcp;
	p->connected = false;
	p->seq = ++h->seq;
	p->deadline_ms = h->now_ms + be->health.timeout_ms;
	p->fd = socket(to->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd == -1 &&
	    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
		/* Our shortage, not the backend's failure: no verdict, try at the next interval.
		 * Said once per backend, and for all backends together at most once a second. */
		if (!p->starved) {
			log_warn_limited(&h->starved_log, "health",
					 "no socket for the check of %s (%s); checks wait",
					 be->name, strerror(errno));
		}
		p->starved = true;
		p->next_ms = h->now_ms + be->health.interval_ms;
		return;
	}
	p->starved = false;
	if (p->fd == -1) {
		check_done(h, be, false, strerror(errno));
		return;
	}
	if (p->tcp) {
		(void)setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (connect(p->fd, &to->sa, sockaddr_len(to)) == -1 && errno != EINPROGRESS) {
		check_done(h, be, false, strerror(errno));
		return;
	}
	if (!p->tcp) {
		p->connected = true;
		if (send(p->fd, p->out, p->olen, 0) == -1) {
			check_done(h, be, false, strerror(errno));
			return;
		}
	}
	ev.events = EPOLLIN | (p->tcp ? EPOLLOUT : 0);
	ev.data.u64 = ((uint64_t)be->idx << 32) | p->seq;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, p->fd, &ev) == -1) {
		check_done(h, be, false, strerror(errno));
	}
}

/* The next record of the answer section at <*pos> (<*left> still to read): its type and
 * where its data lies. False at the end or on a record that runs past the message. */
static bool next_answer(const uint8_t *msg, size_t len, size_t *pos, unsigned *left, uint16_t *type,
			size_t *rd, uint16_t *rdlen)
{
	if (*left == 0 || wire_skip_name(msg, len, pos) != DR_EOK || *pos + 10 > len) {
		return false;
	}
	*type = wire_read_u16(msg + *pos);
	*rdlen = wire_read_u16(msg + *pos + 8);
	*rd = *pos + 10;
	*pos += 10u + *rdlen;
	(*left)--;
	return *pos <= len;
}

/* Whether the answer <msg> of <len> bytes to the question <q> holds an NSEC3PARAM with the
 * parameters <want> (RFC 5155 §4.2: SHA-1, iterations, salt; the flags are the signer's). */
static bool nsec3param_is(const uint8_t *msg, size_t len, const struct wire_question *q,
			  const struct conf_nsec3 *want)
{
	size_t pos = q->end, off;
	unsigned left = wire_read_u16(msg + WIRE_OFF_ANCOUNT);
	uint16_t type, rdlen;

	while (next_answer(msg, len, &pos, &left, &type, &off, &rdlen)) {
		const uint8_t *rd = msg + off;
		if (type == WIRE_TYPE_NSEC3PARAM && rdlen >= 5 && rd[0] == 1 &&
		    wire_read_u16(rd + 2) == want->iterations && rd[4] == want->salt_len &&
		    rdlen == 5u + rd[4] && memcmp(rd + 5, want->salt, want->salt_len) == 0) {
			return true;
		}
	}
	return false;
}

/* The serial of the SOA in the answer <msg> to the question <q>, in <serial>. */
static bool soa_serial(const uint8_t *msg, size_t len, const struct wire_question *q,
		       uint32_t *serial)
{
	size_t pos = q->end, off;
	unsigned left = wire_read_u16(msg + WIRE_OFF_ANCOUNT);
	uint16_t type, rdlen;

	while (next_answer(msg, len, &pos, &left, &type, &off, &rdlen)) {
		size_t end = off + rdlen;
		if (type != WIRE_TYPE_SOA) {
			continue;
		}
		/* MNAME and RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM. */
		if (wire_skip_name(msg, end, &off) != DR_EOK ||
		    wire_skip_name(msg, end, &off) != DR_EOK || off + 20 != end) {
			return false;
		}
		*serial = (uint32_t)wire_read_u16(msg + off) << 16 | wire_read_u16(msg + off + 2);
		return true;
	}
	return false;
}

/* Judge one step's answer when its own check is passed: the apex steps of a shard backend. */
static bool judge_apex(struct health_probe *p, const struct backend *be, const uint8_t *msg,
		       size_t len, const struct wire_question *q, char *why, size_t wlen)
{
	if (wire_rcode(msg) != WIRE_RCODE_NOERROR) {
		snprintf(why, wlen, "the zone's apex answered rcode %d", wire_rcode(msg));
		return false;
	}
	if (p->step == STEP_NSEC3PARAM) {
		snprintf(why, wlen, "no NSEC3PARAM with the route's parameters");
		return nsec3param_is(msg, len, q, &be->shard.nsec3);
	}
	snprintf(why, wlen, "no SOA at the zone's apex");
	if (!soa_serial(msg, len, q, &p->serial)) {
		return false;
	}
	snprintf(why, wlen, "check answered, serial %u", p->serial);
	return true;
}

/* Judge the answer to the step's own check. */
static bool judge_own(const struct backend *be, const uint8_t *msg, size_t len,
		      const struct wire_question *q, char *why, size_t wlen)
{
	const struct conf_health *c = &be->health;
	int rcode = wire_rcode(msg);

	if (c->need_data &&
	    (rcode != WIRE_RCODE_NOERROR || wire_read_u16(msg + WIRE_OFF_ANCOUNT) == 0)) {
		snprintf(why, wlen, "probe answered rcode %d with %u records", rcode,
			 wire_read_u16(msg + WIRE_OFF_ANCOUNT));
		return false;
	}
	if (c->want_nsec3param &&
	    (rcode != WIRE_RCODE_NOERROR || !nsec3param_is(msg, len, q, &c->nsec3))) {
		snprintf(why, wlen, "no NSEC3PARAM with the route's parameters");
		return false;
	}
	snprintf(why, wlen, "check answered rcode %d", rcode);
	return (c->rcodes >> rcode) & 1u;
}

/* Judge an answer: not ours (wait for another), the check decided, or on to its next step,
 * whose query is then built. */
static enum verdict judge(struct health *h, struct backend *be, const uint8_t *msg, size_t len)
{
	struct health_probe *p = be->probe;
	struct check_question cq = step_question(be, p->step);
	struct wire_question q;
	enum check_step next;
	char why[64];
	bool ok;

	if (wire_parse_question(msg, len, &q) != DR_EOK || !wire_is_response(msg) ||
	    q.id != p->id || q.qtype != cq.type || q.qclass != cq.class ||
	    q.name_len != cq.name_len || memcmp(q.name, cq.name, q.name_len) != 0) {
		return NOT_OURS;
	}
	ok = p->step == STEP_OWN ? judge_own(be, msg, len, &q, why, sizeof(why))
				 : judge_apex(p, be, msg, len, &q, why, sizeof(why));
	next = next_step(be, p->step);
	if (ok && next != STEP_END) {
		p->step = next;
		build_query(h, be, p);
		p->deadline_ms = h->now_ms + be->health.timeout_ms;
		return NEXT_STEP;
	}
	if (ok && be->shard.count > 0) {
		/* Stale or not before it takes a query at this serial. */
		be->serial = p->serial;
		be->serial_known = true;
		serials_settle_zone(h->reg, be);
	}
	check_done(h, be, ok, why);
	return DECIDED;
}

static void on_udp(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;

	while (p->fd != -1) {
		ssize_t n = recv(p->fd, p->answer, sizeof(p->answer), 0);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				check_done(h, be, false, strerror(errno));
			}
			return;
		}
		switch (judge(h, be, p->answer, (size_t)n)) {
		case NOT_OURS:
			break;
		case DECIDED:
			return;
		case NEXT_STEP:
			if (send(p->fd, p->out, p->olen, 0) == -1) {
				check_done(h, be, false, strerror(errno));
				return;
			}
			break;
		}
	}
}

/* Send what is left of the step's query; false when the check ended. */
static bool tcp_send(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)be->idx << 32) | p->seq};

	while (p->qoff < p->olen) {
		ssize_t n = send(p->fd, p->out + p->qoff, p->olen - p->qoff, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev.events |= EPOLLOUT;
				break;
			}
			check_done(h, be, false, strerror(errno));
			return false;
		}
		p->qoff += (size_t)n;
	}
	/* Sent: from now on only the answer matters. A socket left watched for EPOLLOUT is
	 * always writable, and the thread would spin until the answer. */
	if (epoll_ctl(h->epfd, EPOLL_CTL_MOD, p->fd, &ev) == -1) {
		check_done(h, be, false, strerror(errno));
		return false;
	}
	return true;
}

/* Read the step's answer; 1 when it is whole, 0 to wait, -1 when the check ended. */
static int tcp_read(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;

	for (;;) {
		size_t want = 2;
		ssize_t n;
		if (p->alen >= 2) {
			size_t len = wire_read_u16(p->answer);
			want = 2 + (len < ANSWER_BUF ? len : ANSWER_BUF);
		}
		if (p->alen == want && want > 2) {
			return 1;
		}
		n = recv(p->fd, p->answer + p->alen, want - p->alen, 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 0;
		}
		if (n <= 0) {
			check_done(h, be, false, n == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
		p->alen += (size_t)n;
	}
}

static void on_tcp(struct health *h, struct backend *be, uint32_t events)
{
	struct health_probe *p = be->probe;

	if (!p->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			check_done(h, be, false, strerror(err ? err : errno));
			return;
		}
		if (!(events & EPOLLOUT)) {
			return;
		}
		p->connected = true;
	}
	for (;;) {
		if (p->qoff < p->olen && !tcp_send(h, be)) {
			return;
		}
		if (p->qoff < p->olen || tcp_read(h, be) != 1) {
			return;
		}
		switch (judge(h, be, p->answer + 2, p->alen - 2)) {
		case NOT_OURS:
			check_done(h, be, false, "answer does not match the check");
			return;
		case DECIDED:
			return;
		case NEXT_STEP:
			break; /* its query is built: send it on the same connection */
		}
	}
}

static void on_event(struct health *h, uint64_t tag, uint32_t events)
{
	uint32_t idx = (uint32_t)(tag >> 32);
	struct backend *be = idx < h->reg->cap ? h->reg->slots[idx] : NULL;

	if (be == NULL || be->probe == NULL || be->probe->fd == -1 ||
	    be->probe->seq != (uint32_t)tag) {
		return; /* the check or the backend ended since */
	}
	if (be->probe->tcp) {
		on_tcp(h, be, events);
	} else {
		on_udp(h, be);
	}
}

/* A backend that answers its checks but drops queries would be back after <rise> checks and
 * out again after <fall> lost queries, over and over, each round costing clients a timeout:
 * after a passive take-down it stays out for the hold-down, doubled with each take-down in a
 * row up to hold-down-max, before checks may bring it back. With checks disabled it comes back
 * when the hold-down ends. */
static void hold_down(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;
	const struct conf_health *c = &be->health;
	char who[CONF_NAME_MAX + SOCKADDR_STRLEN + 4];
	uint64_t hold = c->hold_down_ms;

	for (uint32_t i = 0; i < p->holds && hold < c->hold_down_max_ms; i++) {
		hold *= 2;
	}
	if (hold > c->hold_down_max_ms) {
		hold = c->hold_down_max_ms;
	}
	p->holds++;
	p->hold_until_ms = h->now_ms + hold;
	log_info("health",
		 "backend %s held out of rotation for %llu ms before checks may bring it back "
		 "(passive take-down %u in a row)",
		 describe(be, who, sizeof(who)), (unsigned long long)hold, p->holds);
}

/* Stayed in rotation hold-down-max without a passive take-down: the next hold-down is the
 * first one again. */
static void hold_down_reset(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;
	char who[CONF_NAME_MAX + SOCKADDR_STRLEN + 4];

	if (p->holds == 0 || !(atomic_load(&be->state) & BE_UP) ||
	    h->now_ms - p->up_since_ms < be->health.hold_down_max_ms) {
		return;
	}
	p->holds = 0;
	log_info("health", "backend %s stayed in rotation %u ms: its hold-down is %u ms again",
		 describe(be, who, sizeof(who)), be->health.hold_down_max_ms,
		 be->health.hold_down_ms);
}

/* Timeouts on live traffic with no answer beside them count as failed checks. */
static void passive(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;
	uint64_t timeouts = BACKEND_SUM(be, h->reg->nworkers, timeouts);
	uint64_t answers = BACKEND_SUM(be, h->reg->nworkers, answers);
	uint64_t dt = timeouts - p->seen_timeouts, da = answers - p->seen_answers;
	char why[64];

	p->seen_timeouts = timeouts;
	p->seen_answers = answers;
	if (da != 0) {
		p->lost = 0; /* it answers: losses before this were not in a row */
	}
	if (dt == 0 || da != 0 || !(atomic_load(&be->state) & BE_UP)) {
		return;
	}
	p->lost += (uint32_t)dt;
	if (p->lost >= be->health.fall) {
		snprintf(why, sizeof(why), "%u timeouts in a row on live traffic", p->lost);
		p->lost = 0;
		p->succs = 0; /* back only after <rise> checks that follow this, as README says */
		set_down(be, why);
		hold_down(h, be);
	}
}

static void tick(struct health *h, struct backend *be)
{
	struct health_probe *p = be->probe;

	if (p == NULL) {
		p = be->probe = calloc(1, sizeof(*p));
		if (p == NULL) {
			return;
		}
		p->fd = -1;
		p->seen_timeouts = BACKEND_SUM(be, h->reg->nworkers, timeouts);
		p->seen_answers = BACKEND_SUM(be, h->reg->nworkers, answers);
	}
	passive(h, be);
	hold_down_reset(h, be);
	if (!be->health.enabled) {
		probe_close(p);
		if (!(atomic_load(&be->state) & BE_UP) && h->now_ms >= p->hold_until_ms) {
			set_up(h, be,
			       p->holds ? "hold-down over, checks disabled" : "checks disabled");
		}
		return;
	}
	if (p->fd != -1 && h->now_ms >= p->deadline_ms) {
		check_done(h, be, false, "check timed out");
	}
	if (p->next_ms > h->now_ms + be->health.interval_ms) {
		p->next_ms =
			h->now_ms + be->health.interval_ms; /* a reload shortened the interval */
	}
	if (p->fd == -1 && h->now_ms >= p->next_ms && h->now_ms >= p->hold_until_ms) {
		check_start(h, be);
	}
}

/* Milliseconds until the next check starts or times out, at most TICK_MAX_MS. */
static int next_wait(struct health *h)
{
	uint64_t next = h->now_ms + TICK_MAX_MS;

	for (uint32_t i = 0; i < h->reg->cap; i++) {
		struct backend *be = h->reg->slots[i];
		uint64_t due;
		if (be == NULL || be->probe == NULL || !be->health.enabled) {
			continue;
		}
		due = be->probe->fd != -1 ? be->probe->deadline_ms : be->probe->next_ms;
		if (be->probe->fd == -1 && due < be->probe->hold_until_ms) {
			due = be->probe->hold_until_ms;
		}
		if (due < next) {
			next = due;
		}
	}
	return next > h->now_ms ? (int)(next - h->now_ms) : 0;
}

static void *health_main(void *arg)
{
	struct health *h = arg;
	struct epoll_event evs[64];
	int wait = 0;

	while (!atomic_load(&h->stopping)) {
		int n = epoll_wait(h->epfd, evs, 64, wait);
		pthread_mutex_lock(&h->reg->lock);
		h->now_ms = clock_now_ms();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == WAKE_TAG) {
				uint64_t count;
				/* Only emptied: a wake-up says nothing but "look again". */
				if (read(h->wake_fd, &count, sizeof(count)) == -1 &&
				    errno != EAGAIN) {
					log_debug("health", "wake-up read failed (%s)",
						  strerror(errno));
				}
				continue;
			}
			on_event(h, evs[i].data.u64, evs[i].events);
		}
		for (uint32_t i = 0; i < h->reg->cap; i++) {
			if (h->reg->slots[i] != NULL) {
				tick(h, h->reg->slots[i]);
			}
		}
		serials_settle(h->reg); /* backends that went down may change a zone's target */
		wait = next_wait(h);
		pthread_mutex_unlock(&h->reg->lock);
	}
	return NULL;
}

struct health *health_new(struct backend_registry *reg, char *err, size_t len)
{
	struct health *h = calloc(1, sizeof(*h));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};

	if (h == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	h->reg = reg;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd == -1 || h->wake_fd == -1 || rand_seed(&h->rnd) != DR_EOK ||
	    epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->wake_fd, &ev) == -1) {
		snprintf(err, len, "health checks: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&reg->lock);
	reg->on_free = probe_drop;
	reg->on_free_ctx = h;
	pthread_mutex_unlock(&reg->lock);
	if (pthread_create(&h->thread, NULL, health_main, h) != 0) {
		snprintf(err, len, "health checks: cannot start a thread");
		goto fail;
	}
	h->started = true;
	(void)pthread_setname_np(h->thread, "dnsr-health");
	return h;
fail:
	health_free(h);
	return NULL;
}

void health_kick(struct health *h)
{
	uint64_t one = 1;

	if (write(h->wake_fd, &one, sizeof(one)) == -1) {
		log_debug("health", "wake-up failed (%s)", strerror(errno));
	}
}

void health_free(struct health *h)
{
	if (h == NULL) {
		return;
	}
	if (h->started) {
		atomic_store(&h->stopping, true);
		health_kick(h);
		pthread_join(h->thread, NULL);
	}
	pthread_mutex_lock(&h->reg->lock);
	for (uint32_t i = 0; i < h->reg->cap; i++) {
		if (h->reg->slots[i] != NULL) {
			probe_drop(h, h->reg->slots[i]);
		}
	}
	h->reg->on_free = NULL;
	pthread_mutex_unlock(&h->reg->lock);
	if (h->wake_fd != -1) {
		close(h->wake_fd);
	}
	if (h->epfd != -1) {
		close(h->epfd);
	}
	free(h);
}

uint32_t health_wait_checked(struct backend *const *bes, uint32_t n, uint32_t timeout_ms)
{
	uint64_t deadline = clock_now_ms() + timeout_ms;

	for (;;) {
		uint32_t unchecked = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (!(atomic_load(&bes[i]->state) & BE_CHECKED)) {
				unchecked++;
			}
		}
		if (unchecked == 0 || clock_now_ms() >= deadline) {
			return unchecked;
		}
		nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
	}
}
