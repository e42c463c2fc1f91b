/* SPDX-License-Identifier: MIT */
/* common/strbuf.c -- a growing text buffer for the control plane (never the data path) */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

static bool reserve(struct strbuf *sb, size_t extra)
{
	size_t cap = sb->cap ? sb->cap : 4096;
	char *grown;

	if (sb->failed) {
		return false;
	}
	if (sb->len + extra + 1 <= sb->cap) {
		return true;
	}
	while (cap < sb->len + extra + 1) {
		cap *= 2;
	}
	grown = realloc(sb->data, cap);
	if (grown == NULL) {
		sb->failed = true;
		return false;
	}
	sb->data = grown;
	sb->cap = cap;
	return true;
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(sb, (size_t)n)) {
		sb->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

static void append(struct strbuf *sb, const char *s, size_t n)
{
	if (n == 0 || !reserve(sb, n)) {
		return;
	}
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

/* The length of the well-formed UTF-8 sequence at <s> (whose first byte is 0x80 or more), or
 * 0: stops at the first byte that does not continue it, so never reads past a NUL. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
		return 0; /* overlong, a surrogate, or past Unicode */
	}
	return n;
}

/* How many bytes from <s> on need no escape. */
static size_t plain_run(const char *s)
{
	size_t run = 0;

	for (;;) {
		unsigned char ch = (unsigned char)s[run];
		size_t n = 1;
		if (ch == '\0' || ch == '"' || ch == '\\' || ch < 0x20) {
			return run;
		}
		if (ch >= 0x80 && (n = utf8_len((const unsigned char *)s + run)) == 0) {
			return run;
		}
		run += n;
	}
}

/* Copy runs of characters that need no escape in one go; escape the others. Bytes that are
 * not UTF-8 (an etcd value can hold any) become U+FFFD: both JSON and the Prometheus text
 * format must be UTF-8. */
static void escaped(struct strbuf *sb, const char *s, bool json)
{
	while (*s != '\0') {
		size_t run = plain_run(s);

		append(sb, s, run);
		s += run;
		if (*s == '\0') {
			break;
		}
		if (*s == '"' || *s == '\\') {
			strbuf_printf(sb, "\\%c", *s);
		} else if ((unsigned char)*s >= 0x80) {
			strbuf_printf(sb, "%s", json ? "\\ufffd" : "\xef\xbf\xbd");
		} else if (!json && *s == '\n') {
			strbuf_printf(sb, "\\n");
		} else if (json) {
			strbuf_printf(sb, "\\u%04x", (unsigned char)*s);
		} else {
			append(sb, s, 1);
		}
		s++;
	}
}

void strbuf_json(struct strbuf *sb, const char *s)
{
	escaped(sb, s, true);
}

void strbuf_label(struct strbuf *sb, const char *s)
{
	escaped(sb, s, false);
}

char *strbuf_take(struct strbuf *sb)
{
	char *out = sb->failed ? NULL : sb->data;

	if (out == NULL && !sb->failed) {
		out = strdup("");
	}
	if (sb->failed) {
		free(sb->data);
	}
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
	return out;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}
