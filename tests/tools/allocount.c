/* SPDX-License-Identifier: MIT */
/* tests/tools/allocount.c -- counts a process's heap allocations, for tests that assert a
 * path allocates nothing per query
 *
 *   ALLOCOUNT_FILE=/tmp/count LD_PRELOAD=build/allocount.so dnsrouter -c ...
 *
 * Every malloc, calloc, realloc and aligned allocation adds one to a 64-bit counter at the
 * start of ALLOCOUNT_FILE (created, 8 bytes, shared mapping), which the test reads whenever
 * it likes: the difference over a span of traffic is what that traffic allocated. The
 * allocations themselves are glibc's (__libc_*). Not for sanitizer builds, which bring an
 * allocator of their own.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

static uint64_t early;             /* counts until the file is mapped */
static uint64_t *counter = &early; /* then the file's first 8 bytes */

__attribute__((constructor)) static void allocount_init(void)
{
	const char *path = getenv("ALLOCOUNT_FILE");
	void *map;
	int fd;

	if (path == NULL || (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		return;
	}
	if (ftruncate(fd, sizeof(uint64_t)) == 0) {
		map = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED) {
			*(uint64_t *)map = early;
			counter = map;
		}
	}
	close(fd);
}

static void count(void)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
	count();
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count();
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count();
	return __libc_realloc(p, size);
}

void *memalign(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	count();
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	count();
	p = __libc_memalign(align, size);
	if (p == NULL) {
		return ENOMEM;
	}
	*out = p;
	return 0;
}
