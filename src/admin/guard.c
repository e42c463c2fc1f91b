/* SPDX-License-Identifier: MIT */
/* admin/guard.c -- who may ask the admin endpoint: the Host, the Origin and the admin key */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "admin/guard.h"

/* The name part of "name[:port]" or "[v6][:port]" into <name> of <len> bytes; false when
 * <host> is not of that shape (an empty name, a port that is not 1..5 digits, a bare v6). */
static bool host_name(const char *host, char *name, size_t len, bool *v6)
{
	const char *end, *port;
	size_t n;

	*v6 = host[0] == '[';
	if (*v6) {
		host++;
		end = strchr(host, ']');
		if (end == NULL) {
			return false;
		}
		port = end + 1;
	} else {
		end = host + strcspn(host, ":");
		port = end;
	}
	if (*port == ':') {
		n = strspn(port + 1, "0123456789");
		if (n == 0 || n > 5 || port[1 + n] != '\0') {
			return false;
		}
	} else if (*port != '\0') {
		return false;
	}
	n = (size_t)(end - host);
	if (n == 0 || n >= len) {
		return false;
	}
	memcpy(name, host, n);
	name[n] = '\0';
	return true;
}

static bool is_loopback(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET) {
		return (ntohl(a->sin.sin_addr.s_addr) >> 24) == 127;
	}
	return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->sin6.sin6_addr);
}

static bool same_address(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family) {
		return false;
	}
	if (a->sa.sa_family == AF_INET) {
		return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
	}
	return memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
}

/* The address literal <a> reaches the endpoint on <listen>. */
static bool address_ok(const union sockaddr_any *a, const union sockaddr_any *listen)
{
	if (sockaddr_is_wildcard(listen) || same_address(a, listen)) {
		return true;
	}
	if (!is_loopback(listen)) {
		return false;
	}
	if (a->sa.sa_family == AF_INET) {
		return a->sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	}
	return IN6_IS_ADDR_LOOPBACK(&a->sin6.sin6_addr);
}

bool guard_host_ok(const char *host, const union sockaddr_any *listen)
{
	char name[INET6_ADDRSTRLEN + 1];
	union sockaddr_any a;
	bool v6;

	if (host == NULL) {
		return true;
	}
	if (!host_name(host, name, sizeof(name), &v6)) {
		return false;
	}
	if (!v6 && strcasecmp(name, "localhost") == 0) {
		return true;
	}
	memset(&a, 0, sizeof(a));
	a.sa.sa_family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(a.sa.sa_family, name,
		      v6 ? (void *)&a.sin6.sin6_addr : (void *)&a.sin.sin_addr) != 1) {
		return false;
	}
	return address_ok(&a, listen);
}

bool guard_origin_ok(const char *origin, const char *host, const union sockaddr_any *listen)
{
	const char *auth;

	if (origin == NULL) {
		return true;
	}
	if (strncasecmp(origin, "http://", 7) == 0) {
		auth = origin + 7;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		auth = origin + 8;
	} else {
		return false; /* "null" (a sandboxed page, a file), or not a web origin at all */
	}
	if (host != NULL && strcasecmp(auth, host) != 0) {
		return false;
	}
	return guard_host_ok(auth, listen);
}

/* <given> equals <key>, in a time that depends on the length of <key> only. */
static bool same_secret(const char *given, const char *key)
{
	size_t n = strlen(given), m = strlen(key);
	unsigned char diff = n != m;

	for (size_t i = 0; i < m; i++) {
		/* Past the end of <given>, compare with its NUL: i < n depends on its length. */
		diff |= (unsigned char)(key[i] ^ given[i < n ? i : n]);
	}
	return diff == 0;
}

bool guard_key_ok(const char *authorization, const char *api_key, const char *key)
{
	bool ok = false;

	if (authorization != NULL) {
		const char *a = authorization + strspn(authorization, " \t");

		if (strncasecmp(a, "bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\t')) {
			a += 6 + strspn(a + 6, " \t");
			ok |= same_secret(a, key);
		}
	}
	if (api_key != NULL) {
		ok |= same_secret(api_key, key);
	}
	return ok;
}
