/* SPDX-License-Identifier: MIT */
/* wire/proxy.c -- PROXY protocol version 2 headers (HAProxy, "The PROXY protocol", §2.2) */
#include <string.h>

#include "common/err.h"
#include "wire/proxy.h"
#include "wire/wire.h"

/* §2.2: the 12-byte signature, then one byte each of version and command, of address family
 * and transport protocol, then the length of what follows, in network order. */
static const uint8_t proxy_sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

enum {
	OFF_VER_CMD = 12,
	OFF_FAM = 13,
	OFF_LEN = 14,
	OFF_ADDR = 16,
	VER_CMD_LOCAL = 0x20, /* version 2 (high nibble), command LOCAL (0) */
	VER_CMD_PROXY = 0x21, /* version 2, command PROXY (1) */
	FAM_UNSPEC = 0x00,    /* family UNSPEC, transport UNSPEC: LOCAL's */
	FAM_INET = 0x10,      /* high nibble: AF_INET */
	FAM_INET6 = 0x20,     /* AF_INET6 */
	PROTO_STREAM = 0x01,  /* low nibble: TCP */
	PROTO_DGRAM = 0x02,   /* UDP */
	IP4_ADDR = 4,
	IP6_ADDR = 16,
	PORT = 2,
};

/* IPv4, or IPv6 holding an IPv4-mapped address. */
static bool is_ip4(const union sockaddr_any *sa)
{
	return sa->sa.sa_family == AF_INET ||
	       (sa->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sa->sin6.sin6_addr));
}

/* The 4 address bytes of <sa>, which is_ip4() accepted. */
static const uint8_t *ip4_addr(const union sockaddr_any *sa)
{
	if (sa->sa.sa_family == AF_INET) {
		return (const uint8_t *)&sa->sin.sin_addr;
	}
	return sa->sin6.sin6_addr.s6_addr + 12;
}

/* The port of <sa> (IPv4 or IPv6), in network order as it is stored. */
static const uint8_t *port(const union sockaddr_any *sa)
{
	if (sa->sa.sa_family == AF_INET) {
		return (const uint8_t *)&sa->sin.sin_port;
	}
	return (const uint8_t *)&sa->sin6.sin6_port;
}

static void write_fixed(uint8_t *out, uint8_t ver_cmd, uint8_t fam, uint16_t len)
{
	memcpy(out, proxy_sig, PROXY_V2_SIG_LEN);
	out[OFF_VER_CMD] = ver_cmd;
	out[OFF_FAM] = fam;
	wire_write_u16(out + OFF_LEN, len);
}

size_t proxy_v2_header(uint8_t *out, size_t cap, const union sockaddr_any *src,
		       const union sockaddr_any *dst, bool tcp)
{
	uint8_t proto = tcp ? PROTO_STREAM : PROTO_DGRAM;
	const uint8_t *sa, *da;
	size_t alen, total;
	uint8_t fam;

	if (is_ip4(src) && is_ip4(dst)) {
		sa = ip4_addr(src);
		da = ip4_addr(dst);
		alen = IP4_ADDR;
		fam = FAM_INET;
	} else if (src->sa.sa_family == AF_INET6 && dst->sa.sa_family == AF_INET6) {
		sa = src->sin6.sin6_addr.s6_addr;
		da = dst->sin6.sin6_addr.s6_addr;
		alen = IP6_ADDR;
		fam = FAM_INET6;
	} else {
		return 0;
	}
	total = OFF_ADDR + 2 * alen + 2 * PORT;
	if (cap < total) {
		return 0;
	}

	/* §2.2: source address, destination address, source port, destination port. */
	write_fixed(out, VER_CMD_PROXY, fam | proto, (uint16_t)(total - PROXY_V2_HDR_LEN));
	memcpy(out + OFF_ADDR, sa, alen);
	memcpy(out + OFF_ADDR + alen, da, alen);
	memcpy(out + OFF_ADDR + 2 * alen, port(src), PORT);
	memcpy(out + OFF_ADDR + 2 * alen + PORT, port(dst), PORT);
	return total;
}

size_t proxy_v2_local(uint8_t *out, size_t cap)
{
	if (cap < PROXY_V2_LOCAL_LEN) {
		return 0;
	}
	write_fixed(out, VER_CMD_LOCAL, FAM_UNSPEC, 0);
	return PROXY_V2_LOCAL_LEN;
}

int proxy_v2_prepend(uint8_t *msg, size_t *len, size_t cap, const union sockaddr_any *src,
		     const union sockaddr_any *dst, bool tcp)
{
	uint8_t hdr[PROXY_V2_MAX];
	size_t n = proxy_v2_header(hdr, sizeof(hdr), src, dst, tcp);

	if (n == 0) {
		return DR_EINVAL; /* hdr holds the longest header: only the families fail */
	}
	if (*len > cap || n > cap - *len) {
		return DR_ESPACE;
	}
	memmove(msg + n, msg, *len);
	memcpy(msg, hdr, n);
	*len += n;
	return DR_EOK;
}
