/* SPDX-License-Identifier: MIT */
/* discovery/etcd.c -- follow a key prefix in etcd (v3 JSON gateway) on a thread of its own
 *
 * The gateway speaks JSON over HTTP: POST /v3/kv/range reads the prefix, POST /v3/watch streams
 * one JSON object per line. A watch request is given a bounded life (WATCH_ROTATE_MS) and then
 * resumed from the next revision, so a member that hangs without closing the connection is
 * noticed, and etcd replays whatever happened in between. A compacted revision, or any failure,
 * sends us back to a full read, which also applies deletions made while we were away. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "discovery/etcd.h"
#include "discovery/etcd_keys.h"

#define WATCH_ROTATE_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STREAM_LINE_MAX (64u << 20) /* one watch message; 10,000 events fit */

struct etcd {
	char *endpoints[CONF_ETCD_ENDPOINTS_MAX];
	size_t nendpoints;
	size_t ep;        /* the endpoint in use */
	char *range_body; /* {"key": ..., "range_end": ...} */
	char prefix[256];
	char *key_b64, *end_b64;
	uint32_t timeout_ms;
	struct conf_etcd tls_auth;  /* ca, cert, key, username, password */
	struct curl_slist *headers; /* "Authorization: <token>" once authenticated */
	int notify_fd;
	pthread_t thread;
	bool started;
	_Atomic bool stopping;
	/* Thread state. */
	CURL *curl;
	struct etcd_keys keys;
	bool was_up, ever_tried;
	char *line; /* the watch stream, up to a newline */
	size_t line_len, line_cap;
	bool watch_created, watch_broken;
	bool watch_reread;      /* etcd itself ended the watch (compaction, token): not its fault */
	uint64_t created_by_ms; /* a watch not created by then is given up (0: none) */
	bool silence_limit;     /* give a read up after <timeout> without a byte */
	curl_off_t last_dn;
	uint64_t last_rx_ms;
	/* Published. */
	pthread_mutex_t lock;
	pthread_cond_t published_cond;
	struct etcd_set *pending;
	bool published;
	_Atomic bool up;
	_Atomic bool watching; /* a watch stream is open: the data is current */
	_Atomic uint64_t pub_revision, pub_keys, pub_invalid, current_ms;
};

/* Hand a copy of the valid entries to the control thread and wake it. */
static void publish(struct etcd *e)
{
	uint64_t one = 1, invalid;
	struct etcd_set *s = etcd_keys_set(&e->keys, &invalid);

	if (s == NULL) {
		log_err("etcd", "out of memory publishing %zu keys", e->keys.n);
		return;
	}
	atomic_store(&e->pub_revision, e->keys.revision);
	atomic_store(&e->pub_keys, s->n + s->nshard);
	atomic_store(&e->pub_invalid, invalid);
	pthread_mutex_lock(&e->lock);
	etcd_set_free(e->pending);
	e->pending = s;
	e->published = true;
	pthread_cond_broadcast(&e->published_cond);
	pthread_mutex_unlock(&e->lock);
	if (write(e->notify_fd, &one, sizeof(one)) == -1) {
		log_debug("etcd", "wake-up failed (%s)", strerror(errno));
	}
}

/* HTTP */

struct body {
	char *data;
	size_t len;
	bool too_big;
};

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *grown;

	if (b->len + add > STREAM_LINE_MAX) {
		b->too_big = true;
		return 0;
	}
	grown = realloc(b->data, b->len + add + 1);
	if (grown == NULL) {
		return 0;
	}
	memcpy(grown + b->len, ptr, add);
	b->data = grown;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

static int progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct etcd *e = arg;

	uint64_t now = clock_now_ms();

	(void)dt;
	(void)ut;
	(void)un;
	if (dn != e->last_dn || e->last_rx_ms == 0) {
		e->last_dn = dn;
		e->last_rx_ms = now;
	}
	/* Non-zero aborts the transfer: when stopping, when a member accepted the watch but does
	 * not confirm it, and when a read goes silent (a hung member still completes TCP
	 * handshakes, so only silence shows it). */
	if (e->created_by_ms != 0 && !e->watch_created && now > e->created_by_ms) {
		return 1;
	}
	if (e->silence_limit && now - e->last_rx_ms > e->timeout_ms) {
		return 1;
	}
	return atomic_load(&e->stopping) ? 1 : 0;
}

static void request_setup(struct etcd *e, const char *path, const char *body, long timeout_ms)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s", e->endpoints[e->ep], path);
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (e->tls_auth.ca[0] != '\0') {
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->tls_auth.ca);
	}
	if (e->tls_auth.cert[0] != '\0') {
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->tls_auth.cert);
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->tls_auth.key);
	}
	if (e->headers != NULL) {
		curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	}
	e->last_rx_ms = 0;
	e->last_dn = 0;
}

