/* SPDX-License-Identifier: MIT */
/* fuzz/fuzz_xfr.c -- a zone transfer's answer stream, as a backend's TCP connection brings it */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "wire/wire.h"
#include "wire/xfr.h"
#include "fuzz.h"

/* The first byte picks AXFR or IXFR; the rest is length-prefixed messages, as on TCP: for
 * an IXFR the query first, then the answers. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfr_track t;
	size_t pos = 1;

	if (size < 1) {
		return 0;
	}
	memset(&t, 0, sizeof(t));
	t.qtype = (data[0] & 1) ? WIRE_TYPE_IXFR : WIRE_TYPE_AXFR;
	/* The query's authority SOA, as the client sends it: here, the first frame. */
	if (t.qtype == WIRE_TYPE_IXFR && size - pos >= 2) {
		size_t len = wire_read_u16(data + pos);
		if (size - pos - 2 >= len) {
			xfr_track_query(&t, data + pos + 2, len);
			pos += 2 + len;
		}
	}
	while (size - pos >= 2) {
		size_t len = wire_read_u16(data + pos);
		uint64_t records = t.records;
		int verdict;

		pos += 2;
		if (len < WIRE_HDR_LEN || size - pos < len) {
			break;
		}
		verdict = xfr_track_message(&t, data + pos, len);
		CHECK(verdict == XFR_MORE || verdict == XFR_DONE || verdict == XFR_ERROR ||
		      verdict == DR_EMALF);
		/* Counts only grow, and never past what the message holds. */
		CHECK(t.records >= records);
		CHECK(t.records - records <= wire_read_u16(data + pos + WIRE_OFF_ANCOUNT));
		CHECK(t.soa_seen <= t.records);
		if (verdict != XFR_MORE) {
			break; /* the relay stops here too */
		}
		pos += len;
	}
	return 0;
}
