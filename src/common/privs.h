/* SPDX-License-Identifier: MIT */
/* common/privs.h -- least privilege: chroot, then the configured user and group */
#ifndef DR_COMMON_PRIVS_H
#define DR_COMMON_PRIVS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where the process goes once its sockets are bound: who it becomes and where its root is.
 * Resolved from the names while the user database is still reachable (before the chroot). */
struct privs {
	bool change;   /* root now, and a user to become (else: stay who we are) */
	uid_t uid;     /* the user's, or ours when <change> is false */
	gid_t gid;     /* the group's, or the user's primary one */
	gid_t *groups; /* supplementary groups: the user's, with <gid> (heap) */
	int ngroups;
	bool keep_net_admin; /* keep CAP_NET_ADMIN as the user: transparent backends need it */
	char user[64];       /* for messages: the name, or "uid N" */
	char root[PATH_MAX]; /* the chroot, symlinks resolved; "" none */
};

/* Resolve <user> and <group> ("" each: none; group alone is refused by conf_validate) and
 * <chroot> ("" none) into <p>. Running as root, the user and group may be anyone; not root,
 * only the user we already are (and no chroot). Returns DR_EOK, DR_ENOMEM, or DR_ECONF with a
 * one-line <err>: "unknown user 'x'", "user 'x': running as uid N, cannot become it ...". */
int privs_init(struct privs *p, const char *user, const char *group, const char *chroot, char *err,
	       size_t len);

void privs_deinit(struct privs *p);

/* The name under which <path> (as given at start-up) is opened after privs_drop: with a
 * chroot, the same absolute path, inside it (a relative <path> made absolute from the working
 * directory); without one, or for "", <path> itself. Writes into <buf> of <len> bytes and returns it. */
const char *privs_path(const struct privs *p, const char *path, char *buf, size_t len);

/* Check that each of the <n> files in <paths> (as given at start-up) can be opened for reading
 * after privs_drop: a child process does the chroot and the drop and opens privs_path() of
 * each. Returns DR_EOK, or DR_ECONF with the first failure in <err>: "user 'nobody' cannot
 * read FILE (reason)" (with " inside chroot DIR" when there is one). */
int privs_check_read(const struct privs *p, const char *const *paths, size_t n, char *err,
		     size_t len);

/* chroot and chdir("/") when there is a chroot, then supplementary groups, gid and uid;
 * with <keep_net_admin>, the calling thread (and the threads it starts later) keeps
 * CAP_NET_ADMIN and nothing else; verifies that root cannot be regained. With glibc, setuid applies to every thread of the
 * process. Returns DR_EOK, or a negative errno with <err>. */
int privs_drop(const struct privs *p, char *err, size_t len);

#endif
