/* SPDX-License-Identifier: MIT */
/* admin/http.c -- the admin HTTP endpoint: /metrics and /api/v1 (libmicrohttpd) */
#include <microhttpd.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/http.h"
#include "common/log.h"
#include "common/strbuf.h"

#define BACKENDS_PREFIX "/api/v1/backends/"

struct http {
	struct MHD_Daemon *daemon;
	struct metrics_source src;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       char *body)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (body == NULL) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain";
		body = strdup("out of memory\n");
		if (body == NULL) {
			return MHD_NO;
		}
	}
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					strncmp(type, "application/json", 16) == 0 ? "POST"
										   : "GET");
	}
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static char *json_error(const char *fmt, const char *arg)
{
	struct strbuf sb = {0};
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	strbuf_printf(&sb, "{\"error\":\"");
	strbuf_json(&sb, msg);
	strbuf_printf(&sb, "\"}\n");
	return strbuf_take(&sb);
}

/* POST /api/v1/backends/NAME/drain and /undrain */
static enum MHD_Result drain(struct http *h, struct MHD_Connection *conn, const char *rest,
			     const char *method)
{
	const char *slash = strrchr(rest, '/');
	char name[CONF_NAME_MAX];
	struct strbuf sb = {0};
	struct backend *be;
	bool on;
	size_t nlen;

	if (slash == NULL || (strcmp(slash, "/drain") != 0 && strcmp(slash, "/undrain") != 0)) {
		return respond(conn, MHD_HTTP_NOT_FOUND, "application/json",
			       json_error("no such resource: %s", rest));
	}
	if (strcmp(method, "POST") != 0) {
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
			       json_error("use POST for %s", slash + 1));
	}
	on = strcmp(slash, "/drain") == 0;
	nlen = (size_t)(slash - rest);
	if (nlen == 0 || nlen >= sizeof(name)) {
		return respond(conn, MHD_HTTP_NOT_FOUND, "application/json",
			       json_error("no backend has a name that long%s", ""));
	}
	memcpy(name, rest, nlen);
	name[nlen] = '\0';
	pthread_mutex_lock(&h->src.reg->lock);
	be = backend_registry_find(h->src.reg, name);
	if (be != NULL) {
		if (on) {
			atomic_fetch_or(&be->state, BE_DRAINED);
		} else {
			atomic_fetch_and(&be->state, ~(uint32_t)BE_DRAINED);
		}
	}
	pthread_mutex_unlock(&h->src.reg->lock);
	if (be == NULL) {
		return respond(conn, MHD_HTTP_NOT_FOUND, "application/json",
			       json_error("no backend named '%s'", name));
	}
	log_info("admin", "backend %s %s", name, on ? "drained" : "undrained");
	strbuf_printf(&sb, "{\"name\":\"");
	strbuf_json(&sb, name);
	strbuf_printf(&sb, "\",\"drained\":%s}\n", on ? "true" : "false");
	return respond(conn, MHD_HTTP_OK, "application/json", strbuf_take(&sb));
}

static enum MHD_Result route_get(struct http *h, struct MHD_Connection *conn, const char *url)
{
	if (strcmp(url, "/metrics") == 0) {
		return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			       metrics_prometheus(&h->src));
	}
	if (strcmp(url, "/api/v1/backends") == 0) {
		return respond(conn, MHD_HTTP_OK, "application/json",
			       metrics_backends_json(&h->src));
	}
	if (strcmp(url, "/api/v1/routes") == 0) {
		return respond(conn, MHD_HTTP_OK, "application/json", metrics_routes_json(&h->src));
	}
	return respond(conn, MHD_HTTP_NOT_FOUND, "application/json",
		       json_error("no such resource: %s", url));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct http *h = cls;
	static int seen;

	(void)version;
	(void)upload;
	/* The first call only announces the request; a body (none is used) comes after. */
	if (*state == NULL) {
		*state = &seen;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0; /* ignore any body */
		return MHD_YES;
	}
	if (strncmp(url, BACKENDS_PREFIX, strlen(BACKENDS_PREFIX)) == 0) {
		return drain(h, conn, url + strlen(BACKENDS_PREFIX), method);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			       strdup("use GET\n"));
	}
	return route_get(h, conn, url);
}

/* libmicrohttpd's own messages (a failed bind, a client gone mid-request) go to the debug
 * log: the reasons that matter are logged by us, once, in our format. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
		msg[--n] = '\0';
	}
	log_debug("admin", "libmicrohttpd: %s", msg);
}

struct http *http_new(const union sockaddr_any *addr, const struct metrics_source *src, char *err,
		      size_t len)
{
	struct http *h = calloc(1, sizeof(*h));
	/* AUTO: epoll or poll, never select(), which drops every descriptor past 1023 -- and a
	 * router with many backends and clients holds more than that. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	char text[SOCKADDR_STRLEN];

	if (h == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	h->src = *src;
	if (addr->sa.sa_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
	}
	h->daemon =
		MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &addr->sa,
				 MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
				 10u, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	if (h->daemon == NULL) {
		snprintf(err, len, "cannot serve the admin endpoint on %s",
			 sockaddr_format(addr, text, sizeof(text)));
		free(h);
		return NULL;
	}
	return h;
}

void http_free(struct http *h)
{
	if (h == NULL) {
		return;
	}
	MHD_stop_daemon(h->daemon);
	free(h);
}
