/* SPDX-License-Identifier: MIT */
/* main.c -- command line, start-up order, signals, reloads: the control thread */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "admin/http.h"
#include "admin/metrics.h"
#include "backend/backend.h"
#include "backend/health.h"
#include "common/err.h"
#include "common/log.h"
#include "common/privs.h"
#include "common/sdnotify.h"
#include "common/version.h"
#include "tap/tap.h"
#include "conf/conf.h"
#include "discovery/etcd.h"
#include "curve/box.h"
#include "curve/key.h"
#include "curve/nonce.h"
#include "front/curve.h"
#include "front/tcp.h"
#include "front/udp.h"
#include "route/route.h"
#include "upstream/state.h"
#include "upstream/upstream.h"
#include "worker/worker.h"

#define COLLECT_INTERVAL_MS 1000
#define ETCD_SETTLE_MS 3
#define ETCD_SETTLE_ROUNDS 20

/* What the command line says beside the file: kept to be applied again on every reload. */
struct cli {
	const char *conf_path;
	const char **listen;
	size_t nlisten;
	const char **entries;
	size_t nentries;
	unsigned workers; /* 0: the file's setting */
	bool check_only;
	const char *keygen; /* -K: write a new DNSCurve key to this file and exit */
};

struct control {
	struct cli cli;
	struct conf conf;
	struct router router;
	struct backend_registry reg;
	struct health *health;
	struct http *admin;
	struct metrics_source metrics;
	struct worker **workers;
	unsigned nworkers;
	uint64_t gen;
	struct etcd *etcd;
	int etcd_fd;               /* eventfd: the etcd thread published a new set */
	struct etcd_set *etcd_set; /* the entries in force, applied after the file's routes */
	/* user, group, chroot: taken once the sockets are bound; then reloads read the file
	 * under the name in conf_path_inner */
	struct privs privs;
	char conf_path_inner[PATH_MAX];
	int nonce_fd; /* dnscurve.nonce-file, open from the start to the end; -1: none */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dnsrouter [-c FILE] [-t] [-l ADDR]... [-b 'IP:PORT,REGEXP']... [-w N]\n"
		"       dnsrouter -K FILE\n"
		"  -c FILE   YAML configuration file\n"
		"  -t        check the configuration and exit (0: good)\n"
		"  -l ADDR   listen on ADDR (ip:port or [ipv6]:port); repeatable\n"
		"  -b ENTRY  a backend and the regexp of names it serves, as in etcd; repeatable\n"
		"  -w N      worker threads (default: the file's 'workers', else one per core)\n"
		"  -K FILE   write a new DNSCurve secret key to FILE (mode 0600) and print its\n"
		"            public key as curvedns-keygen does\n"
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

