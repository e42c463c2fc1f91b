/* SPDX-License-Identifier: MIT */
/* common/log.h -- leveled logging to stderr */
#ifndef DR_COMMON_LOG_H
#define DR_COMMON_LOG_H

#include <stdatomic.h>

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

#endif
