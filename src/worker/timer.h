/* SPDX-License-Identifier: MIT */
/* worker/timer.h -- a hashed timer wheel with millisecond ticks, one per worker */
#ifndef DR_WORKER_TIMER_H
#define DR_WORKER_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define TIMER_WHEEL_SLOTS 4096u /* a power of two; one turn spans 4.096 s */

struct worker;
struct timer;

/* What the owner of <t> does when it expires: set by the owner, called by the worker. */
typedef void (*timer_fire_fn)(struct worker *w, struct timer *t);

/* Embedded in whatever waits: an in-flight query, a TCP connection. */
struct timer {
	struct timer *next, *prev; /* NULL: not armed */
	uint64_t expire_ms;
	timer_fire_fn fire;
};

struct timer_wheel {
	struct timer slots[TIMER_WHEEL_SLOTS]; /* list heads */
	uint64_t now_ms;                       /* every slot before this time has been run */
	uint32_t armed;
};

/* Start <tw> at time <now_ms>. */
void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms);

/* Arm <t> to fire at <expire_ms> (re-arming an armed timer moves it). O(1). */
void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expire_ms);

/* Disarm <t>; harmless when it is not armed. O(1). */
void timer_disarm(struct timer_wheel *tw, struct timer *t);

static inline bool timer_armed(const struct timer *t)
{
	return t->next != NULL;
}

/* Take one timer due at <now_ms> or earlier off the wheel, disarmed, or NULL when none is due.
 * Timers come out in order of expiry to the millisecond, also after a jump of more than one
 * turn. A timer more than one turn away waits in its slot, passed over until its turn comes.
 * Calling it again within the same millisecond is cheap and returns what is due. */
struct timer *timer_expire_one(struct timer_wheel *tw, uint64_t now_ms);

#endif
