/* SPDX-License-Identifier: MIT */
/* conf/conf.h -- the configuration: what the YAML file and the command line say */
#ifndef DR_CONF_CONF_H
#define DR_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "wire/wire.h"

#define CONF_NAME_MAX 64
#define CONF_TEXT_MAX 255	/* identity and version fit one TXT string */
#define CONF_ERR_LEN 512

enum conf_route_kind {
	CONF_ROUTE_ZONE = 0,
	CONF_ROUTE_REGEX = 1,
};

enum conf_policy {
	CONF_POLICY_ROUND_ROBIN = 0,
};

struct conf_backend {
	char name[CONF_NAME_MAX];
	union sockaddr_any addr;
	uint32_t timeout_ms;	/* 0: the global timeout */
	int line;
};

struct conf_route {
	enum conf_route_kind kind;
	char *pattern;		/* the regex, or the zone as written */
	uint8_t zone[WIRE_NAME_MAX];	/* lower-cased wire form, zone routes */
	unsigned zone_len;
	char (*backends)[CONF_NAME_MAX];	/* names, resolved against conf.backends */
	size_t nbackends;
	enum conf_policy policy;
	int line;
};

struct conf {
	char *file;		/* NULL for a configuration from the command line alone */
	union sockaddr_any *listen;
	size_t nlisten;
	unsigned workers;	/* 0: one per core */
	char identity[CONF_TEXT_MAX + 1];
	char version[CONF_TEXT_MAX + 1];	/* empty: version queries are refused */
	int no_route_rcode;	/* WIRE_RCODE_SERVFAIL or WIRE_RCODE_REFUSED */
	uint32_t timeout_ms;
	uint32_t tcp_max_conns;
	uint32_t tcp_idle_ms;
	struct conf_backend *backends;
	size_t nbackends;
	struct conf_route *routes;
	size_t nroutes;
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

/* Add a listen address "ip:port" or "[v6]:port". Returns DR_EOK or DR_ECONF with <err>. */
int conf_add_listen(struct conf *c, const char *addr, char *err, size_t len);

/* Check what no single key can: routes naming unknown backends, regexps that do not compile,
 * duplicate names. Applies defaults that depend on other keys. Returns DR_EOK or DR_ECONF. */
int conf_validate(struct conf *c, char *err, size_t len);

/* For the parsers: append a zeroed backend or route to <c>, or a backend name to <r>.
 * Return the new element (NULL when out of memory) or DR_EOK/DR_ENOMEM. */
struct conf_backend *conf_backend_add(struct conf *c);
struct conf_route *conf_route_add(struct conf *c);
int conf_route_add_backend(struct conf_route *r, const char *name);

/* Parse a duration "250ms", "2s" or a bare number of milliseconds. Returns DR_EOK/DR_EINVAL. */
int conf_parse_duration(const char *s, uint32_t *ms);

#endif
