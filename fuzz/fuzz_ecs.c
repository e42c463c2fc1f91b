/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_ecs.c -- EDNS Client Subnet added to a query, then undone on it as an answer */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "wire/ecs.h"
#include "wire/edns.h"
#include "wire/wire.h"
#include "fuzz.h"

/* The input: PARAM_LEN bytes of parameters, then the message. */
enum {
	P_FLAGS = 0, /* 1: override, 2: IPv6, 4: IPv4-mapped IPv6 */
	P_V4_BITS = 1,
	P_V6_BITS = 2,
	P_SLACK = 3, /* room after the message */
	P_ADDR = 4,  /* 16 bytes */
	PARAM_LEN = 20,
};

static union sockaddr_any client_of(const uint8_t *p)
{
	union sockaddr_any sa;

	memset(&sa, 0, sizeof(sa));
	if (p[P_FLAGS] & 2) {
		sa.sin6.sin6_family = AF_INET6;
		memcpy(sa.sin6.sin6_addr.s6_addr, p + P_ADDR, 16);
		if (p[P_FLAGS] & 4) {
			memset(sa.sin6.sin6_addr.s6_addr, 0, 10);
			memset(sa.sin6.sin6_addr.s6_addr + 10, 0xff, 2);
		}
	} else {
		sa.sin.sin_family = AF_INET;
		memcpy(&sa.sin.sin_addr, p + P_ADDR, 4);
	}
	return sa;
}

/* The edited query <buf> (<len> bytes) of the original <msg> (<size> bytes): same header but
 * ARCOUNT, same question, one OPT, and our option in it (adding it again replaces it by
 * itself, or keeps it). */
static void check_edited(const uint8_t *msg, size_t size, uint8_t *buf, size_t len, size_t cap,
			 const union sockaddr_any *client, unsigned v4_bits, unsigned v6_bits,
			 const struct ecs_undo *undo)
{
	struct wire_question q0, q1;
	struct wire_opt opt;
	struct ecs_undo again;
	unsigned ar0 = wire_read_u16(msg + WIRE_OFF_ARCOUNT);
	int parsed = wire_parse_question(msg, size, &q0) == DR_EOK;
	size_t n = len;
	long ours = (long)len - (long)size; /* the length of our option */

	CHECK(memcmp(buf, msg, WIRE_OFF_ARCOUNT) == 0);
	CHECK(wire_read_u16(buf + WIRE_OFF_ARCOUNT) == ar0 + (undo->edit == ECS_ADDED_OPT));
	CHECK((wire_parse_question(buf, len, &q1) == DR_EOK) == parsed);
	if (parsed) {
		CHECK(q1.end == q0.end &&
		      memcmp(buf + WIRE_HDR_LEN, msg + WIRE_HDR_LEN, q0.end - WIRE_HDR_LEN) == 0);
		CHECK(edns_find_opt(buf, len, &q1, &opt) == DR_EOK && opt.present);
	}
	CHECK(undo->edit != ECS_REPLACED ||
	      (undo->client_len >= 4 && undo->client_len <= ECS_OPTION_MAX));
	ours += undo->edit == ECS_REPLACED ? undo->client_len : 0;
	ours -= undo->edit == ECS_ADDED_OPT ? 11 : 0;
	CHECK(ours >= 8 && ours <= ECS_OPTION_MAX);

	uint8_t *copy = malloc(cap);
	if (copy == NULL) {
		return;
	}
	memcpy(copy, buf, len);
	CHECK(ecs_add(copy, &n, cap, client, v4_bits, v6_bits, true, &again) == DR_EOK);
	CHECK(again.edit == ECS_REPLACED && again.client_len == ours);
	CHECK(n == len && memcmp(copy, buf, len) == 0);
	CHECK(ecs_add(copy, &n, cap, client, v4_bits, v6_bits, false, &again) == DR_EOK);
	CHECK(again.edit == ECS_KEPT && n == len && memcmp(copy, buf, len) == 0);
	free(copy);
}