static const char *json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* etcd authentication: trade the username and password for a token, sent with every request
 * after (POST /v3/auth/authenticate). Done before each full read, so an expired token is
 * replaced the first time a request fails. */
static int authenticate(struct etcd *e, char *why, size_t len)
{
	struct body b = {0};
	json_t *req, *root = NULL;
	json_error_t jerr;
	char *body = NULL, *header = NULL;
	const char *token;
	long status = 0;
	CURLcode cc;
	int rc = DR_EINVAL;

	curl_slist_free_all(e->headers);
	e->headers = NULL;
	if (e->tls_auth.username[0] == '\0') {
		return DR_EOK;
	}
	req = json_pack("{ssss}", "name", e->tls_auth.username, "password", e->tls_auth.password);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL) {
		snprintf(why, len, "out of memory");
		return DR_ENOMEM;
	}
	request_setup(e, "/v3/auth/authenticate", body, (long)e->timeout_ms);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e->curl);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	root = cc == CURLE_OK ? json_loadb(b.data ? b.data : "", b.len, 0, &jerr) : NULL;
	token = root ? json_str(root, "token") : NULL;
	if (token == NULL || status != 200) {
		const char *msg = root ? json_str(root, "message") : NULL;
		snprintf(why, len, "authentication as %s failed (%s)", e->tls_auth.username,
			 cc != CURLE_OK ? curl_easy_strerror(cc)
			 : msg          ? msg
					: "no token");
		goto out;
	}
	if (asprintf(&header, "Authorization: %s", token) < 0) {
		header = NULL;
		snprintf(why, len, "out of memory");
		goto out;
	}
	e->headers = curl_slist_append(NULL, header);
	rc = e->headers ? DR_EOK : DR_ENOMEM;
out:
	free(header);
	explicit_bzero(body, strlen(body));
	free(body);
	json_decref(root);
	free(b.data);
	return rc;
}

/* The full read: the whole prefix at one revision. */
static int range(struct etcd *e, char *why, size_t len)
{
	struct body b = {0};
	CURLcode cc;
	long status = 0;
	int rc = DR_EINVAL;

	/* No limit on the whole read (a large prefix may take a while), but one on silence: a
	 * member that sends nothing for <timeout> is given up. */
	request_setup(e, "/v3/kv/range", e->range_body, 0);
	e->silence_limit = true;
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e->curl);
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	e->silence_limit = false;
	log_debug("etcd", "range on %s: %s, HTTP %ld", e->endpoints[e->ep], curl_easy_strerror(cc),
		  status);
	if (cc == CURLE_ABORTED_BY_CALLBACK && !atomic_load(&e->stopping)) {
		snprintf(why, len, "no answer for %u ms", e->timeout_ms);
		goto out;
	}
	if (cc != CURLE_OK || status != 200) {
		if (cc != CURLE_OK) {
			snprintf(why, len, "%s", curl_easy_strerror(cc));
		} else {
			snprintf(why, len, "HTTP status %ld", status);
		}
		goto out;
	}
	rc = etcd_keys_load(&e->keys, b.data ? b.data : "", b.len);
	if (rc != DR_EOK) {
		snprintf(why, len, "%s", rc == DR_EINVAL ? "bad range answer" : "out of memory");
	}
out:
	free(b.data);
	return rc;
}

/* One line of the watch stream. */
static void watch_message(struct etcd *e, const char *text, size_t len)
{
	struct etcd_watch_note note;

	etcd_keys_apply_watch(&e->keys, text, len, &note);
	switch (note.outcome) {
	case ETCD_WATCH_OK:
		break;
	case ETCD_WATCH_BAD:
		log_warn("etcd", "watch: unexpected message from %s", e->endpoints[e->ep]);
		break;
	case ETCD_WATCH_COMPACTED:
		log_info("etcd",
			 "watch canceled: history compacted at revision %llu, reading again",
			 (unsigned long long)note.compact_revision);
		break;
	case ETCD_WATCH_CANCELED:
		/* An expired token does this (etcd says "invalid auth token"): the next full read
		 * authenticates again. Logged at debug: with short token lifetimes it is routine. */
		log_debug("etcd", "watch canceled by etcd (%s), reading again", note.reason);
		break;
	case ETCD_WATCH_NOMEM:
		log_err("etcd", "out of memory applying a watch message, reading again");
		break;
	}
	if (note.outcome != ETCD_WATCH_OK) {
		e->watch_broken = true;
		e->watch_reread =
			note.outcome == ETCD_WATCH_COMPACTED || note.outcome == ETCD_WATCH_CANCELED;
		if (note.outcome != ETCD_WATCH_NOMEM || !note.changed) {
			return;
		}
	}
	if (note.created) {
		e->watch_created = true;
		atomic_store(&e->watching, true);
	}
	atomic_store(&e->current_ms, clock_now_ms());
	if (note.changed) {
		publish(e);
	}
}

