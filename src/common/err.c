/* SPDX-License-Identifier: MIT */
/* common/err.c -- error code strings */
#include <string.h>

#include "common/err.h"

const char *dr_strerror(int code)
{
	switch (code) {
	case DR_EOK:
		return "ok";
	case DR_EMALF:
		return "malformed message";
	case DR_ENOROUTE:
		return "no route";
	case DR_ENOBACKEND:
		return "no usable backend";
	case DR_ETIMEOUT:
		return "timed out";
	case DR_ESPACE:
		return "no space";
	case DR_ERESPONSE:
		return "unexpected response";
	case DR_ECONF:
		return "configuration error";
	default:
		return code < 0 ? strerror(-code) : "unknown error";
	}
}
