/* SPDX-License-Identifier: MIT */
/* conf/conf.h -- the configuration: what the YAML file and the command line say */
#ifndef DR_CONF_CONF_H
#define DR_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "common/sockaddr.h"
#include "wire/wire.h"

#define CONF_NAME_MAX 64
#define CONF_TEXT_MAX 255 /* identity and version fit one TXT string */
#define CONF_ERR_LEN 512

enum conf_route_kind {
	CONF_ROUTE_ZONE = 0,
	CONF_ROUTE_REGEX = 1,
};

enum conf_policy {
	CONF_POLICY_ROUND_ROBIN = 0,
	CONF_POLICY_WEIGHTED = 1,
	CONF_POLICY_LEAST_OUTSTANDING = 2,
	CONF_POLICY_HASH = 3,
	CONF_POLICY_FIRST_AVAILABLE = 4,
};

/* Where a route came from: the file and -b, or etcd. */
enum conf_source {
	CONF_SRC_CONFIG = 0,
	CONF_SRC_ETCD = 1,
};

#define CONF_TRANSFERS_MAX 64 /* client prefixes allowed to transfer zones */
#define CONF_TCP_BACKEND_CONNS_MAX 256
#define CONF_EXPLAIN_FROM_MAX 64 /* client prefixes that may ask explain.dnsrouter. */
#define CONF_ENTRY_MAX 4096      /* longest "ip:port,regexp" accepted */
#define CONF_ETCD_ENDPOINTS_MAX 16

/* etcd discovery (v3 JSON gateway). */
struct conf_etcd {
	char *endpoints[CONF_ETCD_ENDPOINTS_MAX]; /* base URLs; none: no etcd */
	size_t nendpoints;
	char prefix[256];
	uint32_t timeout_ms;
	char ca[1024];   /* PEM file of CAs that sign the members' certificates; "": system */
	char cert[1024]; /* client certificate (PEM) and its key, for client auth */
	char key[1024];
	char username[128]; /* etcd authentication; "": none */
	char password[128];
};

enum conf_fallback {
	CONF_FALLBACK_SERVFAIL = 0, /* all backends down: SERVFAIL at once */
	CONF_FALLBACK_ALL = 1,      /* all backends down: keep trying them all */
};

#define CONF_WEIGHT_MAX 100

/* What an access rule, or the query limit, does with a client's query. */
enum conf_acl_action {
	CONF_ACL_ALLOW = 0,
	CONF_ACL_REFUSE = 1, /* REFUSED with EDE 18 Prohibited */
	CONF_ACL_DROP = 2,   /* no answer (TCP: the connection is closed) */
};

#define CONF_ACL_MAX 10000 /* rules in one list */

struct conf_acl_rule {
	struct prefix from;
	enum conf_acl_action action;
};

/* An ordered list of access rules: the first whose prefix holds the client decides; a client
 * no rule holds is allowed. Heap-owned by its conf. */
struct conf_acl {
	struct conf_acl_rule *rules;
	size_t n;
};

#define CONF_EXEMPT_MAX 64

/* Response rate limiting (UDP answers), as in BIND and Knot. */
struct conf_rrl {
	uint32_t responses_ps; /* identical answers per client prefix per second; 0: off */
	uint32_t errors_ps;    /* error answers per prefix per second; 0: responses_ps */
	uint32_t slip;         /* every slip-th limited answer goes out as TC=1; 0: none */
	uint32_t window_ms;    /* how far back a prefix's excess is remembered */
	uint32_t table_size;   /* tracked entries, all workers together; fixed at start */
	struct prefix exempt[CONF_EXEMPT_MAX];
	size_t nexempt;
	bool log_only; /* count what would be limited, limit nothing */
};

/* The query limit: a token bucket per client prefix, before routing, UDP and TCP. */
struct conf_qlimit {
	uint32_t per_second;         /* 0: off */
	uint32_t burst;              /* 0: per_second */
	enum conf_acl_action action; /* CONF_ACL_DROP or CONF_ACL_REFUSE */
};

