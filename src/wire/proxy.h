/* SPDX-License-Identifier: MIT */
/* wire/proxy.h -- PROXY protocol version 2 headers (HAProxy, "The PROXY protocol", §2.2) */
#ifndef DR_WIRE_PROXY_H
#define DR_WIRE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"

#define PROXY_V2_SIG_LEN 12
#define PROXY_V2_HDR_LEN 16   /* signature, version/command, family/transport, length */
#define PROXY_V2_IP4_LEN 28   /* 16 + 2 * 4 address bytes + 2 * 2 port bytes */
#define PROXY_V2_IP6_LEN 52   /* 16 + 2 * 16 + 2 * 2 */
#define PROXY_V2_MAX 52       /* 16 + 36: the longest header this writes (IPv6) */
#define PROXY_V2_LOCAL_LEN 16 /* the fixed part alone: no address block */

/* Write a PROXY v2 header (command PROXY, no TLVs) for a connection or datagram from <src> to
 * <dst> over <tcp> ? STREAM : DGRAM into <out> of <cap> bytes. <src> is the client, <dst> the
 * address it sent to (the listener's, or the local address the datagram arrived at); ports are
 * copied as they are, in network order.
 *  - both IPv4: TCP4/UDP4, 28 bytes.
 *  - both IPv6: TCP6/UDP6, 52 bytes.
 *  - IPv4-mapped IPv6 (::ffff:a.b.c.d, from a dual-stack socket) counts as IPv4 when the other
 *    side is IPv4 too, plain or mapped: both are written as IPv4, so the backend sees the
 *    client's IPv4 address (its ACLs and logs, as with ecs_add). Beside a native IPv6 address
 *    a mapped one stays IPv6, as it is.
 * Returns the length written (28 or 52), or 0 when <cap> is too small or the families cannot
 * be put in one header (plain IPv4 with native IPv6, or a family that is neither); then <out>
 * is not written and the caller counts and drops the query: a backend that expects the header
 * would read a bare DNS message as a broken one, and a LOCAL header would present the router as
 * the client. Borrows <src> and <dst> for the call. */
size_t proxy_v2_header(uint8_t *out, size_t cap, const union sockaddr_any *src,
		       const union sockaddr_any *dst, bool tcp);

/* Write the LOCAL header (command LOCAL, family UNSPEC, length 0) into <out> of <cap> bytes:
 * what health checks send, so that the backend uses the connection's own addresses (§2.2: it
 * must accept it). Returns PROXY_V2_LOCAL_LEN, or 0 when <cap> is smaller. */
size_t proxy_v2_local(uint8_t *out, size_t cap);

/* Put the header proxy_v2_header would write for <src>, <dst> and <tcp> in front of the
 * message in <msg> of <*len> bytes, in place: the message is moved along (memmove) in the
 * buffer of <cap> bytes, and *<len> grows by the header's length. Over TCP the header goes
 * once, at the start of the connection (§2), before the first message's 2-byte length: call
 * it on the first message's buffer only. Returns DR_EOK; DR_ESPACE when header and message
 * would not fit <cap>; DR_EINVAL when the families cannot be put in one header (see
 * proxy_v2_header). On error <msg> and *<len> are unchanged. */
int proxy_v2_prepend(uint8_t *msg, size_t *len, size_t cap, const union sockaddr_any *src,
		     const union sockaddr_any *dst, bool tcp);

#endif
