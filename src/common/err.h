/* SPDX-License-Identifier: MIT */
/* common/err.h -- error codes shared by every module */
#ifndef DR_COMMON_ERR_H
#define DR_COMMON_ERR_H

#include <errno.h>

/* System failures are negative errno values; our own codes start at -1000. */
enum {
	DR_EOK = 0,
	DR_ENOMEM = -ENOMEM,
	DR_EINVAL = -EINVAL,
	DR_EMALF = -1000,      /* malformed message */
	DR_ENOROUTE = -1001,   /* no route matches the name */
	DR_ENOBACKEND = -1002, /* the route has no usable backend */
	DR_ETIMEOUT = -1003,   /* backend did not answer in time */
	DR_ESPACE = -1004,     /* a buffer or table is full */
	DR_ERESPONSE = -1005,  /* a message that is a response where a query was expected */
	DR_ECONF = -1006,      /* configuration error (message in caller's buffer) */
};

/* Return a static string describing <code> (DR_E* or negative errno). */
const char *dr_strerror(int code);

#endif