static size_t stream(char *ptr, size_t size, size_t n, void *arg)
{
	struct etcd *e = arg;
	size_t add = size * n;

	for (size_t i = 0; i < add; i++) {
		if (ptr[i] == '\n') {
			watch_message(e, e->line, e->line_len);
			e->line_len = 0;
			if (e->watch_broken) {
				return 0; /* aborts the transfer */
			}
			continue;
		}
		if (e->line_len + 1 >= e->line_cap) {
			size_t cap = e->line_cap ? e->line_cap * 2 : 65536;
			char *grown = cap <= STREAM_LINE_MAX ? realloc(e->line, cap) : NULL;
			if (grown == NULL) {
				e->watch_broken = true;
				return 0;
			}
			e->line = grown;
			e->line_cap = cap;
		}
		e->line[e->line_len++] = ptr[i];
	}
	return add;
}

/* Watch from the revision after ours until the request's life ends. True when the watch
 * worked (it was created and nothing broke), so it may simply be resumed. */
static bool watch(struct etcd *e)
{
	char body[1024];
	CURLcode cc;

	snprintf(
		body, sizeof(body),
		"{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\",\"start_revision\":\"%llu\"}}",
		e->key_b64, e->end_b64, (unsigned long long)(e->keys.revision + 1));
	e->watch_created = false;
	e->watch_broken = false;
	e->watch_reread = false;
	e->line_len = 0;
	request_setup(e, "/v3/watch", body, WATCH_ROTATE_MS);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, stream);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	e->created_by_ms = clock_now_ms() + e->timeout_ms;
	cc = curl_easy_perform(e->curl);
	e->created_by_ms = 0;
	log_debug("etcd", "watch on %s ended: %s, created %d, broken %d", e->endpoints[e->ep],
		  curl_easy_strerror(cc), e->watch_created, e->watch_broken);
	atomic_store(&e->watching, false);
	atomic_store(&e->current_ms, clock_now_ms());
	return e->watch_created && !e->watch_broken &&
	       (cc == CURLE_OK || cc == CURLE_OPERATION_TIMEDOUT);
}

static void set_up(struct etcd *e, bool up, const char *why)
{
	atomic_store(&e->up, up);
	if (up && (!e->was_up || !e->ever_tried)) {
		log_info("etcd", "following %s at %s (revision %llu, %zu keys)", e->prefix,
			 e->endpoints[e->ep], (unsigned long long)e->keys.revision, e->keys.n);
	} else if (!up && (e->was_up || !e->ever_tried)) {
		log_warn("etcd", "%s unreachable (%s); serving the last %zu keys, retrying",
			 e->endpoints[e->ep], why, e->keys.n);
	}
	e->was_up = up;
	e->ever_tried = true;
}