/* The NSEC3 parameters of a zone sharded by hash (RFC 5155 §3.1; SHA-1 is the one algorithm
 * defined). */
#define CONF_NSEC3_ITERATIONS_MAX 2500 /* RFC 5155 §10.3's most; RFC 9276 asks for 0 */
struct conf_nsec3 {
	uint16_t iterations;
	uint8_t salt_len;
	uint8_t salt[255];
};

/* Active health checks. Every field may be set globally and overridden per backend; <set>
 * records which ones a backend's own block gave. */
struct conf_health {
	bool enabled;
	bool tcp;                     /* transport: tcp (default) or udp */
	uint8_t qname[WIRE_NAME_MAX]; /* lower-cased wire form */
	uint16_t qtype, qclass;
	uint32_t interval_ms, timeout_ms;
	uint32_t fall, rise;
	uint32_t rcodes;         /* bit n: rcode n is an answer that counts as alive */
	bool need_data;          /* and only NOERROR with answer records (a shard's probe) counts */
	bool want_nsec3param;    /* and only an NSEC3PARAM with these parameters counts (the */
	struct conf_nsec3 nsec3; /* apex of a zone sharded by NSEC3 hash, without a probe) */
	uint32_t hold_down_ms;   /* out at least this long after a passive take-down */
	uint32_t hold_down_max_ms; /* the hold-down doubles with each repeat up to this */
	uint32_t set;              /* CONF_HEALTH_* bits */
};

enum {
	CONF_HEALTH_ENABLED = 1u << 0,
	CONF_HEALTH_TRANSPORT = 1u << 1,
	CONF_HEALTH_QUERY = 1u << 2,
	CONF_HEALTH_INTERVAL = 1u << 3,
	CONF_HEALTH_TIMEOUT = 1u << 4,
	CONF_HEALTH_FALL = 1u << 5,
	CONF_HEALTH_RISE = 1u << 6,
	CONF_HEALTH_RCODES = 1u << 7,
	CONF_HEALTH_HOLD_DOWN = 1u << 8,
	CONF_HEALTH_HOLD_DOWN_MAX = 1u << 9,
};

/* How a backend learns the client's address. */
enum conf_client_address {
	CONF_CA_DEFAULT = 0,     /* a backend's own: the global setting */
	CONF_CA_NONE = 1,        /* the query as it came */
	CONF_CA_ECS = 2,         /* an EDNS Client Subnet option with the client's prefix */
	CONF_CA_PROXY = 3,       /* a PROXY protocol v2 header in front of the query */
	CONF_CA_TRANSPARENT = 4, /* sent from the client's own address (IP_TRANSPARENT) */
};

/* The client subnet the router adds (RFC 7871). */
struct conf_ecs {
	uint8_t v4_bits, v6_bits; /* 0..32, 0..128 */
	bool override;            /* replace a client's own option (and give it back) */
};

#define CONF_CURVE_KEYS_MAX 3    /* current and previous keys: a miss tries each in turn */
#define CONF_CURVE_LISTEN_MAX 16 /* listeners named in dnscurve.listen */
#define CONF_PATH_MAX 1024

/* The DNSCurve front. The secret keys are read when the file is parsed, so a reload that
 * cannot read one fails as a whole and the running keys stay. */
struct conf_curve {
	size_t nkeys; /* 0: no DNSCurve */
	char key_files[CONF_CURVE_KEYS_MAX][CONF_PATH_MAX];
	uint8_t keys[CONF_CURVE_KEYS_MAX][32]; /* secret keys, the first is current */
	bool all_listeners;                    /* listen: both (the default) */
	union sockaddr_any listen[CONF_CURVE_LISTEN_MAX];
	size_t nlisten;
	int listen_line;         /* where dnscurve.listen is, for an error about it */
	uint16_t nonce_instance; /* the first two bytes of every server nonce */
	uint32_t key_cache;      /* shared keys per worker, a power of two */
	uint32_t new_keys_ps;    /* fresh shared keys per client prefix a second; 0: no limit */
	char nonce_file[CONF_PATH_MAX]; /* the last server nonce counter, kept across restarts */
	int line;
};

