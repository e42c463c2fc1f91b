/* SPDX-License-Identifier: MIT */
/* common/prefix.c -- IPv4/IPv6 address prefixes ("192.0.2.0/24"), for access rules */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/prefix.h"

#define PREFIX_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static int parse_bits(const char *s, unsigned max, uint8_t *bits)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9' || strlen(s) > 3) {
		return DR_EINVAL;
	}
	n = strtoul(s, &end, 10);
	if (*end != '\0' || n > max) {
		return DR_EINVAL;
	}
	*bits = (uint8_t)n;
	return DR_EOK;
}

/* True when no bit of <addr> past the first <bits> is set. */
static bool host_bits_clear(const uint8_t *addr, unsigned size, unsigned bits)
{
	for (unsigned i = bits / 8; i < size; i++) {
		uint8_t keep = i == bits / 8 ? (uint8_t)(0xff00u >> (bits % 8)) : 0;
		if ((addr[i] & (uint8_t)~keep) != 0) {
			return false;
		}
	}
	return true;
}

int prefix_parse(const char *s, struct prefix *out)
{
	char text[PREFIX_TEXT_MAX];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned size;

	if (alen == 0 || alen >= sizeof(text)) {
		return DR_EINVAL;
	}
	memcpy(text, s, alen);
	text[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, out->addr) == 1) {
		out->family = AF_INET;
		size = 4;
	} else if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->family = AF_INET6;
		size = 16;
	} else {
		return DR_EINVAL;
	}
	out->bits = (uint8_t)(size * 8);
	if (slash != NULL && parse_bits(slash + 1, size * 8, &out->bits) != DR_EOK) {
		return DR_EINVAL;
	}
	return host_bits_clear(out->addr, size, out->bits) ? DR_EOK : DR_EINVAL;
}

bool prefix_contains(const struct prefix *p, const union sockaddr_any *sa)
{
	const uint8_t *a;
	unsigned whole = p->bits / 8, rest = p->bits % 8;

	if (sa->sa.sa_family != p->family) {
		return false;
	}
	a = p->family == AF_INET ? (const uint8_t *)&sa->sin.sin_addr
				 : (const uint8_t *)&sa->sin6.sin6_addr;
	if (memcmp(a, p->addr, whole) != 0) {
		return false;
	}
	return rest == 0 || ((a[whole] ^ p->addr[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}
