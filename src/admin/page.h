/* SPDX-License-Identifier: MIT */
/* admin/page.h -- the status page, built into the binary */
#ifndef DR_ADMIN_PAGE_H
#define DR_ADMIN_PAGE_H

/* The HTML of GET /, NUL-terminated: self-contained, it loads nothing from elsewhere. */
extern const char admin_status_page[];

#endif