/* Undo on the edited query as if it were the answer: the original comes back, but for the
 * client's SCOPE when ours replaced it: ours (0) for one family, the client's source prefix
 * across families. */
static void check_undone(const uint8_t *msg, size_t size, uint8_t *buf, size_t len, size_t cap,
			 const struct ecs_undo *undo)
{
	size_t diff = 0;

	CHECK(ecs_undo(buf, &len, cap, undo) == DR_EOK);
	CHECK(len == size);
	for (size_t i = 0; i < size; i++) {
		if (buf[i] != msg[i]) {
			CHECK(undo->edit == ECS_REPLACED && undo->client_len > 7 &&
			      (buf[i] == 0 || buf[i] == undo->client_opt[6]));
			diff++;
		}
	}
	CHECK(diff <= 1);
}

/* Undo an edit named by the parameters on the raw input, taken as an answer. */
static void undo_raw(const uint8_t *msg, size_t size, size_t cap, const uint8_t *p)
{
	struct ecs_undo u;
	uint8_t *buf = malloc(cap);
	size_t len = size, again;
	int rc;

	if (buf == NULL) {
		return;
	}
	memset(&u, 0, sizeof(u));
	u.edit = (uint8_t)((p[P_FLAGS] >> 3) % 5);
	u.client_len = (uint8_t)(4 + p[P_ADDR] % 17); /* up to the 16 address bytes */
	wire_write_u16(u.client_opt, ECS_OPTION_CODE);
	wire_write_u16(u.client_opt + 2, (uint16_t)(u.client_len - 4));
	memcpy(u.client_opt + 4, p + P_ADDR, u.client_len - 4u);
	memcpy(buf, msg, size);
	rc = ecs_undo(buf, &len, cap, &u);
	CHECK(rc == DR_EOK || rc == DR_ESPACE || rc == DR_EMALF);
	CHECK(len <= cap);
	if (rc != DR_EOK || u.edit == ECS_NONE || u.edit == ECS_KEPT) {
		CHECK(len == size && memcmp(buf, msg, size) == 0);
	} else if (u.edit != ECS_REPLACED) {
		/* removing twice removes nothing more */
		again = len;
		CHECK(ecs_undo(buf, &again, cap, &u) == DR_EOK && again == len);
		CHECK(wire_read_u16(buf + WIRE_OFF_ARCOUNT) + 1u >=
		      wire_read_u16(msg + WIRE_OFF_ARCOUNT));
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *msg = data + PARAM_LEN;
	union sockaddr_any client;
	struct ecs_undo undo;
	size_t cap, len;
	unsigned v4_bits, v6_bits;
	uint8_t *buf;
	int rc;

	if (size < PARAM_LEN) {
		return 0;
	}
	size -= PARAM_LEN;
	cap = size + p[P_SLACK];
	client = client_of(p);
	undo_raw(msg, size, cap ? cap : 1, p);

	buf = malloc(cap ? cap : 1);
	if (buf == NULL) {
		return 0;
	}
	memcpy(buf, msg, size);
	len = size;
	v4_bits = p[P_V4_BITS] % 34; /* 33: DR_EINVAL */
	v6_bits = p[P_V6_BITS] % 130;
	rc = ecs_add(buf, &len, cap, &client, v4_bits, v6_bits, p[P_FLAGS] & 1, &undo);
	CHECK(rc == DR_EOK || rc == DR_ESPACE || rc == DR_EMALF || rc == DR_EINVAL);
	CHECK(len <= cap && len <= WIRE_TCP_MSG_MAX);
	CHECK(rc == DR_EOK || undo.edit == ECS_NONE);
	if (undo.edit == ECS_NONE || undo.edit == ECS_KEPT) {
		CHECK(len == size && memcmp(buf, msg, size) == 0);
	} else {
		check_edited(msg, size, buf, len, cap, &client, v4_bits, v6_bits, &undo);
		check_undone(msg, size, buf, len, cap, &undo);
	}
	free(buf);
	return 0;
}
