/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_conf.c -- the YAML configuration file, loaded and validated */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/err.h"
#include "conf/conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct conf c;
	char err[CONF_ERR_LEN];
	int rc;

	/* A file in memory, opened again by name as conf_load_yaml does */
	if (fd == -1) {
		fd = memfd_create("fuzz_conf.yaml", 0);
		CHECK(fd != -1);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	CHECK(conf_init(&c) == DR_EOK);
	err[0] = '\0';
	rc = conf_load_yaml(&c, path, err, sizeof(err));
	if (rc == DR_EOK) {
		rc = conf_validate(&c, err, sizeof(err));
	}
	/* Every error names the file, and a valid configuration listens somewhere */
	CHECK(rc == DR_EOK || rc == DR_ECONF || rc == DR_ENOMEM);
	CHECK(rc != DR_ECONF || strncmp(err, path, strlen(path)) == 0);
	CHECK(rc != DR_EOK || c.nlisten > 0);
	conf_deinit(&c);
	return 0;
}
