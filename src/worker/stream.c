/* SPDX-License-Identifier: MIT */
/* worker/stream.c -- TCP streams: connecting, buffers that grow, non-blocking writes */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/transparent.h"
#include "worker/stream.h"

/* The size a buffer of <cap> bytes (<first> when empty) doubles to for <need>, at most
 * <limit>: DR_EOK with it in <out>, or DR_ESPACE when <need> is past <limit>. */
static int next_size(size_t cap, size_t first, size_t need, size_t limit, size_t *out)
{
	size_t n = cap ? cap : first;

	if (need > limit) {
		return DR_ESPACE;
	}
	while (n < need) {
		n *= 2;
	}
	*out = n > limit ? limit : n;
	return DR_EOK;
}

int stream_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	uint8_t *grown;
	size_t n;

	if (need <= *cap) {
		return DR_EOK;
	}
	if (next_size(*cap, 512, need, limit, &n) != DR_EOK) {
		return DR_ESPACE;
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

uint8_t *stream_buf_get(struct stream_pool *p)
{
	void *m;

	if (p->n > 0) {
		return p->free[--p->n];
	}
	m = mmap(NULL, STREAM_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

int stream_buf_grow(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	size_t n;
	void *m;

	if (need <= *cap) {
		return DR_EOK;
	}
	if (next_size(*cap, STREAM_BUF_SIZE, need, limit, &n) != DR_EOK) {
		return DR_ESPACE;
	}
	m = mremap(*buf, *cap, n, MREMAP_MAYMOVE);
	if (m == MAP_FAILED) {
		return DR_ENOMEM;
	}
	*buf = m;
	*cap = n;
	return DR_EOK;
}

void stream_buf_put(struct stream_pool *p, uint8_t *buf, size_t cap)
{
	if (buf == NULL) {
		return;
	}
	if (cap == STREAM_BUF_SIZE && p->n < STREAM_POOL_KEEP) {
		p->free[p->n++] = buf;
		return;
	}
	(void)munmap(buf, cap);
}

void stream_pool_deinit(struct stream_pool *p)
{
	while (p->n > 0) {
		(void)munmap(p->free[--p->n], STREAM_BUF_SIZE);
	}
}

int stream_connect(const union sockaddr_any *to, const union sockaddr_any *from)
{
	int one = 1;
	int fd = socket(to->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (from != NULL && transparent_bind(fd, from) != DR_EOK) {
		close(fd);
		return -1;
	}
	if (connect(fd, &to->sa, sockaddr_len(to)) == -1 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

bool stream_connected(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

uint64_t stream_ack_due(int fd, uint64_t *owed_us, uint64_t *now)
{
	uint64_t due = *owed_us + STREAM_ACK_DELAY_US;

	if (*owed_us == 0) {
		return 0;
	}
	if (*now == 0) {
		*now = clock_now_us();
	}
	if (*now < due) {
		return due;
	}
	*owed_us = 0;
	/* TCP_QUICKACK with an even value other than 0: Linux sends the ACK it holds back and
	 * then returns to delayed ACKs (net/ipv4/tcp.c, __tcp_sock_set_quickack). With 1 the
	 * socket would leave delayed-ACK mode, and the kernel would then acknowledge each
	 * segment on its own until the next exchange puts it back: measured on a saturated
	 * backend connection, twice the packets per query of this. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &(int){2}, sizeof(int));
	return 0;
}
