/* SPDX-License-Identifier: MIT */
/* common/privs.c -- least privilege: chroot, then the configured user and group
 *
 * Names are resolved before the chroot, while /etc/passwd and /etc/group are reachable. The
 * readability check runs in a child that takes exactly the steps privs_drop will take, so
 * what it reports is what a reload or an etcd TLS handshake would meet. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "common/privs.h"

#define PW_BUF 16384

/* What the checking child reports: the path it stopped at (or a step before any) and why. */
enum {
	STEP_OK = -1,
	STEP_CHROOT = -2,
	STEP_DROP = -3,
};

struct verdict {
	int step; /* index of the path that failed, or STEP_* */
	int err;  /* errno */
};

static int user_groups(struct privs *p, const char *user)
{
	int n = 16;

	for (;;) {
		gid_t *groups = realloc(p->groups, (size_t)n * sizeof(*groups));
		int want = n;
		if (groups == NULL) {
			return DR_ENOMEM;
		}
		p->groups = groups;
		if (getgrouplist(user, p->gid, groups, &want) != -1) {
			p->ngroups = want;
			return DR_EOK;
		}
		n = want > n ? want : 2 * n;
	}
}

/* Not root: fine when we already are <pw> (and in <group>'s gid, if one is named). */
static int check_already(struct privs *p, const struct passwd *pw, const char *group, char *err,
			 size_t len)
{
	if (geteuid() == pw->pw_uid && (group[0] == '\0' || getegid() == p->gid)) {
		p->uid = pw->pw_uid;
		return DR_EOK;
	}
	snprintf(err, len,
		 "user '%s': running as uid %u, which cannot become it (start as root, or as that "
		 "user)",
		 pw->pw_name, (unsigned)geteuid());
	return DR_ECONF;
}

int privs_init(struct privs *p, const char *user, const char *group, const char *chroot, char *err,
	       size_t len)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	char *buf = NULL;
	int rc = DR_ECONF;

	memset(p, 0, sizeof(*p));
	p->uid = geteuid();
	p->gid = getegid();
	snprintf(p->user, sizeof(p->user), "uid %u", (unsigned)p->uid);
	if (chroot[0] != '\0' && realpath(chroot, p->root) == NULL) {
		snprintf(err, len, "chroot %s: %s", chroot, strerror(errno));
		return DR_ECONF;
	}
	if (chroot[0] != '\0' && geteuid() != 0) {
		snprintf(err, len, "chroot %s needs root (running as uid %u)", chroot,
			 (unsigned)geteuid());
		return DR_ECONF;
	}
	if (user[0] == '\0') {
		return DR_EOK;
	}
	buf = malloc(PW_BUF);
	if (buf == NULL) {
		return DR_ENOMEM;
	}
	errno = 0;
	if (getpwnam_r(user, &pw, buf, PW_BUF, &pwr) != 0 || pwr == NULL) {
		snprintf(err, len, "unknown user '%s'", user);
		goto out;
	}
	snprintf(p->user, sizeof(p->user), "%s", user);
	p->gid = pw.pw_gid;
	if (group[0] != '\0') {
		char *gbuf = malloc(PW_BUF);
		if (gbuf == NULL) {
			rc = DR_ENOMEM;
			goto out;
		}
		if (getgrnam_r(group, &gr, gbuf, PW_BUF, &grr) == 0 && grr != NULL) {
			p->gid = gr.gr_gid;
		}
		free(gbuf);
		if (grr == NULL) {
			snprintf(err, len, "unknown group '%s'", group);
			goto out;
		}
	}
	if (geteuid() != 0) {
		rc = check_already(p, &pw, group, err, len);
		goto out;
	}
	p->uid = pw.pw_uid;
	p->change = true;
	rc = user_groups(p, user);
out:
	free(buf);
	return rc;
}

void privs_deinit(struct privs *p)
{
	free(p->groups);
	p->groups = NULL;
	p->ngroups = 0;
}

const char *privs_path(const struct privs *p, const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX];

	/* Inside the chroot the working directory is its root: a relative name is made
	 * absolute first, so that it names the same place as at start-up. */
	if (p->root[0] == '\0' || path[0] == '/' || path[0] == '\0' ||
	    getcwd(cwd, sizeof(cwd)) == NULL) {
		snprintf(buf, len, "%s", path);
	} else {
		snprintf(buf, len, "%s/%s", strcmp(cwd, "/") != 0 ? cwd : "", path);
	}
	return buf;
}

