/* SPDX-License-Identifier: MIT */
/* common/log.c -- leveled logging to stderr, and rate-limited lines for repeated warnings */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

_Atomic int log_level_current = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_priorities[] = {3, 4, 6, 7}; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static bool to_journal;

void log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	to_journal = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
		     fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
		     (unsigned long long)st.st_ino == ino;
}

static void log_vwrite(enum log_level lvl, const char *tag, uint64_t suppressed, const char *fmt,
		       va_list ap)
{
	char line[1024];
	char more[64] = "";
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	if (suppressed != 0) {
		snprintf(more, sizeof(more), " (%llu more like this suppressed)",
			 (unsigned long long)suppressed);
	}
	/* One fprintf per line so lines from several threads do not interleave. */
	if (to_journal) {
		fprintf(stderr, "<%d>%s: [%s] %s%s\n", level_priorities[lvl], level_names[lvl], tag,
			line, more);
		return;
	}
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: [%s] %s%s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		level_names[lvl], tag, line, more);
}

void log_write(enum log_level lvl, const char *tag, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(lvl, tag, 0, fmt, ap);
	va_end(ap);
}

bool log_limit_pass(struct log_limit *l, uint64_t now_ms, uint64_t *suppressed)
{
	uint64_t next = atomic_load_explicit(&l->next_ms, memory_order_relaxed);

	/* One thread wins the window; the others, and every later caller in it, are counted.
	 * A count added just after the winner took it goes into the next line. */
	do {
		if (now_ms < next) {
			atomic_fetch_add_explicit(&l->suppressed, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak(&l->next_ms, &next, now_ms + LOG_LIMIT_MS));
	*suppressed = atomic_exchange_explicit(&l->suppressed, 0, memory_order_relaxed);
	return true;
}

void log_limit_write(struct log_limit *l, uint64_t now_ms, enum log_level lvl, const char *tag,
		     const char *fmt, ...)
{
	uint64_t suppressed;
	va_list ap;

	if (!log_limit_pass(l, now_ms, &suppressed)) {
		return;
	}
	va_start(ap, fmt);
	log_vwrite(lvl, tag, suppressed, fmt, ap);
	va_end(ap);
}
