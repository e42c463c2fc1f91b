/* SPDX-License-Identifier: MIT */
/* admin/page.c -- the status page, status_page.html, built into the binary
 *
 * The page is one file edited as HTML; the assembler takes it in whole (.incbin), so the
 * binary needs nothing at run time, chroot or not. The Makefiles name the file, as paths are
 * the assembler's from where the compiler runs. */
#include "admin/page.h"

#ifndef STATUS_PAGE_FILE
#error "STATUS_PAGE_FILE names src/admin/status_page.html (the Makefile sets it)"
#endif

__asm__(".section .rodata\n"
	".global admin_status_page\n"
	".type admin_status_page, @object\n"
	"admin_status_page:\n"
	".incbin \"" STATUS_PAGE_FILE "\"\n"
	".byte 0\n"
	".size admin_status_page, . - admin_status_page\n"
	".previous\n");
