/* SPDX-License-Identifier: MIT */
/* backend/serials.c -- the serial a sharded zone is served at, and which backends are stale
 *
 * Every shard of a zone must answer from one version of it: a shard at a newer serial can
 * deny a name another still serves, and a validator then holds both proofs. The zone's target
 * is the route's pinned `serial`, or else the newest serial at which every shard has a live
 * backend. Shard backends at another serial are stale and leave their pools, so a zone moves
 * to a new serial when its last shard has a backend there. With no target (each shard has one
 * backend and a reload is half-way), nothing is marked and the zone is said to be mixed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/serials.h"
#include "common/log.h"
#include "wire/wire.h"

/* RFC 1982 §3.2: whether serial <a> is newer than <b>. */
static bool serial_newer(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

/* Whether <be> answers queries now, so it counts toward a serial's completeness. */
static bool serving(const struct backend *be)
{
	return (atomic_load(&be->state) & (BE_UP | BE_DRAINED)) == BE_UP && be->serial_known;
}

/* Whether every shard of the zone has a serving backend among the <n> <members> at <serial>.
 * <seen> has a bit for each shard. */
static bool complete_at(struct backend *const *members, size_t n, uint32_t serial, uint8_t *seen)
{
	uint32_t count = members[0]->shard.count, covered = 0;

	memset(seen, 0, (count + 7) / 8);
	for (size_t i = 0; i < n; i++) {
		const struct backend *be = members[i];
		uint32_t idx = be->shard.index;
		if (serving(be) && be->serial == serial && idx < count &&
		    !(seen[idx / 8] & (1u << (idx % 8)))) {
			seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
			covered++;
		}
	}
	return covered == count;
}

/* The zone's target serial in <target>; false when it has none. */
static bool target_of(struct backend *const *members, size_t n, uint8_t *seen, uint32_t *target)
{
	bool found = false;

	if (members[0]->shard.pinned) {
		*target = members[0]->shard.serial;
		return true;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t s = members[i]->serial;
		if (!serving(members[i]) || (found && !serial_newer(s, *target))) {
			continue;
		}
		if (complete_at(members, n, s, seen)) {
			*target = s;
			found = true;
		}
	}
	return found;
}

/* What the log said of a zone's target last. */
enum { SAID_NOTHING, SAID_TARGET, SAID_MIXED };

static void mark(struct backend *be, bool stale, const char *zone, uint32_t target)
{
	uint32_t old = stale ? atomic_fetch_or(&be->state, BE_STALE)
			     : atomic_fetch_and(&be->state, ~(uint32_t)BE_STALE);

	if (stale && !(old & BE_STALE)) {
		log_info("health",
			 "backend %s of zone %s serves serial %u, not the zone's %u: "
			 "out of its pool",
			 be->name, zone, be->serial, target);
	} else if (!stale && (old & BE_STALE)) {
		log_info("health", "backend %s of zone %s is back in its pool (serial %u)",
			 be->name, zone, be->serial);
	}
}

/* Say once when the zone's target changes, or when it has none. */
static void say_target(struct backend *const *members, size_t n, const char *zone, bool found,
		       uint32_t target)
{
	struct backend *lead = members[0];

	uint8_t said = found ? SAID_TARGET : SAID_MIXED;

	if (lead->serial_said == said && (!found || lead->said_target == target)) {
		return;
	}
	if (found) {
		log_info("health", "zone %s is served at serial %u by all %u shards", zone, target,
			 lead->shard.count);
	} else {
		log_warn("health",
			 "zone %s has no serial that every shard serves: answering from "
			 "every live backend, of mixed serials",
			 zone);
	}
	for (size_t i = 0; i < n; i++) {
		members[i]->serial_said = said;
		members[i]->said_target = target;
	}
}

static void settle_members(struct backend *const *members, size_t n, uint8_t *seen)
{
	char zone[WIRE_NAME_TEXT_MAX];
	uint32_t target = 0;
	bool found = target_of(members, n, seen, &target), any_serial = false;

	if (wire_name_to_text(members[0]->shard.apex, zone, sizeof(zone)) < 0) {
		snprintf(zone, sizeof(zone), "?");
	}
	for (size_t i = 0; i < n; i++) {
		struct backend *be = members[i];
		mark(be, found && be->serial_known && be->serial != target, zone, target);
		any_serial |= be->serial_known;
	}
	if (any_serial) { /* checks that are off find no serial: nothing to say */
		say_target(members, n, zone, found, target);
	}
}

/* Gather the current shard backends of <be>'s zone into <members> (room for every slot),
 * stamping them with <pass>. */
static size_t gather(struct backend_registry *reg, const struct backend *be, uint32_t pass,
		     struct backend **members)
{
	size_t n = 0;

	for (uint32_t i = 0; i < reg->cap; i++) {
		struct backend *m = reg->slots[i];
		if (m != NULL && m->shard.count > 0 && m->shard.zone_id == be->shard.zone_id &&
		    backend_current(reg, m)) {
			m->settle_pass = pass;
			members[n++] = m;
		}
	}
	return n;
}

static void settle_one(struct backend_registry *reg, struct backend *be, uint32_t pass)
{
	struct backend **members = malloc(reg->cap * sizeof(*members));
	uint8_t *seen = malloc((be->shard.count + 7) / 8);
	size_t n;

	if (members == NULL || seen == NULL) {
		log_warn("health", "out of memory settling a sharded zone's serial");
	} else if ((n = gather(reg, be, pass, members)) > 0) {
		settle_members(members, n, seen);
	}
	free(members);
	free(seen);
}

/* Stamps each settling pass leaves on the backends it looked at. Only the health thread
 * settles, under the registry lock. */
static uint32_t pass;

void serials_settle_zone(struct backend_registry *reg, struct backend *be)
{
	if (be->shard.count > 0 && backend_current(reg, be)) {
		settle_one(reg, be, ++pass);
	}
}

void serials_settle(struct backend_registry *reg)
{
	pass++;
	for (uint32_t i = 0; i < reg->cap; i++) {
		struct backend *be = reg->slots[i];
		if (be == NULL) {
			continue;
		}
		if (be->shard.count == 0 || !backend_current(reg, be)) {
			if (atomic_load(&be->state) & BE_STALE) {
				atomic_fetch_and(&be->state, ~(uint32_t)BE_STALE);
			}
		} else if (be->settle_pass != pass) {
			settle_one(reg, be, pass);
		}
	}
}
