/* SPDX-License-Identifier: MIT */
/* wire/edns.c -- find the OPT record (RFC 6891) of a message */
#include "common/err.h"
#include "wire/edns.h"

int edns_find_opt(const uint8_t *msg, size_t len, const struct wire_question *q,
		  struct wire_opt *opt)
{
	unsigned records = (unsigned)wire_read_u16(msg + WIRE_OFF_ANCOUNT) +
			   wire_read_u16(msg + WIRE_OFF_NSCOUNT) +
			   wire_read_u16(msg + WIRE_OFF_ARCOUNT);
	unsigned first_additional = records - wire_read_u16(msg + WIRE_OFF_ARCOUNT);
	size_t pos = q->end;

	opt->present = false;
	for (unsigned i = 0; i < records; i++) {
		size_t start = pos;
		if (wire_skip_name(msg, len, &pos) != DR_EOK || pos + 10 > len) {
			return DR_EMALF;
		}
		uint16_t type = wire_read_u16(msg + pos);
		uint16_t rdlen = wire_read_u16(msg + pos + 8);
		if (i >= first_additional && type == WIRE_TYPE_OPT && msg[start] == 0) {
			if (opt->present) {
				return DR_EMALF;
			}
			opt->present = true;
			opt->udp_size = wire_read_u16(msg + pos + 2);
			opt->version = msg[pos + 5];
			opt->dnssec_ok = (msg[pos + 6] & 0x80) != 0;
			opt->offset = (uint16_t)start;
		}
		pos += 10u + rdlen;
		if (pos > len) {
			return DR_EMALF;
		}
	}
	return DR_EOK;
}
