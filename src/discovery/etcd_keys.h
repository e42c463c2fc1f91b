/* SPDX-License-Identifier: MIT */
/* discovery/etcd_keys.h -- the keys under the prefix, as etcd's JSON gateway reports them
 *
 * What the gateway sends is input from the network: range answers and watch messages are
 * parsed here, apart from the HTTP that carries them, so that a fuzz target and unit tests can
 * feed them directly. */
#ifndef DR_DISCOVERY_ETCD_KEYS_H
#define DR_DISCOVERY_ETCD_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The valid entries under the prefix, in key order, and apart from them the valid reserved
 * keys (sharded zones), by id (the key less the prefix). */
struct etcd_set {
	char **keys;
	char **values; /* "ip:port,regexp", checked with conf_entry_check */
	size_t n;
	char **shard_ids;
	char **shard_values; /* checked with conf_shard_key_check */
	size_t nshard;
};

void etcd_set_free(struct etcd_set *s);

struct etcd_kv {
	char *key;
	char *value; /* NULL: the value was not a valid entry (logged once, counted) */
};

/* Every key seen under the prefix, sorted by key (strcmp). Zero-initialised is empty; set
 * <prefix_len> to tell the reserved ids (starting with '_' after the prefix) from entries. */
struct etcd_keys {
	struct etcd_kv *kvs;
	size_t n, cap;
	uint64_t revision; /* of the data held */
	size_t prefix_len;
};

void etcd_keys_deinit(struct etcd_keys *k);

/* Replace the keys with those of a range answer (POST /v3/kv/range), <len> bytes of JSON.
 * Returns DR_EOK; DR_EINVAL when it is not a range answer (the keys are kept); DR_ENOMEM. */
int etcd_keys_load(struct etcd_keys *k, const char *text, size_t len);

enum etcd_watch_outcome {
	ETCD_WATCH_OK = 0,    /* applied (maybe nothing to apply: a progress or created note) */
	ETCD_WATCH_BAD,       /* not a watch message */
	ETCD_WATCH_COMPACTED, /* history gone: read everything again */
	ETCD_WATCH_CANCELED,  /* etcd ended the watch (an expired token, for one) */
	ETCD_WATCH_NOMEM,     /* keys may be partly applied: read everything again */
};

struct etcd_watch_note {
	enum etcd_watch_outcome outcome;
	bool created; /* the message confirms the watch */
	bool changed; /* keys were put or deleted */
	uint64_t compact_revision;
	char reason[128]; /* etcd's cancel_reason, when it gave one */
};

/* Apply one message of a watch stream (one line, <len> bytes of JSON) and say what it was. */
void etcd_keys_apply_watch(struct etcd_keys *k, const char *text, size_t len,
			   struct etcd_watch_note *note);

/* A copy of the valid entries, in key order; <invalid> gets the number of the others. NULL
 * when out of memory. */
struct etcd_set *etcd_keys_set(const struct etcd_keys *k, uint64_t *invalid);

#endif
