/* SPDX-License-Identifier: MIT */
/* backend/health.h -- active and passive health checks, on a thread of their own */
#ifndef DR_BACKEND_HEALTH_H
#define DR_BACKEND_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

struct health;

/* Start the checker over every backend of <reg>: each gets a check at once and then every
 * interval (its conf_health); answers must come within the timeout, with our ID and question
 * and an accepted rcode. <fall> failures in a row take a backend out (BE_UP cleared), <rise>
 * successes bring it back; the first check decides at once. Timeouts that workers count on live
 * traffic with no answer beside them are failures too. Returns NULL with <err>. */
struct health *health_new(struct backend_registry *reg, char *err, size_t len);

/* Stop the thread and free the checker (the backends stay). */
void health_free(struct health *h);

/* Look at the registry now: new backends get their first check without waiting for a tick. */
void health_kick(struct health *h);

/* Wait until each of the <n> backends in <bes> had its first check, at most <timeout_ms>.
 * Returns how many are still unchecked. */
uint32_t health_wait_checked(struct backend *const *bes, uint32_t n, uint32_t timeout_ms);

#endif
