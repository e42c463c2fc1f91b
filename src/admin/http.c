/* SPDX-License-Identifier: MIT */
/* admin/http.c -- the admin HTTP endpoint: /metrics and /api/v1 (libmicrohttpd) */
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/explain_api.h"
#include "admin/guard.h"
#include "admin/page.h"
#include "admin/http.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"

#define BACKENDS_PREFIX "/api/v1/backends/"

/* How the endpoint stays reachable when clients hold connections open (a slow-header attack
 * sends a header line every few seconds: no inactivity timeout ever fires):
 * - Every connection must finish a request -- receive it whole and send the answer -- within
 *   HTTP_REQUEST_MS of its accept or of the end of its previous request; past that, it is shut
 *   down. HTTP_IDLE_S is libmicrohttpd's inactivity timeout beside it.
 * - At most HTTP_CONNS connections are served at once. This thread accepts every connection
 *   itself (libmicrohttpd has no listening socket): when HTTP_CONNS are open, a newcomer is
 *   taken all the same and the connection with the oldest unfinished business is shut down,
 *   preferring one whose request has not arrived whole over one being answered.
 * - shutdown(), not close(): libmicrohttpd owns the descriptor; it sees the end of the stream
 *   and closes the connection in its next run, on this same thread, so no descriptor is ever
 *   closed under it. Accepts come in batches of ACCEPT_BATCH with a run between batches, so
 *   at most HTTP_CONNS + ACCEPT_BATCH connections exist, and the slots below never run out.
 * So an attacker holds at most HTTP_CONNS connections, each for at most HTTP_REQUEST_MS, and
 * a request that arrives whole is answered unless HTTP_CONNS newer connections come in before
 * its bytes do. */
#define HTTP_CONNS 64
#define HTTP_REQUEST_MS 10000u
#define HTTP_IDLE_S 5u
#define ACCEPT_BATCH 16
#define HTTP_SLOTS (HTTP_CONNS + ACCEPT_BATCH)
#define ACCEPT_PAUSE_MS 100u /* out of descriptors: accept again after this */
/* Connections the kernel queues for us. A full queue drops new SYNs, and a dropped SYN costs
 * its client a second before it tries again: room for a flood of slow clients and the
 * operator's request behind them, since we take the queue's head and evict as we go. */
#define ADMIN_BACKLOG 1024

struct conn {
	struct MHD_Connection *mc; /* NULL: a free slot */
	int fd;
	uint64_t since_ms; /* accepted, or its previous request finished */
	uint64_t seq;      /* the same moment as a count: the order eviction goes by, exact where
			    * a burst accepts hundreds in one millisecond */
	bool busy;         /* its request arrived whole and is being answered */
	bool doomed;       /* shut down: libmicrohttpd closes it in its next run */
};

struct http {
	struct MHD_Daemon *daemon;
	struct metrics_source src;
	union sockaddr_any addr;
	int lfd;     /* the listening socket, ours */
	int mhd_fd;  /* libmicrohttpd's epoll descriptor */
	int wake_fd; /* eventfd: stop */
	pthread_t thread;
	bool thread_started;
	/* The serving thread's alone: */
	struct conn conns[HTTP_SLOTS];
	unsigned nconns;           /* slots in use */
	unsigned nlive;            /* of which not doomed */
	uint64_t accept_resume_ms; /* accepts paused until then; 0: not */
	uint64_t seq;              /* the last conn.seq given */
	uint64_t refused_log_ms;   /* the last log line about refused requests */
	unsigned refused;          /* refused requests not logged yet */
	/* Changed on reload, under <lock>: */
	pthread_mutex_t lock;
	char key[CONF_TEXT_MAX + 1]; /* "": no key needed */
	struct conf_acl acl;         /* the global access rules, for /api/v1/limits */
};

