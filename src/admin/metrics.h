/* SPDX-License-Identifier: MIT */
/* admin/metrics.h -- what the admin endpoint shows: counters summed over workers, as
 * Prometheus text and JSON */
#ifndef DR_ADMIN_METRICS_H
#define DR_ADMIN_METRICS_H

#include "backend/backend.h"
#include "discovery/etcd.h"
#include "route/route.h"
#include "worker/worker.h"

/* What the admin thread may read: the registry (under its lock) and the workers' counters
 * (atomics with one writer each). */
struct metrics_source {
	struct backend_registry *reg;
	struct worker *const *workers;
	unsigned nworkers;
	struct etcd *etcd;     /* NULL: no etcd configured */
	struct router *router; /* the published snapshot, read under RCU */
};

/* The Prometheus text exposition. Returns a string to free(), or NULL when out of memory. */
char *metrics_prometheus(const struct metrics_source *src);

/* GET /api/v1/backends: a JSON array. Returns a string to free(), or NULL. */
char *metrics_backends_json(const struct metrics_source *src);

/* GET /api/v1/routes: the published snapshot's routes as a JSON array. The calling thread
 * registers with RCU for the moment it reads. Returns a string to free(), or NULL. */
char *metrics_routes_json(const struct metrics_source *src);

/* GET /api/v1/limits: the global access rules <acl> (borrowed), and the query limit, RRL and
 * TCP limits of the published snapshot (absent while starting), each with what it did. The
 * calling thread registers with RCU for the moment it reads. Returns a string to free(), or
 * NULL. */
char *metrics_limits_json(const struct metrics_source *src, const struct conf_acl *acl);

#endif
