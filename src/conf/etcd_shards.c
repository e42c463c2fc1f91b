/* SPDX-License-Identifier: MIT */
/* conf/etcd_shards.c -- sharded zones learnt from etcd: a zone's map, its backends' keys
 *
 * Ids under the etcd prefix that start with '_' are reserved, never entries. A sharded zone is
 *   _shards/<zone>/map                the route as JSON, written by dnsrouter-split:
 *                                     {"shards": [{"from": ..., "probe": ...}, ...],
 *                                      "nsec3": {"algorithm", "iterations", "salt"},
 *                                      "serial": N}   (nsec3 and serial optional)
 *   _shards/<zone>/<index>/<id>       "ip:port" of a backend serving shard <index>
 * Backends register and leave by themselves (under a lease), and the map changes only when
 * the zone is cut anew. Each value is checked when it arrives, so a bad one is skipped with a
 * line naming its key; what only the keys together can get wrong (a backend in two shards, a
 * shard index the map does not have) leaves that part out when the routes are built. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"

#define SHARD_KEYS "_shards/"

/* A key's parts: the zone (wire form), and the map or a shard index. */
struct shard_key {
	uint8_t zone[WIRE_NAME_MAX];
	unsigned zone_len;
	bool map;
	unsigned index;
};

static int parse_key(const char *id, struct shard_key *k, char *err, size_t len)
{
	const char *zone = id + strlen(SHARD_KEYS), *slash = strchr(zone, '/');
	char text[WIRE_NAME_TEXT_MAX];
	char *end;
	unsigned long index;
	int n;

	if (slash == NULL || (size_t)(slash - zone) >= sizeof(text)) {
		snprintf(err, len, "not %s<zone>/map or %s<zone>/<shard>/<id>", SHARD_KEYS,
			 SHARD_KEYS);
		return DR_ECONF;
	}
	memcpy(text, zone, (size_t)(slash - zone));
	text[slash - zone] = '\0';
	n = wire_name_from_text(text, k->zone);
	if (n <= 0) {
		snprintf(err, len, "bad zone name '%s'", text);
		return DR_ECONF;
	}
	k->zone_len = (unsigned)n;
	k->map = strcmp(slash + 1, "map") == 0;
	if (k->map) {
		return DR_EOK;
	}
	index = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '/' || end[1] == '\0' ||
	    index >= CONF_SHARDS_MAX) {
		snprintf(err, len, "not %s<zone>/map or %s<zone>/<shard>/<id> (shard 0-%d)",
			 SHARD_KEYS, SHARD_KEYS, CONF_SHARDS_MAX - 1);
		return DR_ECONF;
	}
	k->index = (unsigned)index;
	return DR_EOK;
}

static int map_nsec3(json_t *o, struct conf_route *r, char *err, size_t len)
{
	json_t *alg = json_object_get(o, "algorithm"), *it = json_object_get(o, "iterations");
	json_t *salt = json_object_get(o, "salt");

	if (!json_is_object(o) ||
	    json_object_size(o) != (size_t)(alg != NULL) + (it != NULL) + (salt != NULL)) {
		snprintf(err, len, "nsec3 holds algorithm, iterations and salt only");
		return DR_ECONF;
	}
	if (alg != NULL && (!json_is_integer(alg) || json_integer_value(alg) != 1)) {
		snprintf(err, len, "nsec3 algorithm must be 1 (SHA-1)");
		return DR_ECONF;
	}
	if (it != NULL && (!json_is_integer(it) || json_integer_value(it) < 0 ||
			   json_integer_value(it) > CONF_NSEC3_ITERATIONS_MAX)) {
		snprintf(err, len, "nsec3 iterations must be 0 to %d", CONF_NSEC3_ITERATIONS_MAX);
		return DR_ECONF;
	}
	if (salt != NULL &&
	    (!json_is_string(salt) || conf_nsec3_salt(&r->nsec3_params, json_string_value(salt)))) {
		snprintf(err, len, "nsec3 salt must be hex (up to 255 bytes) or \"-\"");
		return DR_ECONF;
	}
	r->nsec3 = true;
	r->nsec3_params.iterations = it != NULL ? (uint16_t)json_integer_value(it) : 0;
	return DR_EOK;
}

