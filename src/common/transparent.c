/* SPDX-License-Identifier: MIT */
/* common/transparent.c -- sockets that send from an address the host does not own
 *
 * The kernel lets a socket with IP_TRANSPARENT bind to any address. Packets it sends leave
 * with that source; the answers, addressed to the client, reach the socket only when the
 * host's policy routing delivers them locally (README: transparent backends). */
#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/err.h"
#include "common/transparent.h"

static int set_transparent(int fd, sa_family_t family)
{
	int one = 1;
	int rc = family == AF_INET
			 ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one))
			 : setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));

	return rc == -1 ? -errno : DR_EOK;
}

int transparent_probe(sa_family_t family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	if (fd == -1) {
		return -errno;
	}
	rc = set_transparent(fd, family);
	close(fd);
	return rc;
}

int transparent_bind(int fd, const union sockaddr_any *client)
{
	union sockaddr_any any = *client;
	int rc = set_transparent(fd, client->sa.sa_family);

	if (rc != DR_EOK) {
		return rc;
	}
	if (bind(fd, &client->sa, sockaddr_len(client)) == 0) {
		return DR_EOK;
	}
	if (errno != EADDRINUSE) {
		return -errno;
	}
	if (any.sa.sa_family == AF_INET) {
		any.sin.sin_port = 0;
	} else {
		any.sin6.sin6_port = 0;
	}
	return bind(fd, &any.sa, sockaddr_len(&any)) == 0 ? DR_EOK : -errno;
}
