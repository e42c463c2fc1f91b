/* SPDX-License-Identifier: MIT */
/* common/transparent.h -- sockets that send from an address the host does not own
 * (IP_TRANSPARENT / IPV6_TRANSPARENT), so that a backend sees the client as the source */
#ifndef DR_COMMON_TRANSPARENT_H
#define DR_COMMON_TRANSPARENT_H

#include "common/sockaddr.h"

/* Whether this process may open transparent sockets of <family>: one is made and closed.
 * Returns DR_EOK or the negative errno of the step that failed (-EPERM without
 * CAP_NET_ADMIN or CAP_NET_RAW, -ENOPROTOOPT without kernel support). */
int transparent_probe(sa_family_t family);

/* Make the fresh socket <fd> transparent and bind it to <client>'s address and port; when
 * that port is taken on this host (a client on the router's own host, say), to its address
 * and a port the kernel picks. Returns DR_EOK or a negative errno. */
int transparent_bind(int fd, const union sockaddr_any *client);

#endif
