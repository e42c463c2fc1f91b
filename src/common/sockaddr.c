/* SPDX-License-Identifier: MIT */
/* common/sockaddr.c -- IPv4/IPv6 socket addresses: parse, print, compare */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/sockaddr.h"

static int parse_port(const char *s, size_t len, unsigned *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5) {
		return DR_EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return DR_EINVAL;
		}
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535) {
		return DR_EINVAL;
	}
	*port = v;
	return DR_EOK;
}

int sockaddr_parse(const char *s, size_t len, unsigned default_port, union sockaddr_any *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *port_s = NULL;
	size_t host_len, port_len = 0;
	unsigned port = default_port;

	memset(out, 0, sizeof(*out));
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (end == NULL) {
			return DR_EINVAL;
		}
		host_len = (size_t)(end - s - 1);
		if (host_len == 0 || host_len >= sizeof(host)) {
			return DR_EINVAL;
		}
		memcpy(host, s + 1, host_len);
		host[host_len] = '\0';
		if (end + 1 < s + len) {
			if (end[1] != ':') {
				return DR_EINVAL;
			}
			port_s = end + 2;
			port_len = (size_t)(s + len - port_s);
		}
		out->sin6.sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &out->sin6.sin6_addr) != 1) {
			return DR_EINVAL;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		host_len = colon ? (size_t)(colon - s) : len;
		if (colon != NULL) {
			port_s = colon + 1;
			port_len = (size_t)(s + len - port_s);
		}
		if (host_len == 0 || host_len >= sizeof(host)) {
			return DR_EINVAL;
		}
		memcpy(host, s, host_len);
		host[host_len] = '\0';
		out->sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &out->sin.sin_addr) != 1) {
			return DR_EINVAL;
		}
	}
	if (port_s != NULL && parse_port(port_s, port_len, &port) != DR_EOK) {
		return DR_EINVAL;
	}
	if (port == 0) {
		return DR_EINVAL;
	}
	if (out->sa.sa_family == AF_INET) {
		out->sin.sin_port = htons((uint16_t)port);
	} else {
		out->sin6.sin6_port = htons((uint16_t)port);
	}
	return DR_EOK;
}

char *sockaddr_format(const union sockaddr_any *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &sa->sin.sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sa->sin.sin_port));
	} else if (sa->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &sa->sin6.sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sa->sin6.sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

socklen_t sockaddr_len(const union sockaddr_any *sa)
{
	return sa->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					    : sizeof(struct sockaddr_in);
}

bool sockaddr_is_wildcard(const union sockaddr_any *sa)
{
	if (sa->sa.sa_family == AF_INET) {
		return sa->sin.sin_addr.s_addr == htonl(INADDR_ANY);
	}
	return sa->sa.sa_family == AF_INET6 &&
	       memcmp(&sa->sin6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0;
}

size_t sockaddr_key(const union sockaddr_any *a, uint8_t out[SOCKADDR_KEY_MAX])
{
	if (a->sa.sa_family == AF_INET) {
		memcpy(out, &a->sin.sin_addr, 4);
		memcpy(out + 4, &a->sin.sin_port, 2);
		return 6;
	}
	memcpy(out, &a->sin6.sin6_addr, 16);
	memcpy(out + 16, &a->sin6.sin6_port, 2);
	return 18;
}

bool sockaddr_equal(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family) {
		return false;
	}
	if (a->sa.sa_family == AF_INET) {
		return a->sin.sin_port == b->sin.sin_port &&
		       a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
	}
	return a->sin6.sin6_port == b->sin6.sin6_port &&
	       memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(struct in6_addr)) == 0;
}