	while ((opt = getopt(argc, argv, "c:tl:b:w:K:dhV")) != -1) {
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
		case 'K':
			cli->keygen = optarg;
			break;
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
/* Say which option a problem in <err> came from: the message alone does not tell -l from a
 * listen address in the file. */
static int option_error(int rc, const char *option, char *err, size_t len)
{
	char problem[CONF_ERR_LEN];

	if (rc == DR_ECONF) {
		snprintf(problem, sizeof(problem), "%s", err);
		snprintf(err, len, "%s: %.400s", option, problem);
	}
	return rc;
}

static int load_conf(const struct cli *cli, struct conf *c, char *err, size_t len)
{
	int rc = conf_init(c);

	if (rc == DR_EOK && cli->conf_path != NULL) {
		rc = conf_load_yaml(c, cli->conf_path, err, len);
	}
	for (size_t i = 0; rc == DR_EOK && i < cli->nlisten; i++) {
		rc = option_error(conf_add_listen(c, cli->listen[i], err, len), "-l", err, len);
	}
	for (size_t i = 0; rc == DR_EOK && i < cli->nentries; i++) {
		rc = option_error(conf_add_entry(c, cli->entries[i], err, len), "-b", err, len);
	}
	if (rc == DR_EOK && cli->workers != 0) {
		c->workers = cli->workers;
	}
	if (rc == DR_EOK) {
		rc = conf_validate(c, err, len);
	}
	if (rc == DR_EOK) {
		rc = conf_check_transparent(c, err, len);
	}
	if (rc != DR_EOK && rc != DR_ECONF) {
		snprintf(err, len, "%s", dr_strerror(rc));
	}
	return rc;
}

/* Build snapshot <gen> from <c> under the registry's lock; new backends get their first health
 * check before the snapshot is returned (bounded by their check timeout), so traffic never
 * goes first to a backend nobody looked at. */
static struct snapshot *build(struct control *ctl, const struct conf *base, char *err, size_t len)
{
	/* Every attempt takes a new generation, failed ones too: a failed build has marked
	 * backends with its number, and the next build must not mistake them for its own. */
	uint64_t gen = ++ctl->gen;
	struct snapshot *snap;
	struct conf c;
	uint32_t wait_ms = 0;

	/* The file's routes, then etcd's entries in key order (checked by the etcd thread). */
	if (conf_clone(&c, base) != DR_EOK) {
		snprintf(err, len, "out of memory");
		return NULL;
	}
	if (ctl->etcd_set != NULL &&
	    conf_add_entries(&c, (const char *const *)ctl->etcd_set->keys,
			     (const char *const *)ctl->etcd_set->values, ctl->etcd_set->n,
			     CONF_SRC_ETCD, err, len) != DR_EOK) {
		conf_deinit(&c);
		return NULL;
	}
	/* And the zones sharded through etcd, which the file's zone routes override. */
	if (ctl->etcd_set != NULL &&
	    conf_add_shard_keys(&c, (const char *const *)ctl->etcd_set->shard_ids,
				(const char *const *)ctl->etcd_set->shard_values,
				ctl->etcd_set->nshard) != DR_EOK) {
		snprintf(err, len, "out of memory");
		conf_deinit(&c);
		return NULL;
	}
	pthread_mutex_lock(&ctl->reg.lock);
	snap = snapshot_build(&c, &ctl->reg, ctl->router.snap, gen, err, len);
	conf_deinit(&c);
	for (uint32_t i = 0; snap != NULL && i < snap->nbackends; i++) {
		const struct conf_health *hc = &snap->backends[i]->health;
		if (hc->enabled && hc->timeout_ms > wait_ms) {
			wait_ms = hc->timeout_ms;
		}
	}
	pthread_mutex_unlock(&ctl->reg.lock);
	if (snap != NULL && ctl->health != NULL) {
		uint32_t left;
		health_kick(ctl->health);
		left = health_wait_checked(snap->backends, snap->nbackends, wait_ms + 200);
		if (left > 0) {
			log_warn("control",
				 "%u backends not checked yet; they take no queries until "
				 "they are",
				 left);
		}
	}
	return snap;
}

static void publish(struct control *ctl, struct snapshot *next)
{
	struct snapshot *old = rcu_xchg_pointer(&ctl->router.snap, next);

	worker_steer(ctl->workers, ctl->nworkers, next);
	pthread_mutex_lock(&ctl->reg.lock);
	ctl->reg.published_gen = next->gen;
	pthread_mutex_unlock(&ctl->reg.lock);

	/* Workers go offline whenever they sleep, so this waits at most one busy loop turn. */
	synchronize_rcu();
	snapshot_free(old);
	backend_registry_collect(&ctl->reg, next->gen - 1);
}

static bool etcd_conf_equal(const struct conf_etcd *a, const struct conf_etcd *b)
{
	if (a->nendpoints != b->nendpoints || strcmp(a->prefix, b->prefix) != 0 ||
	    a->timeout_ms != b->timeout_ms || strcmp(a->ca, b->ca) != 0 ||
	    strcmp(a->cert, b->cert) != 0 || strcmp(a->key, b->key) != 0 ||
	    strcmp(a->username, b->username) != 0 || strcmp(a->password, b->password) != 0) {
		return false;
	}
	for (size_t i = 0; i < a->nendpoints; i++) {
		if (strcmp(a->endpoints[i], b->endpoints[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* Who the router becomes once its sockets are bound (user, group, chroot), and whether that
 * user can still read every file the router reads after start-up: the configuration file on
 * each reload and etcd's TLS files on each connection, at the same path inside the chroot.
 * Used by -t and at start, before any thread runs. DR_EOK, or DR_ECONF with one line in <err>. */
static int privs_prepare(struct control *ctl, char *err, size_t len)
{
	const struct conf *c = &ctl->conf;
	const char *paths[4];
	size_t n = 0;
	int rc = privs_init(&ctl->privs, c->user, c->group, c->chroot, err, len);

	ctl->privs.keep_net_admin = conf_has_transparent(c);

	if (rc == DR_EOK && (ctl->privs.change || ctl->privs.root[0] != '\0')) {
		if (ctl->cli.conf_path != NULL) {
			paths[n++] = ctl->cli.conf_path;
		}
		for (size_t i = 0; c->etcd.nendpoints != 0 && i < 3; i++) {
			const char *f = i == 0 ? c->etcd.ca : i == 1 ? c->etcd.cert : c->etcd.key;
			if (f[0] != '\0') {
				paths[n++] = f;
			}
		}
		rc = privs_check_read(&ctl->privs, paths, n, err, len);
	}
	if (rc != DR_EOK && rc != DR_ECONF) {
		snprintf(err, len, "%s", dr_strerror(rc));
	}
	return rc;
}

/* Everything that needs root is done (listeners, admin endpoint, descriptor limit): chroot,
 * then become the user. The etcd and admin threads already run; glibc applies setuid and
 * setgid to every thread of the process, which test_privileges checks task by task. */
static int drop_privileges(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	int rc;

	if (!ctl->privs.change && ctl->privs.root[0] == '\0') {
		return DR_EOK;
	}
	if (ctl->cli.conf_path != NULL) {
		ctl->cli.conf_path = privs_path(&ctl->privs, ctl->cli.conf_path,
						ctl->conf_path_inner, sizeof(ctl->conf_path_inner));
	}
	rc = privs_drop(&ctl->privs, err, sizeof(err));
	if (rc != DR_EOK) {
		log_err("control", "%s", err);
		return rc;
	}
	log_info("control", "running as %s (uid %u, gid %u)%s%s", ctl->privs.user,
		 (unsigned)getuid(), (unsigned)getgid(),
		 ctl->privs.root[0] != '\0' ? ", chroot " : "", ctl->privs.root);
	return DR_EOK;
}

static void warn_privs_change(const struct conf *was, const struct conf *next)
{
	if (strcmp(was->user, next->user) != 0 || strcmp(was->group, next->group) != 0 ||
	    strcmp(was->chroot, next->chroot) != 0) {
		log_warn("control", "user, group and chroot changes take effect at the next start");
	}
}

/* Tell systemd (if it started us) that we serve with <snap>. */
static void notify_ready(const struct control *ctl, const struct snapshot *snap)
{
	char state[160];

	snprintf(state, sizeof(state),
		 "READY=1\nSTATUS=serving: %u workers, %u routes, %u backends", ctl->nworkers,
		 snap->nroutes, snap->nbackends);
	sdnotify(state);
}

/* Read the file again and route by it; on any failure the running configuration stays. */
static void reload_conf(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct conf next;
	struct snapshot *snap;

	if (load_conf(&ctl->cli, &next, err, sizeof(err)) != DR_EOK) {
		log_err("control", "reload failed, keeping the running configuration (%s)", err);
		conf_deinit(&next);
		return;
	}
	snap = build(ctl, &next, err, sizeof(err));
	if (snap == NULL) {
		log_err("control", "reload failed, keeping the running configuration (%s)", err);
		conf_deinit(&next);
		return;
	}
	if (next.nlisten != ctl->conf.nlisten || next.workers != ctl->conf.workers ||
	    memcmp(next.listen, ctl->conf.listen, next.nlisten * sizeof(*next.listen)) != 0 ||
	    !sockaddr_equal(&next.admin, &ctl->conf.admin) ||
	    next.tcp_max_conns != ctl->conf.tcp_max_conns ||
	    next.rrl.table_size != ctl->conf.rrl.table_size) {
		log_warn("control", "listen, workers, admin, tcp max-connections and rate-limit "
				    "table-size changes take effect at the next start");
	}
	if (!etcd_conf_equal(&next.etcd, &ctl->conf.etcd)) {
		log_warn("control", "etcd changes take effect at the next start");
	}
	if (memcmp(&next.dnstap, &ctl->conf.dnstap, sizeof(next.dnstap)) != 0) {
		log_warn("control", "dnstap changes take effect at the next start");
	}
	warn_privs_change(&ctl->conf, &next);
	publish(ctl, snap);
	conf_deinit(&ctl->conf);
	ctl->conf = next;
	if (ctl->admin != NULL && http_configure(ctl->admin, &ctl->conf) != DR_EOK) {
		log_err("control", "admin endpoint keeps the previous acl listing (out of memory)");
	}
	log_info("control", "configuration reloaded: %u routes, %u backends (generation %llu)",
		 snap->nroutes, snap->nbackends, (unsigned long long)snap->gen);
}

/* dnstap to its file or socket, before any worker runs (a file is opened as root). */
static int start_dnstap(struct control *ctl)
{
	char err[CONF_ERR_LEN];

	if (!ctl->conf.dnstap.enabled) {
		return DR_EOK;
	}
	ctl->router.tap =
		tap_open(&ctl->conf.dnstap, ctl->conf.identity, ctl->nworkers, err, sizeof(err));
	if (ctl->router.tap == NULL) {
		log_err("control", "%s", err);
		return DR_EINVAL;
	}
	return DR_EOK;
}

/* A SIGHUP after the dnstap file was moved away (log rotation): a new file at the path, the
 * old one closed once every worker has let go of it. */
static void rotate_dnstap(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct tap *next, *old;

	if (ctl->router.tap == NULL || !tap_rotated(ctl->router.tap)) {
		return;
	}
	next = tap_open(&ctl->conf.dnstap, ctl->conf.identity, ctl->nworkers, err, sizeof(err));
	if (next == NULL) {
		log_err("control", "%s; dnstap goes on to the moved file", err);
		return;
	}
	old = rcu_xchg_pointer(&ctl->router.tap, next);
	synchronize_rcu();
	tap_close(old);
	log_info("control", "dnstap: a new file at %s", ctl->conf.dnstap.file);
}

static void reload(struct control *ctl)
{
	sdnotify("RELOADING=1");
	rotate_dnstap(ctl);
	reload_conf(ctl);
	notify_ready(ctl, ctl->router.snap);
}

/* The etcd thread published a new set of entries: route by it. */
static void apply_etcd(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct pollfd pfd = {.fd = ctl->etcd_fd, .events = POLLIN};
	struct etcd_set *set;
	struct snapshot *snap;
	uint64_t count;

	/* Let a burst of changes settle (a few ms, bounded), so that a thousand puts in a row
	 * cost a few rebuilds, not a thousand. */
	for (int i = 0; i < ETCD_SETTLE_ROUNDS; i++) {
		if (read(ctl->etcd_fd, &count, sizeof(count)) == -1 && errno != EAGAIN) {
			log_debug("control", "etcd wake-up read failed (%s)", strerror(errno));
		}
		if (poll(&pfd, 1, ETCD_SETTLE_MS) <= 0) {
			break;
		}
	}
	set = etcd_take(ctl->etcd);
	if (set == NULL) {
		return;
	}
	etcd_set_free(ctl->etcd_set);
	ctl->etcd_set = set;
	snap = build(ctl, &ctl->conf, err, sizeof(err));
	if (snap == NULL) {
		log_err("control", "etcd change not applied (%s)", err);
		return;
	}
	publish(ctl, snap);
	log_info("control", "etcd: %zu entries applied: %u routes, %u backends (generation %llu)",
		 set->n, snap->nroutes, snap->nbackends, (unsigned long long)snap->gen);
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

/* Every worker has a socket to every backend and a share of the client connections: take
 * the whole descriptor allowance (a service manager's soft limit is often 1024, the hard one
 * far higher), and say so when even that looks short. */
static void raise_fd_limit(const struct control *ctl)
{
	struct rlimit rl;
	/* Per worker and backend: its UDP source ports (UDP_PORTS in use, as many retiring) and
	 * its TCP connections, which only a busy backend fills. */
	uint64_t need = (uint64_t)ctl->nworkers * (2 * ctl->conf.nlisten + 4 +
						   (2 * UDP_PORTS + 4) * ctl->conf.nbackends) +
			ctl->conf.tcp_max_conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t was = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			rl.rlim_cur = was;
		} else {
			log_info("control", "descriptor limit raised from %llu to %llu",
				 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		log_warn(
			"control",
			"descriptor limit %llu is below the %llu that %u workers, %zu backends and "
			"%u TCP connections may use; raise it (ulimit -n, LimitNOFILE=)",
			(unsigned long long)rl.rlim_cur, (unsigned long long)need, ctl->nworkers,
			ctl->conf.nbackends, ctl->conf.tcp_max_conns);
	}
}

/* Create the workers and bind their listening sockets, without starting them: a port that is
 * taken fails the start at once, before any health check or etcd read. */
/* What every worker is made of: the fronts clients reach it through, then the backends'
 * side. */
static const struct worker_part *const worker_parts[] = {&curve_front, &udp_front, &tcp_front,
							 &upstream_part};

/* -K: a new DNSCurve secret key in <path>, and the lines curvedns-keygen prints. */
static int keygen(const char *path)
{
	uint8_t sk[CURVE_KEY_LEN];
	char out[512], err[CONF_ERR_LEN];
	int n;

	if (curve_key_generate(path, sk, err, sizeof(err)) != DR_EOK) {
		fprintf(stderr, "dnsrouter: %s\n", err);
		return 1;
	}
	n = curve_key_format(sk, out, sizeof(out));
	explicit_bzero(sk, sizeof(sk));
	if (n < 0) {
		fprintf(stderr, "dnsrouter: %s: cannot derive the public key\n", path);
		return 1;
	}
	fputs(out, stdout);
	explicit_bzero(out, sizeof(out));
	return 0;
}

/* dnscurve.nonce-file: the counter the last run reached, a floor for this one's. */
static int open_nonce_file(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	int fd;

	if (ctl->conf.curve.nkeys == 0 || ctl->conf.curve.nonce_file[0] == '\0') {
		return DR_EOK;
	}
	fd = curve_nonce_file_open(ctl->conf.curve.nonce_file, &ctl->router.nonce_floor, err,
				   sizeof(err));
	if (fd < 0) {
		log_err("control", "dnscurve nonce-file %s", err);
		return DR_ECONF;
	}
	ctl->nonce_fd = fd;
	return DR_EOK;
}

static void save_nonce_file(struct control *ctl)
{
	uint64_t last = atomic_load(&ctl->router.nonce_last);
	int rc;

	if (ctl->nonce_fd == -1) {
		return;
	}
	if (last > ctl->router.nonce_floor &&
	    (rc = curve_nonce_file_save(ctl->nonce_fd, last)) != DR_EOK) {
		log_err("control", "cannot save the DNSCurve nonce counter in %s (%s)",
			ctl->conf.curve.nonce_file, dr_strerror(rc));
	}
	close(ctl->nonce_fd);
	ctl->nonce_fd = -1;
}

static int create_workers(struct control *ctl)
{
	char err[CONF_ERR_LEN];

	ctl->nworkers = worker_count(&ctl->conf);
	if (open_nonce_file(ctl) != DR_EOK) {
		return DR_ECONF;
	}
	ctl->router.tcp_max_conns = ctl->conf.tcp_max_conns / ctl->nworkers;
	if (ctl->router.tcp_max_conns == 0) {
		ctl->router.tcp_max_conns = 1;
	}
	/* Each client prefix is steered to one worker, so the tables split the total. */
	ctl->router.limit_entries = ctl->conf.rrl.table_size / ctl->nworkers;
	raise_fd_limit(ctl);
	ctl->workers = calloc(ctl->nworkers, sizeof(*ctl->workers));
	if (ctl->workers == NULL) {
		log_err("control", "out of memory");
		return DR_ENOMEM;
	}
	for (unsigned i = 0; i < ctl->nworkers; i++) {
		ctl->workers[i] = worker_new(
			i, &ctl->router, ctl->conf.listen, ctl->conf.nlisten, worker_parts,
			sizeof(worker_parts) / sizeof(worker_parts[0]), err, sizeof(err));
		if (ctl->workers[i] == NULL) {
			log_err("control", "%s", err);
			return DR_ECONF;
		}
	}
	return DR_EOK;
}

/* Start the worker threads; the first snapshot is published. */
static int start_workers(struct control *ctl)
{
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
	save_nonce_file(ctl); /* every worker has said how far its counter went */
}

/* The poll timeout of the control loop: the collection interval, or less to keep systemd's
 * watchdog fed (every half of its interval, as sd_watchdog_enabled(3) advises). */
static int watchdog_wait(uint64_t *next_ms, uint64_t every_ms)
{
	uint64_t now = clock_now_ms();

	if (every_ms == 0) {
		return COLLECT_INTERVAL_MS;
	}
	if (now >= *next_ms) {
		sdnotify("WATCHDOG=1");
		*next_ms = now + every_ms;
	}
	return (int)(*next_ms - now < COLLECT_INTERVAL_MS ? *next_ms - now : COLLECT_INTERVAL_MS);
}

/* Serve signals until SIGTERM or SIGINT. */
static void control_loop(struct control *ctl, int sigfd)
{
	uint64_t watchdog_ms = sdnotify_watchdog_usec() / 2000, watchdog_next = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = sigfd, .events = POLLIN},
			{.fd = ctl->etcd_fd, .events = POLLIN}, /* -1: ignored */
		};
		struct signalfd_siginfo si;
		int n = poll(pfd, 2, watchdog_wait(&watchdog_next, watchdog_ms));

		if (n == -1 && errno != EINTR) {
			log_err("control", "poll failed (%s)", strerror(errno));
			return;
		}
		if (n <= 0) {
			/* Backends that left are freed once every worker closed its socket. */
			backend_registry_collect(&ctl->reg, ctl->router.snap->gen - 1);
			continue;
		}
		if (pfd[1].revents & POLLIN) {
			apply_etcd(ctl);
		}
		if (!(pfd[0].revents & POLLIN) || read(sigfd, &si, sizeof(si)) != sizeof(si)) {
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			reload(ctl);
		} else {
			sdnotify("STOPPING=1");
			log_info("control", "signal %u: stopping after the answers in flight",
				 si.ssi_signo);
			return;
		}
	}
}

static int hold_sighup(void)
{
	sigset_t hup;

	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	return pthread_sigmask(SIG_BLOCK, &hup, NULL) == 0 ? DR_EOK : DR_EINVAL;
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

/* etcd's settings with its files named as they are reached before and after the chroot. */
static const struct conf_etcd *etcd_conf_inner(const struct control *ctl, struct conf_etcd *e)
{
	*e = ctl->conf.etcd; /* borrows the endpoint strings */
	privs_path(&ctl->privs, ctl->conf.etcd.ca, e->ca, sizeof(e->ca));
	privs_path(&ctl->privs, ctl->conf.etcd.cert, e->cert, sizeof(e->cert));
	privs_path(&ctl->privs, ctl->conf.etcd.key, e->key, sizeof(e->key));
	return e;
}

/* With etcd configured, start following it. */
static int start_etcd(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	struct conf_etcd inner;

	if (ctl->conf.etcd.nendpoints == 0) {
		return DR_EOK;
	}
	ctl->etcd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctl->etcd_fd == -1) {
		log_err("control", "eventfd: %s", strerror(errno));
		return -errno;
	}
	ctl->etcd = etcd_new(etcd_conf_inner(ctl, &inner), ctl->etcd_fd, err, sizeof(err));
	if (ctl->etcd == NULL) {
		log_err("control", "%s", err);
		return DR_ECONF;
	}
	return DR_EOK;
}

/* Wait a little for etcd's first read, so that the router starts with etcd's routes when etcd
 * is there, and without them when it is not. */
static void wait_etcd(struct control *ctl)
{
	if (ctl->etcd == NULL) {
		return;
	}
	if (etcd_wait_first(ctl->etcd, ctl->conf.etcd.timeout_ms)) {
		ctl->etcd_set = etcd_take(ctl->etcd);
	} else {
		log_warn("control", "starting without etcd's routes; they follow once it answers");
	}
}

static int start_admin(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	char addr[SOCKADDR_STRLEN];

	if (ctl->conf.admin.sa.sa_family == 0) {
		return DR_EOK;
	}
	ctl->metrics = (struct metrics_source){&ctl->reg, ctl->workers, ctl->nworkers, ctl->etcd,
					       &ctl->router};
	ctl->admin = http_new(&ctl->conf, &ctl->metrics, err, sizeof(err));
	if (ctl->admin == NULL) {
		log_err("control", "%s", err);
		return DR_ECONF;
	}
	log_info("control", "admin endpoint on http://%s/",
		 sockaddr_format(&ctl->conf.admin, addr, sizeof(addr)));
	return DR_EOK;
}

static int run(struct control *ctl)
{
	char err[CONF_ERR_LEN];
	char addr[SOCKADDR_STRLEN];
	struct snapshot *snap;
	sigset_t set;
	int sigfd = -1, rc = DR_ECONF;

	/* Before any thread starts, so that every thread inherits the mask and only the
	 * signalfd sees SIGHUP and SIGTERM. */
	if (block_signals(&set) != DR_EOK || (sigfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1) {
		log_err("control", "cannot set up signals (%s)", strerror(errno));
		goto out;
	}
	/* Sockets first: the kernel queues what arrives until the workers run. */
	if (create_workers(ctl) != DR_EOK || start_dnstap(ctl) != DR_EOK ||
	    start_etcd(ctl) != DR_EOK || start_admin(ctl) != DR_EOK) {
		goto out;
	}
	if (drop_privileges(ctl) != DR_EOK) {
		goto out;
	}
	ctl->health = health_new(&ctl->reg, err, sizeof(err));
	if (ctl->health == NULL) {
		log_err("control", "%s", err);
		goto out;
	}
	wait_etcd(ctl);
	snap = build(ctl, &ctl->conf, err, sizeof(err));
	if (snap == NULL) {
		log_err("control", "%s", err);
		goto out;
	}
	rcu_assign_pointer(ctl->router.snap, snap);
	worker_steer(ctl->workers, ctl->nworkers, snap);
	rc = start_workers(ctl);
	if (rc != DR_EOK) {
		goto out;
	}
	for (size_t i = 0; i < ctl->conf.nlisten; i++) {
		log_info("control", "listening on %s (udp, tcp)",
			 sockaddr_format(&ctl->conf.listen[i], addr, sizeof(addr)));
	}
	log_info("control", "ready: %u workers, %u routes, %u backends", ctl->nworkers,
		 snap->nroutes, snap->nbackends);
	notify_ready(ctl, snap);
	control_loop(ctl, sigfd);
out:
	http_free(ctl->admin);
	ctl->admin = NULL;
	if (ctl->workers != NULL) {
		stop_workers(ctl);
	}
	tap_close(ctl->router.tap); /* after the workers: what they queued is written */
	ctl->router.tap = NULL;
	health_free(ctl->health);
	ctl->health = NULL;
	etcd_free(ctl->etcd);
	ctl->etcd = NULL;
	etcd_set_free(ctl->etcd_set);
	ctl->etcd_set = NULL;
	if (ctl->etcd_fd != -1) {
		close(ctl->etcd_fd);
	}
	if (sigfd != -1) {
		close(sigfd);
	}
	return rc == DR_EOK ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct control ctl;
	char err[CONF_ERR_LEN];
	int code;

	memset(&ctl, 0, sizeof(ctl));
	ctl.etcd_fd = -1;
	ctl.nonce_fd = -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "dnsrouter: cannot initialise libcurl\n");
		return 1;
	}
	log_detect_journal();
	code = parse_cli(&ctl.cli, argc, argv);
	if (code >= 0) {
		goto out;
	}
	if (curve_box_init() != DR_EOK) {
		fprintf(stderr, "dnsrouter: cannot initialise libsodium\n");
		code = 1;
		goto out;
	}
	if (ctl.cli.keygen != NULL) {
		code = keygen(ctl.cli.keygen);
		goto out;
	}
	/* A SIGHUP that comes while a large configuration is read would kill the process (its
	 * default action); held back, it becomes a reload once the signalfd is open. */
	if (hold_sighup() != DR_EOK) {
		fprintf(stderr, "dnsrouter: cannot block SIGHUP (%s)\n", strerror(errno));
		code = 1;
		goto out;
	}
	if (load_conf(&ctl.cli, &ctl.conf, err, sizeof(err)) != DR_EOK) {
		fprintf(stderr, "%s\n", err);
		code = 1;
		goto out;
	}
	/* Before any thread starts (it edits the environment) and before the chroot. */
	if (!ctl.cli.check_only && sdnotify_open(err, sizeof(err)) != DR_EOK) {
		log_warn("control", "%s: systemd will not hear from us", err);
	}
	if (privs_prepare(&ctl, err, sizeof(err)) != DR_EOK) {
		fprintf(stderr, "%s\n", err);
		code = 1;
		goto out;
	}
	if (backend_registry_init(&ctl.reg, ctl.cli.check_only ? 1 : worker_count(&ctl.conf)) !=
	    DR_EOK) {
		fprintf(stderr, "dnsrouter: out of memory\n");
		code = 1;
		goto out;
	}
	if (ctl.cli.check_only) {
		struct snapshot *s = snapshot_build(&ctl.conf, &ctl.reg, NULL, 1, err, sizeof(err));
		code = s != NULL ? 0 : 1;
		if (s == NULL) {
			fprintf(stderr, "%s\n", err);
		} else {
			printf("%s: configuration ok\n",
			       ctl.cli.conf_path ? ctl.cli.conf_path : "-");
		}
		snapshot_free(s);
		goto out;
	}
	code = run(&ctl);
	snapshot_free(ctl.router.snap);
out:
	conf_deinit(&ctl.conf);
	privs_deinit(&ctl.privs);
	if (ctl.reg.nworkers != 0) {
		backend_registry_deinit(&ctl.reg);
	}
	free(ctl.cli.listen);
	free(ctl.cli.entries);
	sdnotify_close();
	curl_global_cleanup();
	return code;
}
