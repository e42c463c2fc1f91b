/* SPDX-License-Identifier: MIT */
/* common/prefix.h -- IPv4/IPv6 address prefixes ("192.0.2.0/24"), for access rules */
#ifndef DR_COMMON_PREFIX_H
#define DR_COMMON_PREFIX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/sockaddr.h"

struct prefix {
	sa_family_t family; /* AF_INET or AF_INET6 */
	uint8_t bits;       /* 0..32 or 0..128 */
	uint8_t addr[16];   /* network order; bits past <bits> are zero */
};

/* Parse "ADDR/BITS" or a bare "ADDR" (all bits) into <out>. An address with bits set past
 * the length ("10.1.2.3/8") is refused: it is more often a typo than a wish. Returns DR_EOK
 * or DR_EINVAL. */
int prefix_parse(const char *s, struct prefix *out);

/* True when the address of <sa> lies inside <p> (the port is ignored). */
bool prefix_contains(const struct prefix *p, const union sockaddr_any *sa);

#endif
