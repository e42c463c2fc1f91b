/* SPDX-License-Identifier: MIT */
/* bench/curveperf/qlist.c -- the query list: dnsperf's data file or one name, in wire form */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "curve/base32.h"
#include "curve/format.h"
#include "curveperf.h"

#define QUERIES_MAX 10000000 /* lines of a query file */

static bool qlist_grow(struct qlist *ql, size_t more)
{
	if (ql->n == ql->cap) {
		size_t cap = ql->cap ? 2 * ql->cap : 1024;
		uint32_t *off = realloc(ql->off, cap * sizeof(*off));
		if (off == NULL) {
			return false;
		}
		ql->off = off;
		uint16_t *len = realloc(ql->len, cap * sizeof(*len));
		if (len == NULL) {
			return false;
		}
		ql->len = len;
		ql->cap = cap;
	}
	if (ql->pool_len + more > ql->pool_cap) {
		size_t cap = ql->pool_cap ? 2 * ql->pool_cap : 65536;
		while (cap < ql->pool_len + more) {
			cap *= 2;
		}
		if (cap > UINT32_MAX) {
			return false;
		}
		uint8_t *pool = realloc(ql->pool, cap);
		if (pool == NULL) {
			return false;
		}
		ql->pool = pool;
		ql->pool_cap = cap;
	}
	return true;
}

bool qlist_add(struct qlist *ql, const char *name, size_t name_len, uint16_t type)
{
	uint8_t wire[WIRE_NAME_MAX];
	size_t wlen;

	if (!name_to_wire(name, name_len, wire, &wlen) || !qlist_grow(ql, wlen + 4)) {
		return false;
	}
	uint8_t *q = ql->pool + ql->pool_len;
	memcpy(q, wire, wlen);
	wire_write_u16(q + wlen, type);
	wire_write_u16(q + wlen + 2, WIRE_CLASS_IN);
	ql->off[ql->n] = (uint32_t)ql->pool_len;
	ql->len[ql->n] = (uint16_t)(wlen + 4);
	ql->pool_len += wlen + 4;
	if (wlen + 4 > ql->longest) {
		ql->longest = wlen + 4;
	}
	ql->n++;
	return true;
}

/* dnsperf's data file: "name type" per line; blank lines and ';' comments skipped. */
int qlist_load(struct qlist *ql, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;
	int ret = -1;

	if (f == NULL) {
		fprintf(stderr, "curveperf: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name, *type, *save = NULL;
		uint16_t t;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "curveperf: %s:%u: line too long\n", path, lineno);
			goto out;
		}
		name = strtok_r(line, " \t\r\n", &save);
		if (name == NULL || name[0] == ';') {
			continue;
		}
		type = strtok_r(NULL, " \t\r\n", &save);
		if (type == NULL || !parse_type(type, &t) ||
		    !qlist_add(ql, name, strlen(name), t)) {
			fprintf(stderr, "curveperf: %s:%u: bad query (want \"name type\")\n", path,
				lineno);
			goto out;
		}
		if (ql->n > QUERIES_MAX) {
			fprintf(stderr, "curveperf: %s: more than %d queries\n", path, QUERIES_MAX);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "curveperf: %s: read error\n", path);
		goto out;
	}
	if (ql->n == 0) {
		fprintf(stderr, "curveperf: %s: no queries\n", path);
		goto out;
	}
	ret = 0;
out:
	if (fclose(f) != 0 && ret == 0) {
		ret = -1;
	}
	return ret;
}

/* The wire bytes a TXT query of a <inner_len>-byte message takes: header, box labels, the
 * key label, the zone, type and class. */
static size_t txt_query_len(size_t inner_len, size_t zone_len, size_t *name_len)
{
	size_t chars = CURVE_BASE32_LEN(CURVE_HALF_NONCE + CURVE_MAC_LEN + inner_len);
	size_t labels = (chars + CURVE_TXT_LABEL_MAX - 1) / CURVE_TXT_LABEL_MAX;

	*name_len = chars + labels + 1 + CURVE_TXT_KEY_LABEL + zone_len;
	return WIRE_HDR_LEN + *name_len + 4;
}

/* Every query must fit its frame: checked once here, so building one cannot fail. */
bool qlist_fits(const struct run *r)
{
	size_t inner = WIRE_HDR_LEN + r->ql.longest, name_len;

	switch (r->o.fmt) {
	case FMT_TXT:
		if (txt_query_len(inner, r->o.zone_len, &name_len) > PKT_MAX ||
		    name_len > WIRE_NAME_MAX) {
			fprintf(stderr,
				"curveperf: the longest query (%zu bytes) does not fit a TXT "
				"query's name under this zone\n",
				inner);
			return false;
		}
		return true;
	case FMT_STREAMLINED:
		return CURVE_SQ_MIN + inner <= PKT_MAX;
	case FMT_PLAIN:
		return inner <= PKT_MAX;
	}
	return false;
}
