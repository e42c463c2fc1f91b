/* SPDX-License-Identifier: MIT */
/* tap/encode.h -- one dnstap message (dnstap.proto, protobuf wire format) */
#ifndef DR_TAP_ENCODE_H
#define DR_TAP_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sockaddr.h"

/* Message.Type values of dnstap.proto. */
enum tap_type {
	TAP_CLIENT_QUERY = 5,
	TAP_CLIENT_RESPONSE = 6,
	TAP_FORWARDER_QUERY = 7,
	TAP_FORWARDER_RESPONSE = 8,
};

/* One event: who asked whom, when, over what, and the DNS message. */
struct tap_event {
	enum tap_type type;
	bool tcp;
	const union sockaddr_any *query_addr;    /* the side that sent the query; may be NULL */
	const union sockaddr_any *response_addr; /* the side that answers it; may be NULL */
	uint64_t sec;                            /* when (CLOCK_REALTIME) */
	uint32_t nsec;
	const uint8_t *msg; /* the DNS message: the query, or the response */
	size_t len;
	int32_t id; /* the DNS ID to show when the message does not carry it yet; -1: its own */
	const char *identity; /* Dnstap.identity and version; NULL: left out */
	const char *version;
	const char *extra; /* Dnstap.extra ("dnscurve" for the inner message of a box); NULL */
};

/* The Dnstap protobuf of <e> in <out> (room for tap_encode_max(e) bytes); returns its
 * length. */
size_t tap_encode(const struct tap_event *e, uint8_t *out);
size_t tap_encode_max(const struct tap_event *e);

#endif