/* dnstap: the queries and answers on both sides, as Frame Streams to a file or a socket. */
struct conf_dnstap {
	bool enabled;
	char socket[CONF_PATH_MAX]; /* a unix socket a collector listens on; or */
	char file[CONF_PATH_MAX];   /* a file, started anew on SIGHUP when it was moved away */
	bool identity;              /* send the router's identity and version (default) */
	bool queries, responses;    /* which events (both by default) */
	unsigned sample;            /* log 1 in this many queries (and their answers) */
	unsigned queue_size;        /* messages each worker may have waiting to be written */
	int line;
};

struct conf_backend {
	char name[CONF_NAME_MAX];
	union sockaddr_any addr;
	uint32_t timeout_ms;                     /* 0: the global timeout */
	uint32_t weight;                         /* 1..CONF_WEIGHT_MAX */
	enum conf_client_address client_address; /* CONF_CA_DEFAULT: the global one */
	struct conf_health health; /* the global block with this backend's overrides */
	int line;
};

#define CONF_SHARDS_MAX 4096
#define CONF_SHARD_PREFIX_MAX 32 /* a whole NSEC3 hash in base32hex */

/* One shard of a sharded zone route: where it starts and who serves it. */
struct conf_shard {
	uint8_t from[WIRE_NAME_MAX]; /* canonical: lower-cased wire form */
	unsigned from_len;
	char prefix[CONF_SHARD_PREFIX_MAX + 1]; /* nsec3: base32hex, lower case */
	char (*backends)[CONF_NAME_MAX];
	size_t nbackends;
	uint8_t probe[WIRE_NAME_MAX]; /* a name the shard must answer with data; [0] 0 and */
	uint16_t probe_type;          /* probe_type 0: none */
	int line;
};

struct conf_route {
	enum conf_route_kind kind;
	char *pattern;               /* the regex, or the zone as written */
	uint8_t zone[WIRE_NAME_MAX]; /* lower-cased wire form, zone routes */
	unsigned zone_len;
	char (*backends)[CONF_NAME_MAX]; /* names, resolved against conf.backends */
	size_t nbackends;
	enum conf_policy policy;
	enum conf_fallback fallback;
	enum conf_source source;
	struct conf_acl acl;       /* checked after the global one, once the route is known */
	struct conf_shard *shards; /* a zone served in shards (then nbackends is 0); heap */
	size_t nshards;
	bool nsec3;                     /* shards by NSEC3 hash of the label below the zone */
	struct conf_nsec3 nsec3_params; /* with nsec3 */
	char full_zone
		[CONF_NAME_MAX]; /* a sharded zone's transfers go to this backend; "": refused */
	char *origin;            /* etcd routes: the keys that made it ("k1 k2"); else NULL */
	bool serial_pinned;      /* a sharded zone served at this serial only; else the newest */
	uint32_t serial;         /* that every shard has */
	int line;
};

