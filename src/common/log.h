/* SPDX-License-Identifier: MIT */
/* common/log.h -- leveled logging to stderr, and rate-limited lines for repeated warnings */
#ifndef DR_COMMON_LOG_H
#define DR_COMMON_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* The one process-wide setting: read by every thread, written at start-up only. */
extern _Atomic int log_level_current;

void log_write(enum log_level lvl, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* When stderr is systemd's journal stream ($JOURNAL_STREAM names its device and inode), lines
 * go without a timestamp (the journal keeps its own) and start with their syslog priority,
 * "<3>" to "<7>", which the journal files them under. Call once at start-up. */
void log_detect_journal(void);

/* The level is tested before any argument is formatted. */
#define log_at(lvl, tag, ...)                                                                      \
	do {                                                                                       \
		if ((int)(lvl) <= atomic_load_explicit(&log_level_current, memory_order_relaxed))  \
			log_write((lvl), (tag), __VA_ARGS__);                                      \
	} while (0)

#define log_err(tag, ...) log_at(LOG_LVL_ERR, tag, __VA_ARGS__)
#define log_warn(tag, ...) log_at(LOG_LVL_WARN, tag, __VA_ARGS__)
#define log_info(tag, ...) log_at(LOG_LVL_INFO, tag, __VA_ARGS__)
#define log_debug(tag, ...) log_at(LOG_LVL_DEBUG, tag, __VA_ARGS__)

/* Rate limiting for a line that a condition repeats (out of descriptors, a backend socket that
 * cannot be opened): one struct log_limit per call site, zero-initialised (static, embedded or
 * calloc'd), lets at most one line through per LOG_LIMIT_MS; the next line that passes ends in
 * "(N more like this suppressed)". Lock-free: one struct may be shared by every worker (a
 * static at the call site: one line a second for the whole process) or kept per thread. Lines
 * held back after the last one that passed are counted in the next one, whenever it comes. */
#define LOG_LIMIT_MS 1000u

struct log_limit {
	_Atomic uint64_t next_ms;    /* no line before this (monotonic ms); 0: the first passes */
	_Atomic uint64_t suppressed; /* lines held back since the last one that passed */
};

/* Whether a line may pass at <now_ms>: true once per LOG_LIMIT_MS, with the count of lines
 * held back since the last one in <*suppressed>; false counts this one as held back. */
bool log_limit_pass(struct log_limit *l, uint64_t now_ms, uint64_t *suppressed);

/* log_write through <l> at <now_ms>: the line, with the count of suppressed ones appended. */
void log_limit_write(struct log_limit *l, uint64_t now_ms, enum log_level lvl, const char *tag,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* log_at through <lim>, a struct log_limit *, on the monotonic clock. A line below the level
 * is neither formatted nor counted. */
#define log_limited(lim, lvl, tag, ...)                                                            \
	do {                                                                                       \
		if ((int)(lvl) <= atomic_load_explicit(&log_level_current, memory_order_relaxed))  \
			log_limit_write((lim), clock_now_ms(), (lvl), (tag), __VA_ARGS__);         \
	} while (0)

#define log_warn_limited(lim, tag, ...) log_limited(lim, LOG_LVL_WARN, tag, __VA_ARGS__)
#define log_err_limited(lim, tag, ...) log_limited(lim, LOG_LVL_ERR, tag, __VA_ARGS__)

#endif