/* The child: become what privs_drop makes of the process, try each path, report, exit. */
static void check_child(const struct privs *p, char **inner, size_t n, int fd)
{
	struct verdict v = {STEP_OK, 0};
	char byte;

	if (p->root[0] != '\0' && (chroot(p->root) == -1 || chdir("/") == -1)) {
		v = (struct verdict){STEP_CHROOT, errno};
	} else if (p->change && (setgroups((size_t)p->ngroups, p->groups) == -1 ||
				 setresgid(p->gid, p->gid, p->gid) == -1 ||
				 setresuid(p->uid, p->uid, p->uid) == -1)) {
		v = (struct verdict){STEP_DROP, errno};
	}
	for (size_t i = 0; v.step == STEP_OK && i < n; i++) {
		int f = open(inner[i], O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (f == -1 || read(f, &byte, 1) == -1) {
			v = (struct verdict){(int)i, errno};
		}
		if (f != -1) {
			close(f);
		}
	}
	(void)!write(fd, &v, sizeof(v));
	_exit(0);
}

static void describe_failure(const struct privs *p, const struct verdict *v,
			     const char *const *paths, char **inner, char *err, size_t len)
{
	char where[PATH_MAX + 32] = "";

	if (p->root[0] != '\0') {
		snprintf(where, sizeof(where), " inside chroot %s", p->root);
	}
	if (v->step == STEP_CHROOT) {
		snprintf(err, len, "cannot chroot to %s (%s)", p->root, strerror(v->err));
	} else if (v->step == STEP_DROP) {
		snprintf(err, len, "cannot become user '%s' (%s)", p->user, strerror(v->err));
	} else if (strcmp(paths[v->step], inner[v->step]) == 0) {
		snprintf(err, len, "user '%s' cannot read %s%s (%s)", p->user, paths[v->step],
			 where, strerror(v->err));
	} else {
		snprintf(err, len, "user '%s' cannot read %s (%s%s) (%s)", p->user, paths[v->step],
			 inner[v->step], where, strerror(v->err));
	}
}

int privs_check_read(const struct privs *p, const char *const *paths, size_t n, char *err,
		     size_t len)
{
	struct verdict v = {STEP_CHROOT, ECHILD};
	char **inner = calloc(n ? n : 1, sizeof(*inner));
	int fds[2] = {-1, -1}, rc = DR_ENOMEM, status;
	pid_t pid;

	if (inner == NULL) {
		return DR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		inner[i] = malloc(PATH_MAX);
		if (inner[i] == NULL) {
			goto out;
		}
		privs_path(p, paths[i], inner[i], PATH_MAX);
	}
	if (pipe2(fds, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		rc = -errno;
		snprintf(err, len, "cannot check what user '%s' can read (%s)", p->user,
			 strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		check_child(p, inner, n, fds[1]);
	}
	close(fds[1]);
	fds[1] = -1;
	while (read(fds[0], &v, sizeof(v)) == -1 && errno == EINTR) {
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR) {
	}
	rc = DR_EOK;
	if (v.step != STEP_OK) {
		describe_failure(p, &v, paths, inner, err, len);
		rc = DR_ECONF;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (fds[i] != -1) {
			close(fds[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(inner[i]);
	}
	free(inner);
	return rc;
}

/* After the switch to a user, the one capability transparent sockets need, in the calling
 * thread; threads it starts inherit it. Raw capset: libcap for one call is not worth it. */
static int keep_net_admin(void)
{
	struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	data[CAP_NET_ADMIN / 32].effective = 1u << (CAP_NET_ADMIN % 32);
	data[CAP_NET_ADMIN / 32].permitted = 1u << (CAP_NET_ADMIN % 32);
	if (syscall(SYS_capset, &head, data) == -1) {
		return -errno;
	}
	return prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) == -1 ? -errno : DR_EOK;
}

int privs_drop(const struct privs *p, char *err, size_t len)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (p->root[0] != '\0' && (chroot(p->root) == -1 || chdir("/") == -1)) {
		snprintf(err, len, "cannot chroot to %s (%s)", p->root, strerror(errno));
		return -errno;
	}
	if (!p->change) {
		return DR_EOK;
	}
	if (p->keep_net_admin && prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) == -1) {
		snprintf(err, len, "cannot keep CAP_NET_ADMIN (%s)", strerror(errno));
		return -errno;
	}
	/* Groups first: once the uid is not root, they can no longer be changed. */
	if (setgroups((size_t)p->ngroups, p->groups) == -1 ||
	    setresgid(p->gid, p->gid, p->gid) == -1 || setresuid(p->uid, p->uid, p->uid) == -1) {
		snprintf(err, len, "cannot become user '%s' (%s)", p->user, strerror(errno));
		return -errno;
	}
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 || ru != p->uid ||
	    eu != p->uid || su != p->uid || rg != p->gid || eg != p->gid || sg != p->gid ||
	    (p->uid != 0 && setuid(0) != -1)) {
		snprintf(err, len, "user '%s': the switch did not take", p->user);
		return DR_EINVAL;
	}
	if (p->keep_net_admin) {
		int rc = keep_net_admin();
		if (rc != DR_EOK) {
			snprintf(err, len, "user '%s': cannot keep CAP_NET_ADMIN (%s)", p->user,
				 dr_strerror(rc));
			return rc;
		}
	}
	return DR_EOK;
}
