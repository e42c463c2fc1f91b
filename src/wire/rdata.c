/* SPDX-License-Identifier: MIT */
/* wire/rdata.c -- reading the data of records */
#include "common/err.h"
#include "wire/wire.h"

int wire_soa_serial(const uint8_t *msg, size_t len, size_t rdata, size_t rdlen, uint32_t *serial)
{
	size_t end = rdata + rdlen, pos = rdata;

	/* MNAME and RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM. */
	if (end > len || wire_skip_name(msg, end, &pos) != DR_EOK ||
	    wire_skip_name(msg, end, &pos) != DR_EOK || pos + 20 > end) {
		return DR_EMALF;
	}
	*serial = (uint32_t)wire_read_u16(msg + pos) << 16 | wire_read_u16(msg + pos + 2);
	return DR_EOK;
}