struct conf {
	char *file; /* NULL for a configuration from the command line alone */
	union sockaddr_any *listen;
	size_t nlisten;
	unsigned workers;      /* 0: one per core */
	uint32_t busy_poll_us; /* 0: workers sleep as soon as there is nothing to do */
	char identity[CONF_TEXT_MAX + 1];
	char version[CONF_TEXT_MAX + 1]; /* empty: version queries are refused */
	int no_route_rcode;              /* WIRE_RCODE_SERVFAIL or WIRE_RCODE_REFUSED */
	uint32_t timeout_ms;
	uint32_t tcp_max_conns;
	uint32_t tcp_idle_ms;
	uint32_t tcp_per_client;    /* connections from one address; 0: no limit */
	uint32_t tcp_query_ms;      /* a query must arrive whole this long after its first byte */
	uint32_t tcp_max_queries;   /* queries per connection; 0: no limit */
	unsigned tcp_backend_conns; /* TCP connections to one backend, per worker, at most */
	union sockaddr_any admin;   /* family 0: no admin endpoint */
	char admin_key[CONF_TEXT_MAX + 1];           /* "": the API needs no key */
	struct prefix transfers[CONF_TRANSFERS_MAX]; /* clients whose AXFR/IXFR are relayed */
	size_t ntransfers;
	struct prefix explain_from[CONF_EXPLAIN_FROM_MAX]; /* default: loopback */
	size_t nexplain_from;
	struct conf_acl acl;                     /* checked first, before routing */
	struct conf_qlimit qlimit;               /* per client prefix, before routing */
	struct conf_rrl rrl;                     /* on UDP answers */
	enum conf_client_address client_address; /* for backends that say nothing */
	struct conf_ecs ecs;
	struct conf_curve curve;
	struct conf_dnstap dnstap;
	uint8_t limit_v4_bits; /* the client prefix of rate-limit, query-limit and dnscurve */
	uint8_t limit_v6_bits;
	char user[CONF_NAME_MAX];  /* drop root to this user after binding; "": stay */
	char group[CONF_NAME_MAX]; /* and this group ("": the user's) */
	char chroot[1024];         /* chroot here after binding; "": none */
	struct conf_health health; /* global defaults */
	struct conf_etcd etcd;
	struct conf_backend *backends;
	size_t nbackends, backends_cap;
	struct conf_route *routes;
	size_t nroutes, routes_cap;
};

/* Fill <c> with the defaults (identity: the host name). Returns DR_EOK or DR_ENOMEM. */
int conf_init(struct conf *c);

/* Release everything <c> owns; <c> may then be initialised again. */
void conf_deinit(struct conf *c);

/* Parse the YAML file <path> into <c> (initialised by conf_init). On failure returns DR_ECONF
 * (or a negative errno) with "FILE:LINE: problem" in <err> of <len> bytes. */
int conf_load_yaml(struct conf *c, const char *path, char *err, size_t len);

/* Add a backend and a regex route from an etcd-format entry "ip:port,regexp" (the -b option).
 * Entries with the same regexp share one route. Returns DR_EOK or DR_ECONF with <err>. */
int conf_add_entry(struct conf *c, const char *entry, char *err, size_t len);

/* The same for <n> entries at once, in O(n); their routes are marked <source>, and with
 * <keys> (etcd's, or NULL) each route's origin lists the keys that made it. */
int conf_add_entries(struct conf *c, const char *const *keys, const char *const *entries, size_t n,
		     enum conf_source source, char *err, size_t len);

/* Check an entry without adding it: address, regexp, size. DR_EOK or DR_ECONF with <err>. */
int conf_entry_check(const char *entry, char *err, size_t len);

/* A deep copy of <src> into <dst>. Returns DR_EOK or DR_ENOMEM (<dst> then empty). */
int conf_clone(struct conf *dst, const struct conf *src);

/* Add a listen address "ip:port" or "[v6]:port". Returns DR_EOK or DR_ECONF with <err>. */
int conf_add_listen(struct conf *c, const char *addr, char *err, size_t len);

/* Check what no single key can: routes naming unknown backends, regexps that do not compile,
 * duplicate names. Applies defaults that depend on other keys. Returns DR_EOK or DR_ECONF. */
int conf_validate(struct conf *c, char *err, size_t len);

/* Whether this host lets the process send from a client's address for every backend whose
 * client-address is transparent (the global setting included, for backends etcd adds):
 * DR_EOK, or DR_ECONF with "FILE:LINE: backend 'NAME': client-address transparent needs
 * CAP_NET_ADMIN and kernel support (REASON)". */
int conf_check_transparent(const struct conf *c, char *err, size_t len);

/* How <be> learns the client's address: its own setting, else the global one. */
enum conf_client_address conf_client_address_of(const struct conf *c,
						const struct conf_backend *be);

/* True when some backend, or the global setting, is client-address transparent. */
bool conf_has_transparent(const struct conf *c);

/* For the parsers: append a zeroed backend or route to <c>, or a backend name to <r>.
 * Return the new element (NULL when out of memory) or DR_EOK/DR_ENOMEM. */
struct conf_backend *conf_backend_add(struct conf *c);
struct conf_route *conf_route_add(struct conf *c);
int conf_route_add_backend(struct conf_route *r, const char *name);

