/* SPDX-License-Identifier: MIT */
/* front/curve.h -- the DNSCurve front: boxed queries opened on the UDP and TCP listeners into
 * plain ones, routed like any other, and their answers boxed back */
#ifndef DR_FRONT_CURVE_H
#define DR_FRONT_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"
#include "curve/format.h"
#include "wire/wire.h"
#include "worker/worker.h"

/* What a DNSCurve query leaves for its answer. It travels with the query: in the in-flight
 * slot's front state over UDP, in the job over TCP. */
struct curve_session {
	uint8_t shared[CURVE_KEY_LEN];
	uint8_t client_nonce[CURVE_HALF_NONCE];
	uint8_t format;   /* enum curve_format */
	bool rd;          /* TXT: the outer query's RD */
	uint16_t id;      /* TXT: the outer query's ID */
	uint16_t udp_max; /* the most the client takes over UDP, wrapping included; 0: TCP */
	uint16_t question_len;
	uint8_t question[WIRE_NAME_MAX + 4]; /* TXT: the outer question, repeated in the answer */
};

_Static_assert(sizeof(struct curve_session) <= FRONT_STATE_MAX, "a session fits a slot");

/* The worker part: each worker's shared-key cache, nonce counter and fresh-key budget. */
extern const struct worker_part curve_front;

/* Whether DNSCurve is detected on listener <ls_idx> under the worker's current snapshot. */
bool curve_front_on(struct worker *w, uint32_t ls_idx);

/* Open the DNSCurve query of <len> bytes at <pkt> (whose shape curve_detect() recognised)
 * from <client>, over TCP when <tcp>, into the plain query it carries, written over <pkt>
 * (a buffer of <cap> bytes) with its padding stripped and its EDNS size lowered by the
 * wrapping, its length in *<inner_len>; <cs> is what its answer needs. Returns DR_EOK, or an
 * error after counting why the query is dropped (no answer can be sent without its key):
 * malformed, no configured key opens the box, or over the fresh-key budget. */
int curve_front_open(struct worker *w, uint8_t *pkt, size_t len, size_t cap, bool tcp,
		     const union sockaddr_any *client, size_t *inner_len, struct curve_session *cs);

/* Box the answer <msg> of <len> bytes (writable; at least a header) for the session <cs>.
 * An answer the client's UDP limit cannot take becomes our TC=1 answer first, so the
 * client asks again over TCP. Returns the length of the message to send, written to a buffer
 * *<out> of the worker's that stays valid until the next tx_flush(), or 0 to send nothing. */
size_t curve_front_seal(struct worker *w, const struct curve_session *cs, uint8_t *msg, size_t len,
			uint8_t **out);

/* The last server nonce counter this worker used, to be kept across a restart. */
uint64_t curve_front_nonce_last(const struct worker *w);

#endif