static int map_shard(json_t *o, struct conf_shard *sh, size_t i, char *err, size_t len)
{
	json_t *from = json_object_get(o, "from"), *probe = json_object_get(o, "probe");

	if (!json_is_object(o) || !json_is_string(from) ||
	    json_object_size(o) != 1u + (probe != NULL)) {
		snprintf(err, len, "shard %zu is not {\"from\": ..., \"probe\": ...}", i);
		return DR_ECONF;
	}
	if (conf_shard_from(sh, json_string_value(from)) != DR_EOK) {
		snprintf(err, len, "shard %zu: bad from '%.200s'", i, json_string_value(from));
		return DR_ECONF;
	}
	if (probe != NULL &&
	    (!json_is_string(probe) || conf_shard_probe(sh, json_string_value(probe)) != DR_EOK)) {
		snprintf(err, len, "shard %zu: bad probe (NAME TYPE)", i);
		return DR_ECONF;
	}
	return DR_EOK;
}

static int map_fields(json_t *root, struct conf_route *r, char *err, size_t len)
{
	json_t *shards = json_object_get(root, "shards"), *nsec3 = json_object_get(root, "nsec3");
	json_t *serial = json_object_get(root, "serial");
	size_t known = 1u + (nsec3 != NULL) + (serial != NULL);

	if (!json_is_object(root) || !json_is_array(shards) || json_array_size(shards) == 0 ||
	    json_array_size(shards) > CONF_SHARDS_MAX || json_object_size(root) != known) {
		snprintf(err, len,
			 "a map is {\"shards\": [...], \"nsec3\": {...}, \"serial\": N}, "
			 "with 1 to %d shards",
			 CONF_SHARDS_MAX);
		return DR_ECONF;
	}
	if (serial != NULL) {
		if (!json_is_integer(serial) || json_integer_value(serial) < 0 ||
		    json_integer_value(serial) > UINT32_MAX) {
			snprintf(err, len, "serial must be 0 to 4294967295");
			return DR_ECONF;
		}
		r->serial_pinned = true;
		r->serial = (uint32_t)json_integer_value(serial);
	}
	if (nsec3 != NULL && map_nsec3(nsec3, r, err, len) != DR_EOK) {
		return DR_ECONF;
	}
	r->shards = calloc(json_array_size(shards), sizeof(*r->shards));
	if (r->shards == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(shards); i++) {
		int rc = map_shard(json_array_get(shards, i), &r->shards[i], i, err, len);
		if (rc != DR_EOK) {
			return rc;
		}
		r->nshards++;
	}
	return DR_EOK;
}

/* Fill <r> (zeroed) as the zone route of <k> from the map <json>: its starts checked, no
 * backends yet. On failure <r> may hold shards to free. */
static int map_route(const struct shard_key *k, const char *json, struct conf_route *r, char *err,
		     size_t len)
{
	const struct conf nofile = {0};
	char text[WIRE_NAME_TEXT_MAX];
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	int rc;

	if (root == NULL) {
		snprintf(err, len, "map is not JSON: %s", jerr.text);
		return DR_ECONF;
	}
	r->kind = CONF_ROUTE_ZONE;
	r->source = CONF_SRC_ETCD;
	memcpy(r->zone, k->zone, k->zone_len);
	r->zone_len = k->zone_len;
	rc = map_fields(root, r, err, len);
	json_decref(root);
	if (rc != DR_EOK) {
		return rc;
	}
	if (wire_name_to_text(r->zone, text, sizeof(text)) < 0 ||
	    (r->pattern = strdup(text)) == NULL) {
		return DR_ENOMEM;
	}
	return conf_shards_check_starts(&nofile, r, err, len);
}

