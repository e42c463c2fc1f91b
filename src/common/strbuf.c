/* SPDX-License-Identifier: MIT */
/* common/strbuf.c -- a growing text buffer for the control plane (never the data path) */
#include <stdarg.h>
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

/* Copy runs of characters that need no escape in one go; escape the others. */
static void escaped(struct strbuf *sb, const char *s, bool json)
{
	while (*s != '\0') {
		size_t run = 0;
		while (s[run] != '\0' && s[run] != '"' && s[run] != '\\' &&
		       (unsigned char)s[run] >= 0x20) {
			run++;
		}
		append(sb, s, run);
		s += run;
		if (*s == '\0') {
			break;
		}
		if (*s == '"' || *s == '\\') {
			strbuf_printf(sb, "\\%c", *s);
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
