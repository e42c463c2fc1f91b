/* SPDX-License-Identifier: MIT */
/* common/base64.h -- RFC 4648 base64, as etcd's JSON gateway carries keys and values */
#ifndef DR_COMMON_BASE64_H
#define DR_COMMON_BASE64_H

#include <stddef.h>

/* Encode <len> bytes of <in>; returns a NUL-terminated string to free(), or NULL. */
char *base64_encode(const void *in, size_t len);

/* Decode the NUL-terminated <in> into *<out> (the bytes plus a NUL, to free()) and their
 * count in <out_len>. Returns DR_EOK, DR_EINVAL when <in> is not base64, or DR_ENOMEM. */
int base64_decode(const char *in, char **out, size_t *out_len);

#endif
