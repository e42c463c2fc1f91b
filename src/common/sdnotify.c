/* SPDX-License-Identifier: MIT */
/* common/sdnotify.c -- telling systemd how the daemon is doing (the sd_notify(3) protocol)
 *
 * The protocol is one datagram of "KEY=VALUE" lines to the unix socket systemd names in
 * $NOTIFY_SOCKET; libsystemd is not needed for that. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/sdnotify.h"

static int notify_fd = -1;

int sdnotify_open(char *err, size_t len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t n;

	if (path == NULL || path[0] == '\0' || notify_fd != -1) {
		return DR_EOK;
	}
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		snprintf(err, len, "NOTIFY_SOCKET '%.100s' is not a socket path", path);
		return DR_EINVAL;
	}
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@') {
		sun.sun_path[0] = '\0'; /* an abstract name */
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd == -1 ||
	    connect(notify_fd, (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) == -1) {
		snprintf(err, len, "NOTIFY_SOCKET %s: %s", path, strerror(errno));
		sdnotify_close();
		return DR_EINVAL;
	}
	/* Children (none today) must not talk for us. */
	(void)unsetenv("NOTIFY_SOCKET");
	return DR_EOK;
}

void sdnotify(const char *state)
{
	if (notify_fd != -1) {
		(void)send(notify_fd, state, strlen(state), MSG_NOSIGNAL);
	}
}

uint64_t sdnotify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long v;

	if (usec == NULL || (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())) {
		return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : (uint64_t)v;
}

void sdnotify_close(void)
{
	if (notify_fd != -1) {
		close(notify_fd);
		notify_fd = -1;
	}
}
