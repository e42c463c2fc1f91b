/* SPDX-License-Identifier: MIT */
/* worker/stats.h -- a worker's counters: written by the worker alone, read by the admin thread */
#ifndef DR_WORKER_STATS_H
#define DR_WORKER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

enum stat_counter {
	ST_QUERIES_UDP = 0,
	ST_QUERIES_TCP,
	ST_ANSWERS, /* backend answers relayed */
	ST_LOCAL,   /* answered by the router itself */
	ST_FORMERR,
	ST_NOROUTE,
	ST_SERVFAIL_TIMEOUT,
	ST_SERVFAIL_NOBACKEND,
	ST_RETRIES,
	ST_DROP_SHORT,
	ST_DROP_QR,
	ST_DROP_TRUNC,
	ST_DROP_BAD_RESPONSE,
	ST_DROP_SEND,
	ST_DROP_RING,
	ST_INFLIGHT_FULL,
	ST_TCP_REFUSED,
	ST_XFR_COMPLETE,         /* zone transfers relayed to their end */
	ST_XFR_FAILED,           /* zone transfers the backend did not finish */
	ST_XFR_REFUSED,          /* zone transfers of clients the transfers rule does not allow */
	ST_BADVERS,              /* our BADVERS answers: extended rcode 16, NOERROR in the header */
	ST_ACL_REFUSE,           /* queries an access rule refused (global or a route's) */
	ST_ACL_DROP,             /* queries an access rule dropped (TCP: connection closed) */
	ST_QLIMIT_REFUSE,        /* queries over the query limit, refused */
	ST_QLIMIT_DROP,          /* queries over the query limit, dropped */
	ST_RRL_SLIP,             /* answers RRL replaced by an empty TC=1 answer */
	ST_RRL_DROP,             /* answers RRL dropped */
	ST_RRL_WOULD,            /* answers log-only RRL would have limited (sent all the same) */
	ST_TCP_CLOSE_PER_CLIENT, /* connections over tcp.max-connections-per-client */
	ST_TCP_CLOSE_QUERY_TIMEOUT, /* a query not whole within tcp.query-timeout */
	ST_TCP_CLOSE_MAX_QUERIES,   /* tcp.max-queries-per-connection reached */
	ST_TCP_CLOSE_EVICTED,       /* the idle-longest connection, closed for a newcomer */
	ST_BACKEND_UNREACHABLE,     /* UDP queries failed over at once on an ICMP error */
	ST_CLIENTADDR_UNEDITED, /* queries or answers the client-address edit could not be made in */
	ST_TRANSPARENT_OPENED,  /* sockets opened from a client's address */
	ST_TRANSPARENT_FAILED,  /* queries no socket from the client's address could be had for */
	/* DNSCurve: boxes opened, then answers boxed, each by transport and format (this order:
	 * front/curve.c counts by offset) */
	ST_CURVE_QUERIES_UDP_STREAMLINED,
	ST_CURVE_QUERIES_UDP_TXT,
	ST_CURVE_QUERIES_TCP_STREAMLINED,
	ST_CURVE_QUERIES_TCP_TXT,
	ST_CURVE_ANSWERS_UDP_STREAMLINED,
	ST_CURVE_ANSWERS_UDP_TXT,
	ST_CURVE_ANSWERS_TCP_STREAMLINED,
	ST_CURVE_ANSWERS_TCP_TXT,
	ST_CURVE_CACHE_HIT,      /* a cached shared key opened the box */
	ST_CURVE_CACHE_MISS,     /* shared keys computed */
	ST_CURVE_DROP_MALFORMED, /* a DNSCurve shape that does not decode, or a short box */
	ST_CURVE_DROP_BOX,       /* no configured key opens the box */
	ST_CURVE_DROP_BUDGET,    /* a fresh key over its client prefix's budget */
	ST_CURVE_TRUNCATED,      /* UDP answers too big once boxed: our TC=1 answer instead */
	ST_CURVE_ODD_PADDING,    /* bytes after the opened message that are not dq's padding */
	ST_DNSTAP_SENT,          /* dnstap messages queued for the writer */
	ST_DNSTAP_DROPPED,       /* not queued: the writer's queue was full (a slow reader) */
	/* Where relayed TCP queries spend their time (answers sent on their first try): */
	ST_TCP_TIMED,      /* such answers */
	ST_TCP_US_IN,      /* µs from the query read to its place in the backend's buffer */
	ST_TCP_US_BACKEND, /* µs from there (written at that turn's end) to the answer read */
	ST_TCP_US_OUT,     /* µs from the answer read to its write to the client */
	ST_COUNT
};

struct worker_stats {
	_Atomic uint64_t c[ST_COUNT];
	_Atomic uint64_t rcode[16]; /* responses sent to clients, by RCODE */
};

/* One writer per counter: a relaxed load and store, no locked instruction on the data path. */
static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline uint64_t stat_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#define STAT_INC(w, k) stat_add(&(w)->stats.c[(k)], 1)
#define STAT_ADD(w, k, n) stat_add(&(w)->stats.c[(k)], (n))

/* Count a response of <msg> (at least a header) sent to a client. */
#define STAT_RESPONSE(w, msg) stat_add(&(w)->stats.rcode[(msg)[3] & 0x0f], 1)

#endif
