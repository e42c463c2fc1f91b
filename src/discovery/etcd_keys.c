/* SPDX-License-Identifier: MIT */
/* discovery/etcd_keys.c -- the keys under the prefix, as etcd's JSON gateway reports them */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "discovery/etcd_keys.h"

/* What cannot be an entry of ours (not base64, a NUL inside) is kept as this and the text as
 * sent: unique per key, so such keys are still told apart, readable in the log line that skips
 * them, and never a valid entry (no address starts with a parenthesis). */
#define UNDECODABLE "(undecodable) "

void etcd_set_free(struct etcd_set *s)
{
	if (s == NULL) {
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i]);
		free(s->values[i]);
	}
	for (size_t i = 0; i < s->nshard; i++) {
		free(s->shard_ids[i]);
		free(s->shard_values[i]);
	}
	free(s->keys);
	free(s->values);
	free(s->shard_ids);
	free(s->shard_values);
	free(s);
}

/* The key table */

static size_t kv_find(const struct etcd_keys *k, const char *key, bool *found)
{
	size_t lo = 0, hi = k->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(k->kvs[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = false;
	return lo;
}

static void kv_clear(struct etcd_keys *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->kvs[i].key);
		free(k->kvs[i].value);
	}
	k->n = 0;
}

static void kv_delete(struct etcd_keys *k, const char *key)
{
	bool found;
	size_t i = kv_find(k, key, &found);

	if (!found) {
		return;
	}
	free(k->kvs[i].key);
	free(k->kvs[i].value);
	memmove(&k->kvs[i], &k->kvs[i + 1], (k->n - i - 1) * sizeof(*k->kvs));
	k->n--;
}

/* <key> less the prefix. */
static const char *key_id(const struct etcd_keys *k, const char *key)
{
	return strlen(key) >= k->prefix_len ? key + k->prefix_len : key;
}

/* Set <key> to <value> (both taken), or to "skipped" when the value is not a valid entry (or
 * reserved key). */
static int kv_put(struct etcd_keys *k, char *key, char *value)
{
	char why[CONF_ERR_LEN];
	bool found;
	size_t i;

	const char *id = key_id(k, key);

	if ((conf_shard_key(id) ? conf_shard_key_check(id, value, why, sizeof(why))
				: conf_entry_check(value, why, sizeof(why))) != DR_EOK) {
		log_warn("etcd", "key %s skipped: %s", key, why);
		free(value);
		value = NULL;
	}
	i = kv_find(k, key, &found);
	if (found) {
		free(k->kvs[i].value);
		k->kvs[i].value = value;
		free(key);
		return DR_EOK;
	}
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 64;
		struct etcd_kv *grown = realloc(k->kvs, cap * sizeof(*grown));
		if (grown == NULL) {
			free(key);
			free(value);
			return DR_ENOMEM;
		}
		k->kvs = grown;
		k->cap = cap;
	}
	memmove(&k->kvs[i + 1], &k->kvs[i], (k->n - i) * sizeof(*k->kvs));
	k->kvs[i].key = key;
	k->kvs[i].value = value;
	k->n++;
	return DR_EOK;
}

void etcd_keys_deinit(struct etcd_keys *k)
{
	kv_clear(k);
	free(k->kvs);
	memset(k, 0, sizeof(*k));
}

/* JSON */

static const char *json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* etcd's int64 fields come as JSON strings. */
static uint64_t json_u64(json_t *obj, const char *key)
{
	const char *s = json_str(obj, key);

	return s ? strtoull(s, NULL, 10) : 0;
}

/* The decoded key or value <key> of <obj>, to free(); NULL only when memory runs out.
 * <clean> tells whether it decoded (false: it is the marked text as sent). */
static char *decoded(json_t *obj, const char *key, bool *clean)
{
	const char *b64 = json_str(obj, key);
	size_t len;
	char *out = NULL, *marked;
	int rc = b64 ? base64_decode(b64, &out, &len) : DR_EOK;

	*clean = true;
	if (b64 == NULL) {
		return strdup("");
	}
	if (rc == DR_ENOMEM) {
		return NULL;
	}
	if (rc == DR_EOK && strlen(out) == len) {
		return out;
	}
	free(out);
	*clean = false;
	marked = malloc(sizeof(UNDECODABLE) + strlen(b64));
	if (marked != NULL) {
		memcpy(marked, UNDECODABLE, sizeof(UNDECODABLE) - 1);
		strcpy(marked + sizeof(UNDECODABLE) - 1, b64);
	}
	return marked;
}

