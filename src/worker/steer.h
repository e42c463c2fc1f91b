/* SPDX-License-Identifier: MIT */
/* worker/steer.h -- send each client prefix to one worker (SO_REUSEPORT with a BPF program) */
#ifndef DR_WORKER_STEER_H
#define DR_WORKER_STEER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/sockaddr.h"

/* What the listeners' reuseport groups are steered by; all zero: the kernel's own hash. */
struct steer_state {
	uint8_t v4_bits, v6_bits; /* the client prefix */
	bool udp;                 /* UDP too (TCP is always steered with more than one worker) */
};

/* Steer the SO_REUSEPORT group of the listening socket <fd> (bound to an address of
 * <family>; sockets joined in worker order) so that every datagram or connection from one
 * client prefix goes to the same one of <nworkers> sockets: per-prefix state (rate limits,
 * connection counts) then lives in one worker and is exact, with no lock and no sharing.
 * <on> false detaches the program: the kernel spreads by its 4-tuple hash again. Returns
 * DR_EOK or a negative errno. */
int steer_socket(int fd, sa_family_t family, unsigned nworkers, unsigned v4_bits, unsigned v6_bits,
		 bool on);

#endif
