/* SPDX-License-Identifier: MIT */
/* worker/timer.c -- a hashed timer wheel with millisecond ticks, one per worker */
#include <stddef.h>

#include "worker/timer.h"

void timer_wheel_init(struct timer_wheel *tw, uint64_t now_ms)
{
	for (unsigned i = 0; i < TIMER_WHEEL_SLOTS; i++) {
		tw->slots[i].next = tw->slots[i].prev = &tw->slots[i];
	}
	tw->now_ms = now_ms;
	tw->armed = 0;
}

void timer_disarm(struct timer_wheel *tw, struct timer *t)
{
	if (t->next == NULL) {
		return;
	}
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = NULL;
	tw->armed--;
}

void timer_arm(struct timer_wheel *tw, struct timer *t, uint64_t expire_ms)
{
	struct timer *head;

	timer_disarm(tw, t);
	/* A time already past goes in the slot run next, so it still fires. */
	if (expire_ms < tw->now_ms) {
		expire_ms = tw->now_ms;
	}
	t->expire_ms = expire_ms;
	head = &tw->slots[expire_ms & (TIMER_WHEEL_SLOTS - 1)];
	t->prev = head->prev;
	t->next = head;
	head->prev->next = t;
	head->prev = t;
	tw->armed++;
}

struct timer *timer_expire_one(struct timer_wheel *tw, uint64_t now_ms)
{
	/* Walk the wheel one millisecond at a time up to <now_ms>. A slot holds the timers of
	 * every turn, so only those due at the slot's own time fire: that keeps the order exact
	 * even after a sleep longer than a turn, at the cost of one visit per millisecond slept
	 * (a worker sleeps at most a second while anything is armed). */
	while (tw->armed > 0 && tw->now_ms <= now_ms) {
		struct timer *head = &tw->slots[tw->now_ms & (TIMER_WHEEL_SLOTS - 1)];
		for (struct timer *t = head->next; t != head; t = t->next) {
			if (t->expire_ms <= tw->now_ms) {
				timer_disarm(tw, t);
				return t;
			}
		}
		tw->now_ms++;
	}
	if (tw->armed == 0 && tw->now_ms <= now_ms) {
		tw->now_ms = now_ms + 1; /* nothing waits: skip the empty slots */
	}
	return NULL;
}
