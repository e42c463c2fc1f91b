/* SPDX-License-Identifier: MIT */
/* limit/bucket.c -- token buckets by 64-bit key in a table of fixed size, oldest evicted first */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "limit/bucket.h"

#define BUCKET_ENTRIES_MAX (1u << 28)
#define NONE UINT32_MAX

/* One event costs this much: balances are in milli-tokens, so that a refill of <rate> tokens a
 * second is exactly <rate> milli-tokens a millisecond and never loses a remainder. */
#define MILLI 1000

/* 40 bytes. Links are 32-bit indices, not pointers, which halves them; the hash chain stores
 * index + 1 so that the zero-filled pages of a fresh mapping already read as empty chains. */
struct bucket {
	uint64_t key;
	int64_t balance;  /* milli-tokens: burst * 1000 down to -debt * 1000 */
	uint64_t last_ms; /* last refill */
	uint32_t prev;    /* LRU neighbour charged more recently, NONE at the head */
	uint32_t next;    /* LRU neighbour charged less recently, NONE at the tail */
	uint32_t hnext;   /* next in the hash chain, index + 1; 0 ends it */
	uint32_t over;    /* events over the limit in a row */
};

struct bucket_table {
	struct bucket *b;
	uint32_t *heads; /* per hash slot: first bucket of the chain, index + 1; 0 when empty */
	size_t map_len;
	uint64_t seed;
	uint32_t entries;
	uint32_t mask; /* hash slots - 1 */
	uint32_t head; /* charged most recently */
	uint32_t tail; /* charged least recently: evicted next */
	_Atomic uint32_t count;
};

/* At least one slot per bucket keeps chains at about one entry, for 4 to 8 bytes a bucket. */
static uint32_t slots_for(uint32_t entries)
{
	uint32_t n = 1;

	while (n < entries) {
		n <<= 1;
	}
	return n;
}

static size_t map_len_for(uint32_t entries)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (size_t)entries * sizeof(struct bucket) + (size_t)slots_for(entries) * 4;

	return (len + page - 1) / page * page;
}

size_t bucket_table_bytes(uint32_t entries)
{
	if (entries == 0 || entries > BUCKET_ENTRIES_MAX) {
		return 0;
	}
	return sizeof(struct bucket_table) + map_len_for(entries);
}

struct bucket_table *bucket_table_new(uint32_t entries, uint64_t seed)
{
	struct bucket_table *t;
	void *map;

	if (entries == 0 || entries > BUCKET_ENTRIES_MAX) {
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		return NULL;
	}
	/* MAP_NORESERVE: a table sized for a flood costs nothing until the flood comes, and
	 * anonymous pages arrive zeroed, which is the empty state of every hash slot. */
	t->map_len = map_len_for(entries);
	map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		free(t);
		return NULL;
	}
	t->b = map;
	t->heads = (uint32_t *)(t->b + entries);
	t->seed = seed;
	t->entries = entries;
	t->mask = slots_for(entries) - 1;
	t->head = NONE;
	t->tail = NONE;
	atomic_init(&t->count, 0);
	return t;
}

void bucket_table_free(struct bucket_table *t)
{
	if (t == NULL) {
		return;
	}
	munmap(t->b, t->map_len);
	free(t);
}

uint32_t bucket_table_count(const struct bucket_table *t)
{
	return atomic_load_explicit(&t->count, memory_order_relaxed);
}

/* splitmix64's finalizer over the key xor the secret seed: a client that picks its address or
 * its qnames cannot know which keys share a slot, so it cannot build long chains. */
static inline uint32_t slot_of(const struct bucket_table *t, uint64_t key)
{
	uint64_t x = key ^ t->seed;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (uint32_t)x & t->mask;
}

static uint32_t find(const struct bucket_table *t, uint64_t key, uint32_t slot)
{
	for (uint32_t i = t->heads[slot]; i != 0; i = t->b[i - 1].hnext) {
		if (t->b[i - 1].key == key) {
			return i - 1;
		}
	}
	return NONE;
}

bool bucket_table_has(const struct bucket_table *t, uint64_t key)
{
	return find(t, key, slot_of(t, key)) != NONE;
}

static void lru_unlink(struct bucket_table *t, uint32_t i)
{
	struct bucket *e = &t->b[i];

	if (e->prev != NONE) {
		t->b[e->prev].next = e->next;
	} else {
		t->head = e->next;
	}
	if (e->next != NONE) {
		t->b[e->next].prev = e->prev;
	} else {
		t->tail = e->prev;
	}
}

