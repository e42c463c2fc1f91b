/* SPDX-License-Identifier: MIT */
/* front/udp.h -- plain DNS over UDP from the clients: listeners, batches of queries, answers
 * back through response rate limiting */
#ifndef DR_FRONT_UDP_H
#define DR_FRONT_UDP_H

#include "worker/worker.h"

/* Plain DNS over UDP: a listening socket on every listener, queries read and answered in
 * batches. */
extern const struct worker_part udp_front;

#endif