int conf_shard_key_check(const char *id, const char *value, char *err, size_t len)
{
	struct shard_key k;
	struct conf_route r = {0};
	union sockaddr_any sa;
	int rc;

	if (strncmp(id, SHARD_KEYS, strlen(SHARD_KEYS)) != 0) {
		snprintf(err, len, "ids starting with '_' are reserved");
		return DR_ECONF;
	}
	if ((rc = parse_key(id, &k, err, len)) != DR_EOK) {
		return rc;
	}
	if (!k.map) {
		if (sockaddr_parse(value, strlen(value), 0, &sa) != DR_EOK) {
			snprintf(err, len, "a shard backend's value is ip:port or [ipv6]:port");
			return DR_ECONF;
		}
		return DR_EOK;
	}
	rc = map_route(&k, value, &r, err, len);
	conf_shards_free(&r);
	free(r.pattern);
	return rc == DR_ENOMEM ? DR_ECONF : rc;
}

bool conf_shard_key(const char *id)
{
	return id[0] == '_';
}

/* Add the backend registered by <value> to shard <index> of <r>; one that does not fit is
 * left out with a log line, and the zone's other keys still count. DR_EOK or DR_ENOMEM. */
static int add_registration(struct conf *c, struct conf_route *r, const char *key,
			    const struct shard_key *k, const char *value)
{
	union sockaddr_any sa;
	char name[CONF_NAME_MAX];
	const struct conf_backend *be;

	if (k->index >= r->nshards) {
		log_warn("etcd", "key %s skipped: the map of %s has %zu shards", key, r->pattern,
			 r->nshards);
		return DR_EOK;
	}
	if (sockaddr_parse(value, strlen(value), 0, &sa) != DR_EOK) {
		return DR_EOK; /* conf_shard_key_check lets none through */
	}
	if ((be = conf_backend_at(c, &sa)) == NULL) {
		return DR_ENOMEM;
	}
	snprintf(name, sizeof(name), "%s", be->name);
	for (size_t i = 0; i < r->nshards; i++) {
		for (size_t j = 0; j < r->shards[i].nbackends; j++) {
			if (strcmp(r->shards[i].backends[j], name) == 0) {
				if (i != k->index) {
					log_warn("etcd",
						 "key %s skipped: %s serves shard %zu of %s", key,
						 name, i, r->pattern);
				}
				return DR_EOK;
			}
		}
	}
	return conf_shard_add_backend(&r->shards[k->index], name);
}

/* The route of the map <k> at <ids>[<m>], with its registrations among the <n> keys. */
static int add_zone(struct conf *c, const struct shard_key *k, const char *const *ids,
		    const char *const *values, size_t n, size_t m)
{
	struct conf_route *r = conf_route_add(c);
	char err[CONF_ERR_LEN];
	struct shard_key b;
	int rc;

	if (r == NULL) {
		return DR_ENOMEM;
	}
	rc = map_route(k, values[m], r, err, sizeof(err));
	if (rc == DR_EOK && (r->origin = strdup(ids[m])) == NULL) {
		rc = DR_ENOMEM;
	}
	if (rc != DR_EOK) {
		conf_route_remove_last(c);
		if (rc == DR_ECONF) { /* checked as it arrived: not reached */
			log_warn("etcd", "key %s skipped: %s", ids[m], err);
		}
		return rc == DR_ECONF ? DR_EOK : rc;
	}
	for (size_t i = 0; rc == DR_EOK && i < n; i++) {
		if (strncmp(ids[i], SHARD_KEYS, strlen(SHARD_KEYS)) == 0 &&
		    parse_key(ids[i], &b, err, sizeof(err)) == DR_EOK && !b.map &&
		    b.zone_len == k->zone_len && memcmp(b.zone, k->zone, k->zone_len) == 0) {
			rc = add_registration(c, &c->routes[c->nroutes - 1], ids[i], &b, values[i]);
		}
	}
	return rc;
}

int conf_add_shard_keys(struct conf *c, const char *const *ids, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct shard_key k;
		char err[CONF_ERR_LEN];
		int rc;

		if (strncmp(ids[i], SHARD_KEYS, strlen(SHARD_KEYS)) != 0 ||
		    parse_key(ids[i], &k, err, sizeof(err)) != DR_EOK || !k.map) {
			continue;
		}
		if ((rc = add_zone(c, &k, ids, values, n, i)) != DR_EOK) {
			return rc;
		}
	}
	return DR_EOK;
}
