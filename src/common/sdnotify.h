/* SPDX-License-Identifier: MIT */
/* common/sdnotify.h -- telling systemd how the daemon is doing (the sd_notify(3) protocol) */
#ifndef DR_COMMON_SDNOTIFY_H
#define DR_COMMON_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* Connect to $NOTIFY_SOCKET (a path, or '@' for an abstract name), once, before the chroot
 * and the privilege drop, which could take the path away. No socket: later calls do nothing.
 * Returns DR_EOK, or DR_EINVAL with <err> when the socket is named but cannot be reached. */
int sdnotify_open(char *err, size_t len);

/* Send <state> ("READY=1", "RELOADING=1\nSTATUS=...", ...). Best effort: systemd gone is not
 * the daemon's failure. */
void sdnotify(const char *state);

/* The watchdog's interval in microseconds ($WATCHDOG_USEC, for this process when
 * $WATCHDOG_PID says so); 0 when there is none. */
uint64_t sdnotify_watchdog_usec(void);

void sdnotify_close(void);

#endif