/* Put the key and value of <kv> (a JSON mvccpb.KeyValue). */
static int put_kv(struct etcd_keys *k, json_t *kv)
{
	bool key_clean, value_clean;
	char *key = decoded(kv, "key", &key_clean), *value = decoded(kv, "value", &value_clean);

	if (key == NULL || value == NULL) {
		free(key);
		free(value);
		return DR_ENOMEM;
	}
	if (!key_clean) {
		/* Not a key etcd would send: kept (so it is counted and a delete finds it), never
		 * routed. The marked value fails the entry check, which logs it. */
		free(value);
		value = strdup("(key not base64)");
		if (value == NULL) {
			free(key);
			return DR_ENOMEM;
		}
	}
	return kv_put(k, key, value); /* it takes both */
}

int etcd_keys_load(struct etcd_keys *k, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *header = root ? json_object_get(root, "header") : NULL;
	json_t *kvs;
	int rc = DR_EOK;

	if (header == NULL) {
		json_decref(root);
		return DR_EINVAL;
	}
	kv_clear(k);
	k->revision = json_u64(header, "revision");
	kvs = json_object_get(root, "kvs");
	for (size_t i = 0; rc == DR_EOK && i < json_array_size(kvs); i++) {
		rc = put_kv(k, json_array_get(kvs, i));
	}
	json_decref(root);
	return rc;
}

/* The events of a watch message: puts and deletes, in order. */
static void apply_events(struct etcd_keys *k, json_t *events, struct etcd_watch_note *note)
{
	for (size_t i = 0; i < json_array_size(events); i++) {
		json_t *ev = json_array_get(events, i);
		json_t *kv = json_object_get(ev, "kv");
		const char *type = json_str(ev, "type");
		uint64_t rev = json_u64(kv, "mod_revision");

		if (type != NULL && strcmp(type, "DELETE") == 0) {
			bool clean;
			char *key = decoded(kv, "key", &clean);
			if (key == NULL) {
				note->outcome = ETCD_WATCH_NOMEM;
				return;
			}
			kv_delete(k, key);
			free(key);
		} else if (put_kv(k, kv) != DR_EOK) {
			note->outcome = ETCD_WATCH_NOMEM;
			return;
		}
		if (rev > k->revision) {
			k->revision = rev;
		}
		note->changed = true;
	}
}

void etcd_keys_apply_watch(struct etcd_keys *k, const char *text, size_t len,
			   struct etcd_watch_note *note)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *result = root ? json_object_get(root, "result") : NULL;
	const char *reason;

	memset(note, 0, sizeof(*note));
	if (!json_is_object(result)) {
		note->outcome = ETCD_WATCH_BAD;
	} else if ((note->compact_revision = json_u64(result, "compact_revision")) != 0) {
		note->outcome = ETCD_WATCH_COMPACTED;
	} else if (json_is_true(json_object_get(result, "canceled"))) {
		note->outcome = ETCD_WATCH_CANCELED;
		reason = json_str(result, "cancel_reason");
		snprintf(note->reason, sizeof(note->reason), "%s",
			 reason ? reason : "no reason given");
	} else {
		note->created = json_is_true(json_object_get(result, "created"));
		apply_events(k, json_object_get(result, "events"), note);
	}
	json_decref(root);
}

/* Append <a> and <b> (copied) to the lists <as> and <bs> of <*n>. */
static int set_add(char **as, char **bs, size_t *n, const char *a, const char *b)
{
	as[*n] = strdup(a);
	bs[*n] = strdup(b);
	if (as[*n] == NULL || bs[*n] == NULL) {
		free(as[*n]);
		free(bs[*n]);
		return DR_ENOMEM;
	}
	(*n)++;
	return DR_EOK;
}

struct etcd_set *etcd_keys_set(const struct etcd_keys *k, uint64_t *invalid)
{
	struct etcd_set *s = calloc(1, sizeof(*s));

	*invalid = 0;
	if (s == NULL || (s->keys = calloc(k->n + 1, sizeof(char *))) == NULL ||
	    (s->values = calloc(k->n + 1, sizeof(char *))) == NULL ||
	    (s->shard_ids = calloc(k->n + 1, sizeof(char *))) == NULL ||
	    (s->shard_values = calloc(k->n + 1, sizeof(char *))) == NULL) {
		etcd_set_free(s);
		return NULL;
	}
	for (size_t i = 0; i < k->n; i++) {
		const char *id = key_id(k, k->kvs[i].key);
		int rc;
		if (k->kvs[i].value == NULL) {
			(*invalid)++;
			continue;
		}
		rc = conf_shard_key(id)
			     ? set_add(s->shard_ids, s->shard_values, &s->nshard, id,
				       k->kvs[i].value)
			     : set_add(s->keys, s->values, &s->n, k->kvs[i].key, k->kvs[i].value);
		if (rc != DR_EOK) {
			etcd_set_free(s);
			return NULL;
		}
	}
	return s;
}