static enum MHD_Result respond_with(struct MHD_Connection *conn, unsigned status, const char *type,
				    char *body, const char *header, const char *value)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (body == NULL) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		type = "text/plain";
		header = NULL;
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
	if (header != NULL) {
		MHD_add_response_header(r, header, value);
	}
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
			       char *body)
{
	return respond_with(conn, status, type, body, NULL, NULL);
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
		return respond_with(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json",
				    json_error("use POST for %s", slash + 1), MHD_HTTP_HEADER_ALLOW,
				    "POST");
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

/* GET /: the page, which may load nothing from elsewhere (its own scripts and styles are
 * inline, its requests go to this endpoint) nor be framed (its buttons drain backends). */
static enum MHD_Result status_page(struct MHD_Connection *conn)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(admin_status_page), (void *)admin_status_page, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL) {
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; script-src 'unsafe-inline'; "
				"style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; "
				"frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result route_get(struct http *h, struct MHD_Connection *conn, const char *url)
{
	char *body;

	if (strcmp(url, "/metrics") == 0) {
		return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			       metrics_prometheus(&h->src));
	}
	if (strcmp(url, "/") == 0) {
		return status_page(conn);
	}
	if (strcmp(url, "/api/v1/backends") == 0) {
		return respond(conn, MHD_HTTP_OK, "application/json",
			       metrics_backends_json(&h->src));
	}
	if (strcmp(url, "/api/v1/routes") == 0) {
		return respond(conn, MHD_HTTP_OK, "application/json", metrics_routes_json(&h->src));
	}
	if (strcmp(url, "/api/v1/explain") == 0) {
		bool bad;
		body = explain_api_json(
			&h->src, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name"),
			MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "type"), &bad);
		return respond(conn, bad ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_OK, "application/json",
			       body);
	}
	if (strcmp(url, "/api/v1/limits") == 0) {
		pthread_mutex_lock(&h->lock);
		body = metrics_limits_json(&h->src, &h->acl);
		pthread_mutex_unlock(&h->lock);
		return respond(conn, MHD_HTTP_OK, "application/json", body);
	}
	return respond(conn, MHD_HTTP_NOT_FOUND, "application/json",
		       json_error("no such resource: %s", url));
}

/* Refused requests are logged, but at most one line a second: a page in a browser or a
 * scanner may send many. Without the path or the header that failed: both are the client's
 * text, which has no place in a log line. */
static void log_refused(struct http *h, const char *why)
{
	uint64_t now = clock_now_ms();

	h->refused++;
	if (h->refused_log_ms != 0 && now - h->refused_log_ms < 1000) {
		return;
	}
	log_warn("admin", "request refused (%s), %u refused since the last such line", why,
		 h->refused);
	h->refused = 0;
	h->refused_log_ms = now;
}

/* The verdict on a request whose headers arrived: MHD_YES to go on, else the refusal was
 * queued (or could not be: MHD_NO closes the connection). Only GET /metrics is open to
 * anyone; with an admin key, everything else needs it. Host and Origin are checked first,
 * on everything, key or not. */
