/* SPDX-License-Identifier: MIT */
/* main.c -- command line, start-up order, signals, reloads: the control thread */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "backend/backend.h"
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "route/route.h"
#include "worker/worker.h"

#define DNSROUTER_VERSION "0.1.0"
#define COLLECT_INTERVAL_MS 1000

/* What the command line says beside the file: kept to be applied again on every reload. */
struct cli {
	const char *conf_path;
	const char **listen;
	size_t nlisten;
	const char **entries;
	size_t nentries;
	unsigned workers;	/* 0: the file's setting */
	bool check_only;
};

struct control {
	struct cli cli;
	struct conf conf;
	struct router router;
	struct backend_registry reg;
	struct worker **workers;
	unsigned nworkers;
	uint64_t gen;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dnsrouter [-c FILE] [-t] [-l ADDR]... [-b 'IP:PORT,REGEXP']... [-w N]\n"
		"  -c FILE   YAML configuration file\n"
		"  -t        check the configuration and exit (0: good)\n"
		"  -l ADDR   listen on ADDR (ip:port or [ipv6]:port); repeatable\n"
		"  -b ENTRY  a backend and the regexp of names it serves, as in etcd; repeatable\n"
		"  -w N      worker threads (default: the file's 'workers', else one per core)\n"
		"  -d        debug logging\n"
		"  -h        this help\n"
		"  -V        print the version\n");
}

static int push_arg(const char ***list, size_t *n, const char *arg)
{
	const char **grown = realloc(*list, (*n + 1) * sizeof(*grown));

	if (grown == NULL) {
		return DR_ENOMEM;
	}
	grown[(*n)++] = arg;
	*list = grown;
	return DR_EOK;
}

/* Returns -1 to go on, else the exit code. */
static int parse_cli(struct cli *cli, int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "c:tl:b:w:dhV")) != -1) {
		switch (opt) {
		case 'c':
			cli->conf_path = optarg;
			break;
		case 't':
			cli->check_only = true;
			break;
		case 'l':
			if (push_arg(&cli->listen, &cli->nlisten, optarg) != DR_EOK) {
				return 1;
			}
			break;
		case 'b':
			if (push_arg(&cli->entries, &cli->nentries, optarg) != DR_EOK) {
				return 1;
			}
			break;
		case 'w': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "dnsrouter: -w wants a number from 1 to 256\n");
				return 2;
			}
			cli->workers = (unsigned)n;
			break;
		}
		case 'd':
			atomic_store(&log_level_current, LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dnsrouter %s\n", DNSROUTER_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dnsrouter: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Read the file and the command line into <c>. On failure, <err> says why. */
static int load_conf(const struct cli *cli, struct conf *c, char *err, size_t len)
{
	int rc = conf_init(c);

	if (rc == DR_EOK && cli->conf_path != NULL) {
		rc = conf_load_yaml(c, cli->conf_path, err, len);
	}
	for (size_t i = 0; rc == DR_EOK && i < cli->nlisten; i++) {
		rc = conf_add_listen(c, cli->listen[i], err, len);
	}
	for (size_t i = 0; rc == DR_EOK && i < cli->nentries; i++) {
		rc = conf_add_entry(c, cli->entries[i], err, len);
	}
	if (rc == DR_EOK && cli->workers != 0) {
		c->workers = cli->workers;
	}
	if (rc == DR_EOK) {
		rc = conf_validate(c, err, len);
	}
	if (rc != DR_EOK && rc != DR_ECONF) {
		snprintf(err, len, "%s", dr_strerror(rc));
	}
	return rc;
}

static void publish(struct control *ctl, struct snapshot *next)
{
	struct snapshot *old = rcu_xchg_pointer(&ctl->router.snap, next);

	/* Workers go offline whenever they sleep, so this waits at most one busy loop turn. */
	synchronize_rcu();
	snapshot_free(old);
	backend_registry_collect(&ctl->reg, next->gen - 1);
}

static void reload(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct conf next;
	struct snapshot *snap;

	if (load_conf(&ctl->cli, &next, err, sizeof(err)) != DR_EOK) {
		log_err("control", "reload failed, keeping the running configuration (%s)", err);
		conf_deinit(&next);
		return;
	}
	snap = snapshot_build(&next, &ctl->reg, ctl->gen + 1, err, sizeof(err));
	if (snap == NULL) {
		log_err("control", "reload failed, keeping the running configuration (%s)", err);
		conf_deinit(&next);
		return;
	}
	if (next.nlisten != ctl->conf.nlisten || next.workers != ctl->conf.workers ||
	    memcmp(next.listen, ctl->conf.listen, next.nlisten * sizeof(*next.listen)) != 0) {
		log_warn("control", "listen and workers changes take effect at the next start");
	}
	ctl->gen++;
	publish(ctl, snap);
	conf_deinit(&ctl->conf);
	ctl->conf = next;
	log_info("control", "configuration reloaded: %u routes, %u backends (generation %llu)",
		 snap->nroutes, snap->nbackends, (unsigned long long)snap->gen);
}

static unsigned worker_count(const struct conf *c)
{
	long cores;

	if (c->workers != 0) {
		return c->workers;
	}
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (unsigned)cores : 1;
}

static int start_workers(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	uint32_t max_timeout = ctl->conf.timeout_ms;

	for (size_t i = 0; i < ctl->conf.nbackends; i++) {
		if (ctl->conf.backends[i].timeout_ms > max_timeout) {
			max_timeout = ctl->conf.backends[i].timeout_ms;
		}
	}
	ctl->nworkers = worker_count(&ctl->conf);
	ctl->router.tcp_max_conns = ctl->conf.tcp_max_conns / ctl->nworkers;
	if (ctl->router.tcp_max_conns == 0) {
		ctl->router.tcp_max_conns = 1;
	}
	ctl->router.tcp_idle_ms = ctl->conf.tcp_idle_ms;
	/* A query and its retry, with room to write the answer. */
	ctl->router.drain_ms = 2 * max_timeout + 500;
	ctl->workers = calloc(ctl->nworkers, sizeof(*ctl->workers));
	if (ctl->workers == NULL) {
		log_err("control", "out of memory");
		return DR_ENOMEM;
	}
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		ctl->workers[i] = worker_new(i, &ctl->router, ctl->conf.listen, ctl->conf.nlisten,
					     err, sizeof(err));
		if (ctl->workers[i] == NULL) {
			log_err("control", "%s", err);
			return DR_ECONF;
		}
	}
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		int rc = worker_start(ctl->workers[i]);
		if (rc != DR_EOK) {
			log_err("control", "cannot start worker %u (%s)", i, dr_strerror(rc));
			return rc;
		}
	}
	return DR_EOK;
}

