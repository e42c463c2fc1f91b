/* SPDX-License-Identifier: MIT */
/* front/peercount.h -- connections per client address, one fixed table per worker */
#ifndef DR_FRONT_PEERCOUNT_H
#define DR_FRONT_PEERCOUNT_H

#include <stdint.h>

#include "common/sockaddr.h"

/* Open addressing with linear probing, sized at start for as many addresses as the worker has
 * connection slots, so that adding never fails and never allocates; deleting shifts the
 * entries after it back (no tombstones: the table never degrades under churn). An IPv4
 * address is kept in its IPv4-mapped IPv6 form. The port is not part of the key. */
struct peercount_entry {
	uint8_t addr[16];
	uint32_t count; /* 0: empty */
};

struct peercount {
	struct peercount_entry *e;
	uint32_t mask; /* slots - 1; slots a power of two, at least twice the addresses */
	uint64_t seed; /* a client must not be able to choose addresses that collide */
};

/* Allocate <pc> for <max_addrs> addresses at once. Returns DR_EOK or DR_ENOMEM. */
int peercount_init(struct peercount *pc, uint32_t max_addrs, uint64_t seed);
void peercount_deinit(struct peercount *pc);

/* Connections counted for the address of <a>. */
uint32_t peercount_get(const struct peercount *pc, const union sockaddr_any *a);

/* Count one more connection from <a>. At most <max_addrs> addresses may be counted at once. */
void peercount_add(struct peercount *pc, const union sockaddr_any *a);

/* Count one connection less from <a>, which must have been added. */
void peercount_del(struct peercount *pc, const union sockaddr_any *a);

#endif
