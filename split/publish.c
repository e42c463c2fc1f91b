/* SPDX-License-Identifier: MIT */
/* split/publish.c -- --etcd: put the map into etcd, where dnsrouter takes the route from
 *
 * One request to etcd's v3 JSON gateway (POST /v3/kv/put, key and value in base64), at
 * PREFIX_shards/<zone>/map; the servers of each shard register beside it. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "split.h"

struct reply {
	char buf[4096];
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n, room = sizeof(r->buf) - 1 - r->len;

	memcpy(r->buf + r->len, data, len < room ? len : room);
	r->len += len < room ? len : room;
	r->buf[r->len] = '\0';
	return len;
}

/* The file <path> whole, NUL-terminated, to free(); NULL on failure (said). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)len + 1)) == NULL ||
	    fread(text, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(text);
		text = NULL;
	} else {
		text[len] = '\0';
	}
	if (f != NULL) {
		fclose(f);
	}
	return text;
}

/* POST <body> to <url>; SPLIT_EXIT_OK when etcd answered 200 with a header. */
static int post(const char *url, const char *body, const char *key)
{
	CURL *curl = curl_easy_init();
	struct reply r = {.len = 0};
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	CURLcode rc = CURLE_FAILED_INIT;

	if (curl != NULL && hdrs != NULL) {
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		rc = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK || status != 200 || strstr(r.buf, "\"header\"") == NULL) {
		fprintf(stderr, "--etcd: putting %s failed: %s (HTTP %ld) %.200s\n", key,
			rc != CURLE_OK ? curl_easy_strerror(rc) : "etcd refused", status, r.buf);
		return SPLIT_EXIT_USAGE;
	}
	printf("published the map at %s\n", key);
	return SPLIT_EXIT_OK;
}

int publish_map(const struct options *o, const struct index *ix)
{
	char path[4200], zone[SPLIT_NAME_MAX * 4 + 1], key[SPLIT_NAME_MAX * 4 + 600];
	char url[2100], *map, *key64 = NULL, *map64 = NULL, *body = NULL;
	int ret = SPLIT_EXIT_USAGE;

	snprintf(path, sizeof(path), "%.4000s/map.json", o->outdir);
	if (name_to_text(ix->apex, zone, sizeof(zone)) != 0 || (map = slurp(path)) == NULL) {
		return SPLIT_EXIT_USAGE;
	}
	snprintf(key, sizeof(key), "%.512s_shards/%s/map", o->etcd_prefix, zone);
	snprintf(url, sizeof(url), "%.2000s/v3/kv/put", o->etcd);
	key64 = base64_encode(key, strlen(key));
	map64 = base64_encode(map, strlen(map));
	if (key64 != NULL && map64 != NULL &&
	    (body = malloc(strlen(key64) + strlen(map64) + 32)) != NULL) {
		sprintf(body, "{\"key\":\"%s\",\"value\":\"%s\"}", key64, map64);
		ret = post(url, body, key);
	} else {
		fprintf(stderr, "out of memory\n");
	}
	free(body);
	free(map64);
	free(key64);
	free(map);
	return ret;
}
