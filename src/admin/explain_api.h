/* SPDX-License-Identifier: MIT */
/* admin/explain_api.h -- GET /api/v1/explain?name=NAME&type=TYPE */
#ifndef DR_ADMIN_EXPLAIN_API_H
#define DR_ADMIN_EXPLAIN_API_H

#include "admin/metrics.h"

/* The explanation of <name> (<type>: NULL for A) against the published snapshot, as JSON;
 * <*bad> set (and an error object returned) when the name or type cannot be read. The calling
 * thread registers with RCU for the moment it reads. Returns a string to free(), or NULL. */
char *explain_api_json(const struct metrics_source *src, const char *name, const char *type,
		       bool *bad);

#endif
