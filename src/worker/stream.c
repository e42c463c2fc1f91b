/* SPDX-License-Identifier: MIT */
/* worker/stream.c -- byte buffers of TCP streams: growth and non-blocking writes */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "worker/stream.h"

int stream_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	size_t n = *cap ? *cap : 512;
	uint8_t *grown;

	if (need <= *cap) {
		return DR_EOK;
	}
	if (need > limit) {
		return DR_ESPACE;
	}
	while (n < need) {
		n *= 2;
	}
	if (n > limit) {
		n = limit;
	}
	grown = realloc(*buf, n);
	if (grown == NULL) {
		return DR_ENOMEM;
	}
	*buf = grown;
	*cap = n;
	return DR_EOK;
}

void stream_compact(uint8_t *buf, size_t *off, size_t *len)
{
	if (*off == 0) {
		return;
	}
	memmove(buf, buf + *off, *len - *off);
	*len -= *off;
	*off = 0;
}

bool stream_flush(int fd, const uint8_t *buf, size_t *off, size_t *len)
{
	while (*off < *len) {
		ssize_t n = write(fd, buf + *off, *len - *off);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return true;
		}
		if (n <= 0) {
			return false;
		}
		*off += (size_t)n;
	}
	*off = *len = 0;
	return true;
}