static void pause_ms(struct etcd *e, uint32_t ms)
{
	for (uint32_t waited = 0; waited < ms && !atomic_load(&e->stopping); waited += 50) {
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
}

static void *etcd_main(void *arg)
{
	struct etcd *e = arg;
	uint32_t backoff = BACKOFF_MIN_MS;
	char why[256];

	while (!atomic_load(&e->stopping)) {
		if (authenticate(e, why, sizeof(why)) != DR_EOK ||
		    range(e, why, sizeof(why)) != DR_EOK) {
			set_up(e, false, why);
			e->ep = (e->ep + 1) % e->nendpoints;
			pause_ms(e, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		backoff = BACKOFF_MIN_MS;
		atomic_store(&e->current_ms, clock_now_ms());
		set_up(e, true, NULL);
		publish(e);
		while (!atomic_load(&e->stopping) && watch(e)) {
			atomic_store(&e->current_ms, clock_now_ms());
		}
		/* The watch failed: read everything again. From the same member when etcd ended
		 * the watch itself (a compaction, an expired token: routine, and the member is
		 * fine); else from the next one (any member serves the same data, and this one
		 * may be the one in trouble). */
		if (!e->watch_reread) {
			e->ep = (e->ep + 1) % e->nendpoints;
		}
	}
	return NULL;
}

/* The end of a prefix range: the prefix with its last byte plus one (etcd's convention). */
static char *range_end(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strdup(prefix);
	char *b64;

	if (end == NULL) {
		return NULL;
	}
	while (len > 0 && (unsigned char)end[len - 1] == 0xff) {
		len--;
	}
	if (len == 0) {
		free(end);
		return strdup("AA=="); /* "\0": every key */
	}
	end[len - 1]++;
	b64 = base64_encode(end, len);
	free(end);
	return b64;
}

struct etcd *etcd_new(const struct conf_etcd *c, int notify_fd, char *err, size_t len)
{
	struct etcd *e = calloc(1, sizeof(*e));
	size_t body_len;

	if (e == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->published_cond, NULL);
	e->notify_fd = notify_fd;
	e->timeout_ms = c->timeout_ms;
	memcpy(e->tls_auth.ca, c->ca, sizeof(c->ca));
	memcpy(e->tls_auth.cert, c->cert, sizeof(c->cert));
	memcpy(e->tls_auth.key, c->key, sizeof(c->key));
	memcpy(e->tls_auth.username, c->username, sizeof(c->username));
	memcpy(e->tls_auth.password, c->password, sizeof(c->password));
	snprintf(e->prefix, sizeof(e->prefix), "%s", c->prefix);
	e->keys.prefix_len = strlen(e->prefix);
	for (size_t i = 0; i < c->nendpoints; i++) {
		size_t l = strlen(c->endpoints[i]);
		e->endpoints[i] = strdup(c->endpoints[i]);
		if (e->endpoints[i] == NULL) {
			goto nomem;
		}
		if (l > 0 && e->endpoints[i][l - 1] == '/') {
			e->endpoints[i][l - 1] = '\0';
		}
		e->nendpoints++;
	}
	e->key_b64 = base64_encode(c->prefix, strlen(c->prefix));
	e->end_b64 = range_end(c->prefix);
	if (e->key_b64 == NULL || e->end_b64 == NULL) {
		goto nomem;
	}
	body_len = strlen(e->key_b64) + strlen(e->end_b64) + 64;
	e->range_body = malloc(body_len);
	e->curl = curl_easy_init();
	if (e->range_body == NULL || e->curl == NULL) {
		goto nomem;
	}
	snprintf(e->range_body, body_len, "{\"key\":\"%s\",\"range_end\":\"%s\"}", e->key_b64,
		 e->end_b64);
	if (pthread_create(&e->thread, NULL, etcd_main, e) != 0) {
		snprintf(err, len, "etcd: cannot start a thread");
		etcd_free(e);
		return NULL;
	}
	e->started = true;
	(void)pthread_setname_np(e->thread, "dnsr-etcd");
	return e;
nomem:
	snprintf(err, len, "out of memory");
	etcd_free(e);
	return NULL;
}

void etcd_free(struct etcd *e)
{
	if (e == NULL) {
		return;
	}
	if (e->started) {
		atomic_store(&e->stopping, true);
		pthread_join(e->thread, NULL);
	}
	if (e->curl != NULL) {
		curl_easy_cleanup(e->curl);
	}
	curl_slist_free_all(e->headers);
	explicit_bzero(e->tls_auth.password, sizeof(e->tls_auth.password));
	etcd_keys_deinit(&e->keys);
	free(e->line);
	free(e->range_body);
	free(e->key_b64);
	free(e->end_b64);
	for (size_t i = 0; i < e->nendpoints; i++) {
		free(e->endpoints[i]);
	}
	etcd_set_free(e->pending);
	pthread_cond_destroy(&e->published_cond);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

struct etcd_set *etcd_take(struct etcd *e)
{
	struct etcd_set *s;

	pthread_mutex_lock(&e->lock);
	s = e->pending;
	e->pending = NULL;
	pthread_mutex_unlock(&e->lock);
	return s;
}

bool etcd_wait_first(struct etcd *e, uint32_t timeout_ms)
{
	struct timespec until;
	bool published;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->lock);
	while (!e->published) {
		if (pthread_cond_timedwait(&e->published_cond, &e->lock, &until) != 0) {
			break;
		}
	}
	published = e->published;
	pthread_mutex_unlock(&e->lock);
	return published;
}

void etcd_status(struct etcd *e, struct etcd_status *st)
{
	uint64_t current = atomic_load(&e->current_ms);
	uint64_t now = clock_now_ms();

	st->up = atomic_load(&e->up);
	st->revision = atomic_load(&e->pub_revision);
	st->keys = atomic_load(&e->pub_keys);
	st->invalid = atomic_load(&e->pub_invalid);
	if (atomic_load(&e->watching) || (current != 0 && now <= current)) {
		st->age_ms = 0;
	} else {
		st->age_ms = current != 0 ? now - current : now; /* never: since boot */
	}
}