static enum MHD_Result admit(struct http *h, struct MHD_Connection *conn, const char *url,
			     const char *method, bool *refused)
{
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	/* The page is open too: it holds no data, and asks for the key the API wants. */
	bool open = (strcmp(url, "/metrics") == 0 || strcmp(url, "/") == 0) &&
		    (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
	char key[sizeof(h->key)];
	bool ok;

	*refused = true;
	if (!guard_host_ok(host, &h->addr)) {
		log_refused(h, "foreign Host");
		return respond(conn, MHD_HTTP_FORBIDDEN, "application/json",
			       json_error("Host %.100s is not this endpoint", host));
	}
	if (!guard_origin_ok(origin, host, &h->addr)) {
		log_refused(h, "foreign Origin");
		return respond(conn, MHD_HTTP_FORBIDDEN, "application/json",
			       json_error("requests from origin %.100s are refused", origin));
	}
	pthread_mutex_lock(&h->lock);
	memcpy(key, h->key, sizeof(key));
	pthread_mutex_unlock(&h->lock);
	ok = open || key[0] == '\0' ||
	     guard_key_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
			  MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-Key"), key);
	explicit_bzero(key, sizeof(key));
	if (!ok) {
		log_refused(h, "no or wrong admin key");
		return respond_with(conn, MHD_HTTP_UNAUTHORIZED, "application/json",
				    json_error("this needs the admin key%s", ""),
				    MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"dnsrouter\"");
	}
	*refused = false;
	return MHD_YES;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct http *h = cls;
	static int seen;

	(void)version;
	(void)upload;
	/* The first call announces the request, its headers whole; a body (none is used)
	 * comes after. A refusal goes out at once, without reading the body. */
	if (*state == NULL) {
		struct conn *c = conn_of(conn);
		bool refused;
		enum MHD_Result rc;

		if (c != NULL) {
			c->busy = true;
		}
		*state = &seen;
		rc = admit(h, conn, url, method, &refused);
		return refused ? rc : MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0; /* ignore any body */
		return MHD_YES;
	}
	if (strncmp(url, BACKENDS_PREFIX, strlen(BACKENDS_PREFIX)) == 0) {
		return drain(h, conn, url + strlen(BACKENDS_PREFIX), method);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		return respond_with(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				    strdup("use GET\n"), MHD_HTTP_HEADER_ALLOW, "GET");
	}
	return route_get(h, conn, url);
}

/* A request ended (answered, or the connection failed): its connection's clock restarts. */
static void request_done(void *cls, struct MHD_Connection *mc, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *c = conn_of(mc);

	(void)state;
	(void)toe;
	if (c != NULL) {
		c->busy = false;
		c->since_ms = clock_now_ms();
		c->seq = ++((struct http *)cls)->seq;
	}
}

static void conn_shut(struct http *h, struct conn *c)
{
	shutdown(c->fd, SHUT_RDWR);
	c->doomed = true;
	h->nlive--;
}

/* libmicrohttpd took or closed a connection (always on the serving thread). */
static void conn_notify(void *cls, struct MHD_Connection *mc, void **ctx,
			enum MHD_ConnectionNotificationCode toe)
{
	struct http *h = cls;
	struct conn *c = *ctx;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c != NULL) {
			h->nlive -= !c->doomed;
			h->nconns--;
			memset(c, 0, sizeof(*c));
			*ctx = NULL;
		}
		return;
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
	for (unsigned i = 0; i < HTTP_SLOTS && ci != NULL; i++) {
		c = &h->conns[i];
		if (c->mc == NULL) {
			*c = (struct conn){.mc = mc,
					   .fd = ci->connect_fd,
					   .since_ms = clock_now_ms(),
					   .seq = ++h->seq};
			*ctx = c;
			h->nconns++;
			h->nlive++;
			return;
		}
	}
	/* Cannot happen (libmicrohttpd's limit is HTTP_SLOTS); a connection that is not in a
	 * slot would escape the deadline, so it ends at once. */
	if (ci != NULL) {
		shutdown(ci->connect_fd, SHUT_RDWR);
	}
}

/* Make room for a newcomer: shut down the connection with the oldest unfinished business,
 * one still waiting for its request before one being answered. */
static void evict(struct http *h)
{
	struct conn *victim = NULL;

	for (unsigned i = 0; i < HTTP_SLOTS; i++) {
		struct conn *c = &h->conns[i];
		if (c->mc == NULL || c->doomed) {
			continue;
		}
		if (victim == NULL || (victim->busy && !c->busy) ||
		    (victim->busy == c->busy && c->seq < victim->seq)) {
			victim = c;
		}
	}
	if (victim != NULL) {
		log_debug("admin", "%d connections open, closing the oldest", HTTP_CONNS);
		conn_shut(h, victim);
	}
}

static void accept_batch(struct http *h)
{
	for (unsigned n = 0; n < ACCEPT_BATCH && h->nconns < HTTP_SLOTS; n++) {
		union sockaddr_any peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(h->lfd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("admin", "cannot accept a connection, pausing (%s)",
					 strerror(errno));
				h->accept_resume_ms = clock_now_ms() + ACCEPT_PAUSE_MS;
			}
			return;
		}
		if (h->nlive >= HTTP_CONNS) {
			evict(h);
		}
		if (MHD_add_connection(h->daemon, fd, &peer.sa, plen) != MHD_YES) {
			log_debug("admin", "connection not taken (%s)", strerror(errno));
		}
	}
}

/* Shut down the connections past their deadline; returns the ms until the next one is (-1:
 * none open). */
