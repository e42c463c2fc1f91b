/* SPDX-License-Identifier: MIT */
/* discovery/etcd.h -- follow a key prefix in etcd (v3 JSON gateway) on a thread of its own */
#ifndef DR_DISCOVERY_ETCD_H
#define DR_DISCOVERY_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "discovery/etcd_keys.h"

struct etcd_status {
	bool up;           /* the last request to etcd succeeded */
	uint64_t revision; /* of the data we hold */
	uint64_t keys;     /* valid entries */
	uint64_t invalid;  /* keys whose value was skipped */
	uint64_t age_ms;   /* since the data was last known current */
};

struct etcd;

/* Follow <c>'s prefix: one range read, then a watch from the revision after it; on a lost
 * watch or a compacted revision, a full read again; endpoints in turn with backoff while etcd is
 * unreachable. Every change is published as a new set, and <notify_fd> (an eventfd) is written.
 * Returns NULL with <err>. */
struct etcd *etcd_new(const struct conf_etcd *c, int notify_fd, char *err, size_t len);

/* Stop the thread (within about a second) and free. */
void etcd_free(struct etcd *e);

/* The newest set if one was published since the last call, else NULL. Free with
 * etcd_set_free. */
struct etcd_set *etcd_take(struct etcd *e);

/* Wait until the first set is published or <timeout_ms> passed. True when published. */
bool etcd_wait_first(struct etcd *e, uint32_t timeout_ms);

/* The state for metrics; safe from any thread. */
void etcd_status(struct etcd *e, struct etcd_status *st);

#endif
