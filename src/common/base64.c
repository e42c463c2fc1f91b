/* SPDX-License-Identifier: MIT */
/* common/base64.c -- RFC 4648 base64, as etcd's JSON gateway carries keys and values */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *in, size_t len)
{
	const uint8_t *p = in;
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	size_t o = 0;

	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len) {
			v |= (uint32_t)p[i + 1] << 8;
		}
		if (i + 2 < len) {
			v |= p[i + 2];
		}
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int sextet(char c)
{
	const char *hit = c ? strchr(alphabet, c) : NULL;

	return hit ? (int)(hit - alphabet) : -1;
}

int base64_decode(const char *in, char **result, size_t *out_len)
{
	size_t len = strlen(in), o = 0;
	char *out;

	if (len % 4 != 0) {
		return DR_EINVAL;
	}
	out = malloc(len / 4 * 3 + 1);
	if (out == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < len; i += 4) {
		int a = sextet(in[i]), b = sextet(in[i + 1]);
		int c = in[i + 2] == '=' ? 0 : sextet(in[i + 2]);
		int d = in[i + 3] == '=' ? 0 : sextet(in[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0 || (in[i + 2] == '=' && in[i + 3] != '=') ||
		    (i + 4 < len && in[i + 3] == '=')) {
			free(out);
			return DR_EINVAL;
		}
		uint32_t v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) |
			     (uint32_t)d;
		out[o++] = (char)(v >> 16);
		if (in[i + 2] != '=') {
			out[o++] = (char)(v >> 8);
		}
		if (in[i + 3] != '=') {
			out[o++] = (char)v;
		}
	}
	out[o] = '\0';
	*out_len = o;
	*result = out;
	return DR_EOK;
}
