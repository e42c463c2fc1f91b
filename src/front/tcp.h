/* SPDX-License-Identifier: MIT */
/* front/tcp.h -- TCP clients, and the TCP queries relayed for them to the backends */
#ifndef DR_FRONT_TCP_H
#define DR_FRONT_TCP_H

#include "worker/worker.h"

/* Plain DNS over TCP (RFC 7766): a listening socket on every listener, client connections
 * with pipelined queries answered out of order, per-client limits. */
extern const struct worker_part tcp_front;

#endif