static void lru_push_head(struct bucket_table *t, uint32_t i)
{
	struct bucket *e = &t->b[i];

	e->prev = NONE;
	e->next = t->head;
	if (t->head != NONE) {
		t->b[t->head].prev = i;
	} else {
		t->tail = i;
	}
	t->head = i;
}

/* Take bucket <i> out of its hash chain. Chains are singly linked and about one long. */
static void chain_unlink(struct bucket_table *t, uint32_t i)
{
	uint32_t *link = &t->heads[slot_of(t, t->b[i].key)];

	while (*link != i + 1) {
		link = &t->b[*link - 1].hnext;
	}
	*link = t->b[i].hnext;
}

/* The bucket to reuse for a new key: the next never-used one, else the least recently charged
 * (unlinked from both lists). */
static uint32_t take_free(struct bucket_table *t)
{
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	uint32_t i;

	if (n < t->entries) {
		atomic_store_explicit(&t->count, n + 1, memory_order_relaxed);
		return n;
	}
	i = t->tail;
	lru_unlink(t, i);
	chain_unlink(t, i);
	return i;
}

/* Add what <elapsed> ms at <rate> tokens/s bring to <bal>, capped at <cap> (milli-tokens). */
static int64_t refill(int64_t bal, uint64_t elapsed, uint32_t rate, int64_t cap)
{
	if (bal >= cap || elapsed == 0 || rate == 0) {
		return bal < cap ? bal : cap;
	}
	/* Test before multiplying: a bucket idle for days would overflow elapsed * rate. */
	if (elapsed > (uint64_t)(cap - bal) / rate) {
		return cap;
	}
	return bal + (int64_t)(elapsed * rate);
}

uint32_t bucket_charge(struct bucket_table *t, uint64_t key, uint64_t now_ms, uint32_t rate,
		       uint32_t burst, uint32_t debt)
{
	int64_t cap = (int64_t)burst * MILLI, low = -(int64_t)debt * MILLI;
	uint32_t slot = slot_of(t, key);
	uint32_t i = find(t, key, slot);
	struct bucket *e;

	if (i != NONE) {
		e = &t->b[i];
		lru_unlink(t, i);
		/* A clock that steps back must not refill anything, nor later refill twice. */
		if (now_ms > e->last_ms) {
			e->balance = refill(e->balance, now_ms - e->last_ms, rate, cap);
			e->last_ms = now_ms;
		} else {
			e->balance = refill(e->balance, 0, rate, cap);
		}
	} else {
		i = take_free(t);
		e = &t->b[i];
		e->key = key;
		e->balance = cap;
		e->last_ms = now_ms;
		e->over = 0;
		e->hnext = t->heads[slot];
		t->heads[slot] = i + 1;
	}
	lru_push_head(t, i);

	if (e->balance >= MILLI) {
		e->balance -= MILLI;
		e->over = 0;
		return 0;
	}
	/* With no debt allowed this is a plain token bucket: a refused event costs nothing, or a
	 * source just above the rate, finding 0.9 of a token each time, would get nothing. */
	if (debt != 0) {
		e->balance = e->balance - MILLI > low ? e->balance - MILLI : low;
	}
	if (e->over != UINT32_MAX) { /* saturate: wrapping to 0 would read as "within" */
		e->over++;
	}
	return e->over;
}

uint64_t bucket_prefix_key(const union sockaddr_any *sa, unsigned v4_bits, unsigned v6_bits)
{
	if (sa->sa.sa_family == AF_INET) {
		const uint8_t *a = (const uint8_t *)&sa->sin.sin_addr;
		uint32_t addr =
			(uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
		unsigned bits = v4_bits < 1 ? 1 : v4_bits > 32 ? 32 : v4_bits;
		uint32_t mask = bits == 32 ? UINT32_MAX : ~(UINT32_MAX >> bits);

		return 1ull << 32 | (addr & mask);
	}
	if (sa->sa.sa_family == AF_INET6) {
		const uint8_t *a = sa->sin6.sin6_addr.s6_addr;
		unsigned bits = v6_bits < 1 ? 1 : v6_bits > 64 ? 64 : v6_bits;
		uint64_t hi = 0;

		for (unsigned k = 0; k < 8; k++) {
			hi = hi << 8 | a[k];
		}
		return bits == 64 ? hi : hi & ~(UINT64_MAX >> bits);
	}
	return 0;
}