static int expire(struct http *h, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < HTTP_SLOTS; i++) {
		struct conn *c = &h->conns[i];
		if (c->mc == NULL || c->doomed) {
			continue;
		}
		if (now - c->since_ms >= HTTP_REQUEST_MS) {
			conn_shut(h, c);
		} else if (c->since_ms + HTTP_REQUEST_MS < next) {
			next = c->since_ms + HTTP_REQUEST_MS;
		}
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/* The serving thread: our accepts, libmicrohttpd's run, the deadlines, in turn. */
static void *serve(void *arg)
{
	struct http *h = arg;
	MHD_UNSIGNED_LONG_LONG mhd_ms;

	for (;;) {
		uint64_t now = clock_now_ms();
		int timeout = expire(h, now);
		bool paused = h->accept_resume_ms > now;
		struct pollfd pfd[3] = {
			{.fd = h->wake_fd, .events = POLLIN},
			{.fd = h->mhd_fd, .events = POLLIN},
			/* Full (doomed connections not reaped yet) or paused: leave the newcomers
			 * in the backlog until the next turn. */
			{.fd = h->nconns < HTTP_SLOTS && !paused ? h->lfd : -1, .events = POLLIN},
		};

		if (paused) {
			timeout = min_timeout(timeout, (int)(h->accept_resume_ms - now));
		}
		if (MHD_get_timeout(h->daemon, &mhd_ms) == MHD_YES) {
			timeout =
				min_timeout(timeout, mhd_ms > INT32_MAX ? INT32_MAX : (int)mhd_ms);
		}
		if (poll(pfd, 3, timeout) == -1 && errno != EINTR) {
			log_err("admin", "poll failed, the admin endpoint stops (%s)",
				strerror(errno));
			break;
		}
		if (pfd[0].revents != 0) {
			break;
		}
		if (pfd[2].revents != 0) {
			accept_batch(h);
		}
		MHD_run(h->daemon);
	}
	return NULL;
}

/* libmicrohttpd's own messages (a client gone mid-request) go to the debug log: the reasons
 * that matter are logged by us, once, in our format. */
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

static int listen_on(const union sockaddr_any *addr)
{
	int fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd == -1) {
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (addr->sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, &addr->sa, sockaddr_len(addr)) == -1 || listen(fd, ADMIN_BACKLOG) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct http *http_new(const struct conf *c, const struct metrics_source *src, char *err, size_t len)
{
	struct http *h = calloc(1, sizeof(*h));
	/* No thread of its own: it runs on ours, which accepts for it and keeps the deadlines.
	 * Epoll, not select(), which drops every descriptor past 1023 -- and a router with
	 * many backends and clients holds more than that. */
	unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	char text[SOCKADDR_STRLEN];
	int rc;

	if (h == NULL) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	h->src = *src;
	h->addr = c->admin;
	h->lfd = h->wake_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	if (http_configure(h, c) != DR_EOK) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	h->lfd = listen_on(&c->admin);
	if (h->lfd == -1) {
		snprintf(err, len, "cannot serve the admin endpoint on %s (%s)",
			 sockaddr_format(&c->admin, text, sizeof(text)), strerror(errno));
		goto fail;
	}
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_CONNECTION_LIMIT,
				     (unsigned)HTTP_SLOTS, MHD_OPTION_CONNECTION_TIMEOUT,
				     HTTP_IDLE_S, MHD_OPTION_NOTIFY_CONNECTION, conn_notify, h,
				     MHD_OPTION_NOTIFY_COMPLETED, request_done, h,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
	info = h->daemon != NULL ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (info == NULL || h->wake_fd == -1) {
		snprintf(err, len, "cannot start the admin endpoint's HTTP server");
		goto fail;
	}
	h->mhd_fd = info->epoll_fd;
	rc = pthread_create(&h->thread, NULL, serve, h);
	if (rc != 0) {
		snprintf(err, len, "cannot start the admin thread (%s)", strerror(rc));
		goto fail;
	}
	h->thread_started = true;
	return h;
fail:
	http_free(h);
	return NULL;
}

int http_configure(struct http *h, const struct conf *c)
{
	struct conf_acl acl;
	int rc = conf_acl_copy(&acl, &c->acl);

	pthread_mutex_lock(&h->lock);
	explicit_bzero(h->key, sizeof(h->key));
	snprintf(h->key, sizeof(h->key), "%s", c->admin_key);
	if (rc == DR_EOK) {
		conf_acl_free(&h->acl);
		h->acl = acl;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void http_free(struct http *h)
{
	if (h == NULL) {
		return;
	}
	if (h->thread_started) {
		uint64_t one = 1;
		if (write(h->wake_fd, &one, sizeof(one)) == -1) {
			log_err("admin", "cannot stop the admin thread (%s)", strerror(errno));
		}
		pthread_join(h->thread, NULL);
	}
	if (h->daemon != NULL) {
		MHD_stop_daemon(h->daemon);
	}
	if (h->lfd != -1) {
		close(h->lfd);
	}
	if (h->wake_fd != -1) {
		close(h->wake_fd);
	}
	conf_acl_free(&h->acl);
	explicit_bzero(h->key, sizeof(h->key));
	pthread_mutex_destroy(&h->lock);
	free(h);
}
