/* SPDX-License-Identifier: MIT */
/* common/sockaddr.h -- IPv4/IPv6 socket addresses: parse, print, compare */
#ifndef DR_COMMON_SOCKADDR_H
#define DR_COMMON_SOCKADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/* A UDP client: its address, and the local address it sent to when the listening socket is
 * bound to a wildcard (local_family 0 otherwise), so that the answer leaves from the address the
 * client asked (RFC 1035 §4.2.1: a reply from another address is dropped by most resolvers). */
struct udp_peer {
	union sockaddr_any remote;
	sa_family_t local_family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} local;
};

/* True when <sa> is 0.0.0.0 or [::]: a socket bound there receives for every address. */
bool sockaddr_is_wildcard(const union sockaddr_any *sa);

/* Longest text sockaddr_format writes: "[v6%scope]:65535" and the NUL. */
#define SOCKADDR_STRLEN (INET6_ADDRSTRLEN + 16)

/* Parse "a.b.c.d:port" or "[v6]:port" from <s> of <len> bytes into <out>. A missing port is an
 * error unless <default_port> is non-zero. Returns DR_EOK or DR_EINVAL. */
int sockaddr_parse(const char *s, size_t len, unsigned default_port, union sockaddr_any *out);

/* Write <sa> as "ip:port" or "[ip]:port" into <buf> of <len> bytes; returns <buf>. */
char *sockaddr_format(const union sockaddr_any *sa, char *buf, size_t len);

socklen_t sockaddr_len(const union sockaddr_any *sa);

/* True when family, address and port are equal. */
bool sockaddr_equal(const union sockaddr_any *a, const union sockaddr_any *b);

/* The address and port of <a> (IPv4 or IPv6) as bytes to hash, in <out>; their count. */
#define SOCKADDR_KEY_MAX 18
size_t sockaddr_key(const union sockaddr_any *a, uint8_t out[SOCKADDR_KEY_MAX]);

#endif
