/* SPDX-License-Identifier: MIT */
/* common/version.h -- the release, as -V prints it and dnstap names it */
#ifndef DR_COMMON_VERSION_H
#define DR_COMMON_VERSION_H

#define DNSROUTER_VERSION "0.1.0"

#endif
