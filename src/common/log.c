/* SPDX-License-Identifier: MIT */
/* common/log.c -- leveled logging to stderr */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"

_Atomic int log_level_current = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_write(enum log_level lvl, const char *tag, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fprintf per line so lines from several threads do not interleave. */
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: [%s] %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		level_names[lvl], tag, line);
}