/* Append <name> to the list <names> of <n> (heap). DR_EOK or DR_ENOMEM. */
int conf_names_append(char (**names)[CONF_NAME_MAX], size_t *n, const char *name);

/* Parse a health query "NAME [CLASS] TYPE" (class IN or CH, type A, AAAA, NS, SOA, TXT, ...)
 * into <h>. Returns DR_EOK or DR_EINVAL. */
int conf_parse_health_query(const char *text, struct conf_health *h);

/* The policy called <name>, or -1. And the name of <policy>. */
int conf_policy_from_name(const char *name);
const char *conf_policy_name(enum conf_policy policy);

/* Parse a duration "250ms", "2s" or a bare number of milliseconds. Returns DR_EOK/DR_EINVAL. */
int conf_parse_duration(const char *s, uint32_t *ms);

/* A route's shards (conf/shards.c): the checks conf_validate makes (a zone route without
 * backends; canonical starts sorted, inside the zone, the first at it; nsec3 starts sorted
 * base32hex prefixes; known backends, each in one shard), freeing, and the deep copy
 * (DR_EOK or DR_ENOMEM; <dst> then holds what was copied, for conf_shards_free). */
int conf_validate_shards(const struct conf *c, const struct conf_route *r, char *err, size_t len);

/* The parts of a shard, from text: its start (a name, or a base32hex prefix for an nsec3
 * route, "0"-"9" being both), its probe ("NAME TYPE", class IN), and an nsec3 route's salt
 * (hex, or "-" for none). DR_EOK or DR_EINVAL. */
int conf_shard_from(struct conf_shard *sh, const char *text);
int conf_shard_probe(struct conf_shard *sh, const char *text);
int conf_nsec3_salt(struct conf_nsec3 *p, const char *text);

/* The starts of <r>'s shards checked as conf_validate does, and a backend added to <sh>. */
int conf_shards_check_starts(const struct conf *c, const struct conf_route *r, char *err,
			     size_t len);
int conf_shard_add_backend(struct conf_shard *sh, const char *name);

/* Sharded zones from etcd (conf/etcd_shards.c). Ids (keys less the prefix) starting with '_'
 * are reserved: conf_shard_key tells them. conf_shard_key_check checks one such key and its
 * value, as it arrives: "_shards/<zone>/map" holds the route as JSON ({"shards": [{"from",
 * "probe"}...], "nsec3": {...}, "serial": N}), "_shards/<zone>/<index>/<id>" the address
 * ip:port of a backend serving shard <index>. conf_add_shard_keys adds to <c> a route for each
 * zone with a map among the <n> checked keys, with the backends registered for it (named by
 * address, unless the file has one there); a registration that does not fit the map is left
 * out with a log line. DR_EOK or DR_ENOMEM. */
bool conf_shard_key(const char *id);
int conf_shard_key_check(const char *id, const char *value, char *err, size_t len);
int conf_add_shard_keys(struct conf *c, const char *const *ids, const char *const *values,
			size_t n);

/* The backend at address <sa>: the configured one there, or a new one named by the address
 * with the global health settings (as entries get). NULL when out of memory; the pointer
 * lasts until the next backend is added. */
const struct conf_backend *conf_backend_at(struct conf *c, const union sockaddr_any *sa);

/* Drop the last route added (a parser that found it bad after conf_route_add). */
void conf_route_remove_last(struct conf *c);
void conf_shards_free(struct conf_route *r);
int conf_shards_copy(struct conf_route *dst, const struct conf_route *src);

/* Copy <n> rules of <src> into <dst> (heap). Returns DR_EOK or DR_ENOMEM. */
int conf_acl_copy(struct conf_acl *dst, const struct conf_acl *src);
void conf_acl_free(struct conf_acl *acl);

/* The longest busy-poll a worker may do, and the parser for it: "0", "50us", "1ms". */
#define CONF_BUSY_POLL_MAX_US 100000u
int conf_parse_busy_poll(const char *s, uint32_t *us);

#endif
