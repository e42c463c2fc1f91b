/* SPDX-License-Identifier: MIT */
/* common/strbuf.h -- a growing text buffer for the control plane (never the data path) */
#ifndef DR_COMMON_STRBUF_H
#define DR_COMMON_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data; /* NUL-terminated while len > 0 */
	size_t len, cap;
	bool failed; /* an allocation failed: the text is incomplete */
};

/* Append formatted text; on allocation failure sets <failed> and appends nothing more. */
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append <s> as the inside of a JSON string (quotes not included). */
void strbuf_json(struct strbuf *sb, const char *s);

/* Append <s> as a Prometheus label value (RFC-less, per the exposition format: \\ \" \n). */
void strbuf_label(struct strbuf *sb, const char *s);

/* Hand the text over to the caller (free() it); the buffer is empty afterwards. NULL when an
 * allocation failed. */
char *strbuf_take(struct strbuf *sb);

void strbuf_free(struct strbuf *sb);

#endif
