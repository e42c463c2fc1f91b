/* SPDX-License-Identifier: MIT */
/* curve/nonce.c -- the server's half of a response nonce */
#include "curve/nonce.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

int curve_nonce_init(struct curve_nonce *n, uint16_t instance, uint8_t worker, uint64_t floor)
{
	struct timespec ts;
	uint64_t now;
	int rc;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
		return -errno;
	}
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (ts.tv_sec < 0 || now <= floor) {
		return DR_EINVAL;
	}
	rc = rand_seed(&n->rnd);
	if (rc != DR_EOK) {
		return rc;
	}
	/* curve_nonce_next() adds 1 first, so the first nonce carries now + 1 > floor. */
	n->counter = now;
	n->instance = instance;
	n->worker = worker;
	return DR_EOK;
}

int curve_nonce_file_open(const char *path, uint64_t *floor, char *err, size_t len)
{
	char text[32];
	ssize_t n;
	char *end;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	*floor = 0;
	if (fd == -1) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return DR_ECONF;
	}
	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n < 0) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		close(fd);
		return DR_ECONF;
	}
	text[n] = '\0';
	if (n > 0) {
		errno = 0;
		unsigned long long v = strtoull(text, &end, 10);
		if (errno != 0 || end == text || (*end != '\n' && *end != '\0')) {
			snprintf(err, len, "%s: not a nonce counter (a decimal number)", path);
			close(fd);
			return DR_ECONF;
		}
		*floor = v;
	}
	return fd;
}

int curve_nonce_file_save(int fd, uint64_t counter)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)counter);

	if (ftruncate(fd, 0) == -1 || pwrite(fd, text, (size_t)n, 0) != n || fsync(fd) == -1) {
		return -errno;
	}
	return DR_EOK;
}
