/* SPDX-License-Identifier: MIT */
/* wire/edns.h -- find the OPT record (RFC 6891) of a message */
#ifndef DR_WIRE_EDNS_H
#define DR_WIRE_EDNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct wire_opt {
	bool present;
	bool dnssec_ok;
	uint8_t version;
	uint16_t udp_size;
	uint16_t offset; /* where the OPT RR starts */
};

/* Walk the answer, authority and additional sections of <msg> (<len> bytes) after the
 * question <q> and describe its OPT record in <opt>. Returns DR_EOK (with opt->present false
 * when there is none) or DR_EMALF when a record runs past the message or there are two OPT
 * records (RFC 6891 §6.1.1: FORMERR). */
int edns_find_opt(const uint8_t *msg, size_t len, const struct wire_question *q,
		  struct wire_opt *opt);

#endif