static void stop_workers(struct control *ctl)
{
	atomic_store(&ctl->router.stopping, true);
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		if (ctl->workers[i] != NULL) {
			worker_stop(ctl->workers[i]);
		}
	}
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		worker_free(ctl->workers[i]);
	}
	free(ctl->workers);
	ctl->workers = NULL;
}

/* Serve signals until SIGTERM or SIGINT. */
static void control_loop(struct control *ctl, int sigfd)
{
	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		int n = poll(&pfd, 1, COLLECT_INTERVAL_MS);

		if (n == -1 && errno != EINTR) {
			log_err("control", "poll failed (%s)", strerror(errno));
			return;
		}
		if (n <= 0) {
			/* Backends that left are freed once every worker closed its socket. */
			backend_registry_collect(&ctl->reg, ctl->gen - 1);
			continue;
		}
		if (read(sigfd, &si, sizeof(si)) != sizeof(si)) {
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			reload(ctl);
		} else {
			log_info("control", "signal %u: stopping after the answers in flight",
				 si.ssi_signo);
			return;
		}
	}
}

static int block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	/* Workers write to sockets a client may have closed: an error, never a signal. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		return -errno;
	}
	/* Blocked before any thread starts, so only the signalfd sees them. */
	return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? DR_EOK : DR_EINVAL;
}

static int run(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct snapshot *snap;
	sigset_t set;
	int sigfd, rc;

	snap = snapshot_build(&ctl->conf, &ctl->reg, ++ctl->gen, err, sizeof(err));
	if (snap == NULL) {
		log_err("control", "%s", err);
		return 1;
	}
	rcu_assign_pointer(ctl->router.snap, snap);
	if (block_signals(&set) != DR_EOK || (sigfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1) {
		log_err("control", "cannot set up signals (%s)", strerror(errno));
		return 1;
	}
	rc = start_workers(ctl);
	if (rc == DR_EOK) {
		char addr[SOCKADDR_STRLEN];
		for (size_t i = 0; i < ctl->conf.nlisten; i++) {
			log_info("control", "listening on %s (udp, tcp)",
				 sockaddr_format(&ctl->conf.listen[i], addr, sizeof(addr)));
		}
		log_info("control", "ready: %u workers, %u routes, %u backends", ctl->nworkers,
			 snap->nroutes, snap->nbackends);
		control_loop(ctl, sigfd);
	}
	stop_workers(ctl);
	close(sigfd);
	return rc == DR_EOK ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct control ctl;
	char err[CONF_ERR_LEN];
	int code;

	memset(&ctl, 0, sizeof(ctl));
	backend_registry_init(&ctl.reg);
	code = parse_cli(&ctl.cli, argc, argv);
	if (code >= 0) {
		goto out;
	}
	if (load_conf(&ctl.cli, &ctl.conf, err, sizeof(err)) != DR_EOK) {
		fprintf(stderr, "%s\n", err);
		code = 1;
		goto out;
	}
	if (ctl.cli.check_only) {
		struct snapshot *s = snapshot_build(&ctl.conf, &ctl.reg, 1, err, sizeof(err));
		code = s != NULL ? 0 : 1;
		if (s == NULL) {
			fprintf(stderr, "%s\n", err);
		} else {
			printf("%s: configuration ok\n", ctl.cli.conf_path ? ctl.cli.conf_path : "-");
		}
		snapshot_free(s);
		goto out;
	}
	code = run(&ctl);
	snapshot_free(ctl.router.snap);
out:
	conf_deinit(&ctl.conf);
	backend_registry_deinit(&ctl.reg);
	free(ctl.cli.listen);
	free(ctl.cli.entries);
	return code;
}
